"""kubiya-tui's CLI and console against Kubiya's own control plane, with a kubiya-tui worker registered on it.

The tests of the section "fixed by issue 11" were strict xfails of the breakages that issue
lists; they pass now.
"""

from __future__ import annotations

import io
import json
import uuid

import pytest

from kubiya_tui.tui.app import build_console
from kubiya_tui.tui.dialogs.worker_command import WorkerCommandDialog
from kubiya_tui.tui.screens.workers import WorkersScreen
from kubiya_tui.tui.widgets.worker_table import WorkerTable
from kubiya_tui.tui.dialogs.drain import DrainDialog
from tests.helpers import make_queue, toasts, wait_for
from tests.interop.support import start_workflows, temporal_backlog
from tests.e2e.test_cli import cli, ok
from tests.tui.test_tui_actions import until

pytestmark = pytest.mark.timeout(300)

BACKLOG = 3


@pytest.fixture(scope="module")
def kapi(kubiya_server):
    with kubiya_server.client() as client:
        yield client


@pytest.fixture(scope="module")
def busy(kapi, kubiya_server, start_tui_worker) -> dict:
    """A queue on Kubiya's server with one kubiya-tui worker registered and heartbeating (interval 10 s)."""
    queue = make_queue(kapi, f"busy-{uuid.uuid4().hex[:6]}", heartbeat_interval=10)
    proc = start_tui_worker(kubiya_server.url, kubiya_server.api_key, queue["id"])
    # Kubiya lists a worker only once a heartbeat of it is in Redis.
    rows = wait_for(lambda: kapi.get(f"/api/v1/worker-queues/{queue['id']}/workers").json(), 60, "the worker's first heartbeat")
    assert len(rows) == 1
    yield {**queue, "worker_id": rows[0]["worker_id"], "process": proc}
    proc.stop(grace=10)


@pytest.fixture(scope="module")
def backlog(kapi, temporal_server) -> dict:
    """A queue on Kubiya's server with no worker and BACKLOG workflows waiting in its Temporal task queue."""
    queue = make_queue(kapi, f"backlog-{uuid.uuid4().hex[:6]}")
    start_workflows(temporal_server.address, queue["task_queue_name"], BACKLOG, f"interop-{queue['id']}")
    wait_for(lambda: temporal_backlog(temporal_server.address, queue["task_queue_name"]) == BACKLOG, 30, "Temporal's backlog")
    return queue


