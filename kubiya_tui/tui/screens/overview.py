"""The default screen: every queue with its numbers, and the selected queue's charts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize

from kubiya_tui.metrics.snapshot import Snapshot
from kubiya_tui.tui.screens.base import ConsoleScreen
from kubiya_tui.tui.widgets.charts import QueueCharts
from kubiya_tui.tui.widgets.queue_table import QueueTable, QueueTotals


class OverviewScreen(ConsoleScreen):
    """Queues, totals and charts; Enter drills into a queue."""

    HAS_FILTER = True
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "back", "Clear filter", show=False),
        Binding("enter", "open_queue", "Detail", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        yield QueueTable(id="queues")
        yield QueueTotals(id="totals")
        yield QueueCharts(id="charts")

    @property
    def table(self) -> QueueTable:
        return self.query_one(QueueTable)

    @property
    def current_queue_id(self) -> str | None:
        return self.table.selected_key

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.table.history = lambda queue_id, metric, last=None: self.console.source.history(queue_id, metric, last)
        console = self.console
        self.table.alert_level = lambda q: console.alerts.level_of(console.operations.profile or "default", q.id) if console.alerts.firing else None
        self.watch(console, "alerts_version", lambda _v: self.table.redraw(), init=False)
        self.table.focus()

    def on_resize(self, event: Resize) -> None:
        # Charts take what the table leaves, and give it up first on a very short terminal.
        self.query_one(QueueCharts).display = event.size.height >= 20

    def show_snapshot(self, snapshot: Snapshot) -> None:
        table = self.table
        table.set_items(snapshot.queues)
        console = self.console
        pending = console.pending_select
        if pending and table.select_key(pending):
            console.pending_select = None
        self.query_one(QueueTotals).show(snapshot, table.shown_items)
        self._show_charts()

    def _show_charts(self) -> None:
        console = self.console
        snapshot = console.snapshot
        queue = self.table.selected_item
        self.query_one(QueueCharts).show(queue.id if queue else None, console.source.history, snapshot.taken_at if snapshot else None,
                                         queue.name if queue else "")  # fmt: skip

    def on_responsive_table_row_highlighted(self, event: QueueTable.RowHighlighted) -> None:
        self._show_charts()

    def on_responsive_table_row_selected(self, event: QueueTable.RowSelected) -> None:
        self.console.open_queue(event.key)

    def action_open_queue(self) -> None:
        if self.current_queue_id:
            self.console.open_queue(self.current_queue_id)
