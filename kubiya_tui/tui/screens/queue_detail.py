"""One queue: charts, priorities, partitions, processing time, workers, recent failures, settings, autoscale."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Label, Static

from kubiya_tui import formatting as fmt
from kubiya_tui.client.api import ApiClient
from kubiya_tui.metrics.snapshot import QueueSnapshot, Snapshot
from kubiya_tui.tui.messages import OperationDone, OperationFailed
from kubiya_tui.tui.screens.base import ConsoleScreen
from kubiya_tui.tui.widgets.charts import QueueCharts
from kubiya_tui.tui.widgets.worker_table import WorkerTable

FAILED_TASKS_SHOWN = 10
NARROW_WIDTH = 110
TALL_HEIGHT = 56


def facts_table(rows: list[tuple[str, Any]]) -> Table:
    """Label/value pairs as a borderless two-column grid."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value if isinstance(value, Text) else Text(str(value)))
    return grid


def drain_text(q: QueueSnapshot) -> str:
    if q.time_to_drain_seconds is not None:
        return fmt.age(q.time_to_drain_seconds)
    if q.growing:
        return "growing (in > out)"
    return "empty" if q.depth == 0 else fmt.MISSING


def pollers_text(q: QueueSnapshot) -> str:
    """Temporal's count of pollers, and how it adds up against the registered workers."""
    if q.pollers is None:
        return fmt.MISSING
    w = q.workers
    unregistered = w.unregistered
    registered = max(0, q.pollers - unregistered)
    parts = [f"{registered} registered worker{'s' if registered != 1 else ''}"]
    if unregistered:
        parts.append(f"{unregistered} not registered (!reg)")
    if w.not_polling:
        parts.append(f"{w.not_polling} registered, not polling (!poll)")
    return f"{q.pollers}: " + ", ".join(parts)


async def load_failed_tasks(api: ApiClient, queue_id: str) -> list[dict[str, Any]]:
    """The queue's most recent failed tasks, each with its error message from get_task."""
    import asyncio

    tasks = (await api.list_tasks(queue_id, status="failed", limit=FAILED_TASKS_SHOWN))[:FAILED_TASKS_SHOWN]
    details = await asyncio.gather(*(api.get_task(t["id"]) for t in tasks), return_exceptions=True)
    return [{**t, **d} if isinstance(d, dict) else {**t, "error": f"(error not available: {d})"} for t, d in zip(tasks, details)]


