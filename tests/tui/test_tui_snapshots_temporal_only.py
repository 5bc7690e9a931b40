"""Snapshot of the console without a control plane (Temporal-only mode), at 80x24 in both themes.

Fed by recorded data (kubiya_tui/tui/recorded_temporal_only.py). `pytest --snapshot-update`
accepts a change after you have looked at it.
"""

from __future__ import annotations

import pytest

from kubiya_tui.tui.app import KubiyaConsole
from kubiya_tui.tui.recorded import RECORDED_VERSION
from kubiya_tui.tui.recorded_temporal_only import RecordedTemporalOnlySource
from kubiya_tui.tui.screenshots import VIEWS, show_view

THEMES = {"dark": "kubiya-dark", "light": "kubiya-light"}


@pytest.mark.parametrize("theme", THEMES)
def test_temporal_only_overview(snap_compare, theme: str) -> None:
    """No control plane: the queues found in Temporal, and a line saying what needs a control plane."""
    app = KubiyaConsole(
        RecordedTemporalOnlySource(), profile="temporal-cloud", theme=THEMES[theme], remember_theme=False,
        cursor_blink=False, version=RECORDED_VERSION,
    )  # fmt: skip

    async def showing(pilot) -> None:  # type: ignore[no-untyped-def]
        await show_view(pilot, VIEWS["overview"])

    assert snap_compare(app, terminal_size=(80, 24), run_before=showing)
