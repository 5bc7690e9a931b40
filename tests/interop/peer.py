"""Kubiya's own control plane, worker and SDK as test peers, run from a virtual environment of their own.

The peer is the public ``kubiya-control-plane-api[worker]`` package from PyPI. It is not a
dependency of kubiya-tui: it is installed into a cached virtual environment outside the
repository (keyed by version), and everything of it runs in its own processes with that
environment's interpreter. Admin work on PostgreSQL and Redis uses the drivers the peer
brings (psycopg2, redis), so kubiya-tui needs no extra packages for the harness.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx

from kubiya_tui.stack.processes import LOOPBACK, ManagedProcess, StackError, free_port, spawn, wait_for_port

PEER_VERSION = "1.0.2"
PEER_REQUIREMENTS = (f"kubiya-control-plane-api[worker]=={PEER_VERSION}", "greenlet")
POSTGRES = (LOOPBACK, 5432)
REDIS = (LOOPBACK, 6379)
HERE = Path(__file__).resolve().parent
# A test-only signing secret: Kubiya's auth middleware decodes these tokens without checking the signature.
TEST_JWT_SECRET = "kubiya-tui-interop-test-only-not-a-secret"
# The peer's stray outbound calls, turned off: OpenTelemetry, trace storage, LiteLLM's price
# list from GitHub, the PyPI lookup of `/config`, and Kubiya's cloud API (a closed port).
QUIET_ENV = {
    "OTEL_ENABLED": "false",
    "OTEL_LOCAL_STORAGE_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "KUBIYA_RECOMMENDED_WORKER_VERSION": PEER_VERSION,
    "ENVIRONMENT": "development",
    "PYTHONUNBUFFERED": "1",
}


class PeerMissing(Exception):
    """Something the interop suite needs is not there; the message is one line naming it."""


# ---------------------------------------------------------------------------- prerequisites


def require_listening(what: str, address: tuple[str, int], hint: str) -> None:
    """Raise PeerMissing unless something accepts TCP connections at the address."""
    try:
        with socket.create_connection(address, timeout=2):
            return
    except OSError as exc:
        raise PeerMissing(f"{what} is not reachable at {address[0]}:{address[1]} ({exc.strerror or exc}); {hint}") from None


# ---------------------------------------------------------------------------- the peer's virtual environment


def cache_root() -> Path:
    """Where peer environments are kept: ``KUBIYA_TUI_INTEROP_CACHE``, else ``~/.cache/kubiya-tui/interop``."""
    configured = os.environ.get("KUBIYA_TUI_INTEROP_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "kubiya-tui" / "interop"


@dataclass(frozen=True)
class PeerVenv:
    """The installed peer: its interpreter and console scripts."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def script(self, name: str) -> Path:
        return self.root / "bin" / name

    def run(self, code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
        """Run Python ``code`` with the peer's interpreter; answers its stdout, raises with its last stderr line."""
        out = subprocess.run(
            [str(self.python), "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env if env is not None else _peer_base_env(),
            cwd=self.root,
        )
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"peer python exited {out.returncode}: {last}")
        return out.stdout


def _peer_base_env(home: Path | None = None) -> dict[str, str]:
    """A small environment for peer processes: nothing of kubiya-tui's own settings leaks in."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CERT", "SSL_CERT_FILE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["HOME"] = str(home) if home else os.environ.get("HOME", "/tmp")
    env.update(QUIET_ENV)
    return env


def peer_venv_dir() -> Path:
    digest = hashlib.sha256("\n".join((sys.version.split()[0], *PEER_REQUIREMENTS)).encode()).hexdigest()[:10]
    return cache_root() / f"kubiya-control-plane-api-{PEER_VERSION}-{digest}"


COMPLETE_MARKER = ".interop-complete"
SMOKE_IMPORTS = "import control_plane_api.worker.worker, kubiya, jwt, psycopg2, redis, greenlet, uvicorn"


def ensure_peer_venv() -> PeerVenv:
    """The cached peer environment, installed first if needed (pip's output goes to ``<venv>.install.log``).

    A directory without the completion marker (an interrupted install) is removed and made
    again; a lock file keeps two test sessions from installing into it at once.
    """
    root = peer_venv_dir()
    root.parent.mkdir(parents=True, exist_ok=True)
    log = root.with_name(root.name + ".install.log")
    with _locked(root.with_name(root.name + ".lock")):
        venv = PeerVenv(root)
        if (root / COMPLETE_MARKER).is_file() and venv.python.exists():
            return venv
        shutil.rmtree(root, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(root)],
            [str(venv.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PEER_REQUIREMENTS],
            [str(venv.python), "-c", SMOKE_IMPORTS],
        ]
        with open(log, "wb") as out:
            for argv in steps:
                done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=1800)
                if done.returncode != 0:
                    shutil.rmtree(root, ignore_errors=True)
                    out.flush()
                    raise PeerMissing(
                        f"the peer install failed ({' '.join(PEER_REQUIREMENTS)} into {root}): "
                        f"`{Path(argv[0]).name} {' '.join(argv[1:3])}` exited {done.returncode}: {_last_line(log)} (log: {log})"
                    )
        (root / COMPLETE_MARKER).write_text(json.dumps({"requirements": PEER_REQUIREMENTS, "at": time.time()}))
        return venv


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:300]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------- PostgreSQL and Redis, through the peer's drivers

_PG_ADMIN = """
import sys, psycopg2
action, name = sys.argv[1], sys.argv[2]
conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=5)
conn.autocommit = True
with conn.cursor() as cur:
    if action == "create":
        cur.execute('CREATE DATABASE "%s"' % name)
    else:
        cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
"""

_REDIS_CLAIM = """
import sys, redis
claim, token = sys.argv[1], sys.argv[2]
for db in range(15, 0, -1):
    r = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_timeout=5)
    if r.dbsize() == 0 and r.set(claim, token, nx=True):
        print(db)
        break