class QueueDetailScreen(ConsoleScreen):
    """Everything about one queue; ``s`` scales it, ``i`` shows its worker command, ``d`` drains the selected worker."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f", "reload_failures", "Reload failures", show=False),
    ]

    def __init__(self, queue_id: str) -> None:
        super().__init__()
        self.queue_id = queue_id

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-title")
            yield Static(id="detail-alert")
            # The numbers come first, so a 24-line terminal shows them before the charts.
            with Horizontal(id="detail-facts"):
                yield Static(id="facts-load", classes="facts")
                yield Static(id="facts-priority", classes="facts")
                yield Static(id="facts-settings", classes="facts")
            yield QueueCharts(id="detail-charts")
            yield Label("Workers", classes="section")
            yield WorkerTable(id="queue-workers")
            yield Label("Recent failed tasks", classes="section")
            yield DataTable(id="failed-tasks", cursor_type="row", zebra_stripes=True)

    @property
    def current_queue_id(self) -> str | None:
        return self.queue_id

    @property
    def current_worker_id(self) -> str | None:
        return self.query_one(WorkerTable).selected_key

    def on_mount(self) -> None:
        self._show_failures([(Text("loading…", style="dim"), "", "")], ["loading"])
        self.query_one("#detail-body").focus()
        self.action_reload_failures()

    def _show_failures(self, rows: list[tuple[Any, Any, Any]], keys: list[str] | None = None) -> None:
        """The failed-tasks table, its columns as wide as their widest cell from the start.

        DataTable sizes an auto-width column only when it is next idle; a frame drawn before
        then showed the error column at its header's width. Fixed widths draw the same at once.
        """
        table = self.query_one("#failed-tasks", DataTable)
        table.clear(columns=True)

        def width(cell: Any) -> int:
            return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))

        for index, name in enumerate(("task", "kind", "error")):
            table.add_column(name, key=name, width=max([len(name), *(width(row[index]) for row in rows)]))
        for number, row in enumerate(rows):
            table.add_row(*row, key=keys[number] if keys else None)

    def on_resize(self, event: Resize) -> None:
        # Side-by-side fact panels need room; on a narrow terminal they stack. A tall one gets taller charts.
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")
        self.set_class(event.size.height >= TALL_HEIGHT, "-tall")

    def action_reload_failures(self) -> None:
        reason = self.console.actions.unavailable("tasks")
        if reason:  # Kubiya's control plane: no task API to read failures from, said so instead of a 404
            self._show_failures([(Text("unavailable", style="dim"), "", Text(reason, style="dim"))], ["error"])
            return
        self.console.operations.perform(self, "failed-tasks", self.queue_id, lambda api: load_failed_tasks(api, self.queue_id), mutating=False)

    def on_operation_done(self, message: OperationDone) -> None:
        if message.action != "failed-tasks":
            return
        rows = [
            (fmt.short_id(task.get("id"), 14), task.get("kind") or fmt.MISSING, task.get("error") or fmt.MISSING)
            for task in message.result
        ]
        if rows:
            self._show_failures(rows, [str(task.get("id")) for task in message.result])
        else:
            self._show_failures([(Text("none", style="dim"), "", "")], ["none"])

    def on_operation_failed(self, message: OperationFailed) -> None:
        if message.action == "failed-tasks":
            self._show_failures([(Text("unavailable", style="dim"), "", Text(message.error, style="dim"))], ["error"])

    def on_responsive_table_row_selected(self, event: WorkerTable.RowSelected) -> None:
        if isinstance(event.table, WorkerTable):
            self.console.open_worker(event.key)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        q = snapshot.queue(self.queue_id)
        title = self.query_one("#detail-title", Static)
        if q is None:
            title.update(Text(f"queue {self.queue_id} is gone", style="bold"))
            return
        stale = Text(f"   stale, {fmt.age(q.data_age_seconds)} old", style="dim") if q.stale else ""
        status = "stuck" if q.stuck else "growing" if q.growing and q.status == "active" else q.status
        # Name and status first: a narrow terminal cuts the task queue and the id at the end.
        title.update(Text.assemble((f"{q.environment or '-'} / {q.name}", "bold"), f"   {status}", stale,
                                   (f"   {q.task_queue_name}   {q.id}", "dim"), no_wrap=True, overflow="ellipsis"))  # fmt: skip
        alert = self.query_one("#detail-alert", Static)
        if q.stuck:
            alert.update(Text.assemble(("STUCK ", "bold"), q.stuck_evidence or "", (f"\nwhy: {q.stuck_cause}" if q.stuck_cause else "\nwhy: not known from the numbers (see the workers' logs)")))
        alert.display = q.stuck
        self.query_one(QueueCharts).show(q.id, self.console.source.history, snapshot.taken_at)
        w = q.workers
        self.query_one("#facts-load", Static).update(facts_table([
            ("depth", fmt.count(q.depth)),
            ("backlog age", fmt.age(q.backlog_age_seconds)),
            ("time to drain", drain_text(q)),
            ("processed / min", fmt.rate(q.processed_per_min)),
            ("error rate", fmt.percent(q.error_rate)),
            ("p50 / p95 time", f"{fmt.duration(q.duration_p50_seconds)} / {fmt.duration(q.duration_p95_seconds)}"),
            ("workers", f"{w.healthy}/{w.total} healthy, {fmt.count(q.desired_workers)} wanted"),
            # Temporal counts workflow and activity tasks: a task is about three of them.
            ("Temporal tasks in/out", f"{fmt.rate(q.add_rate_per_min)} / {fmt.rate(q.dispatch_rate_per_min)} per min"),
        ]))  # fmt: skip
        priorities = ", ".join(f"p{k}: {v}" for k, v in sorted(q.priority_backlog.items())) or fmt.MISSING
        closed = ", ".join(f"{k} {v}" for k, v in sorted(q.closed_by_status.items())) or fmt.MISSING
        self.query_one("#facts-priority", Static).update(facts_table([
            ("backlog by priority", priorities),
            ("partitions", fmt.count(q.partitions)),
            ("pollers", pollers_text(q)),
            ("workers", f"{w.healthy} healthy, {w.stale} stale, {w.draining} draining / {w.total}"),
            ("slots", fmt.ratio(q.capacity_used, q.capacity_total)),
            ("closed (window)", closed),
        ]))  # fmt: skip
        policy = q.autoscale
        autoscale = (
            f"{policy.get('min_workers')}–{policy.get('max_workers')} workers, backlog ≤ {fmt.age(policy.get('target_backlog_age_seconds'))}"
            if policy
            else "off"
        )
        self.query_one("#facts-settings", Static).update(facts_table([
            ("wanted workers", fmt.count(q.desired_workers)),
            ("max workers", fmt.count(q.max_workers) if q.max_workers else "unlimited"),
            ("heartbeat", fmt.age(q.heartbeat_interval)),
            ("autoscale", autoscale),
            ("tags", fmt.join_tags(q.tags)),
            ("description", q.description or fmt.MISSING),
            *((k, str(v)) for k, v in sorted(q.settings.items())),
        ]))  # fmt: skip
        self.query_one(WorkerTable).set_items(snapshot.workers_of(q.id))
