"""The header line (profile, sources, read-only) and the banner shown while a source is down."""

from __future__ import annotations

import time
from typing import Callable

from rich.text import Text
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Static

from kubiya_tui import formatting as fmt
from kubiya_tui.metrics.snapshot import Snapshot, SourceState, SourceStatus
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


HEADER_LEGEND = (
    "Each source: ● its state (green ok, yellow slow, red down), how long its last answer took, "
    "and · how old its newest data is (it keeps counting while paused)."
)
"""What the header says, for its tooltip and the help screen."""


def covered(widget: Widget) -> bool:
    """Whether another full screen covers ``widget``'s screen (a dialog does not: the screen under it is seen)."""
    screen = widget.screen
    for top in reversed(widget.app.screen_stack):
        if top is screen:
            return False
        if not isinstance(top, ModalScreen):
            return True
    return False


class DrawnWhenSeen(Static):
    """A line drawn again only while its screen is seen; a covered one catches up when its screen comes back.

    Why: Textual composites the screen under the top one (its "background screen") even when
    the top one hides it, and any repaint there made the top screen repaint whole: the overview's
    header, redrawn under the workers screen at every snapshot, cost the workers screen a full
    repaint of 5,000 workers' lines at every refresh.
    """

    _behind = False

    def _watch_screens(self) -> None:
        console_of(self).screen_change_signal.subscribe(self, self._screen_changed)

    def _screen_changed(self, _screen: object) -> None:
        if self._behind and self.is_attached and not covered(self):
            self._behind = False
            self._redraw()

    def _covered(self) -> bool:
        """True (and a catch-up noted) when the screen is covered: draw nothing now."""
        if self.is_attached and covered(self):
            self._behind = True
            return True
        return False

    def _redraw(self, *_: object) -> None:
        raise NotImplementedError


class StatusHeader(DrawnWhenSeen):
    """One line: app, profile, each source with its latency and data age, read-only and paused badges.

    The data age is the snapshot's; while the refresh is paused (or a refresh is overdue) it
    keeps counting from when that snapshot arrived, so old data never reads as new.
    """

    clock: Callable[[], float] = staticmethod(time.monotonic)
    """Seconds on a monotonic clock (tests move it)."""
    TICK_SECONDS = 1.0

    def on_mount(self) -> None:
        console = console_of(self)
        self.tooltip = HEADER_LEGEND
        self._arrived: tuple[object, float] | None = None
        self.watch(console, "snapshot", self._redraw)
        self.watch(console, "paused", self._redraw, init=False)
        console.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())
        self.set_interval(self.TICK_SECONDS, self._tick)
        self._watch_screens()

    def _tick(self) -> None:
        if self.extra_age() > 0:
            self._redraw()

    def extra_age(self) -> float:
        """Seconds to add to the snapshot's data ages: the time since it arrived, while paused or overdue; else 0."""
        console = console_of(self)
        snapshot = console.snapshot
        if snapshot is None:
            return 0.0
        if self._arrived is None or self._arrived[0] is not snapshot:
            self._arrived = (snapshot, self.clock())
        since = self.clock() - self._arrived[1]
        overdue = since > 2 * console.source.interval + 1
        return since if console.paused or overdue else 0.0

    def _redraw(self, *_: object) -> None:
        if self._covered():
            return
        app = console_of(self)
        snapshot = app.snapshot
        text = Text()
        text.append(" kubiya-tui ", style=theme_style(app, "primary", bold=True))
        profile = app.operations.profile or (snapshot.profile if snapshot else None)
        member = app.member
        if member is not None and member.frame_color:
            from rich.style import Style

            mark = "⚠" if member.danger else ""
            text.append(f" {mark}{profile} ", style=Style(color=member.frame_color, bold=True, reverse=member.danger))
        else:
            text.append(f" {profile or 'no profile'} ", style=theme_style(app, "foreground", bold=True))
        sources = snapshot.sources if snapshot else {}
        extra = self.extra_age()
        for key in ("api", "temporal"):
            state = sources.get(key)
            text.append(" │ ", style=theme_style(app, "foreground", dim=True))
            text.append_text(self._source(key, state, extra))
        if app.operations.read_only:
            text.append("  READ-ONLY ", style=theme_style(app, "warning", bold=True))
        if app.paused:
            text.append("  ⏸ PAUSED ", style=theme_style(app, "accent", bold=True))
        # One line, always: a repaint, not a layout of the whole screen.
        self.update(text, layout=False)

    def _source(self, key: str, state: SourceState | None, extra: float = 0.0) -> Text:
        app = self.app
        label = SOURCE_LABELS.get(key, key)
        if state is None:
            return Text.assemble(("○ ", theme_style(app, "status-gone")), (f"{label} …", theme_style(app, "foreground", dim=True)))
        out = Text()
        out.append("● ", style=theme_style(app, STATUS_VARIABLE[state.status], bold=True))
        out.append(label, style=theme_style(app, "foreground"))
        age = None if state.data_age_seconds is None else state.data_age_seconds + extra
        if state.status is SourceStatus.off:
            out.append(" off", style=theme_style(app, "foreground", dim=True))
        elif state.status is SourceStatus.down:
            out.append(f" down, data {fmt.age(age)} old", style=theme_style(app, "status-failed"))
        else:
            out.append(f" {fmt.latency(state.latency_ms)} · {fmt.age(age)}", style=theme_style(app, "foreground", dim=True))
        return out


def banner_lines(snapshot: Snapshot | None, poll_error: str | None) -> list[str]:
    """What the banner says: a failed refresh, each source that is down, and each read that fails or is late.

    A source is called down only when it is (its main read fails); one slow read names
    itself and the numbers it gives: ``Temporal visibility slow: done/m, errors and times 40s old``.
    """
    lines = []
    if poll_error:
        lines.append(f"⚠ refresh failed: {poll_error} — retrying")
    for key, state in (snapshot.sources if snapshot else {}).items():
        if state.status is SourceStatus.down:
            age = fmt.age(state.data_age_seconds) if state.data_age_seconds is not None else "no data yet"
            reason = f": {state.last_error}" if state.last_error else ""
            lines.append(f"⚠ {SOURCE_LABELS.get(key, key)} is down{reason} — numbers are {age} old (dimmed); retrying")
            continue
        for read in state.troubled_reads():
            reason = f" ({read.last_error})" if read.last_error else ""
            lines.append(f"⚠ {read.summary()}{reason}; the other numbers are current")
    return lines


class SourceBanner(DrawnWhenSeen):
    """Shown only while something is wrong: a source down, a read failing or late, a failed refresh; and how old the numbers are."""

    _shown: str | None = None

    def on_mount(self) -> None:
        console = console_of(self)
        self.watch(console, "snapshot", self._redraw)
        self.watch(console, "poll_error", self._redraw, init=False)
        self._watch_screens()

    def _redraw(self, *_: object) -> None:
        if self._covered():
            return
        console = console_of(self)
        snapshot = console.snapshot
        lines = banner_lines(snapshot, console.poll_error)
        down = console.poll_error or any(s.status is SourceStatus.down for s in (snapshot.sources if snapshot else {}).values())
        self.set_class(bool(lines) and not down, "-slow")
        text = "\n".join(lines)
        if text == self._shown:
            return
        # Only a change of what is down re-lays the screen out.
        self._shown = text
        self.update(text)
        self.display = bool(lines)