else:
    sys.exit("no empty Redis database among 1-15")
"""

_REDIS_FLUSH = """
import sys, redis
r = redis.Redis(host="127.0.0.1", port=6379, db=int(sys.argv[1]), socket_timeout=5)
if r.get(sys.argv[2]) == sys.argv[3].encode():
    r.flushdb()
"""

REDIS_CLAIM_KEY = "kubiya-tui-interop:claimed-by"


def create_database(venv: PeerVenv, name: str) -> str:
    """A new PostgreSQL database; answers its SQLAlchemy URL (psycopg2 driver, as Kubiya's server needs)."""
    try:
        venv.run(_PG_ADMIN, "create", name)
    except RuntimeError as exc:
        raise PeerMissing(f"PostgreSQL at 127.0.0.1:5432 refused CREATE DATABASE for user postgres: {exc}") from None
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"


def drop_database(venv: PeerVenv, name: str) -> None:
    venv.run(_PG_ADMIN, "drop", name)


def claim_redis_db(venv: PeerVenv, token: str) -> int:
    """An empty Redis database number (1-15), claimed with a key so a parallel session picks another."""
    try:
        return int(venv.run(_REDIS_CLAIM, REDIS_CLAIM_KEY, token).strip())
    except RuntimeError as exc:
        raise PeerMissing(f"Redis at 127.0.0.1:6379 has no database for the suite: {exc}") from None


def flush_redis_db(venv: PeerVenv, db: int, token: str) -> None:
    """Empty the claimed database (only while it still carries this session's claim)."""
    venv.run(_REDIS_FLUSH, str(db), REDIS_CLAIM_KEY, token)


def make_test_token(venv: PeerVenv, organization: str, email: str) -> str:
    """An HS256 JWT with ``organization`` and ``email`` claims: what Kubiya's middleware accepts locally."""
    code = "import jwt, sys; print(jwt.encode({'organization': sys.argv[1], 'email': sys.argv[2]}, sys.argv[3], algorithm='HS256'))"
    return venv.run(code, organization, email, TEST_JWT_SECRET).strip()


def migrate(venv: PeerVenv, database_url: str, workdir: Path, log: Path) -> None:
    """Kubiya's schema, applied with its own ``kubiya-migrate`` (run where no ``.env`` file is)."""
    env = {**_peer_base_env(workdir), "DATABASE_URL": database_url}
    with open(log, "ab") as out:
        done = subprocess.run(
            [str(venv.script("kubiya-migrate"))], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=300
        )
    if done.returncode != 0:
        raise PeerMissing(f"kubiya-migrate exited {done.returncode} on {database_url} (log: {log})")


# ---------------------------------------------------------------------------- Kubiya's control plane


@dataclass
class KubiyaServer:
    """Kubiya's control plane on 127.0.0.1, with a test token of one organization as its API key."""

    url: str
    api_key: str
    organization: str
    temporal_address: str
    process: ManagedProcess
    log_path: Path
    venv: PeerVenv
    env: dict[str, str] = field(repr=False, default_factory=dict)

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key or self.api_key}"}, timeout=30)

    def token_for(self, organization: str) -> str:
        return make_test_token(self.venv, organization, f"ops@{organization}.test")

    def stop(self) -> None:
        self.process.stop(grace=10)


