"""The console over recorded data, and its views: one definition for the snapshot tests and for screenshots/.

``recorded_console()`` builds the console over ``recorded.py`` (fixed clock, no network);
``VIEWS`` names every screen and dialog with the keys that reach it from the overview and
when it is ready to be looked at; ``show_view()`` goes there. Run
``python -m kubiya_tui.tui.screenshots`` from the repository root to regenerate screenshots/.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, cast

from textual.pilot import Pilot
from textual.widgets import DataTable, Select

from kubiya_tui.client.api import ApiClient
from kubiya_tui.tui.app import KubiyaConsole
from kubiya_tui.tui.dialogs.worker_command import WorkerCommandDialog
from kubiya_tui.tui.recorded import RECORDED_KEY, RECORDED_URL, RECORDED_VERSION, RecordedSource, recorded_heartbeats, recorded_transport
from kubiya_tui.tui.screens.legacy import LegacyScreen

SIZE = (120, 36)
"""The size of the screenshots in screenshots/."""
THEMES = ("kubiya-dark", "kubiya-light")
SETTLE_STEP_SECONDS = 0.05
SETTLE_STEPS = 300
"""A loaded machine (the whole suite on 2 cores) can take seconds to get a view ready: up to 15 s."""


def recorded_console(theme: str = "kubiya-dark", *, degraded: bool = False, read_only: bool = False) -> KubiyaConsole:
    """The console over the recorded moment, with the recorded API answering the dialogs' reads."""
    api = ApiClient(RECORDED_URL, RECORDED_KEY, transport=recorded_transport(), retries=0)
    app = KubiyaConsole(
        RecordedSource(degraded=degraded),
        api=api,
        profile="demo",
        theme=theme,
        api_key=RECORDED_KEY,
        read_only=read_only,
        remember_theme=False,
        cursor_blink=False,
        version=RECORDED_VERSION,
    )
    app.heartbeats.seed(recorded_heartbeats())
    return app


def recorded_fleet_console(theme: str = "kubiya-dark") -> KubiyaConsole:
    """The console over the recorded fleet: prod (danger), staging (blue), dev (down); alerts firing since the incident began."""
    import time

    from kubiya_tui.config import AlertRule
    from kubiya_tui.fleet import FleetMember
    from kubiya_tui.tui.recorded import FIXED_NOW, RecordedProfileSource, recorded_fleet_snapshots

    rules = {
        "prod": [AlertRule(max_depth=250, max_error_rate=0.05, min_healthy_workers=2)],
        "staging": [AlertRule(queues=["staging/*"], max_backlog_age=90, level="warning"), AlertRule(queues=["webhooks"])],
        "dev": [AlertRule(max_depth=100)],
    }
    snapshots = recorded_fleet_snapshots()
    members = []
    for name, snapshot in snapshots.items():
        api = ApiClient(RECORDED_URL, RECORDED_KEY, transport=recorded_transport(), retries=0)
        member = FleetMember(name=name, source=RecordedProfileSource(snapshot), api=api, api_key=RECORDED_KEY,
                             color={"staging": "#4f8fe6"}.get(name), danger=name == "prod", read_only=name == "dev",
                             read_only_reason=f"profile {name!r}", rules=rules[name], snapshot=snapshot)  # fmt: skip
        members.append(member)
    app = KubiyaConsole(members[0].source, fleet=members, theme=theme, remember_theme=False, cursor_blink=False,
                        version=RECORDED_VERSION, clock=lambda: FIXED_NOW, local_time=time.gmtime)  # fmt: skip
    # What fired before the recorded moment: the reports incident 12 minutes ago, webhooks half an hour ago.
    started = {"prod": FIXED_NOW - 12 * 60, "staging": FIXED_NOW - 30 * 60, "dev": FIXED_NOW - 5 * 60}
    for member in members:
        app.alerts.update(member.name, snapshots[member.name], member.rules, now=started[member.name])
    app.alerts.acknowledge([a.key for a in app.alerts.alerts("staging") if a.metric == "backlog_age"], now=FIXED_NOW - 20 * 60)
    return app


