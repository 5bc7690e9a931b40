"""The fleet overview (``--all-profiles``): every queue of every profile, a profile column, per-profile totals.

Each profile is polled on its own (``tui/fleet_poller.py``); this screen draws whatever each
one has, so a profile that is down keeps its last rows (dimmed by their own staleness) and its
header entry says so, while the others stay live. Enter drills into the row's queue as the
one-profile overview does: the row's profile becomes the active one, so the detail screen,
the header's sources and every action (scale, drain, worker command, create) go to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from kubiya_tui import formatting as fmt
from kubiya_tui.fleet import FleetMember, state_of, totals
from kubiya_tui.metrics.snapshot import QueueSnapshot, Snapshot, SourceStatus
from kubiya_tui.tui.context import console_of
from kubiya_tui.tui.screens.base import ConsoleScreen
from kubiya_tui.tui.widgets.charts import QueueCharts
from kubiya_tui.tui.widgets.queue_table import QueueTable
from kubiya_tui.tui.widgets.status import DrawnWhenSeen
from kubiya_tui.tui.widgets.tables import Column, theme_style

KEY_SEP = "\x1f"
"""Between the profile and the queue id in a row's key (queue ids of two profiles may be equal)."""

SHORT_SOURCE = {"api": "cp", "temporal": "temporal"}
"""Source names short enough for one line of several profiles (cp: the control plane)."""

STATE_VARIABLE = {"ok": "status-healthy", "degraded": "status-stale", "down": "status-failed", "waiting": "status-gone"}


def row_key(profile: str, queue_id: str) -> str:
    return f"{profile}{KEY_SEP}{queue_id}"


def split_key(key: str) -> tuple[str, str]:
    profile, _, queue_id = key.partition(KEY_SEP)
    return profile, queue_id


def frame_style(member: FleetMember | None, *, bold: bool = False) -> Style:
    color = member.frame_color if member else None
    return Style(color=color, bold=bold or bool(member and member.danger))


def profile_label(member: FleetMember) -> str:
    return f"⚠{member.name}" if member.danger else member.name


@dataclass(frozen=True)
class FleetRow:
    profile: str
    queue: QueueSnapshot


class FleetTable(QueueTable):
    """The queue table with a profile column first; a row's key is profile + queue id."""

    COLUMNS = (
        Column("profile", "profile", 8, priority=1, meaning="the profile (⚠ marks a danger profile; its colour frames the row)"),
        *QueueTable.COLUMNS,
    )
    MEASURED = ("profile", "queue")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.members: dict[str, FleetMember] = {}
        self._row_profile = ""

    # The row's own profile answers its history and its alerts.
    def _depth_tail(self, q: QueueSnapshot) -> tuple[float, ...]:
        member = self.members.get(self._row_profile)
        if member is None:
            return ()
        return tuple(v for _, v in member.source.history(q.id, "depth", last=6))

    def _level(self, row: FleetRow) -> str | None:
        alerts = console_of(self).alerts
        return alerts.level_of(row.profile, row.queue.id) if alerts.firing else None

    def item_key(self, item: FleetRow) -> str:  # type: ignore[override]
        return row_key(item.profile, item.queue.id)

    def render_token(self, item: FleetRow) -> Any:  # type: ignore[override]
        self._row_profile = item.profile
        return (item.queue, self._depth_tail(item.queue), self._level(item))

    def measure(self, item: FleetRow, key: str) -> int:  # type: ignore[override]
        if key == "profile":
            return len(profile_label(self.members[item.profile])) + 1 if item.profile in self.members else len(item.profile) + 1
        return len(item.queue.name) + (2 if self._level(item) else 0)

    def search_text(self, item: FleetRow) -> str:  # type: ignore[override]
        return f"{item.profile} {QueueTable.search_text(self, item.queue)}"

    def sort_value(self, item: FleetRow, key: str) -> Hashable:  # type: ignore[override]
        if key == "profile":
            return (item.profile, item.queue.name)
        return QueueTable.SORT_VALUES[key](item.queue)

    def cells(self, item: FleetRow) -> dict[str, Any]:  # type: ignore[override]
        self._row_profile = item.profile
        level = self._level(item)
        self.alert_level = lambda q: level
        cells = QueueTable.cells(self, item.queue)
        member = self.members.get(item.profile)
        bar = Style(color=member.frame_color) if member and member.frame_color else theme_style(self.app, "foreground", dim=True)
        name = profile_label(member) if member else item.profile
        style = frame_style(member) if member and member.frame_color else theme_style(self.app, "foreground", dim=item.queue.stale)
        cells["profile"] = Text.assemble(("▌", bar), (name, style))
        return cells


