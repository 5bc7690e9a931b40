"""Temporal's own connection profiles and mTLS, against a real dev server behind a TLS proxy.

The dev server has no TLS of its own: ``tests/mtls.py`` puts a TLS-terminating proxy on
127.0.0.1 in front of it that requires a client certificate the test's CA signed. Profiles
of the Temporal CLI's ``temporal.toml`` (read by ``temporalio.envconfig``) hold the address,
namespace and certificates; kubiya-tui's own config names only the profile.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from kubiya_tui.config import resolve_settings
from kubiya_tui.connection import connect
from tests.helpers import make_queue, outcomes, submit, wait_for
from tests.mtls import Certs, MTLSProxy, make_certs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def proxy(certs: Certs, temporal_server) -> Iterator[MTLSProxy]:
    running = MTLSProxy(certs, temporal_server.address).start()
    try:
        yield running
    finally:
        running.stop()


def write_temporal_toml(path: Path, proxy: MTLSProxy, certs: Certs) -> Path:
    """The Temporal CLI's file: ``secure`` (mTLS), ``nocert`` (TLS, no client certificate), ``stranger`` (another CA's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""
[profile.secure]
address = "{proxy.address}"
namespace = "default"
[profile.secure.tls]
server_name = "localhost"
server_ca_cert_path = "{certs.ca_cert}"
client_cert_path = "{certs.client_cert}"
client_key_path = "{certs.client_key}"

[profile.nocert]
address = "{proxy.address}"
[profile.nocert.tls]
server_name = "localhost"
server_ca_cert_path = "{certs.ca_cert}"