def start_kubiya_server(
    venv: PeerVenv, database_url: str, redis_url: str, temporal_address: str, workdir: Path, organization: str
) -> KubiyaServer:
    """Start ``uvicorn control_plane_api.app.main:app`` on a free loopback port and wait until /api/health answers."""
    port = free_port()
    env = {
        **_peer_base_env(workdir),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        # A loopback TEMPORAL_HOST makes the server hand out the local, plain-text Temporal to workers.
        "TEMPORAL_HOST": temporal_address,
        "TEMPORAL_NAMESPACE": "default",
        "KUBIYA_API_BASE": f"http://{LOOPBACK}:{free_port()}",
        "KUBIYA_API_URL": f"http://{LOOPBACK}:{free_port()}",
    }
    log = workdir / "kubiya-control-plane.log"
    argv = [
        str(venv.python), "-m", "uvicorn", "control_plane_api.app.main:app",
        "--host", LOOPBACK, "--port", str(port), "--no-server-header",
    ]  # fmt: skip
    proc = _spawn_in(workdir, "kubiya-control-plane", argv, log, env)
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_for_port(LOOPBACK, port, 90, proc.proc)
        _wait_healthy(url, 30)
    except (StackError, TimeoutError) as exc:
        proc.stop(2)
        raise PeerMissing(f"Kubiya's control plane did not start: {exc} (log: {log})") from None
    token = make_test_token(venv, organization, f"ops@{organization}.test")
    return KubiyaServer(url, token, organization, temporal_address, proc, log, venv, env)


def _wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url}/api/health did not answer 200 within {timeout:.0f} s")


def _spawn_in(workdir: Path, name: str, argv: list[str], log: Path, env: dict[str, str]) -> ManagedProcess:
    """spawn() with the working directory set (the peer reads ``.env`` files from there)."""
    import signal

    previous = os.getcwd()
    os.chdir(workdir)
    try:
        return spawn(name, argv, log, env, parent_death_signal=signal.SIGTERM)
    finally:
        os.chdir(previous)


# ---------------------------------------------------------------------------- Kubiya's worker


@dataclass
class KubiyaWorker:
    """A running ``control_plane_api.worker.worker:main`` process."""

    process: ManagedProcess
    queue_id: str
    control_plane_url: str
    heartbeat_interval: int
    log_path: Path
    hostname: str = field(default_factory=socket.gethostname)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def temporal_identity(self) -> str:
        """The identity it polls Temporal with: the Temporal SDK's default, ``pid@hostname``."""
        return f"{self.pid}@{self.hostname}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int | None:
        return self.process.stop(grace=5)


def start_kubiya_worker(
    venv: PeerVenv,
    control_plane_url: str,
    api_key: str,
    queue_id: str,
    temporal_address: str,
    workdir: Path,
    heartbeat_interval: int = 60,
) -> KubiyaWorker:
    """Start Kubiya's worker for a queue against any control plane.

    Its ``TEMPORAL_HOST`` starts with ``temporal:`` so it picks plain text (no TLS) for
    Temporal; the host it dials is the one ``/start`` answers. ``heartbeat_interval`` is its
    own ``HEARTBEAT_INTERVAL`` (it never uses the one ``/start`` returns; default 60).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = temporal_address.rsplit(":", 1)[1]
    env = {
        **_peer_base_env(workdir),
        "KUBIYA_API_KEY": api_key,
        "CONTROL_PLANE_URL": control_plane_url,
        "QUEUE_ID": queue_id,
        "TEMPORAL_HOST": f"temporal:{port}",
        "HEARTBEAT_INTERVAL": str(heartbeat_interval),
        "KUBIYA_API_BASE": f"http://{LOOPBACK}:{free_port()}",
    }
    log = workdir / "kubiya-worker.log"
    argv = [str(venv.python), "-c", "from control_plane_api.worker.worker import main; main()"]
    proc = _spawn_in(workdir, "kubiya-worker", argv, log, env)
    return KubiyaWorker(proc, queue_id, control_plane_url, heartbeat_interval, log)


# ---------------------------------------------------------------------------- Kubiya's SDK


@dataclass(frozen=True)
class SdkAnswer:
    """What one SDK call gave: its result, or the error it raised (type, message, HTTP status)."""

    result: Any = None
    error: str | None = None
    message: str | None = None
    status_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def sdk_call(venv: PeerVenv, base_url: str, api_key: str, service: str, method: str, *args: Any) -> SdkAnswer:
    """Call ``ControlPlaneClient(...).<service>.<method>(*args)`` of Kubiya's SDK in the peer's interpreter."""
    env = {**_peer_base_env(), "INTEROP_SDK_KEY": api_key}
    out = subprocess.run(
        [str(venv.python), str(HERE / "sdk_call.py"), base_url, service, method, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"sdk_call.py exited {out.returncode}: {(out.stderr.strip().splitlines() or ['no output'])[-1]}")
    return SdkAnswer(**json.loads(lines[-1]))
