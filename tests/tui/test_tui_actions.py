"""The console's operations driven by keys end to end against a real control plane (and its Temporal)."""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlparse

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from kubiya_tui.metrics.snapshot import SourceStatus
from kubiya_tui.stack.processes import start_control_plane
from kubiya_tui.tui.app import KubiyaConsole, build_console
from kubiya_tui.tui.dialogs.create_queue import CreateQueueDialog
from kubiya_tui.tui.dialogs.drain import DrainDialog
from kubiya_tui.tui.dialogs.scale import ScaleDialog
from kubiya_tui.tui.dialogs.worker_command import MASK, WorkerCommandDialog
from kubiya_tui.tui.screens.overview import OverviewScreen
from kubiya_tui.tui.screens.workers import WorkersScreen
from kubiya_tui.tui.widgets.worker_table import WorkerTable
from tests.helpers import toasts

pytestmark = pytest.mark.timeout(120)


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    for _ in range(int(timeout / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def console(cp, *, read_only: bool = False) -> KubiyaConsole:
    app = build_console(api_url=cp.url, api_key=cp.api_key, read_only=read_only, theme="kubiya-dark")
    app.source._interval = 0.5  # type: ignore[attr-defined]  # quick refreshes keep the test short
    return app


def make_queue(api, unique, **fields) -> dict:
    env = api.get("/api/v1/environments").json()[0]
    r = api.post(f"/api/v1/environments/{env['id']}/worker-queues", json={"name": unique("tui"), **fields})
    r.raise_for_status()
    return r.json()


def has_queue(app: KubiyaConsole, queue_id: str) -> bool:
    return app.snapshot is not None and app.snapshot.queue(queue_id) is not None


async def test_create_queue(control_plane, api, unique) -> None:
    name = unique("tui-new")
    taken = make_queue(api, unique)
    app = console(control_plane)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and bool(app.snapshot.queues), what="first snapshot")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CreateQueueDialog), what="dialog")
        dialog = app.screen
        select = dialog.query_one("#environment", Select)
        await until(pilot, lambda: select.selection == taken["environment_id"] or select.selection is not None, what="environments")
        select.value = taken["environment_id"]
        await pilot.press(*"Bad_Name")
        assert dialog.query_one("#name-error").display, "the name is checked as it is typed"
        # The server's 409 lands at the name field.
        dialog.query_one("#name", Input).value = taken["name"]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "already" in str(dialog.query_one("#name-error").render()).lower() or "exists" in str(dialog.query_one("#name-error").render()).lower(), what="409 at the field")
        assert isinstance(app.screen, CreateQueueDialog)
        dialog.query_one("#name", Input).value = name
        dialog.query_one("#max_workers", Input).value = "4"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, CreateQueueDialog), what="dialog closed")
        created = [q for q in api.get("/api/v1/worker-queues").json() if q["name"] == name]
        assert len(created) == 1 and created[0]["max_workers"] == 4
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        await until(pilot, lambda: overview.table.selected_key == created[0]["id"], what="new queue selected")


async def test_create_queue_by_keyboard_at_80x24(control_plane, api, unique) -> None:
    """On a small terminal the form scrolls to the field being typed in, and Enter creates the queue."""
    name = unique("tui-kb")
    app = console(control_plane)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.snapshot is not None, what="first snapshot")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CreateQueueDialog), what="dialog")
        dialog = app.screen
        select = dialog.query_one("#environment", Select)
        await until(pilot, lambda: select.selection is not None, what="environments")
        assert app.screen.region.contains_region(dialog.query_one("#confirm").region), "the buttons are on screen"
        await pilot.press(*name, "tab", "tab", "tab")  # display name, description, max workers
        await pilot.pause(0.3)
        assert app.focused is dialog.query_one("#max_workers")
        assert dialog.query_one("#dialog-body").region.contains_region(app.focused.region), "scrolled into view"
        await pilot.press("3", "enter")
        await until(pilot, lambda: not isinstance(app.screen, CreateQueueDialog), what="dialog closed")
    created = [q for q in api.get("/api/v1/worker-queues").json() if q["name"] == name]
    assert len(created) == 1 and created[0]["max_workers"] == 3


async def test_drain_worker(control_plane, api, unique) -> None:
    queue = make_queue(api, unique)
    api.post(f"/api/v1/worker-queues/{queue['id']}/start", json={}).raise_for_status()
    worker_id = api.post(f"/api/v1/worker-queues/{queue['id']}/start", json={}).json()["worker_id"]
    app = console(control_plane)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and any(w.worker_id == worker_id for w in app.snapshot.workers), what="worker listed")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WorkersScreen))
        table = app.screen.query_one(WorkerTable)
        assert table.select_key(worker_id)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DrainDialog), what="drain dialog")
        assert worker_id in str(app.screen.query_one("#drain-target").render())
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen.accepted, what="drain accepted")
        await until(pilot, lambda: "draining" in str(app.screen.query_one("#drain-state").render()), what="state followed")
        assert api.get(f"/api/v1/registered-workers/{worker_id}").json()["desired_state"] == "draining"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, WorkersScreen))


async def test_scale_queue_and_autoscale(control_plane, api, unique) -> None:
    queue = make_queue(api, unique, max_workers=5)
    app = console(control_plane)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: has_queue(app, queue["id"]), what="queue listed")
        app.actions.scale(queue["id"])
        await until(pilot, lambda: isinstance(app.screen, ScaleDialog), what="scale dialog")
        dialog = app.screen
        await pilot.press("9")
        assert dialog.query_one("#confirm").disabled, "more than max_workers is refused"
        dialog.query_one("#count", Input).value = "3"
        await pilot.pause()
        assert "start 3 workers" in str(dialog.query_one("#scale-preview").render())
        dialog.query_one("#autoscale-on").value = True
        dialog.query_one("#min", Input).value = "1"
        dialog.query_one("#max", Input).value = "4"
        dialog.query_one("#target", Input).value = "45"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, ScaleDialog), what="dialog closed")
        got = api.get(f"/api/v1/worker-queues/{queue['id']}").json()
        assert got["desired_workers"] == 3
        assert got["autoscale"]["max_workers"] == 4 and got["autoscale"]["target_backlog_age_seconds"] == 45