class FleetHeader(DrawnWhenSeen):
    """One line: every profile with its state, the latency of its sources and the age of its data; the active one underlined."""

    clock = staticmethod(time.monotonic)

    def on_mount(self) -> None:
        console = console_of(self)
        self.tooltip = "Each profile: ● its state (green ok, yellow a source slow or down, red down), its sources' latency · data age"
        self.watch(console, "fleet_version", self._redraw)
        self.watch(console, "paused", self._redraw, init=False)
        self.watch(console, "alerts_version", self._redraw, init=False)
        console.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())
        self.set_interval(1.0, self._redraw)
        self._watch_screens()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self, *_: object) -> None:
        if self._covered():
            return
        console = console_of(self)
        members = console.fleet or []
        width = self.size.width or 80
        for detail in (2, 1, 0):
            text = self._line(members, detail)
            if text.cell_len <= width:
                break
        self.update(text, layout=False)

    def _line(self, members: Sequence[FleetMember], detail: int) -> Text:
        console = console_of(self)
        app = console
        text = Text()
        text.append(" kubiya-tui " if detail else " kt ", style=theme_style(app, "primary", bold=True))
        active = console.member.name if console.member else None
        for member in members:
            text.append("│" if detail < 2 else " │ ", style=theme_style(app, "foreground", dim=True))
            state = state_of(member)
            text.append("●", style=theme_style(app, STATE_VARIABLE[state], bold=True))
            name_style = frame_style(member, bold=True) if member.frame_color else theme_style(app, "foreground", bold=True)
            if member.name == active and len(members) > 1:
                name_style = name_style + Style(underline=True)
            text.append(profile_label(member), style=name_style)
            crit = sum(1 for a in console.alerts.alerts(member.name) if a.level == "critical")
            warn = sum(1 for a in console.alerts.alerts(member.name) if a.level == "warning")
            if crit:
                text.append(f" ✖{crit}", style=theme_style(app, "status-failed", bold=True))
            if warn:
                text.append(f" ▲{warn}", style=theme_style(app, "depth-warn", bold=True))
            if detail == 0:
                continue
            latency, age = self._numbers(member)
            dim = theme_style(app, "foreground", dim=True)
            down = [SHORT_SOURCE.get(k, k) for k, v in (member.snapshot.sources.items() if member.snapshot else ()) if v.status is SourceStatus.down]
            if state == "down":
                text.append(f" down {fmt.age(age)}" if age is not None else " down", style=theme_style(app, "status-failed"))
            elif down:
                # One source down (the control plane, say, while Temporal answers): which one, and how old its data is.
                text.append(f" {'+'.join(down)} down", style=theme_style(app, "status-failed"))
                text.append(f" {fmt.age(age)}", style=dim)
            elif state == "waiting":
                text.append(" …", style=dim)
            elif detail == 2:
                text.append(f" {fmt.latency(latency)} · {fmt.age(age)}", style=dim)
            else:
                text.append(f" {fmt.age(age)}", style=dim)
        if console.operations.read_only:
            text.append(" READ-ONLY" if detail else " RO", style=theme_style(app, "warning", bold=True))
        if console.paused:
            text.append(" ⏸ PAUSED" if detail else " ⏸", style=theme_style(app, "accent", bold=True))
        return text

    def _numbers(self, member: FleetMember) -> tuple[float | None, float | None]:
        """The slowest source's latency and the oldest source's data age; the age keeps counting when polls are overdue."""
        snapshot = member.snapshot
        if snapshot is None:
            return None, None
        states = [s for s in snapshot.sources.values() if s.status is not SourceStatus.off]
        latencies = [s.latency_ms for s in states if s.latency_ms is not None]
        ages = [s.data_age_seconds for s in states if s.data_age_seconds is not None]
        latency = max(latencies) if latencies else member.latency_ms
        age = max(ages) if ages else None
        if age is not None and member.polled_at is not None:
            since = self.clock() - member.polled_at
            if since > 2 * member.source.interval + 1:
                age += since
        return latency, age


