"""Fixtures of the interop suite: Kubiya's real control plane, worker and SDK beside kubiya-tui's.

Run with ``.venv/bin/pytest tests/interop`` (outside the default run). It needs PostgreSQL
on 127.0.0.1:5432 (trust auth, user postgres) and Redis on 127.0.0.1:6379, and installs the
peer (``kubiya-control-plane-api[worker]==1.0.2``) into a cached virtual environment under
``~/.cache/kubiya-tui/interop/`` on first use. Anything missing fails the suite with one line.

Everything started here is on 127.0.0.1 with free ports and is stopped by process id; the
database is dropped and the Redis database flushed at the end of the session.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from kubiya_tui.stack.processes import ManagedProcess, spawn
from tests.conftest import TemporalServer
from tests.interop import peer
from tests.interop.peer import KubiyaServer, KubiyaWorker, PeerMissing, PeerVenv, SdkAnswer

# Kubiya's worker imports a large agent stack (~5 s on this machine) before it registers.
WORKER_READY_TIMEOUT = 90

ORGANIZATION = "interop-acme"


def _fail(exc: Exception) -> None:
    pytest.fail(f"interop: {exc}", pytrace=False)


def check_prerequisites() -> None:
    """PeerMissing (one line naming what) unless PostgreSQL and Redis listen on this machine."""
    peer.require_listening("PostgreSQL", peer.POSTGRES, "start it (trust auth for user postgres)")
    peer.require_listening("Redis", peer.REDIS, "start it")


@pytest.fixture(scope="session")
def interop_prerequisites() -> None:
    """PostgreSQL and Redis on this machine; the suite fails (never skips) without them."""
    try:
        check_prerequisites()
    except PeerMissing as exc:
        _fail(exc)


@pytest.fixture(scope="session")
def peer_venv(interop_prerequisites: None) -> PeerVenv:
    """The peer's cached virtual environment (installed on first use: about a minute)."""
    try:
        return peer.ensure_peer_venv()
    except PeerMissing as exc:
        _fail(exc)
        raise  # unreachable: pytest.fail raises


@pytest.fixture(scope="session")
def kubiya_database(peer_venv: PeerVenv) -> Iterator[str]:
    """A fresh PostgreSQL database for Kubiya's server; dropped at the end of the session."""
    name = f"kubiya_interop_{secrets.token_hex(4)}"
    try:
        url = peer.create_database(peer_venv, name)
    except PeerMissing as exc:
        _fail(exc)
    try:
        yield url
    finally:
        peer.drop_database(peer_venv, name)


@pytest.fixture(scope="session")
def kubiya_redis(peer_venv: PeerVenv) -> Iterator[str]:
    """A Redis database number of the session's own; flushed at the end."""
    token = secrets.token_hex(8)
    try:
        db = peer.claim_redis_db(peer_venv, token)
    except PeerMissing as exc:
        _fail(exc)
    try:
        yield f"redis://127.0.0.1:6379/{db}"
    finally:
        peer.flush_redis_db(peer_venv, db, token)


@pytest.fixture(scope="session")
def kubiya_server(
    peer_venv: PeerVenv,
    kubiya_database: str,
    kubiya_redis: str,
    temporal_server: TemporalServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[KubiyaServer]:
    """Kubiya's control plane (uvicorn, 127.0.0.1, free port) on its own schema, beside the session's Temporal."""
    workdir = tmp_path_factory.mktemp("kubiya-server")
    try:
        peer.migrate(peer_venv, kubiya_database, workdir, workdir / "migrate.log")
        server = peer.start_kubiya_server(
            peer_venv, kubiya_database, kubiya_redis, temporal_server.address, workdir, ORGANIZATION
        )
    except PeerMissing as exc:
        _fail(exc)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def start_kubiya_worker(
    peer_venv: PeerVenv, temporal_server: TemporalServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., KubiyaWorker]]:
    """Start Kubiya's worker for a queue of any control plane: ``start(url, key, queue_id, heartbeat_interval=60)``.

    Each is stopped by pid at the end of the session if a test did not stop it.
    """
    started: list[KubiyaWorker] = []

    def start(url: str, api_key: str, queue_id: str, heartbeat_interval: int = 60) -> KubiyaWorker:
        workdir = tmp_path_factory.mktemp("kubiya-worker")
        worker = peer.start_kubiya_worker(
            peer_venv, url, api_key, queue_id, temporal_server.address, workdir, heartbeat_interval
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="session")
def kubiya_sdk(peer_venv: PeerVenv) -> Callable[..., SdkAnswer]:
    """Kubiya's SDK against any control plane: ``kubiya_sdk(url, key, "workers", "get", "default")``."""

    def call(url: str, api_key: str, service: str, method: str, *args: Any) -> SdkAnswer:
        return peer.sdk_call(peer_venv, url, api_key, service, method, *args)

    return call


@pytest.fixture(scope="session")
def start_tui_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ManagedProcess]]:
    """Start ``kubiya-tui worker start`` against any control plane (as worker-command says); stopped by pid."""
    started: list[ManagedProcess] = []

    def start(url: str, api_key: str, queue_id: str, concurrency: int = 4) -> ManagedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBIYA_API_KEY", "CONTROL_PLANE_URL")}
        env["KUBIYA_API_KEY"] = api_key
        argv = [
            sys.executable, "-m", "kubiya_tui", "worker", "start",
            "--queue-id", queue_id, "--control-plane-url", url, "--concurrency", str(concurrency),
        ]  # fmt: skip
        log = tmp_path_factory.mktemp("tui-worker") / "worker.log"
        proc = spawn("worker", argv, log, env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop(grace=5)


@pytest.fixture
def temporal_env(temporal_server: TemporalServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI and console of this test read depth straight from the session's Temporal."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_server.address)
    return temporal_server.address

