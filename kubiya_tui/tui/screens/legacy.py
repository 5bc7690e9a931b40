"""Legacy task queues, listed apart from worker queues, with live numbers and a Migrate action."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from kubiya_tui import formatting as fmt
from kubiya_tui.client.api import ApiClient
from kubiya_tui.tui.messages import OperationDone, OperationFailed
from kubiya_tui.tui.screens.base import ConsoleScreen
from kubiya_tui.tui.widgets.tables import Column, ResponsiveTable, theme_style

async def read_legacy(api: ApiClient) -> list[tuple[Any, Any]]:
    """Every legacy task queue with its metrics (depth, rates, workers from Temporal)."""
    queues = await api.list_task_queues()
    metrics = await asyncio.gather(*(api.task_queue_metrics(q.id) for q in queues))
    return list(zip(queues, metrics))


def state_of(queue: Any) -> str:
    return queue.migration.state if queue.migration else "legacy"


Legacy = tuple[Any, Any]
"""A legacy task queue and its metrics, as read_legacy returns them."""


class LegacyTable(ResponsiveTable[Legacy]):
    """Legacy task queues with their state and live numbers; columns drop by priority as the terminal narrows."""

    COLUMNS = (
        Column("name", "task queue", 16, priority=1, grow=10),
        Column("task_queue", "temporal task queue", 24, priority=6),
        Column("state", "state", 10, priority=1),
        Column("depth", "depth", 7, priority=1, numeric=True),
        Column("age", "age", 7, priority=2, numeric=True),
        Column("in", "in/m", 7, priority=5, numeric=True),
        Column("out", "out/m", 7, priority=5, numeric=True),
        Column("workers", "workers", 8, priority=1, numeric=True),
        Column("errors", "err%", 6, priority=3, numeric=True),
        Column("target", "migrated to", 18, priority=4),
    )

    SORT_VALUES: dict[str, Any] = {
        "name": lambda q, m: q.name,
        "task_queue": lambda q, m: q.task_queue_name or "",
        "state": lambda q, m: state_of(q),
        "depth": lambda q, m: m.task_queue_backlog,
        "age": lambda q, m: m.task_queue_backlog_age_seconds,
        "in": lambda q, m: m.tasks_add_rate_per_min,
        "out": lambda q, m: m.tasks_dispatch_rate_per_min,
        "workers": lambda q, m: m.total_workers,
        "errors": lambda q, m: m.error_rate_percent,
    }

    def item_key(self, item: Legacy) -> str:
        return str(item[0].id)

    def search_text(self, item: Legacy) -> str:
        queue = item[0]
        return f"{queue.name} {queue.task_queue_name or ''} {state_of(queue)}"

    def sort_value(self, item: Legacy, key: str) -> Any:
        if key == "target":
            return self._target_of(item[0])
        return self.SORT_VALUES[key](*item)

    def _target_of(self, queue: Any) -> str:
        return self.screen.target_name(queue) if isinstance(self.screen, LegacyScreen) else fmt.MISSING

    def render_token(self, item: Legacy) -> Any:
        # The target's name comes from the live snapshot.
        return (item, self._target_of(item[0]))

    def cells(self, item: Legacy) -> dict[str, Any]:
        queue, m = item
        app = self.app
        state = state_of(queue)
        temporal = bool(m.temporal_available)
        target = self._target_of(queue)

        def num(text: str) -> Text:
            return Text(text if temporal else fmt.MISSING, justify="right")

        return {
            "name": Text(queue.name, style=theme_style(app, "foreground", bold=True)),
            "task_queue": Text(queue.task_queue_name or fmt.MISSING),
            "state": Text(state, style=_style(app, state)),
            "depth": num(fmt.count(m.task_queue_backlog)),
            "age": num(fmt.age(m.task_queue_backlog_age_seconds)),
            "in": num(fmt.rate(m.tasks_add_rate_per_min)),
            "out": num(fmt.rate(m.tasks_dispatch_rate_per_min)),
            "workers": Text(f"{m.total_workers}", justify="right"),
            "errors": num(f"{m.error_rate_percent:.1f}%" if m.error_rate_percent is not None else fmt.MISSING),
            "target": Text(target, style="dim" if target == fmt.MISSING else ""),
        }


class LegacyScreen(ConsoleScreen):
    """Legacy task queues (being phased out); ``m`` migrates the highlighted one to a worker queue."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("m", "migrate", "Migrate"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[Any, Any]] = []
        self.loaded = False

    def compose_body(self) -> ComposeResult:
        yield Static("[b]Legacy task queues[/]  [dim]on <org>.<environment> · m migrates one to a worker queue[/]", id="legacy-title")
        yield LegacyTable(id="legacy-table")
        yield Static(id="legacy-note")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(LegacyTable).focus()
        self._load()

    def _load(self) -> None:
        self.console.operations.perform(self, "legacy-list", "legacy task queues", read_legacy, mutating=False)

    def on_operation_done(self, message: OperationDone) -> None:
        if message.action != "legacy-list":
            return
        self.rows = message.result
        self.loaded = True
        self._render_rows()
        self.query_one("#legacy-note", Static).update("")
        if self.is_mounted:
            self.set_timer(max(2.0, self.console.source.interval), self._load)

    def on_operation_failed(self, message: OperationFailed) -> None:
        if message.action == "legacy-list":
            self.query_one("#legacy-note", Static).update(Text(f"cannot read legacy task queues: {message.error}", style="dim"))
            if self.is_mounted:
                self.set_timer(5.0, self._load)

    def _render_rows(self) -> None:
        self.query_one(LegacyTable).set_items(self.rows)

    def target_name(self, queue: Any) -> str:
        if not queue.migration:
            return "-"
        snapshot = self.console.snapshot
        target = snapshot.queue(queue.migration.worker_queue_id) if snapshot else None
        return f"{target.environment}/{target.name}" if target else queue.migration.worker_queue_id[:8]

    @property
    def selected_id(self) -> str | None:
        return self.query_one(LegacyTable).selected_key

    def action_migrate(self) -> None:
        queue = next((q for q, _ in self.rows if q.id == self.selected_id), None)
        if queue is None:
            self.app.notify("select a legacy task queue first", severity="warning")
            return
        if queue.migration and queue.migration.state == "migrated":
            self.app.notify(f"{queue.name} is already migrated", severity="information")
            return
        self.console.actions.migrate(queue, self._load)


def _style(app: App[Any], state: str) -> Style:
    """The theme colour for a migration state (legacy stands out, migrated fades); works with ANSI themes too."""
    if state == "legacy":
        return theme_style(app, "warning", bold=True)
    if state == "migrated":
        return theme_style(app, "foreground", dim=True)
    return theme_style(app, "accent", bold=True)
