"""Temporal's own connection profiles: the Temporal CLI's ``temporal.toml``, read by the SDK.

A kubiya-tui profile can name a profile of the Temporal CLI's environment configuration
(``temporal_profile = "prod"``; else ``$TEMPORAL_PROFILE``), so its address, namespace, API
key and TLS or mTLS material are never copied into kubiya-tui's own file. The file and the
``TEMPORAL_*`` variables over it are read with ``temporalio.envconfig`` (the SDK's own
loader, which the Temporal CLI's rules follow): ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS``, ``TEMPORAL_TLS_CLIENT_CERT_PATH``/``_DATA``,
``TEMPORAL_TLS_CLIENT_KEY_PATH``/``_DATA``, ``TEMPORAL_TLS_SERVER_CA_CERT_PATH``/``_DATA``,
``TEMPORAL_TLS_SERVER_NAME`` and ``TEMPORAL_GRPC_META_*`` win over the file.

Without such a profile, the TLS variables alone still apply (a kubiya-tui profile's own
``temporal_address`` with a client certificate from the environment).

The file is hostile input: a missing file, an unknown profile, a key the SDK does not know,
a certificate that cannot be read or is not PEM are each one :class:`UserError` line naming
the file (never a key or a certificate's contents). The certificates are read here, once,
so a bad one is said before anything connects.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from kubiya_tui.errors import UserError
from kubiya_tui.secret import SecretBytes, SecretStr

if TYPE_CHECKING:
    from temporalio.service import TLSConfig

TLS_ENV = (
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_SERVER_NAME",
)
"""The environment variables of the SDK's loader that configure TLS."""
ENV_VARS = ("TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", *TLS_ENV)
"""Every variable this module reads (tests clear them)."""


@dataclass(frozen=True, kw_only=True)
class TemporalTLS:
    """TLS to Temporal: the server's CA and name, and for mTLS the client certificate and key (PEM bytes)."""

    server_name: str | None = None
    """The name the server's certificate must carry (SNI), when it is not the address's host."""
    server_ca_cert: bytes | None = None
    """PEM of the CA that signed the server's certificate; None: the system's roots."""
    client_cert: bytes | None = None
    """PEM of the client certificate (mTLS)."""
    client_key: SecretBytes | None = None
    """PEM of the client certificate's private key (mTLS); never shown."""

    @property
    def mutual(self) -> bool:
        return self.client_cert is not None

    def to_sdk(self) -> "TLSConfig":
        """The SDK's ``TLSConfig`` for ``Client.connect(tls=...)``."""
        from temporalio.service import TLSConfig

        return TLSConfig(
            server_root_ca_cert=self.server_ca_cert,
            domain=self.server_name,
            client_cert=self.client_cert,
            client_private_key=self.client_key.get_secret_value() if self.client_key else None,
        )


@dataclass(frozen=True, kw_only=True)
class TemporalProfile:
    """What one Temporal CLI profile (with the environment over it) says, certificates read."""

    name: str | None = None
    """The Temporal CLI profile's name; None when only environment variables were read."""
    file: str | None = None
    """The ``temporal.toml`` it came from."""
    address: str | None = None
    namespace: str | None = None
    api_key: SecretStr | None = None
    tls: bool = False
    """TLS on (with the system's roots unless ``tls_config`` says more)."""
    tls_config: TemporalTLS | None = None
    rpc_metadata: dict[str, SecretStr] = field(default_factory=dict, hash=False)
    """``grpc_meta`` headers (they may carry credentials: never shown)."""
    secret_files: tuple[tuple[str, str], ...] = ()
    """(path, what) of each file read that holds a secret: the client key file, the config file when it
    holds the API key; the caller warns when other users may read one."""

    def describe(self) -> str:
        """Where this came from, for status lines and errors: never a key or a certificate."""
        if self.name is None:
            return "TEMPORAL_* environment variables"
        return f"Temporal CLI profile {self.name!r} ({self.file})"


