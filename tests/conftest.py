"""Shared fixtures: a real Temporal dev server and real control-plane processes on 127.0.0.1.

Every test gets its own XDG folders, so a developer's own config never leaks into a test.

The API suite (``tests/api/``) runs against both registry backends: each of its tests that
uses a control plane (or ``db_backend``) runs once on SQLite and once on PostgreSQL. The
PostgreSQL half (and every test marked ``postgres``: replicas, failover, the runner lease,
copy-data) is the PostgreSQL suite, outside the default run: ``pytest --postgres -m postgres``
(``.ci/run`` runs it). The PostgreSQL is the machine's (``KUBIYA_TUI_TEST_POSTGRES``, default
``postgresql://postgres@127.0.0.1:5432/postgres``, used only to create and drop databases);
every control plane the tests start there gets a database of its own, created for the test
session and dropped at its end.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest

from kubiya_tui.controlplane.database import run_coroutine
from kubiya_tui.stack.processes import ManagedProcess, start_control_plane, start_temporal
from kubiya_tui.temporal_env import ENV_VARS as TEMPORAL_ENV_VARS


@dataclass
class TemporalServer:
    address: str
    namespace: str
    process: ManagedProcess


@dataclass
class ControlPlane:
    url: str
    api_key: str
    data_dir: Path
    temporal_address: str
    process: ManagedProcess
    database_url: str | None = None
    """The registry's database (None: the SQLite file in the data dir)."""
    extra_keys: dict[str, str] = field(default_factory=dict)

    def admin_argv(self, *args: str) -> list[str]:
        """`kubiya-tui admin ...` on this control plane's registry."""
        where = ["--database-url", self.database_url] if self.database_url else ["--data-dir", str(self.data_dir)]
        return [sys.executable, "-m", "kubiya_tui", "admin", *args, *where]

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key or self.api_key}"}, timeout=30
        )

    def key_for(self, org: str) -> str:
        """An API key of another organization, made with `kubiya-tui admin create-key`."""
        if org not in self.extra_keys:
            out = subprocess.run(
                self.admin_argv("create-key", "--org", org),
                capture_output=True,
                text=True,
                check=True,
            )
            self.extra_keys[org] = out.stdout.strip()
        return self.extra_keys[org]

    def stop(self) -> None:
        self.process.stop()


# The default run is spread over pytest-xdist workers (`-n ... --dist loadgroup` in pyproject.toml).
# Each worker has its own session fixtures (a Temporal dev server, a control plane). Tests of
# a module listed here run one after the other in one worker: they share a module fixture
# that is slow to make, or each starts a whole stack and two at once would starve the machine.
# A key ending in "/" is a folder: every module under it.
XDIST_GROUPS = {
    "tests/api/test_api_bad_input.py": "api-bad-input",  # one organization for the module
    "tests/e2e/test_demo.py": "demo",  # each test runs `kubiya-tui demo`: Temporal, control plane, 8 workers
    "tests/e2e/test_metrics_cli.py": "metrics-cli",  # one queue with waiting tasks for the module
    "tests/e2e/test_fleet.py": "fleet",  # two control planes for the module; its last test stops one
    "tests/interop/": "interop",  # one Kubiya peer, installed once into a shared cache, for the suite
}


def _xdist_group(nodeid: str) -> str | None:
    path = nodeid.split("::")[0]
    for where, group in XDIST_GROUPS.items():
        if path == where or (where.endswith("/") and path.startswith(where)):
            return group
    return None