def _always(app: KubiyaConsole) -> bool:
    return True


def _failures_loaded(app: KubiyaConsole) -> bool:
    """The failed tasks are in, and the table has sized its error column to them (it does that when idle)."""
    found = app.screen.query("#failed-tasks").results(DataTable)
    table = next(found, None)
    if table is None or "loading" in table.rows:
        return False
    error = next(c for c in table.ordered_columns if c.key.value == "error")
    return error.content_width >= max((len(str(cell)) for cell in table.get_column("error")), default=0)


def _command_loaded(app: KubiyaConsole) -> bool:
    screen = app.screen
    return isinstance(screen, WorkerCommandDialog) and screen.command is not None


def _legacy_loaded(app: KubiyaConsole) -> bool:
    screen = app.screen
    return isinstance(screen, LegacyScreen) and screen.loaded


def _environments_loaded(app: KubiyaConsole) -> bool:
    return app.screen.query_one("#migrate-env", Select).prompt != "loading environments…"


@dataclass(frozen=True)
class View:
    """One view of the console: the keys that reach it from the overview, and when it is ready to be looked at."""

    keys: tuple[str, ...] = ()
    ready: Callable[[KubiyaConsole], bool] = _always


VIEWS: dict[str, View] = {
    "overview": View(),
    "queue_detail": View(("j", "enter"), _failures_loaded),
    "workers": View(("w",)),
    "worker_detail": View(("w", "enter")),
    "help": View(("question_mark",)),
    "create_queue": View(("c", *"Bad_Name")),
    "worker_command": View(("i",), _command_loaded),
    "drain": View(("w", "j", "j", "j", "j", "d")),
    "scale": View(("j", "s", "2")),
    "legacy": View(("L",), _legacy_loaded),
    "migrate": View(("L", "m"), _environments_loaded),
}


FLEET_VIEWS: dict[str, View] = {
    "fleet": View(),
    "fleet_alerts": View(("a",)),
    "fleet_scale": View(("j", "s")),
}
"""Views of the recorded fleet (``recorded_fleet_console``)."""


async def _settle(pilot: Pilot, ready: Callable[[], bool]) -> None:
    for _ in range(SETTLE_STEPS):
        await pilot.pause(SETTLE_STEP_SECONDS)
        if ready():
            break
    else:
        raise AssertionError(f"the view was not ready within {SETTLE_STEPS * SETTLE_STEP_SECONDS:.0f} s")
    await pilot.pause()


async def show_view(pilot: Pilot, view: View) -> None:
    """Press the view's keys once the console is up, and wait until the view is ready."""
    app = cast(KubiyaConsole, pilot.app)
    await _settle(pilot, lambda: True)
    await pilot.press(*view.keys)
    await _settle(pilot, lambda: view.ready(app))


async def shoot(name: str, view: View, theme: str, folder: Path, degraded: bool = False) -> Path:
    """Save one view as ``<name>-<theme>.svg`` in ``folder``."""
    app = recorded_fleet_console(theme) if name in FLEET_VIEWS else recorded_console(theme, degraded=degraded)
    async with app.run_test(size=SIZE) as pilot:
        await show_view(pilot, view)
        filename = f"{name.replace('_', '-')}-{theme.removeprefix('kubiya-')}.svg"
        app.save_screenshot(filename, path=str(folder))
    return folder / filename


async def main(folder: Path) -> None:
    """Every view in the dark and the light theme, the degraded overview, and the overview in 16 colours."""
    folder.mkdir(parents=True, exist_ok=True)
    for theme in THEMES:
        for name, view in {**VIEWS, **FLEET_VIEWS}.items():
            print(await shoot(name, view, theme, folder))
    print(await shoot("overview-degraded", VIEWS["overview"], "kubiya-dark", folder, degraded=True))
    print(await shoot("overview", VIEWS["overview"], "kubiya-ansi", folder))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("screenshots")))
