"""Shared fixtures: a real Temporal dev server and real control-plane processes on 127.0.0.1.

Every test gets its own XDG folders, so a developer's own config never leaks into a test.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest

from kubiya_tui.stack.processes import ManagedProcess, start_control_plane, start_temporal


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
    extra_keys: dict[str, str] = field(default_factory=dict)

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key or self.api_key}"}, timeout=30
        )

    def key_for(self, org: str) -> str:
        """An API key of another organization, made with `kubiya-tui admin create-key`."""
        if org not in self.extra_keys:
            out = subprocess.run(
                [sys.executable, "-m", "kubiya_tui", "admin", "create-key", "--org", org, "--data-dir", str(self.data_dir)],
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
    "tests/interop/": "interop",  # one Kubiya peer, installed once into a shared cache, for the suite
}


def _xdist_group(nodeid: str) -> str | None:
    path = nodeid.split("::")[0]
    for where, group in XDIST_GROUPS.items():
        if path == where or (where.endswith("/") and path.startswith(where)):
            return group
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-install",
        action="store_true",
        help="also run the install suite (tests marked `install`: a fresh-host install, the sdist and wheel build)",
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The install suite stays out of the default run, whatever -m says, unless --run-install asks for it;
    the modules of XDIST_GROUPS get their group."""
    if not config.getoption("--run-install"):
        left_out = [item for item in items if item.get_closest_marker("install")]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if not item.get_closest_marker("install")]
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
    temporal_server: TemporalServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ControlPlane]]:
    """Start control planes; each is stopped at the end of the session if a test did not."""
    started: list[ControlPlane] = []

    def start(data_dir: Path | None = None, api_key: str | None = None, temporal_address: str | None = None) -> ControlPlane:
        data_dir = data_dir or tmp_path_factory.mktemp("control-plane")
        api_key = api_key or "kty_test_" + secrets.token_urlsafe(16)
        address = temporal_address or temporal_server.address
        proc, url = start_control_plane(data_dir, address, api_key=api_key)
        cp = ControlPlane(url=url, api_key=api_key, data_dir=data_dir, temporal_address=address, process=proc)
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
