"""A TLS-terminating proxy for the dev server (which has no TLS), requiring a client certificate.

The certificates are made here with ``cryptography``: a CA, a server certificate for
``localhost`` and 127.0.0.1, and a client certificate, all signed by the CA. The proxy
listens on 127.0.0.1 with a port of its own, negotiates ALPN ``h2`` (gRPC), requires a
client certificate the CA signed, and passes the bytes on to the dev server in plain TCP.
It runs on a thread of its own, so a test's blocking calls and subprocesses reach it.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Certs:
    folder: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_client_cert: Path
    """A client certificate of another CA: the proxy refuses it."""
    other_client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer: x509.Name, issuer_key, *, ca: bool = False, server: bool = False, client: bool = False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if client:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert=None, key=None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        path.chmod(0o600)
    return path


def make_certs(folder: Path) -> Certs:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca = _cert("kubiya-tui test CA", ca_key, _name("kubiya-tui test CA"), ca_key, ca=True)
    server_key = _key()
    server = _cert("localhost", server_key, ca.subject, ca_key, server=True)
    client_key = _key()
    client = _cert("kubiya-tui test client", client_key, ca.subject, ca_key, client=True)
    other_ca_key = _key()
    other_ca = _cert("another CA", other_ca_key, _name("another CA"), other_ca_key, ca=True)
    other_key = _key()
    other = _cert("stranger", other_key, other_ca.subject, other_ca_key, client=True)
    return Certs(
        folder=folder,
        ca_cert=_write(folder / "ca.pem", ca),
        server_cert=_write(folder / "server.pem", server),
        server_key=_write(folder / "server-key.pem", key=server_key),
        client_cert=_write(folder / "client.pem", client),
        client_key=_write(folder / "client-key.pem", key=client_key),
        other_client_cert=_write(folder / "other-client.pem", other),
        other_client_key=_write(folder / "other-client-key.pem", key=other_key),
    )


class MTLSProxy:
    """``127.0.0.1:<port>`` with TLS and a required client certificate, in front of ``upstream`` (HOST:PORT)."""

    def __init__(self, certs: Certs, upstream: str) -> None:
        self.certs = certs
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.address = ""
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mtls-proxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.certs.server_cert, self.certs.server_key)
        ctx.load_verify_locations(self.certs.ca_cert)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.set_alpn_protocols(["h2"])
        return ctx

    def start(self) -> "MTLSProxy":
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._context(), ssl_handshake_timeout=10), self._loop
        ).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        self._loop.set_exception_handler(self._on_loop_error)
        return self

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # A refused handshake (no or a foreign client certificate) ends up here; it is what the test expects.
        if isinstance(context.get("exception"), (ssl.SSLError, ConnectionError, OSError)):
            return
        loop.default_exception_handler(context)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError, ssl.SSLError):
                pass
            finally:
                try:
                    dst.close()
                except Exception:
                    pass

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