class FleetTotals(Static):
    """One line per profile under the table: its totals over the rows shown (the filter applies), its alerts, its state."""

    def show(self, members: Sequence[FleetMember], shown: Sequence[FleetRow]) -> None:
        console = console_of(self)
        app = console
        text = Text()
        for i, member in enumerate(members):
            rows = [r.queue for r in shown if r.profile == member.name]
            listed = len(member.snapshot.queues) if member.snapshot else 0
            t = totals(Snapshot(0.0, queues=tuple(rows)))
            if i:
                text.append("\n")
            bar = Style(color=member.frame_color) if member.frame_color else theme_style(app, "foreground", dim=True)
            text.append("▌", style=bar)
            name_style = frame_style(member, bold=True) if member.frame_color else theme_style(app, "foreground", bold=True)
            text.append(f"{profile_label(member):<8} ", style=name_style)
            count = f"{len(rows)}/{listed}" if len(rows) != listed else f"{listed}"
            err = fmt.percent(t["error_rate"]) if t["error_rate"] is not None else fmt.MISSING
            for label, value in (("queues", count), ("depth", f"{t['depth']:,}"), ("done/m", fmt.rate(t["processed_per_min"])),
                                 ("err", err), ("healthy", f"{t['workers_healthy']}/{t['workers']}")):  # fmt: skip
                text.append(f"{label} ", style="dim")
                text.append(value, style="bold")
                text.append("  ")
            alerts = console.alerts.alerts(member.name)
            crit = sum(1 for a in alerts if a.level == "critical")
            warn = len(alerts) - crit
            if crit:
                text.append(f"✖{crit} ", style=theme_style(app, "status-failed", bold=True))
            if warn:
                text.append(f"▲{warn} ", style=theme_style(app, "depth-warn", bold=True))
            if t["stuck"]:
                text.append(f"{t['stuck']} stuck ", style=theme_style(app, "status-failed", bold=True))
            state = state_of(member)
            why = member.error or _down_reason(member.snapshot)
            if state == "down":
                text.append(f"down: {why}" if why else "down", style=theme_style(app, "status-failed"))
            elif state == "degraded" and why:
                text.append(why, style=theme_style(app, "status-stale"))
        # A line per profile, always: a long reason is cut, never wrapped under the next profile.
        text.no_wrap, text.overflow = True, "ellipsis"
        self.update(text)


def _down_reason(snapshot: Snapshot | None) -> str | None:
    for state in (snapshot.sources.values() if snapshot else ()):
        if state.status is SourceStatus.down and state.last_error:
            from kubiya_tui.tui.widgets.status import SOURCE_LABELS

            return f"{SOURCE_LABELS.get(state.name, state.name)}: {state.last_error}"
    return None


