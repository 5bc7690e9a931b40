"""Workers on another kubiya-tui than their control plane: carried into snapshots, flagged in the console."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from kubiya_tui.secret import SecretStr

from kubiya_tui import __version__
from kubiya_tui.config import Settings
from kubiya_tui.connection import connect
from kubiya_tui.metrics.collector import CollectorOptions
from kubiya_tui.tui.dialogs.worker_command import WorkerCommandDialog
from kubiya_tui.tui.screens.help import HelpScreen
from kubiya_tui.tui.screens.workers import WorkerDetailScreen, WorkersScreen
from kubiya_tui.tui.widgets.worker_table import WorkerTable
from tests.helpers import make_queue
from kubiya_tui.tui.screenshots import recorded_console

V1 = "/api/v1"


def plain(renderable: object) -> str:
    """What a Rich renderable shows, as plain text on one wide line per row."""
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def test_collector_carries_each_workers_version_and_the_control_planes(control_plane, api, unique):
    queue = make_queue(api, unique("versions"))
    for version in ("0.0.1", __version__):
        body = {"worker_sdk_version": version, "system_info": {"hostname": f"host-{version}", "sdk_version": version}}
        assert api.post(f"{V1}/worker-queues/{queue['id']}/start", json=body).status_code == 200
    settings = Settings(api_url=control_plane.url, api_key=SecretStr(control_plane.api_key), temporal_address=None)
    connection = connect(settings, CollectorOptions(queues=(queue["id"],)), history="off")
    try:
        snapshot = await connection.source.refresh(force=True, complete=True)
    finally:
        await connection.aclose()
    assert snapshot.control_plane_version == __version__ == api.get("/api/health").json()["version"]
    assert sorted((w.hostname, w.version) for w in snapshot.workers_of(queue["id"])) == [
        ("host-0.0.1", "0.0.1"),
        (f"host-{__version__}", __version__),
    ]
    assert {w["version"] for w in snapshot.to_json()["workers"] if w["queue_id"] == queue["id"]} == {"0.0.1", __version__}


async def test_workers_screen_flags_the_worker_on_another_version() -> None:
    app = recorded_console()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, WorkersScreen)
        table = app.screen.query_one(WorkerTable)
        health = {w.worker_id: table.cells(w)["health"].plain for w in app.snapshot.workers}
        assert {w for w, text in health.items() if "!ver" in text} == {"wkr-etl-02bb"}, health
        assert "!ver other version" in str(app.screen.query_one("#worker-legend").render())
        app.open_worker("wkr-etl-02bb")
        await pilot.pause()
        assert isinstance(app.screen, WorkerDetailScreen)
        state = plain(app.screen.query_one("#worker-state").content)
        assert "runs 0.0.9, the control plane 0.1.0" in state, state
        # Without the control plane's version there is nothing to compare with: no flag.
        app.snapshot = replace(app.snapshot, control_plane_version=None)
        await pilot.pause()
        app.screen.show_snapshot(app.snapshot)
        flags = next(line for line in plain(app.screen.query_one("#worker-state").content).splitlines() if line.startswith("flags"))
        assert flags.split() == ["flags", "none"]


async def test_help_names_the_console_and_control_plane_versions() -> None:
    app = recorded_console()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        title = app.screen.query_one("#help-body").border_title
        assert title == f"kubiya-tui {__version__} · control plane 0.1.0"


async def test_worker_command_dialog_says_where_the_package_comes_from() -> None:
    app = recorded_console()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("i")
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, WorkerCommandDialog) and app.screen.command is not None:
                break
        shown = str(app.screen.query_one("#package-source").render())
        assert "kubiya-tui 0.1.0 from this control plane (/api/v1/distribution, sha256 e1782c01fd5b…)" in " ".join(shown.split())
