"""Console apps fed by recorded data (fixed clock, no network) for snapshot and behaviour tests."""

from __future__ import annotations

from kubiya_tui.client.api import ApiClient
from kubiya_tui.tui.app import KubiyaConsole
from kubiya_tui.tui.demo_data import DEMO_KEY, DEMO_URL, RecordedSource, recorded_heartbeats, recorded_transport


def recorded_console(theme: str = "kubiya-dark", *, degraded: bool = False, read_only: bool = False) -> KubiyaConsole:
    """The console over the recorded moment, with the recorded API answering the dialogs' reads."""
    api = ApiClient(DEMO_URL, DEMO_KEY, transport=recorded_transport(), retries=0)
    app = KubiyaConsole(
        RecordedSource(degraded=degraded),
        api=api,
        profile="demo",
        theme=theme,
        api_key=DEMO_KEY,
        read_only=read_only,
        remember_theme=False,
        cursor_blink=False,
    )
    app.heartbeats.update(recorded_heartbeats())
    return app