async def test_scale_queue_enter_submits(control_plane, api, unique) -> None:
    """Enter in the Workers field scales; an empty field is an error only then, and nothing is sent."""
    queue = make_queue(api, unique, max_workers=5)
    app = console(control_plane)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: has_queue(app, queue["id"]), what="queue listed")
        app.actions.scale(queue["id"])
        await until(pilot, lambda: isinstance(app.screen, ScaleDialog), what="scale dialog")
        dialog = app.screen
        await pilot.press("backspace")
        assert not dialog.query_one("#count-error").display, "no error while the field is empty"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert dialog.query_one("#count-error").display and isinstance(app.screen, ScaleDialog)
        assert api.get(f"/api/v1/worker-queues/{queue['id']}").json()["desired_workers"] in (None, 0), "nothing sent"
        await pilot.press("2", "enter")
        await until(pilot, lambda: not isinstance(app.screen, ScaleDialog), what="dialog closed")
    assert api.get(f"/api/v1/worker-queues/{queue['id']}").json()["desired_workers"] == 2


async def test_worker_command_copies_and_masks(control_plane, api, unique) -> None:
    queue = make_queue(api, unique)
    app = console(control_plane)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: has_queue(app, queue["id"]), what="queue listed")
        app.actions.worker_command(queue["id"])
        await until(pilot, lambda: isinstance(app.screen, WorkerCommandDialog) and app.screen.command is not None, what="command")
        shown = str(app.screen.query_one("#command-local").render())
        assert MASK in shown and control_plane.api_key not in shown
        await pilot.press("c")
        assert queue["id"] in app.clipboard and control_plane.api_key not in app.clipboard
        await pilot.press("r")
        assert control_plane.api_key in str(app.screen.query_one("#command-local").render())
        await pilot.press("escape")


async def test_read_only_refuses_every_change(control_plane, api, unique) -> None:
    queue = make_queue(api, unique)
    app = console(control_plane, read_only=True)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await until(pilot, lambda: has_queue(app, queue["id"]), what="queue listed")
        await pilot.press("c")
        app.actions.scale(queue["id"])
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        messages = toasts(app)
        assert any("read-only" in m and "create queue" in m for m in messages)
        assert any("read-only" in m and "scale queue" in m for m in messages)


async def test_survives_control_plane_going_away(control_plane_factory, unique) -> None:
    cp = control_plane_factory()
    app = console(cp)
    port = urlparse(cp.url).port
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.sources["api"].status is SourceStatus.ok, what="connected")
        cp.stop()
        await until(pilot, lambda: app.snapshot.sources["api"].status is SourceStatus.down, timeout=30, what="down")
        banner = app.screen.query_one("#banner")
        assert banner.display and "control plane is down" in str(banner.render())
        assert app.is_running
        proc, _url = start_control_plane(cp.data_dir, cp.temporal_address, api_key=cp.api_key, port=port)
        try:
            await until(pilot, lambda: app.snapshot.sources["api"].status is SourceStatus.ok, timeout=30, what="recovered")
            await pilot.pause(0.2)
            assert not banner.display
        finally:
            proc.stop()


async def test_migrate_legacy_task_queue(control_plane, api, unique) -> None:
    from kubiya_tui.tui.dialogs.migrate import MigrateDialog
    from kubiya_tui.tui.screens.legacy import LegacyScreen

    name = unique("tui-legacy")
    tq = api.post("/api/v1/task-queues", json={"name": name, "description": "old jobs", "tags": ["ops"]}).json()
    app = console(control_plane)
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: app.snapshot is not None, what="first snapshot")
        await pilot.press("L")
        await until(pilot, lambda: isinstance(app.screen, LegacyScreen) and app.screen.loaded, what="legacy list")
        screen = app.screen
        assert any(q.id == tq["id"] and q.migration is None for q, _ in screen.rows), "listed, marked legacy"
        table = screen.query_one("#legacy-table")
        table.move_cursor(row=table.get_row_index(tq["id"]))
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MigrateDialog), what="migrate dialog")
        dialog = app.screen
        select = dialog.query_one("#migrate-env", Select)
        await until(pilot, lambda: select.value is not Select.BLANK, what="environments")
        await pilot.click("#confirm")
        await until(pilot, lambda: dialog.queue_id is not None and dialog.command is not None, what="queue created")
        assert dialog.queue_id in dialog.command
        await until(pilot, lambda: dialog.progress is not None, what="progress")
        # No legacy worker and an empty legacy backlog: the migration completes on its own.
        await until(pilot, lambda: dialog.progress["state"] == "migrated", timeout=30, what="migrated")
    migrated = api.get(f"/api/v1/task-queues/{tq['id']}").json()
    assert migrated["migration"]["state"] == "migrated"
    queue = api.get(f"/api/v1/worker-queues/{migrated['migration']['worker_queue_id']}").json()
    assert (queue["name"], queue["description"], queue["tags"]) == (name, "old jobs", ["ops"])
    actions = [e["action"] for e in api.get("/api/v1/audit", params={"limit": 50}).json() if e["target_id"] == tq["id"]]
    assert "task_queue.migrate" in actions
