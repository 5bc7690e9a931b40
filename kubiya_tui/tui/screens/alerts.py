"""The alerts list (``a``): what is firing, where, since when, and whether someone acknowledged it."""

from __future__ import annotations

import time
from typing import Any, Hashable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from kubiya_tui import formatting as fmt
from kubiya_tui.metrics.alerts import Alert
from kubiya_tui.tui.context import console_of
from kubiya_tui.tui.screens.base import ConsoleScreen
from kubiya_tui.tui.widgets.tables import Column, ResponsiveTable, theme_style

METRIC_WORDS = {
    "depth": "depth",
    "backlog_age": "backlog age",
    "error_rate": "error rate",
    "stuck": "stuck",
    "workers_healthy": "workers",
}


class AlertTable(ResponsiveTable[Alert]):
    """Firing alerts, critical first, then the oldest."""

    COLUMNS = (
        Column("level", "level", 6, priority=1, meaning="✖ critical, ▲ warning"),
        Column("profile", "profile", 9, priority=2, meaning="the profile"),
        Column("queue", "queue", 16, priority=1, meaning="ENV/NAME of the queue", grow=8),
        Column("metric", "on", 11, priority=4, meaning="what crossed: depth, backlog age, error rate, stuck, workers"),
        Column("message", "what", 24, priority=1, meaning="the value and the threshold it crossed", grow=40),
        Column("since", "since", 15, priority=1, meaning="when it fired (local time) and how long ago"),
        Column("ack", "ack", 5, priority=3, meaning="acknowledged (space) or new"),
    )

    def item_key(self, item: Alert) -> str:
        return "\x1f".join(item.key)

    def search_text(self, item: Alert) -> str:
        return f"{item.profile} {item.queue} {item.metric} {item.message} {item.level}"

    SORT_VALUES: dict[str, Any] = {
        "level": lambda a: (a.level != "critical", a.since),
        "profile": lambda a: a.profile,
        "queue": lambda a: a.queue,
        "metric": lambda a: a.metric,
        "message": lambda a: a.message,
        "since": lambda a: a.since,
        "ack": lambda a: a.acknowledged,
    }

    def sort_value(self, item: Alert, key: str) -> Hashable:
        return self.SORT_VALUES[key](item)

    TOKEN_IS_ITEM = False

    def render_token(self, item: Alert) -> Any:
        return (item, int(console_of(self).clock() - item.since) // 10)

    def cells(self, a: Alert) -> dict[str, Any]:
        app = console_of(self)
        critical = a.level == "critical"
        level_style = theme_style(app, "status-failed" if critical else "depth-warn", bold=True)
        dim = a.acknowledged
        fg = theme_style(app, "foreground", dim=dim)
        member = next((m for m in app.fleet or () if m.name == a.profile), None)
        profile_style = fg
        if member is not None and member.frame_color:
            from rich.style import Style

            profile_style = Style(color=member.frame_color, bold=member.danger)
        message = a.message.split(": ", 1)[1] if a.message.startswith(a.queue + ": ") else a.message
        when = time.strftime("%H:%M:%S", app.local_time(a.since))
        ago = fmt.age(max(0.0, app.clock() - a.since))
        return {
            "level": Text("✖ crit" if critical else "▲ warn", style=level_style),
            "profile": Text(("⚠" if member is not None and member.danger else "") + a.profile, style=profile_style),
            "queue": Text(a.queue, style=theme_style(app, "foreground", dim=dim, bold=not dim)),
            "metric": Text(METRIC_WORDS.get(a.metric, a.metric), style=fg),
            "message": Text(message, style=fg),
            "since": Text(f"{when} {ago:>5}", style=fg),
            "ack": Text("ack" if a.acknowledged else "new", style=theme_style(app, "foreground", dim=True) if dim else level_style),
        }


class AlertsScreen(ConsoleScreen):
    """Every alert firing in the profiles shown; space acknowledges the selected one, A all of them, Enter opens its queue."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("space", "acknowledge", "Acknowledge"),
        Binding("A", "acknowledge_all", "Ack all"),
    ]

    def compose(self) -> ComposeResult:
        from kubiya_tui.tui.screens.fleet import FleetHeader
        from kubiya_tui.tui.widgets.status import StatusHeader

        yield FleetHeader(id="header") if self.console.fleet else StatusHeader(id="header")
        yield Static(id="alerts-summary")
        yield AlertTable(id="alerts-table")
        yield Static("Nothing is firing. Alerts come from [[profiles.NAME.alerts]] in config.toml "
                     "(max_depth, max_backlog_age, max_error_rate, stuck_after, min_healthy_workers).", id="alerts-empty")  # fmt: skip
        yield Footer()

    @property
    def table(self) -> AlertTable:
        return self.query_one(AlertTable)

    def on_mount(self) -> None:
        self.watch(self.console, "alerts_version", self._redraw, init=True)
        self.set_interval(10.0, self.table.redraw)
        self.table.focus()

    def _on_snapshot(self, snapshot: Any) -> None:
        return

    def _redraw(self, *_: object) -> None:
        console = self.console
        alerts = console.alerts.alerts()
        self.table.set_items(alerts)
        self.table.display = bool(alerts)
        self.query_one("#alerts-empty").display = not alerts
        crit = sum(1 for a in alerts if a.level == "critical")
        new = sum(1 for a in alerts if not a.acknowledged)
        text = Text()
        text.append(f"{len(alerts)} firing", style="bold")
        text.append(f"   ✖ {crit} critical", style=theme_style(console, "status-failed", bold=True) if crit else "dim")
        text.append(f"   ▲ {len(alerts) - crit} warning", style=theme_style(console, "depth-warn", bold=True) if len(alerts) - crit else "dim")
        text.append(f"   {new} not acknowledged", style="bold" if new else "dim")
        text.append("   bell " + ("on" if console.bell_on else "off (B)"), style="dim")
        self.query_one("#alerts-summary", Static).update(text)

    def on_responsive_table_row_selected(self, event: AlertTable.RowSelected) -> None:
        """Enter: the alert's queue, on its own profile."""
        alert = next((a for a in self.console.alerts.alerts() if "\x1f".join(a.key) == event.key), None)
        if alert is None:
            return
        self.console.activate(alert.profile)
        snapshot = self.console.snapshot
        if snapshot is not None and snapshot.queue(alert.queue_id) is not None:
            self.console.open_queue(alert.queue_id)

    def action_acknowledge(self) -> None:
        alert = self.table.selected_item
        if alert is not None and self.console.acknowledge([alert.key]):
            self.app.notify(f"acknowledged: {alert.queue} ({alert.profile})", timeout=3)

    def action_acknowledge_all(self) -> None:
        n = self.console.acknowledge([a.key for a in self.console.alerts.alerts()])
        if n:
            self.app.notify(f"acknowledged {n} alert{'s' if n != 1 else ''}", timeout=3)
