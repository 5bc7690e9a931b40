"""One connection per set of settings: built once, shared by the collector and the operations, by the CLI, the console and the demo.

The control plane here is a small real HTTP server on 127.0.0.1 that records the paths asked for.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
from kubiya_tui.secret import SecretStr

import kubiya_tui.connection as connection_module
from kubiya_tui.client.api import ApiClient
from kubiya_tui.client.capabilities import LOCAL_TITLE, Capabilities, capabilities_from
from kubiya_tui.config import Settings
from kubiya_tui.connection import Connection, connect

QUEUE = {"id": "q1", "organization_id": "o1", "name": "orders", "environment_id": "e1", "environment_name": "prod", "task_queue_name": "org.prod.orders"}


class FakeControlPlane(ThreadingHTTPServer):
    """Answers the reads of a console; ``openapi`` is the document it publishes (None: 404)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []
        self.openapi: dict[str, Any] | None = {"info": {"title": LOCAL_TITLE}, "paths": {}}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, path: str) -> tuple[int, Any]:
        if path == "/api/health":
            return 200, {"status": "ok", "version": "9.9"}
        if path == "/api/openapi.json":
            return (200, self.openapi) if self.openapi is not None else (404, {"detail": "Not Found"})
        if path == "/api/v1/worker-queues":
            return 200, [QUEUE]
        if path in ("/api/v1/registered-workers", "/api/v1/worker-queues/q1/workers", "/api/v1/environments"):
            return 200, []
        if path == "/api/v1/worker-queues/q1/metrics":
            return 200, {"queue_id": "q1", "task_queue_backlog": 3, "temporal_available": True}
        return 404, {"detail": "Not Found"}

    def asked(self, path: str) -> int:
        with self.lock:
            return self.paths.count(path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeControlPlane

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.paths.append(self.path)
        status, data = self.server.answer(self.path)
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[FakeControlPlane]:
    httpd = FakeControlPlane()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def clients_built(monkeypatch: pytest.MonkeyPatch) -> list[ApiClient]:
    """Every ApiClient the composition root builds."""
    built: list[ApiClient] = []

    class Counted(ApiClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(connection_module, "ApiClient", Counted)
    return built


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Connection]:
    """Every Connection that ``kubiya_tui.connection.connect`` makes."""
    made: list[Connection] = []
    real = connection_module.connect

    def counting(*args: Any, **kwargs: Any) -> Connection:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(connection_module, "connect", counting)
    return made


def _settings(server: FakeControlPlane, **extra: Any) -> Settings:
    return Settings(api_url=server.url, api_key=SecretStr("k"), **extra)


# ---------------------------------------------------------------------------- the connection


async def test_the_collector_and_the_operations_share_one_client(server: FakeControlPlane, clients_built: list[ApiClient]):
    conn = connect(_settings(server), history="off")
    try:
        assert conn.source is conn.source, "the collector is built once"
        snap = await conn.source.refresh(complete=True)
        assert snap.queues[0].depth == 3
        await conn.capabilities.get()
        await conn.require_api().list_environments()
        assert server.asked("/api/v1/environments") == 1
        assert len(clients_built) == 1, "collector, capabilities and operations: one client, each call with its own policy"
        assert conn.source.api is not None and conn.source.api.retries == 0, "a poll is never retried: its poller backs off"
        assert conn.require_api().retries > 0, "an operation is"
    finally:
        await conn.aclose()


async def test_capabilities_are_learned_once_per_connection(server: FakeControlPlane):
    conn = connect(_settings(server), history="off")
    try:
        assert conn.capabilities.known is None
        first, second = await asyncio.gather(conn.capabilities.get(), conn.capabilities.get())
        again = await conn.capabilities.get()
        assert first == second == again == Capabilities.of_local("9.9") and again.flavour == "kubiya-tui"
        assert conn.capabilities.known == again
        assert server.asked("/api/health") == 1 and server.asked("/api/openapi.json") == 1
    finally:
        await conn.aclose()


async def test_a_control_plane_without_an_org_wide_worker_list_is_asked_per_queue(server: FakeControlPlane):
    server.openapi = {
        "info": {"title": "Kubiya Control Plane API"},
        "paths": {"/api/v1/worker-queues": {"get": {}}, "/api/v1/worker-queues/{id}/workers": {"get": {}},
                  "/api/v1/worker-queues/{queue_id}/metrics": {"get": {}}},
    }  # fmt: skip
    conn = connect(_settings(server), history="off")
    try:
        caps = await conn.capabilities.get()
        assert caps.flavour == "kubiya" and not caps.org_workers_list and not caps.drain
        await conn.source.refresh(complete=True)
        assert server.asked("/api/v1/registered-workers") == 0, "asked what it offers, not a 404"
        assert server.asked("/api/v1/worker-queues/q1/workers") == 1
    finally:
        await conn.aclose()


def test_capabilities_from_what_a_server_publishes():
    assert capabilities_from({"version": "1.2"}, {"info": {"title": LOCAL_TITLE}}) == Capabilities.of_local("1.2")
    unknown = capabilities_from(None, None)
    assert unknown.flavour == "unknown" and unknown.drain and unknown.org_workers_list, "unknown: every feature is tried"
    paths = {"/api/v1/workers/{worker_id}/drain": {"post": {}}, "/api/v1/worker-queues/{queue_id}/scale/": {"post": {}},
             "/api/v1/audit": {"get": {}}}  # fmt: skip
    kubiya = capabilities_from({"status": "ok"}, {"info": {"title": "Kubiya API"}, "paths": paths})
    assert kubiya.flavour == "kubiya" and (kubiya.drain, kubiya.scale, kubiya.audit) == (True, True, True)
    assert not (kubiya.autoscale or kubiya.tasks or kubiya.org_workers_list or kubiya.legacy)
    nothing = Capabilities.without_control_plane()
    assert not any((nothing.drain, nothing.scale, nothing.autoscale, nothing.tasks, nothing.audit, nothing.org_workers_list, nothing.legacy))


async def test_without_a_key_there_is_no_control_plane_to_ask():
    conn = connect(Settings(temporal_address="127.0.0.1:1", task_queues=["a"]), history="off")
    try:
        assert conn.api is None and (await conn.capabilities.get()) == Capabilities.without_control_plane()
        assert conn.source.mode == "temporal"
    finally:
        await conn.aclose()


# ---------------------------------------------------------------------------- the CLI


def _cli(server: FakeControlPlane, *args: str) -> Any:
    from typer.testing import CliRunner

    from kubiya_tui.cli.app import app

    env = {"KUBIYA_API_KEY": "k", "KUBIYA_CONTROL_PLANE_BASE_URL": server.url}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_a_headless_command_gets_its_client_from_one_connection(
    server: FakeControlPlane, clients_built: list[ApiClient], connects: list[Connection]
):
    result = _cli(server, "top", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["queues"][0]["depth"] == 3
    assert (len(connects), len(clients_built)) == (1, 1), "the collector's reads and its capabilities use the one client"
    result = _cli(server, "envs", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    assert (len(connects), len(clients_built)) == (2, 2), "one more command, one more connection"


# ---------------------------------------------------------------------------- the console


async def test_the_console_runs_on_the_connection_it_is_given_and_closes_it(server: FakeControlPlane, clients_built: list[ApiClient]):
    from kubiya_tui.tui.app import build_console

    conn = connect(_settings(server, theme="kubiya-dark"), history="off")
    closed: list[bool] = []
    real_close = conn.aclose

    async def counting_close() -> None:
        closed.append(True)
        await real_close()

    conn.aclose = counting_close  # type: ignore[method-assign]
    app = build_console(connection=conn)
    assert (app.connection, app.operations.api, app.source) == (conn, conn.api, conn.source)
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if app.snapshot is not None:
                break
        assert app.snapshot is not None and app.snapshot.queues[0].name == "orders"
    assert closed == [True], "quitting the console closes its connection"
    assert len(clients_built) == 1


async def test_a_console_of_a_profile_is_drawn_first_then_builds_one_client(
    server: FakeControlPlane, clients_built: list[ApiClient]
):
    from kubiya_tui.tui.app import build_console
    from kubiya_tui.tui.connecting import Connecting

    app = build_console(api_url=server.url, api_key="k", theme="kubiya-dark")
    assert app.connection is None and isinstance(app.source, Connecting) and clients_built == [], "nothing built before the first frame"
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if app.snapshot is not None:
                break
        assert app.connection is not None and app.operations.api is app.connection.api and app.source is app.connection.source
        assert app.snapshot is not None and app.snapshot.queues[0].name == "orders"
    assert len(clients_built) == 1


def test_a_bad_control_plane_url_is_one_line_before_the_console_starts(clients_built: list[ApiClient]):
    from kubiya_tui.errors import UserError
    from kubiya_tui.tui.app import build_console

    with pytest.raises(UserError, match="control plane URL 'ftp://x' is not an http:// or https:// URL"):
        build_console(api_url="ftp://x", api_key="k", theme="kubiya-dark")
    assert clients_built == []


# ---------------------------------------------------------------------------- the demo


def test_the_demo_hands_its_own_connection_to_its_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connects: list[Connection]
):
    from kubiya_tui.stack.demo import command
    from kubiya_tui.stack.demo.stack import Demo, DemoInfo

    class StartedDemo(Demo):
        """The demo with its stack already up elsewhere: only the hand-over to the console runs."""

        def start(self, started_at: float | None = None) -> DemoInfo:
            self.info = DemoInfo(data_dir=tmp_path, api_url="http://127.0.0.1:9", temporal_address="127.0.0.1:7",
                                 namespace="default", key_file=tmp_path / "admin.key", config_file=tmp_path / "config.toml")  # fmt: skip
            self._key = SecretStr("the-demo-key")
            return self.info

        def stop(self) -> dict:
            return {}

    shown: list[Connection] = []

    class Loader:
        def get(self) -> Any:
            return lambda *, connection: shown.append(connection)

    monkeypatch.setattr(command, "Demo", StartedDemo)
    monkeypatch.setattr(command, "ConsoleLoader", Loader)
    # What another terminal would have: these must not reach the demo's own console, nor be changed.
    monkeypatch.setenv("KUBIYA_API_KEY", "someone-elses-key")
    monkeypatch.setenv("KUBIYA_CONTROL_PLANE_BASE_URL", "https://elsewhere.example")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "elsewhere:7233")
    before = dict(os.environ)
    assert command.run_demo(command.DemoOptions()) == 0
    assert len(connects) == 1 and shown == connects, "one connection, handed to the console as it is"
    settings = shown[0].settings
    assert (settings.profile, settings.api_url, settings.api_key_value()) == ("demo", "http://127.0.0.1:9", "the-demo-key")
    assert (settings.temporal_address, settings.temporal_namespace) == ("127.0.0.1:7", "default")
    assert dict(os.environ) == before, "the demo leaves the environment alone"
    asyncio.run(shown[0].aclose())


async def test_a_connection_that_cannot_be_made_after_the_first_frame_ends_the_console_with_one_line():
    from kubiya_tui.errors import UserError
    from kubiya_tui.tui.app import KubiyaConsole
    from kubiya_tui.tui.connecting import Connecting

    def cannot() -> Connection:
        raise UserError("Temporal client certificate /nope.pem: no such file")

    app = KubiyaConsole(Connecting(2.0), theme="kubiya-dark", remember_theme=False, connect_later=cannot)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if app.connect_failure is not None:
                break
    assert str(app.connect_failure) == "Temporal client certificate /nope.pem: no such file"
    assert app.return_code == 2 and app.connection is None