class FleetScreen(ConsoleScreen):
    """Every profile's queues in one table; Enter drills into the row's queue on the row's profile."""

    HAS_FILTER = True
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "back", "Clear filter", show=False),
        Binding("enter", "open_queue", "Detail", show=False),
    ]

    def compose(self) -> ComposeResult:
        from textual.widgets import Footer

        from kubiya_tui.tui.dialogs.fields import FieldInput

        # No banner: the header and the totals say which profile is down, and why.
        yield FleetHeader(id="header")
        yield FieldInput(placeholder="filter: profile, name, environment, status… (Enter keeps, Esc clears)", id="filter")
        yield FleetTable(id="fleet-queues")
        yield FleetTotals(id="fleet-totals")
        yield QueueCharts(id="charts")
        yield Footer()

    @property
    def table(self) -> FleetTable:
        return self.query_one(FleetTable)

    @property
    def current_queue_id(self) -> str | None:
        key = self.table.selected_key
        if key is None:
            return None
        profile, queue_id = split_key(key)
        self.console.activate(profile)
        return queue_id

    def on_mount(self) -> None:
        # (ConsoleScreen.on_mount runs too: Textual calls each class's handler.)
        self.query_one("#filter").display = False
        console = self.console
        self.table.members = {m.name: m for m in console.fleet or ()}
        self.watch(console, "fleet_version", self._on_fleet, init=True)
        # An alert that fires or ends changes its row's mark: drawn with the next (coalesced) pass, not at once.
        self.watch(console, "alerts_version", self._on_fleet, init=False)
        self.table.focus()

    def _on_snapshot(self, snapshot: Snapshot | None) -> None:
        # The active profile's snapshot comes with a fleet_version bump too: drawn once, from there.
        return

    COALESCE_SECONDS = 0.25
    """Profiles that answer within this long of each other are drawn in one pass (their polls start together)."""
    _render_timer: Any = None

    def _on_fleet(self, _version: int = 0) -> None:
        if not self._shown():
            self._behind = True
            return
        self._behind = False
        if self.table.row_count == 0:
            self._render_fleet()  # the first rows at once
        elif self._render_timer is None:
            self._render_timer = self.set_timer(self.COALESCE_SECONDS, self._render_due)

    def _render_due(self) -> None:
        self._render_timer = None
        self._render_fleet()

    def on_screen_resume(self) -> None:
        if self._behind:
            self._behind = False
            self._render_fleet()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        # The filter changed (the base class asks with the active profile's snapshot): draw the whole fleet.
        self._render_fleet()

    def _render_fleet(self) -> None:
        console = self.console
        members = console.fleet or []
        table = self.table
        rows = [FleetRow(m.name, q) for m in members if m.snapshot is not None for q in m.snapshot.queues]
        table.set_items(rows)
        pending = console.pending_select
        if pending and console.member and table.select_key(row_key(console.member.name, pending)):
            console.pending_select = None
        self.query_one(FleetTotals).show(members, table.shown_items)
        self._show_charts()

    CHARTS_FROM_HEIGHT = 30
    """Charts of the selected queue under the totals when the terminal has this many lines (the table comes first)."""

    def on_resize(self, event: Any) -> None:
        self.query_one(QueueCharts).display = event.size.height >= self.CHARTS_FROM_HEIGHT

    def _show_charts(self) -> None:
        charts = self.query_one(QueueCharts)
        if not charts.display:
            return
        row = self.table.selected_item
        member = self.console.fleet and next((m for m in self.console.fleet if row and m.name == row.profile), None)
        if row is None or not member:
            charts.show(None, lambda *a, **k: [], None, "")
            return
        taken = member.snapshot.taken_at if member.snapshot else None
        charts.show(row.queue.id, member.source.history, taken, f"{row.profile} · {row.queue.name}")

    def on_responsive_table_row_highlighted(self, event: FleetTable.RowHighlighted) -> None:
        if event.key:
            # The row's profile is the one actions go to (its read-only setting, its name in the dialog).
            self.console.activate(split_key(event.key)[0])
        self._show_charts()

    def on_responsive_table_row_selected(self, event: FleetTable.RowSelected) -> None:
        self._open(event.key)

    def action_open_queue(self) -> None:
        key = self.table.selected_key
        if key:
            self._open(key)

    def action_back(self) -> None:
        # Esc clears the filter; the fleet overview is the bottom of the console, never closed.
        box = self.query_one("#filter")
        if box.display and (box.value or box.has_focus):  # type: ignore[attr-defined]
            box.value = ""  # type: ignore[attr-defined]
            box.display = False
            self.table.focus()

    def _open(self, key: str) -> None:
        profile, queue_id = split_key(key)
        self.console.activate(profile)
        self.console.open_queue(queue_id)
