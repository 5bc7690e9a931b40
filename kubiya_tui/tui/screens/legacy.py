"""Legacy task queues, listed apart from worker queues, with live numbers and a Migrate action."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from kubiya_tui.client.api import ApiClient
from kubiya_tui.tui import format as fmt
from kubiya_tui.tui.messages import OperationDone, OperationFailed
from kubiya_tui.tui.screens.base import ConsoleScreen

COLUMNS = ("task queue", "temporal task queue", "state", "depth", "age", "in/m", "out/m", "workers", "err%", "migrated to")


async def read_legacy(api: ApiClient) -> list[tuple[Any, Any]]:
    """Every legacy task queue with its metrics (depth, rates, workers from Temporal)."""
    queues = await api.list_task_queues()
    metrics = await asyncio.gather(*(api.task_queue_metrics(q.id) for q in queues))
    return list(zip(queues, metrics))


def state_of(queue: Any) -> str:
    return queue.migration.state if queue.migration else "legacy"


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
        yield Static("[b]Legacy task queues[/]  [dim]environment-level queues on <org>.<environment>; migrate them to worker queues (m)[/]", id="legacy-title")
        yield DataTable(id="legacy-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="legacy-note")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#legacy-table", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        table.focus()
        self._load()

    def _load(self) -> None:
        self.app.perform(self, "legacy-list", "legacy task queues", read_legacy, mutating=False)

    def on_operation_done(self, message: OperationDone) -> None:
        if message.action != "legacy-list":
            return
        self.rows = message.result
        self.loaded = True
        self._render_rows()
        self.query_one("#legacy-note", Static).update("")
        if self.is_mounted:
            self.set_timer(max(2.0, getattr(self.app.source, "interval", 2.0)), self._load)

    def on_operation_failed(self, message: OperationFailed) -> None:
        if message.action == "legacy-list":
            self.query_one("#legacy-note", Static).update(Text(f"cannot read legacy task queues: {message.error}", style="dim"))
            if self.is_mounted:
                self.set_timer(5.0, self._load)

    def _render_rows(self) -> None:
        table = self.query_one("#legacy-table", DataTable)
        selected = self.selected_id
        table.clear()
        for queue, m in self.rows:
            state = state_of(queue)
            temporal = bool(m.temporal_available)
            table.add_row(
                Text(queue.name, style="bold"),
                queue.task_queue_name or "-",
                Text(state, style=_style(self, state)),
                fmt.count(m.task_queue_backlog) if temporal else "-",
                fmt.age(m.task_queue_backlog_age_seconds) if temporal else "-",
                fmt.rate(m.tasks_add_rate_per_min) if temporal else "-",
                fmt.rate(m.tasks_dispatch_rate_per_min) if temporal else "-",
                f"{m.total_workers}",
                f"{m.error_rate_percent:.1f}%" if temporal else "-",
                self._target_name(queue),
                key=queue.id,
            )
        if selected:
            try:
                table.move_cursor(row=table.get_row_index(selected))
            except Exception:
                pass

    def _target_name(self, queue: Any) -> str:
        if not queue.migration:
            return "-"
        snapshot = self.app.snapshot
        target = snapshot.queue(queue.migration.worker_queue_id) if snapshot else None
        return f"{target.environment}/{target.name}" if target else queue.migration.worker_queue_id[:8]

    @property
    def selected_id(self) -> str | None:
        table = self.query_one("#legacy-table", DataTable)
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def action_migrate(self) -> None:
        from kubiya_tui.tui.dialogs.migrate import MigrateDialog

        queue = next((q for q, _ in self.rows if q.id == self.selected_id), None)
        if queue is None:
            self.app.notify("select a legacy task queue first", severity="warning")
            return
        if queue.migration and queue.migration.state == "migrated":
            self.app.notify(f"{queue.name} is already migrated", severity="information")
            return
        if self.app.read_only:
            self.app.notify(self.app.refusal("migrate", queue.name), severity="error")
            return
        self.app.push_screen(MigrateDialog(queue), lambda _: self._load())


def _style(screen: ConsoleScreen, state: str) -> str:
    """The theme colour for a migration state (legacy stands out, migrated fades)."""
    variables = screen.app.theme_variables
    if state == "legacy":
        return f"bold {variables.get('warning', 'yellow')}"
    if state == "migrated":
        return "dim"
    return f"bold {variables.get('accent', 'cyan')}"
