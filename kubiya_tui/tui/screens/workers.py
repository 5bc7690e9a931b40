"""Every worker with its health; and one worker's detail with its recent heartbeats."""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Label, Static

from kubiya_tui import formatting as fmt
from kubiya_tui.metrics.snapshot import Snapshot, WorkerHealth, WorkerSnapshot
from kubiya_tui.models import STALE_AFTER_INTERVALS as STALE_INTERVALS
from kubiya_tui.tui.screens.base import ConsoleScreen
from kubiya_tui.tui.screens.queue_detail import NARROW_WIDTH, facts_table
from kubiya_tui.tui.widgets.tables import theme_style
from kubiya_tui.tui.widgets.worker_table import WorkerTable, health_text, other_version


class WorkersScreen(ConsoleScreen):
    """All workers; Enter opens one, ``d`` drains the highlighted one."""

    HAS_FILTER = True
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        # Already here: the footer's room goes to the actions.
        Binding("w", "app.workers", "", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        yield WorkerTable(id="workers")
        yield Static(id="worker-legend")

    @property
    def current_worker_id(self) -> str | None:
        return self.query_one(WorkerTable).selected_key

    @property
    def current_queue_id(self) -> str | None:
        snapshot = self.console.snapshot
        worker = next((w for w in snapshot.workers if w.worker_id == self.current_worker_id), None) if snapshot else None
        return worker.queue_id if worker else None

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.query_one(WorkerTable).focus()
        self.query_one("#worker-legend", Static).update(
            "[dim]!poll no poller · !reg unregistered · !ver other version · ↪ replaced by · ? more[/]"
        )

    def show_snapshot(self, snapshot: Snapshot) -> None:
        self.query_one(WorkerTable).set_items(snapshot.workers)

    def on_responsive_table_row_selected(self, event: WorkerTable.RowSelected) -> None:
        self.console.open_worker(event.key)


def _capability(value: object) -> str:
    """A reported capability as an operator reads it: lists comma-separated, other structures as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return json.dumps(value)


class WorkerDetailScreen(ConsoleScreen):
    """One worker: identity and health, system info, capabilities, recent heartbeats, current tasks."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, worker_id: str) -> None:
        super().__init__()
        self.worker_id = worker_id

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="worker-body"):
            yield Static(id="worker-title")
            with Horizontal(id="worker-facts"):
                yield Static(id="worker-state", classes="facts")
                yield Static(id="worker-system", classes="facts")
                yield Static(id="worker-capabilities", classes="facts")
            yield Label("Recent heartbeats: time since the one before (newest last)", classes="section")
            yield Static(id="worker-heartbeats")
            yield Label("Current tasks", classes="section")
            yield DataTable(id="worker-tasks", cursor_type="row")

    @property
    def current_worker_id(self) -> str | None:
        return self.worker_id

    @property
    def current_queue_id(self) -> str | None:
        snapshot = self.console.snapshot
        worker = next((w for w in snapshot.workers if w.worker_id == self.worker_id), None) if snapshot else None
        return worker.queue_id if worker else None

    def on_mount(self) -> None:
        self.query_one("#worker-tasks", DataTable).add_column("task id", key="task")

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")

    def show_snapshot(self, snapshot: Snapshot) -> None:
        worker = next((w for w in snapshot.workers if w.worker_id == self.worker_id), None)
        title = self.query_one("#worker-title", Static)
        if worker is None:
            title.update(Text(f"worker {self.worker_id} is no longer listed", style="bold"))
            return
        title.update(Text.assemble((worker.worker_id, "bold"), "   ", health_text(self.app, worker), ("   queue ", "dim"), worker.queue_name or "-"))
        gone = worker.health is WorkerHealth.gone
        total = None if worker.slots_used is None or worker.slots_available is None else worker.slots_used + worker.slots_available
        slots = "none (gone)" if gone else fmt.ratio(worker.slots_used, total)
        other = other_version(self.app, worker)
        replaces = [w.worker_id for w in snapshot.workers if w.replaced_by == worker.worker_id]
        lifetime = [("left", fmt.age(snapshot.taken_at - worker.left_at) + " ago" if worker.left_at else fmt.MISSING)] if gone else [
            ("heartbeat age", fmt.age(worker.heartbeat_age_seconds))]  # fmt: skip
        if worker.drain_ignored:
            since = fmt.age(snapshot.taken_at - worker.drain_requested_at) + " ago" if worker.drain_requested_at else ""
            lifetime.append(("drain", f"requested {since}, worker ignores it; stop its process instead".replace("  ", " ")))
        if worker.replaced_by:
            lifetime.append(("replaced by", worker.replaced_by))
        if replaces:
            lifetime.append(("replaces", ", ".join(replaces)))
        self.query_one("#worker-state", Static).update(facts_table([
            ("status", worker.status),
            ("wanted state", worker.desired_state or "running"),
            *lifetime,
            ("host", worker.hostname or fmt.MISSING),
            ("slots", slots),
            ("processed / failed", f"{worker.processed:,} / {worker.failed:,}"),
            ("registered", fmt.age(snapshot.taken_at - worker.registered_at) + " ago" if worker.registered_at else fmt.MISSING),
            ("flags", ", ".join(f for f, on in (("registered, not polling", worker.registered_not_polling), ("polling, not registered", worker.polling_not_registered), (f"runs {other}, the control plane {snapshot.control_plane_version}", other)) if on) or "none"),
        ]))  # fmt: skip
        info = worker.system_info
        memory = info.get("memory_total")
        self.query_one("#worker-system", Static).update(facts_table([
            ("os", f"{info.get('os_name') or '-'} {info.get('os_version') or ''}".strip()),
            ("python", info.get("python_version") or fmt.MISSING),
            ("sdk", info.get("sdk_version") or fmt.MISSING),
            ("pid", info.get("pid") or fmt.MISSING),
            ("cpu", f"{info.get('cpu_count') or '-'} cores, {info.get('cpu_percent', '-')}%"),
            ("memory", f"{memory / 2**30:.1f} GiB, {info.get('memory_percent', '-')}%" if memory else fmt.MISSING),
        ]))  # fmt: skip
        caps = [(k, _capability(v)) for k, v in sorted(worker.capabilities.items())]
        self.query_one("#worker-capabilities", Static).update(facts_table(caps or [("capabilities", "none reported")]))
        self._show_heartbeats(worker, snapshot.taken_at)
        tasks = self.query_one("#worker-tasks", DataTable)
        tasks.clear()
        for task_id in worker.current_task_ids:
            tasks.add_row(task_id, key=task_id)
        if not worker.current_task_ids:
            tasks.add_row(Text("idle", style="dim"), key="idle")

    def _show_heartbeats(self, worker: WorkerSnapshot, now: float) -> None:
        arrivals = self.console.heartbeats.arrivals(self.worker_id)
        text = Text()
        if arrivals:
            text.append(f"{fmt.age(now - arrivals[0])} ago", style="dim")
        interval = worker.heartbeat_interval or 30.0
        for before, after in zip(arrivals, arrivals[1:]):
            gap = after - before
            # A gap over 2.5 heartbeat intervals is what makes a worker stale.
            variable = "status-stale" if gap > STALE_INTERVALS * interval else "status-healthy"
            text.append(f"  +{fmt.age(gap)}", style=theme_style(self.app, variable))
        if arrivals:
            text.append(f"   (interval {fmt.age(interval)}; last {fmt.age(worker.heartbeat_age_seconds)} ago)", style="dim")
        self.query_one("#worker-heartbeats", Static).update(text if arrivals else Text("none yet", style="dim"))
