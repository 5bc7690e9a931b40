"""The header line (profile, sources, read-only) and the banner shown while a source is down."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kubiya_tui import formatting as fmt
from kubiya_tui.metrics.snapshot import SourceState, SourceStatus
from kubiya_tui.tui.context import console_of
from kubiya_tui.tui.widgets.tables import theme_style

SOURCE_LABELS = {"api": "control plane", "temporal": "Temporal"}
"""Source keys of Snapshot.sources as the console names them."""
STATUS_VARIABLE = {
    SourceStatus.ok: "status-healthy",
    SourceStatus.slow: "status-stale",
    SourceStatus.down: "status-failed",
    SourceStatus.off: "status-gone",
}


class StatusHeader(Static):
    """One line: app, profile, each source with its latency and data age, read-only and paused badges."""

    def on_mount(self) -> None:
        console = console_of(self)
        self.watch(console, "snapshot", self._redraw)
        self.watch(console, "paused", self._redraw, init=False)
        console.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())

    def _redraw(self, *_: object) -> None:
        app = console_of(self)
        snapshot = app.snapshot
        text = Text()
        text.append(" kubiya-tui ", style=theme_style(app, "primary", bold=True))
        profile = app.operations.profile or (snapshot.profile if snapshot else None)
        text.append(f" {profile or 'no profile'} ", style=theme_style(app, "foreground", bold=True))
        sources = snapshot.sources if snapshot else {}
        for key in ("api", "temporal"):
            state = sources.get(key)
            text.append(" │ ", style=theme_style(app, "foreground", dim=True))
            text.append_text(self._source(key, state))
        if app.operations.read_only:
            text.append("  READ-ONLY ", style=theme_style(app, "warning", bold=True))
        if app.paused:
            text.append("  ⏸ PAUSED ", style=theme_style(app, "accent", bold=True))
        # One line, always: a repaint, not a layout of the whole screen.
        self.update(text, layout=False)

    def _source(self, key: str, state: SourceState | None) -> Text:
        app = self.app
        label = SOURCE_LABELS.get(key, key)
        if state is None:
            return Text.assemble(("○ ", theme_style(app, "status-gone")), (f"{label} …", theme_style(app, "foreground", dim=True)))
        out = Text()
        out.append("● ", style=theme_style(app, STATUS_VARIABLE[state.status], bold=True))
        out.append(label, style=theme_style(app, "foreground"))
        if state.status is SourceStatus.off:
            out.append(" off", style=theme_style(app, "foreground", dim=True))
        elif state.status is SourceStatus.down:
            out.append(f" down, data {fmt.age(state.data_age_seconds)} old", style=theme_style(app, "status-failed"))
        else:
            out.append(f" {fmt.latency(state.latency_ms)} · {fmt.age(state.data_age_seconds)}", style=theme_style(app, "foreground", dim=True))
        return out


class SourceBanner(Static):
    """Shown only while a source is down (or the last poll failed): what is down, why, and how old the numbers are."""

    _shown: str | None = None

    def on_mount(self) -> None:
        console = console_of(self)
        self.watch(console, "snapshot", self._redraw)
        self.watch(console, "poll_error", self._redraw, init=False)

    def _redraw(self, *_: object) -> None:
        console = console_of(self)
        snapshot = console.snapshot
        lines = []
        poll_error = console.poll_error
        if poll_error:
            lines.append(f"⚠ refresh failed: {poll_error} — retrying")
        for key, state in (snapshot.sources if snapshot else {}).items():
            if state.status is SourceStatus.down:
                age = fmt.age(state.data_age_seconds) if state.data_age_seconds is not None else "no data yet"
                reason = f": {state.last_error}" if state.last_error else ""
                lines.append(f"⚠ {SOURCE_LABELS.get(key, key)} is down{reason} — numbers are {age} old (dimmed); retrying")
        text = "\n".join(lines)
        if text == self._shown:
            return
        # Only a change of what is down re-lays the screen out.
        self._shown = text
        self.update(text)
        self.display = bool(lines)
