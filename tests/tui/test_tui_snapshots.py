"""Snapshot tests: every screen and dialog, in the dark and the light theme, at 80x24 and 160x48.

Fed by recorded data (kubiya_tui/tui/recorded.py), so a difference is a change in the console,
not in the data. The views are the ones screenshots/ shows (kubiya_tui/tui/screenshots.py).
`pytest --snapshot-update` accepts a change after you have looked at it.
"""

from __future__ import annotations

from typing import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from kubiya_tui.tui.screenshots import FLEET_VIEWS, VIEWS, View, recorded_console, recorded_fleet_console, show_view

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
THEMES = {"dark": "kubiya-dark", "light": "kubiya-light"}


def _showing(view: View) -> Callable[[Pilot], Awaitable[None]]:
    async def run(pilot: Pilot) -> None:
        await show_view(pilot, view)

    return run


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("view", VIEWS)
def test_view(snap_compare, view: str, theme: str, size: str) -> None:
    app = recorded_console(THEMES[theme])
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_showing(VIEWS[view]))


@pytest.mark.parametrize("size", SIZES)
def test_degraded_overview(snap_compare, size: str) -> None:
    """Temporal down: the banner names it, numbers are dimmed with their age."""
    app = recorded_console("kubiya-dark", degraded=True)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_showing(VIEWS["overview"]))


def test_ansi_theme_overview(snap_compare) -> None:
    app = recorded_console("kubiya-ansi")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_showing(VIEWS["overview"]))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("view", FLEET_VIEWS)
def test_fleet_view(snap_compare, view: str, theme: str, size: str) -> None:
    """Three profiles at once (prod danger, staging in its colour, dev's control plane down), and the alerts list."""
    app = recorded_fleet_console(THEMES[theme])
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_showing(FLEET_VIEWS[view]))