[profile.stranger]
address = "{proxy.address}"
[profile.stranger.tls]
server_name = "localhost"
server_ca_cert_path = "{certs.ca_cert}"
client_cert_path = "{certs.other_client_cert}"
client_key_path = "{certs.other_client_key}"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def temporal_toml(tmp_path: Path, proxy: MTLSProxy, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Temporal CLI's file at its default place ($XDG_CONFIG_HOME/temporalio/temporal.toml)."""
    import os

    return write_temporal_toml(Path(os.environ["XDG_CONFIG_HOME"]) / "temporalio" / "temporal.toml", proxy, certs)


def write_config(body: str) -> None:
    import os

    path = Path(os.environ["XDG_CONFIG_HOME"]) / "kubiya-tui" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubiya_tui", *args], capture_output=True, text=True, timeout=timeout)


async def test_the_collector_reads_depth_through_the_mtls_proxy(api, temporal_toml, proxy, unique):
    """A Temporal-only profile naming the Temporal CLI profile: nothing of Temporal's is copied into config.toml."""
    queue = make_queue(api, unique("mtls"))
    submit(api, queue["id"], count=3, input={"seconds": 0})  # no worker: they wait
    write_config(f'[profiles.secure]\ntemporal_profile = "secure"\ntask_queues = ["{queue["task_queue_name"]}"]\n')
    settings = resolve_settings("secure")
    assert settings.temporal_address == proxy.address
    assert settings.temporal_tls_config is not None and settings.temporal_tls_config.mutual
    before = proxy.connections
    async with connect(settings, history="off") as conn:
        snapshot = await conn.source.refresh(complete=True)
    rows = {q.task_queue_name: q for q in snapshot.queues}
    assert rows[queue["task_queue_name"]].depth == 3
    assert snapshot.sources["temporal"].status.value in ("ok", "slow")  # answered (slow on a loaded machine)
    assert proxy.connections > before, "the reads went through the proxy"


def test_top_and_check_through_the_mtls_proxy(api, temporal_toml, proxy, unique):
    queue = make_queue(api, unique("mtlstop"))
    submit(api, queue["id"], count=2, input={"seconds": 0})
    tq = queue["task_queue_name"]
    write_config(f'default_profile = "secure"\n[profiles.secure]\ntemporal_profile = "secure"\ntask_queues = ["{tq}"]\n')
    top = cli("top", "-o", "json", "--no-workers")
    assert top.returncode == 0, top.stderr
    rows = {q["task_queue_name"]: q for q in json.loads(top.stdout)["queues"]}
    assert rows[tq]["depth"] == 2
    check = cli("check", "--max-depth", "1")
    assert check.returncode == 2, check.stdout + check.stderr  # CRITICAL: depth 2 > 1, read through mTLS
    assert check.stdout.startswith("QUEUES CRITICAL")
    assert tq in check.stdout


async def test_without_the_client_certificate_the_proxy_refuses_in_one_clear_line(temporal_toml, proxy):
    for profile, says in (("nocert", "may require a client certificate"), ("stranger", "may not accept this client certificate")):
        settings = resolve_settings(temporal_profile=profile)
        async with connect(settings, history="off") as conn:
            assert conn.temporal is not None
            assert not await conn.temporal.available()
            error = conn.temporal.last_error or ""
        assert error.startswith(f"Temporal unreachable at {proxy.address}: "), error
        assert says in error and "\n" not in error and len(error) < 300, error


def test_top_without_the_certificate_says_why_in_one_line(temporal_toml, unique):
    write_config('default_profile = "n"\n[profiles.n]\ntemporal_profile = "nocert"\ntask_queues = ["tq-x"]\n')
    top = cli("top", "-o", "json", "--no-workers")
    data = json.loads(top.stdout)
    error = data["sources"]["temporal"]["last_error"]
    assert "client certificate" in error and "\n" not in error
    assert "Traceback" not in top.stderr


def test_a_worker_registers_and_runs_a_task_through_the_mtls_proxy(api, control_plane, start_worker, temporal_toml, proxy, unique):
    """The control plane reaches the dev server directly; the worker goes its own way, through the proxy, with its certificate."""
    queue = make_queue(api, unique("mtlsworker"))
    worker = start_worker(queue["id"], extra=["--temporal-profile", "secure"])
    wait_for(
        lambda: any(w["health"] == "healthy" for w in api.get(f"/api/v1/worker-queues/{queue['id']}/workers").json()),
        60,
        "the worker registered",
    )
    [task_id] = submit(api, queue["id"], input={"seconds": 0})
    wait_for(lambda: api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "completed", 90, "the task completed")
    assert outcomes(control_plane.temporal_address, queue["task_queue_name"]) == {"Completed": 1}
    log = worker.log_path.read_text()
    assert f"Temporal through Temporal CLI profile 'secure'" in log and f"{proxy.address} with a client certificate" in log
    assert worker.stop(grace=30) == 0


def test_a_worker_without_the_certificate_stops_with_one_line(api, control_plane, start_worker, temporal_toml, unique):
    queue = make_queue(api, unique("mtlsnocert"))
    worker = start_worker(queue["id"], extra=["--temporal-profile", "nocert", "--temporal-connect-timeout", "2"])
    code = worker.proc.wait(60)
    assert code == 2
    lines = [ln for ln in worker.log_path.read_text().splitlines() if ln.strip()]
    assert "Traceback" not in "\n".join(lines)
    assert any("cannot reach Temporal" in ln and "may require a client certificate" in ln for ln in lines), lines[-5:]


async def test_the_console_shows_depth_read_through_the_mtls_proxy(api, temporal_toml, unique):
    from kubiya_tui.tui.app import build_console
    from kubiya_tui.tui.widgets.queue_table import QueueTable

    queue = make_queue(api, unique("mtlsconsole"))
    submit(api, queue["id"], count=2, input={"seconds": 0})
    tq = queue["task_queue_name"]
    write_config(f'[profiles.secure]\ntemporal_profile = "secure"\ntask_queues = ["{tq}"]\n')
    app = build_console("secure", theme="kubiya-dark")
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(100):
            await pilot.pause(0.1)
            rows = {q.task_queue_name: q for q in app.screen.query_one(QueueTable).shown_items}
            if rows.get(tq) is not None and rows[tq].depth == 2:
                break
        else:
            raise AssertionError(f"{tq} with depth 2 never showed")
        # read through the proxy ("slow" is still an answer: a loaded machine is slow)
        assert app.snapshot.sources["temporal"].status.value in ("ok", "slow")


def test_temporal_profile_alone_finds_the_queues_through_the_mtls_proxy(api, temporal_toml, unique):
    """No kubiya-tui config at all: TEMPORAL_PROFILE names the Temporal CLI profile, the queues are found in Temporal."""
    import os

    queue = make_queue(api, unique("mtlsfound"))
    submit(api, queue["id"], count=2, input={"seconds": 0})
    env = {**os.environ, "TEMPORAL_PROFILE": "secure"}
    top = subprocess.run([sys.executable, "-m", "kubiya_tui", "top", "-o", "json", "--no-workers"],
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert top.returncode == 0, top.stderr
    data = json.loads(top.stdout)
    assert data["mode"] == "temporal" and data["sources"]["temporal"]["status"] in ("ok", "slow")
    rows = {q["task_queue_name"]: q for q in data["queues"]}
    assert rows[queue["task_queue_name"]]["depth"] == 2
    assert "discovered" in rows[queue["task_queue_name"]]["tags"]
