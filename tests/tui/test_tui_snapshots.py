"""Snapshot tests: every screen and dialog, in the dark and the light theme, at 80x24 and 160x48.

Fed by recorded data (tests/tui_data.py), so a difference is a change in the console, not in
the data. `pytest --snapshot-update` accepts a change after you have looked at it.
"""

from __future__ import annotations

from typing import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from tests.tui_data import recorded_console

Prepare = Callable[[Pilot], Awaitable[None]]


async def _settle(pilot: Pilot, ready: Callable[[], bool] = lambda: True) -> None:
    # A loaded machine (the whole suite on 2 cores) can take seconds: wait, and say so if it never gets there.
    for _ in range(300):
        await pilot.pause(0.05)
        if ready():
            break
    else:
        raise AssertionError("the view was not ready within 15 s")
    await pilot.pause()


def _keys(*keys: str, ready: Callable[[Pilot], bool] | None = None) -> Prepare:
    async def run(pilot: Pilot) -> None:
        await _settle(pilot)
        await pilot.press(*keys)
        await _settle(pilot, (lambda: ready(pilot)) if ready else (lambda: True))

    return run


def _failures_loaded(pilot: Pilot) -> bool:
    """The failed tasks are in, and the table has sized its error column to them (it does that when idle)."""
    found = pilot.app.screen.query("#failed-tasks")
    if not found or "loading" in found.first().rows:
        return False
    table = found.first()
    error = next(c for c in table.ordered_columns if c.key.value == "error")
    return error.content_width >= max((len(str(cell)) for cell in table.get_column("error")), default=0)


def _command_loaded(pilot: Pilot) -> bool:
    return getattr(pilot.app.screen, "command", None) is not None


VIEWS: dict[str, Prepare] = {
    "overview": _keys(),
    "queue_detail": _keys("j", "enter", ready=_failures_loaded),
    "workers": _keys("w"),
    "worker_detail": _keys("w", "enter"),
    "help": _keys("question_mark"),
    "create_queue": _keys("c", *"Bad_Name"),
    "worker_command": _keys("i", ready=_command_loaded),
    "drain": _keys("w", "j", "j", "j", "j", "d"),
    "scale": _keys("j", "s", "2"),
    "legacy": _keys("L", ready=lambda pilot: getattr(pilot.app.screen, "loaded", False)),
    "migrate": _keys("L", "m", ready=lambda pilot: pilot.app.screen.query("#migrate-env").first().prompt != "loading environments…"),
}
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
THEMES = {"dark": "kubiya-dark", "light": "kubiya-light"}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("view", VIEWS)
def test_view(snap_compare, view: str, theme: str, size: str) -> None:
    app = recorded_console(THEMES[theme])
    assert snap_compare(app, terminal_size=SIZES[size], run_before=VIEWS[view])


@pytest.mark.parametrize("size", SIZES)
def test_degraded_overview(snap_compare, size: str) -> None:
    """Temporal down: the banner names it, numbers are dimmed with their age."""
    app = recorded_console("kubiya-dark", degraded=True)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_keys())


def test_ansi_theme_overview(snap_compare) -> None:
    app = recorded_console("kubiya-ansi")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_keys())