def default_config_file(env: Mapping[str, str] | None = None) -> Path:
    """The Temporal CLI's own file: ``$TEMPORAL_CONFIG_FILE``, else the OS's config folder's ``temporalio/temporal.toml``."""
    env = os.environ if env is None else env
    given = (env.get("TEMPORAL_CONFIG_FILE") or "").strip()
    if given:
        return Path(given).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(env.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        xdg = (env.get("XDG_CONFIG_HOME") or "").strip()
        base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "temporalio" / "temporal.toml"


def tls_from_env(env: Mapping[str, str] | None = None) -> bool:
    """Whether any TLS variable of the SDK's loader is set."""
    env = os.environ if env is None else env
    return any((env.get(name) or "").strip() for name in TLS_ENV)


def load_temporal_profile(
    name: str | None,
    config_file: str | None = None,
    *,
    origin: str,
    env: Mapping[str, str] | None = None,
) -> TemporalProfile:
    """Load Temporal CLI profile ``name`` (None: environment variables only), certificates read.

    ``origin`` says, in an error, what asked for it ("profile 'prod'", "TEMPORAL_PROFILE").
    """
    from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS

    env = dict(os.environ if env is None else env)
    path: Path | None = None
    if name is not None:
        if not name.strip() or any(ch in name for ch in "\x00\n\r"):
            raise UserError(f"{origin}: {name!r} is not a Temporal CLI profile name")
        path = Path(config_file).expanduser() if config_file else default_config_file(env)
        where = f"Temporal CLI config file {path}"
        try:
            if not path.is_file():
                what = "is not a file" if path.exists() else "does not exist"
                raise UserError(f"{origin} names Temporal CLI profile {name!r}, but {where} {what}")
            path.read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {where}: {exc.strerror or exc}") from None
    try:
        loaded = ClientConfigProfile.load(
            name,
            config_source=path,
            disable_file=path is None,
            config_file_strict=True,
            override_env_vars=env,
        )
    except Exception as exc:  # the bridge's ConfigError; its text names no secret, but may span lines
        reason = _one_line(str(exc))
        if path is None:
            raise UserError(f"TEMPORAL_* environment variables: {reason}") from None
        if "not found" in reason and "Profile" in reason:
            known = _profile_names(path)
            raise UserError(
                f"{origin}: no Temporal CLI profile {name!r} in {path}; its profiles: {', '.join(known) or 'none'}"
            ) from None
        raise UserError(f"Temporal CLI config file {path}: {reason}") from None

    source = f"Temporal CLI profile {name!r}" if name is not None else "TEMPORAL_* environment variables"
    tls_on = False
    tls_config: TemporalTLS | None = None
    spec: ClientConfigTLS | None = loaded.tls
    if spec is not None and spec.disabled is not True:
        tls_on = True
        cert = _read_pem("client certificate", spec.client_cert, source)
        key = _read_pem("client key", spec.client_private_key, source)
        ca = _read_pem("server CA certificate", spec.server_root_ca_cert, source)
        if (cert is None) != (key is None):
            have, missing = ("client certificate", "client key") if cert is not None else ("client key", "client certificate")
            raise UserError(f"{source} gives a {have} but no {missing}: mTLS needs both")
        _check_pem(source, "client certificate", cert, b"CERTIFICATE")
        _check_pem(source, "client key", key, b"PRIVATE KEY")
        _check_pem(source, "server CA certificate", ca, b"CERTIFICATE")
        if cert or key or ca or spec.server_name:
            tls_config = TemporalTLS(
                server_name=spec.server_name or None,
                server_ca_cert=ca,
                client_cert=cert,
                client_key=SecretBytes(key) if key is not None else None,
            )
    secret_files: list[tuple[str, str]] = []
    if spec is not None and isinstance(spec.client_private_key, Path):
        secret_files.append((str(Path(spec.client_private_key).expanduser()), f"the client key of {source}"))
    api_key = (loaded.api_key or "").strip() or None
    if api_key and path is not None and not (env.get("TEMPORAL_API_KEY") or "").strip():
        secret_files.append((str(path), f"the Temporal API key of {source}"))
    if api_key and spec is None:
        tls_on = True  # the SDK's rule: an API key means TLS unless the profile says otherwise
    return TemporalProfile(
        name=name,
        file=str(path) if path is not None else None,
        address=(loaded.address or "").strip() or None,
        namespace=(loaded.namespace or "").strip() or None,
        api_key=SecretStr(api_key) if api_key else None,
        tls=tls_on,
        tls_config=tls_config,
        rpc_metadata={k: SecretStr(v) for k, v in (loaded.grpc_meta or {}).items()},
        secret_files=tuple(secret_files),
    )


def _read_pem(what: str, src: Any, source: str) -> bytes | None:
    """The bytes of a certificate or key given as a path (as the Temporal CLI reads it: as given) or as data."""
    if src is None:
        return None
    if isinstance(src, bytes):
        return src
    if isinstance(src, str):
        return src.encode("utf-8")
    file = Path(src).expanduser()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UserError(f"{source}: cannot read its {what} {file}: {exc.strerror or exc}") from None
    if not data.strip():
        raise UserError(f"{source}: its {what} {file} is empty")
    return data


def _check_pem(source: str, what: str, data: bytes | None, kind: bytes) -> None:
    if data is not None and (b"-----BEGIN " not in data or kind not in data):
        raise UserError(f"{source}: its {what} is not PEM (it holds no {kind.decode()} block)")


def _profile_names(path: Path) -> list[str]:
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    profiles = data.get("profile")
    return sorted(profiles) if isinstance(profiles, dict) else []


def _one_line(text: str) -> str:
    """The bridge's multi-line TOML errors as one line: the message lines, not the source excerpt."""
    lines = [ln.strip() for ln in text.strip().splitlines()]
    kept = [ln for ln in lines if ln and not ln.startswith("|") and not ln.lstrip("0123456789 ").startswith("|") and set(ln) - set("^ ")]
    text = ": ".join(kept).removeprefix("Configuration loading error: ")
    return text[:300] or "cannot be read"