BACKENDS = ("sqlite", "postgresql")
POSTGRES_ADMIN_URL = os.environ.get("KUBIYA_TUI_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BOTH_BACKENDS = ("tests/api/",)
"""Where every test that uses a control plane runs on both backends."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests of the API suite that use ``db_backend`` (through a control plane, say) run on both backends."""
    if "db_backend" not in metafunc.fixturenames:
        return
    path = metafunc.definition.nodeid.split("::")[0]
    if any(path.startswith(where) for where in BOTH_BACKENDS):
        metafunc.parametrize(
            "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True, scope="session"
        )


@pytest.fixture(scope="session")
def db_backend(request: pytest.FixtureRequest) -> str:
    """The registry backend of this test: sqlite (outside the API suite) or postgresql."""
    return getattr(request, "param", "sqlite")


class PostgresDatabases:
    """Databases made on the test PostgreSQL for this session; all dropped at its end."""

    def __init__(self, admin_url: str, tag: str) -> None:
        from sqlalchemy.engine import make_url

        self.admin = make_url(admin_url)
        self.tag = tag
        self.made: list[str] = []

    async def _admin(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            host=self.admin.host, port=self.admin.port or 5432, user=self.admin.username,
            password=self.admin.password, database=self.admin.database,
        )  # fmt: skip
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def new(self) -> str:
        """A new, empty database; answers its URL."""
        name = f"kty_test_{self.tag}_{secrets.token_hex(4)}"
        run_coroutine(lambda: self._admin(f'CREATE DATABASE "{name}"'))
        self.made.append(name)
        return self.admin.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.made:
            run_coroutine(lambda: self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.made.clear()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """Make fresh databases on the machine's PostgreSQL; every one is dropped when the session ends."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    databases = PostgresDatabases(POSTGRES_ADMIN_URL, f"{worker}_{os.getpid()}")
    try:
        yield databases
    finally:
        databases.drop_all()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-install",
        action="store_true",
        help="also run the install suite (tests marked `install`: a fresh-host install, the sdist and wheel build)",
    )
    parser.addoption(
        "--postgres",
        action="store_true",
        help="also run the PostgreSQL suite (tests marked `postgres`: the API suite on PostgreSQL, replicas, failover)",
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The install suite stays out of the default run, whatever -m says, unless --run-install asks for it;
    the modules of XDIST_GROUPS get their group."""
    for option, marker in (("--run-install", "install"), ("--postgres", "postgres")):
        if not config.getoption(option):
            left_out = [item for item in items if item.get_closest_marker(marker)]
            if left_out:
                config.hook.pytest_deselected(items=left_out)
                items[:] = [item for item in items if not item.get_closest_marker(marker)]
    for item in items:
        group = _xdist_group(item.nodeid)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def isolated_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var.lower()))
    for var in (
        "KUBIYA_API_KEY",
        "KUBIYA_CONTROL_PLANE_BASE_URL",
        "CONTROL_PLANE_URL",
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_API_KEY",
        "KUBIYA_TUI_PROFILE",
        "KUBIYA_TUI_DATABASE_URL",
        *TEMPORAL_ENV_VARS,
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    proc, address = start_temporal(tmp_path_factory.mktemp("temporal"))
    try:
        yield TemporalServer(address=address, namespace="default", process=proc)
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def control_plane_factory(
    temporal_server: TemporalServer,
    tmp_path_factory: pytest.TempPathFactory,
    db_backend: str,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., ControlPlane]]:
    """Start control planes; each is stopped at the end of the session if a test did not.

    On PostgreSQL, a data dir gets a database of its own the first time (a control plane
    started again on the same data dir finds the same database), unless ``database_url``
    names one: several control planes on one database are replicas.
    """
    started: list[ControlPlane] = []
    databases: dict[Path, str] = {}

    def start(
        data_dir: Path | None = None,
        api_key: str | None = None,
        temporal_address: str | None = None,
        database_url: str | None = None,
    ) -> ControlPlane:
        data_dir = data_dir or tmp_path_factory.mktemp("control-plane")
        api_key = api_key or "kty_test_" + secrets.token_urlsafe(16)
        address = temporal_address or temporal_server.address
        if database_url is None and db_backend == "postgresql":
            if data_dir not in databases:
                databases[data_dir] = request.getfixturevalue("postgres_databases").new()
            database_url = databases[data_dir]
        extra = {"KUBIYA_TUI_DATABASE_URL": database_url} if database_url else None
        proc, url = start_control_plane(data_dir, address, api_key=api_key, extra_env=extra)
        cp = ControlPlane(
            url=url, api_key=api_key, data_dir=data_dir, temporal_address=address, process=proc, database_url=database_url
        )
        started.append(cp)
        return cp

    yield start
    for cp in started:
        cp.stop()


@pytest.fixture(scope="session")
def control_plane(control_plane_factory: Callable[..., ControlPlane]) -> ControlPlane:
    """The shared control plane of the session (tests make their own queues with unique names)."""
    return control_plane_factory()


@pytest.fixture
def api(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with control_plane.client() as client:
        yield client


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A queue or environment name no other test uses."""
    return lambda prefix="q": f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
def start_worker(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Callable[..., ManagedProcess]]:
    """Start `kubiya-tui worker start` processes exactly as worker-command says; stopped by pid after the test."""
    import os

    from kubiya_tui.stack.processes import spawn

    started: list[ManagedProcess] = []

    def start(queue_id: str, concurrency: int = 10, api_key: str | None = None, extra: list[str] | None = None) -> ManagedProcess:
        env = {**os.environ, "KUBIYA_API_KEY": api_key or control_plane.api_key}
        argv = [
            sys.executable, "-m", "kubiya_tui", "worker", "start",
            "--queue-id", queue_id, "--control-plane-url", control_plane.url,
            "--concurrency", str(concurrency), *(extra or []),
        ]  # fmt: skip
        proc = spawn("worker", argv, tmp_path / f"worker-{len(started)}.log", env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop(grace=5)