def refused(result, action: str) -> str:
    """A refusal up front: non-zero exit, one line that names Kubiya's server and the action, no contract error or bare 404."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kubiya-tui: error: "), result.stderr
    line = lines[0]
    assert "kubiya" in line.lower().removeprefix("kubiya-tui: error: ") and action in line.lower(), line
    assert "404" not in line and "contract" not in line, line
    return line


def queue_json(server, name: str) -> dict:
    return next(q for q in json.loads(ok(cli(server, "queues", "list", "-o", "json"))) if q["name"] == name)


# ---------------------------------------------------------------------------- what works today


def test_envs_list(kubiya_server) -> None:
    envs = json.loads(ok(cli(kubiya_server, "envs", "list", "-o", "json")))
    default = next(e for e in envs if e["name"] == "default")
    assert default["organization_id"] == kubiya_server.organization and default["status"] == "active"
    assert any(line.startswith("default ") and default["id"] in line for line in ok(cli(kubiya_server, "envs", "list")).splitlines())


def test_queues_create_list_delete(kubiya_server, kapi) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = json.loads(ok(cli(kubiya_server, "queues", "create", name, "--heartbeat-interval", "20", "--max-workers", "2", "-o", "json")))
    assert (created["name"], created["heartbeat_interval"], created["max_workers"]) == (name, 20, 2)
    assert kapi.get(f"/api/v1/worker-queues/{created['id']}").json()["name"] == name
    listed = queue_json(kubiya_server, name)
    assert listed["id"] == created["id"] and listed["task_queue_name"] == created["id"]
    assert name in ok(cli(kubiya_server, "queues", "list"))
    ok(cli(kubiya_server, "queues", "delete", name, "--yes"))
    assert kapi.get(f"/api/v1/worker-queues/{created['id']}").status_code == 404
    assert name not in ok(cli(kubiya_server, "queues", "list"))


def test_queue_with_a_live_worker_is_not_deleted(kubiya_server, busy) -> None:
    result = cli(kubiya_server, "queues", "delete", busy["name"], "--yes")
    assert result.returncode == 1 and "active workers" in result.stderr and len(result.stderr.splitlines()) == 1


def test_install_scripts(kubiya_server, busy) -> None:
    assert "Local Installation Script" in ok(cli(kubiya_server, "install-script", busy["name"]))
    assert "docker run" in ok(cli(kubiya_server, "install-script", busy["name"], "--platform", "docker"))
    assert "kind: Deployment" in ok(cli(kubiya_server, "install-script", busy["name"], "--platform", "kubernetes"))


def test_queues_list_counts_the_registered_worker(kubiya_server, busy) -> None:
    assert queue_json(kubiya_server, busy["name"])["active_workers"] == 1


def test_top_depth_is_temporals(kubiya_server, backlog, temporal_env) -> None:
    snapshot = json.loads(ok(cli(kubiya_server, "top", "-o", "json", "--queue", backlog["id"])))
    (queue,) = snapshot["queues"]
    assert queue["depth"] == temporal_backlog(temporal_env, backlog["task_queue_name"]) == BACKLOG


def test_check_reads_depth_from_temporal(kubiya_server, backlog, temporal_env) -> None:
    over = cli(kubiya_server, "check", "--queue", backlog["id"], "--max-depth", str(BACKLOG - 1))
    assert over.returncode == 2 and over.stdout.startswith("QUEUES CRITICAL") and backlog["name"] in over.stdout
    within = cli(kubiya_server, "check", "--queue", backlog["id"], "--max-depth", str(BACKLOG * 10))
    assert within.returncode == 0 and within.stdout.startswith("QUEUES OK"), within.stdout


# ---------------------------------------------------------------------------- fixed by issue 11


def test_worker_command(kubiya_server, busy) -> None:
    out = ok(cli(kubiya_server, "worker-command", busy["name"]))
    assert f"kubiya worker start --queue-id {busy['id']}" in out
    answer = json.loads(ok(cli(kubiya_server, "worker-command", busy["name"], "-o", "json")))
    assert answer["command_parts"] == {"binary": "kubiya", "subcommand": "worker start", "flags": {"--queue-id": busy["id"]}}


def test_workers_list_every_queue(kubiya_server, busy, temporal_env) -> None:
    rows = json.loads(ok(cli(kubiya_server, "workers", "list", "-o", "json")))
    mine = [w for w in rows if w["worker_id"] == busy["worker_id"]]
    assert len(mine) == 1 and mine[0]["health"] == "healthy" and mine[0]["queue_id"] == busy["id"]
    assert all(w["queue_id"] for w in rows), "each worker is on the queue it was listed under"
    table = ok(cli(kubiya_server, "workers", "list"))
    (line,) = [x for x in table.splitlines() if x.startswith(busy["worker_id"][:8])]
    assert busy["name"] in line and "healthy" in line and "never" not in line


def test_workers_list_of_a_queue(kubiya_server, busy, temporal_env) -> None:
    (row,) = json.loads(ok(cli(kubiya_server, "workers", "list", "--queue", busy["name"], "-o", "json")))
    assert row["worker_id"] == busy["worker_id"] and row["queue_id"] == busy["id"]
    assert row["health"] == "healthy" and 0 <= row["heartbeat_age_seconds"] < 30
    table = ok(cli(kubiya_server, "workers", "list", "--queue", busy["name"]))
    line = next(x for x in table.splitlines() if x.startswith(busy["worker_id"][:8]))
    assert busy["name"] in line and "healthy" in line and "never" not in line


def test_top_one_healthy_worker(kubiya_server, busy, temporal_env) -> None:
    snapshot = json.loads(ok(cli(kubiya_server, "top", "-o", "json", "--queue", busy["id"])))
    (queue,) = snapshot["queues"]
    assert queue["workers"]["healthy"] == 1 and queue["workers"]["unregistered"] == 0
    (row,) = [w for w in snapshot["workers"] if w["queue_id"] == busy["id"]]
    assert row["worker_id"] == busy["worker_id"] and row["health"] == "healthy"


def test_drain_is_refused_with_a_reason(kubiya_server, busy) -> None:
    line = refused(cli(kubiya_server, "drain", busy["worker_id"], "--yes"), "drain")
    assert "sigterm" in line.lower() or "stop" in line.lower()


def test_scale_is_refused_with_a_reason(kubiya_server, busy) -> None:
    refused(cli(kubiya_server, "scale", busy["name"], "2", "--yes"), "scale")


def test_autoscale_is_refused_with_a_reason(kubiya_server, busy) -> None:
    refused(cli(kubiya_server, "autoscale", busy["name"], "--min", "1", "--max", "2", "--target-backlog-age", "60", "--yes"), "autoscale")


def test_task_submit_is_refused_with_a_reason(kubiya_server, busy) -> None:
    refused(cli(kubiya_server, "tasks", "submit", busy["name"], "--kind", "sleep"), "task")
    refused(cli(kubiya_server, "tasks", "list", busy["name"]), "task")


def test_refusals_name_no_endpoint_and_change_nothing(kubiya_server, kapi, busy) -> None:
    """The refusals come before any call: the queue and its worker are as they were."""
    before = kapi.get(f"/api/v1/worker-queues/{busy['id']}").json()
    for args in (("drain", busy["worker_id"][:8], "--yes"), ("scale", busy["id"], "0", "--yes")):
        refused(cli(kubiya_server, *args), args[0])
    after = kapi.get(f"/api/v1/worker-queues/{busy['id']}").json()
    assert (after["status"], after["max_workers"]) == (before["status"], before["max_workers"])
    assert [w["worker_id"] for w in kapi.get(f"/api/v1/worker-queues/{busy['id']}/workers").json()] == [busy["worker_id"]]


# ---------------------------------------------------------------------------- the console


def kubiya_console(server):
    app = build_console(api_url=server.url, api_key=server.api_key, theme="kubiya-dark")
    app.source._interval = 0.5  # type: ignore[attr-defined]  # quick refreshes keep the test short
    return app


async def test_console_overview_lists_the_queues_with_temporals_depth(kubiya_server, busy, backlog, temporal_env) -> None:
    app = kubiya_console(kubiya_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.queue(backlog["id"]) is not None, 30, "queues")
        await until(pilot, lambda: app.snapshot.queue(backlog["id"]).depth == BACKLOG, 30, "depth from Temporal")
        assert app.snapshot.queue(busy["id"]) is not None


async def test_console_overview_counts_one_healthy_worker(kubiya_server, busy, temporal_env) -> None:
    app = kubiya_console(kubiya_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.queue(busy["id"]) is not None, 30, "queue")
        await until(pilot, lambda: app.snapshot.queue(busy["id"]).workers.healthy == 1, 20, "one healthy worker")
        assert app.snapshot.queue(busy["id"]).workers.unregistered == 0


async def test_console_workers_screen_one_healthy_row(kubiya_server, busy, temporal_env) -> None:
    app = kubiya_console(kubiya_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.queue(busy["id"]) is not None, 30, "queue")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WorkersScreen), what="workers screen")

        def rows():
            return [w for w in app.snapshot.workers if w.queue_id == busy["id"]]

        await until(pilot, lambda: any(w.worker_id == busy["worker_id"] and w.health == "healthy" for w in rows()), 20, "healthy")
        (row,) = rows()
        assert not row.polling_not_registered and not row.registered_not_polling
        assert app.screen.query_one(WorkerTable).select_key(busy["worker_id"])


async def test_console_worker_command_dialog(kubiya_server, busy) -> None:
    app = kubiya_console(kubiya_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.queue(busy["id"]) is not None, 30, "queue")
        app.actions.worker_command(busy["id"])
        await until(pilot, lambda: isinstance(app.screen, WorkerCommandDialog) and app.screen.command is not None, 15, "command")
        assert f"kubiya worker start --queue-id {busy['id']}" in app.screen.command
        assert "docker run" in app.screen.scripts["docker"] and "kind: Deployment" in app.screen.scripts["kubernetes"]
        assert "Local Installation Script" in app.screen.scripts["local"]


async def test_console_drain_and_scale_are_shown_unavailable_with_the_reason(kubiya_server, busy, temporal_env) -> None:
    app = kubiya_console(kubiya_server)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.queue(busy["id"]) is not None, 30, "queue")
        await until(pilot, lambda: app.connection.capabilities.known is not None, 15, "capabilities")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WorkersScreen), what="workers screen")
        await until(pilot, lambda: any(w.worker_id == busy["worker_id"] for w in app.snapshot.workers), 20, "the worker")
        assert app.screen.query_one(WorkerTable).select_key(busy["worker_id"])
        await pilot.press("d")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, DrainDialog)
        shown = " ".join(toasts(app))
        assert "no drain API" in shown and "stop the worker" in shown, shown
        assert "404" not in shown and "contract" not in shown
        app.actions.scale(busy["id"])
        await pilot.pause(0.3)
        assert "no scale API" in " ".join(toasts(app))
        # The help screen lists them as unavailable, with the same reasons.
        from rich.console import Console

        from kubiya_tui.tui.screens.help import HelpScreen

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        out = Console(width=400, record=True, file=io.StringIO())
        out.print(app.screen._keys())
        listed = " ".join(out.export_text().split())
        assert "(unavailable: Kubiya's control plane has no drain API;" in listed
        assert "(unavailable: Kubiya's control plane has no scale API;" in listed


async def test_console_queue_detail_says_why_failed_tasks_are_unavailable(kubiya_server, busy, temporal_env) -> None:
    from textual.widgets import DataTable

    from kubiya_tui.tui.screens.queue_detail import QueueDetailScreen

    app = kubiya_console(kubiya_server)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.queue(busy["id"]) is not None, 30, "queue")
        await until(pilot, lambda: app.connection.capabilities.known is not None, 15, "capabilities")
        app.open_queue(busy["id"])
        await until(pilot, lambda: isinstance(app.screen, QueueDetailScreen), what="queue detail")

        def failures() -> str:
            tables = app.screen.query("#failed-tasks")  # none until the screen is composed
            if not tables:
                return ""
            table = tables.first(DataTable)
            return " ".join(str(c) for r in range(table.row_count) for c in table.get_row_at(r))

        await until(pilot, lambda: "unavailable" in failures(), 10, "the failures row")
        assert "no task API" in failures() and "404" not in failures()
