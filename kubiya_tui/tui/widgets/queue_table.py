"""The overview's table of queues and the totals line under it."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence

from rich.text import Text
from textual.widgets import Static

from kubiya_tui import formatting as fmt
from kubiya_tui.metrics.snapshot import TEMPORAL_ONLY_NOTE, QueueSnapshot, Snapshot
from kubiya_tui.vocabulary import FAILED_STATUSES
from kubiya_tui.tui.widgets.tables import Column, ResponsiveTable, theme_style

DEPTH_WARN = 100
DEPTH_HIGH = 250
ERROR_WARN = 0.02
ERROR_HIGH = 0.05
SPARK_WIDTH = 6
SPARK_LEGEND = (
    "the depth over the last refreshes, on one scale for every row: "
    "▁ empty, ▂ 1+, ▃ 3+, ▄ 10+, ▅ 30+, ▆ 100+, ▇ 300+, █ 1,000+ waiting"
)

HistoryLookup = Callable[..., list[tuple[float, float]]]
"""``history(queue_id, metric, last=None)``: (time, value) points, oldest first; ``last`` keeps only the newest."""


class QueueTable(ResponsiveTable[QueueSnapshot]):
    """Every queue with its live numbers; Enter opens the queue's detail."""

    COLUMNS = (
        Column("environment", "env", 9, priority=5, meaning="the queue's environment"),
        Column("queue", "queue", 16, priority=1, meaning="the worker queue", grow=16),
        Column("status", "status", 11, priority=6, meaning="active, stuck, growing (in > out), stale data, or the queue's state"),
        Column("depth", "depth", 13, priority=1, numeric=True, meaning="tasks waiting in Temporal, with its recent trend (or STUCK)"),
        Column("backlog_age", "age", 7, priority=2, numeric=True, meaning="how long the oldest waiting task has waited"),
        Column("in", "in/m", 7, priority=7, numeric=True, meaning="Temporal tasks added per minute (workflow + activity: about 3 per task)"),
        Column("out", "out/m", 7, priority=7, numeric=True, meaning="Temporal tasks handed to workers per minute"),
        Column("processed", "done/m", 7, priority=3, numeric=True, meaning="tasks finished per minute over the last 5 minutes"),
        Column("errors", "err%", 6, priority=1, numeric=True, meaning="failed or timed out / finished, last 5 minutes"),
        Column("workers", "workers", 8, priority=1, numeric=True, meaning="healthy / all workers"),
        Column("capacity", "slots", 7, priority=4, numeric=True, meaning="task slots in use / all slots of its workers"),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: HistoryLookup = lambda queue_id, metric, last=None: []
        self.alert_level: Callable[[QueueSnapshot], str | None] = lambda q: None
        """The worst alert firing on a queue (critical, warning) or None: the row is marked."""

    def _depth_tail(self, q: QueueSnapshot) -> tuple[float, ...]:
        return tuple(v for _, v in self.history(q.id, "depth", last=SPARK_WIDTH))

    # The sparkline moves with history even when the queue's snapshot object is reused.
    TOKEN_IS_ITEM = False

    def render_token(self, item: QueueSnapshot) -> Any:
        return (item, self._depth_tail(item), self.alert_level(item))

    MEASURED = ("queue",)

    def item_key(self, item: QueueSnapshot) -> str:
        return item.id

    def measure(self, item: QueueSnapshot, key: str) -> int:
        return len(item.name) + (2 if self.alert_level(item) else 0)

    def search_text(self, item: QueueSnapshot) -> str:
        return f"{item.environment or ''}/{item.name} {item.id} {item.status} {' '.join(item.tags)}"

    SORT_VALUES: dict[str, Callable[[QueueSnapshot], Hashable]] = {
        "environment": lambda item: (item.environment or "", item.name),
        "queue": lambda item: item.name,
        "status": lambda item: (not item.stuck, item.status),
        "depth": lambda item: item.depth,
        "backlog_age": lambda item: item.backlog_age_seconds,
        "in": lambda item: item.add_rate_per_min,
        "out": lambda item: item.dispatch_rate_per_min,
        "processed": lambda item: item.processed_per_min,
        "errors": lambda item: item.error_rate,
        "workers": lambda item: (item.workers.healthy, item.workers.total),
        "capacity": lambda item: item.capacity_used,
    }

    def sort_value(self, item: QueueSnapshot, key: str) -> Hashable:
        return self.SORT_VALUES[key](item)

    def cells(self, q: QueueSnapshot) -> dict[str, Any]:
        app = self.app
        dim = q.stale
        base = theme_style(app, "foreground", dim=dim)

        def num(text: str, variable: str | None = None) -> Text:
            style = theme_style(app, variable, dim=dim, bold=not dim) if variable else base
            return Text(text, style=style, justify="right")

        depth_var = None
        if q.depth is not None and q.depth >= DEPTH_HIGH:
            depth_var = "depth-high"
        elif q.depth is not None and q.depth >= DEPTH_WARN:
            depth_var = "depth-warn"
        number = (f" {fmt.count(q.depth):>6}", theme_style(app, depth_var, dim=dim, bold=True) if depth_var else base)
        if q.stuck:
            # Where the trend would be: the state that matters more, in a column every width keeps.
            depth = Text.assemble((" STUCK", theme_style(app, "status-failed", bold=True)), number, justify="right")
        else:
            spark = fmt.sparkline(self._depth_tail(q), width=SPARK_WIDTH, steps=fmt.DEPTH_STEPS)
            depth = Text.assemble((spark, theme_style(app, "chart-depth", dim=True)), number, justify="right")
        err_var = None
        if q.error_rate is not None and q.error_rate >= ERROR_HIGH:
            err_var = "status-failed"
        elif q.error_rate is not None and q.error_rate >= ERROR_WARN:
            err_var = "status-stale"
        w = q.workers
        if w.total == 0 and (q.depth or 0) > 0:
            workers_var: str | None = "status-failed"
        elif w.healthy < w.total:
            workers_var = "status-stale"
        else:
            workers_var = None
        if q.stale:
            status = Text(f"stale {fmt.age(q.data_age_seconds)}", style=theme_style(app, "status-stale"))
        elif q.stuck:
            status = Text("stuck", style=theme_style(app, "status-failed", bold=True))
        elif q.status != "active":
            status = Text(q.status, style=theme_style(app, "status-gone"))
        elif q.growing:
            status = Text("growing", style=theme_style(app, "depth-warn"))
        else:
            status = Text(q.status, style=theme_style(app, "status-healthy"))
        level = self.alert_level(q)
        name = Text(q.name, style=theme_style(app, "foreground", dim=dim, bold=True))
        if level is not None:
            # A breaching row: its mark before the name, in the column every width keeps.
            mark = ("✖ ", theme_style(app, "status-failed", bold=True)) if level == "critical" else ("▲ ", theme_style(app, "depth-warn", bold=True))
            name = Text.assemble(mark, name)
        return {
            "environment": Text(q.environment or fmt.MISSING, style=base),
            "queue": name,
            "status": status,
            "depth": depth,
            "backlog_age": num(fmt.age(q.backlog_age_seconds), "depth-warn" if (q.backlog_age_seconds or 0) >= 120 else None),
            "in": num(fmt.rate(q.add_rate_per_min)),
            "out": num(fmt.rate(q.dispatch_rate_per_min)),
            "processed": num(fmt.rate(q.processed_per_min)),
            "errors": num(fmt.percent(q.error_rate), err_var),
            "workers": num(f"{w.healthy}/{w.total}", workers_var),
            "capacity": num(fmt.ratio(q.capacity_used, q.capacity_total)),
        }


class QueueTotals(Static):
    """One line under the queue table: the sums across the queues shown (the filter applies).

    Without a control plane, a second line says what needs one.
    """

    def show(self, snapshot: Snapshot | None, shown: Sequence[QueueSnapshot]) -> None:
        if snapshot is None:
            self.update("")
            return
        qs = shown
        depth = sum(q.depth or 0 for q in qs)
        processed = sum(q.processed_per_min or 0 for q in qs)
        healthy = sum(q.workers.healthy for q in qs)
        total = sum(q.workers.total for q in qs)
        closed = sum(sum(q.closed_by_status.values()) for q in qs)
        failed = sum(q.closed_by_status.get(status, 0) for q in qs for status in FAILED_STATUSES)
        err = fmt.percent(failed / closed) if closed else fmt.MISSING
        queues = len(snapshot.queues)
        count = f"{len(qs)} of {queues} queues" if len(qs) != queues else f"{queues} queues"
        parts = [(count, ""), ("depth", depth and f"{depth:,}" or "0"), ("done/m", fmt.rate(processed)), ("err", err), ("healthy", f"{healthy}/{total}")]
        stuck = sum(1 for q in qs if q.stuck)
        text = Text()
        for label, value in parts:
            if value:
                text.append(f"{label} ", style="dim")
                text.append(value, style="bold")
            else:
                text.append(label, style="bold")
            text.append("   ")
        if stuck:
            text.append(f"{stuck} stuck", style=theme_style(self.app, "status-failed", bold=True))
        temporal_only = snapshot.mode == "temporal"
        if temporal_only:
            text.append("\n")
            text.append("Temporal only", style=theme_style(self.app, "warning", bold=True))
            text.append(f" · {TEMPORAL_ONLY_NOTE}", style="dim")
        height = 2 if temporal_only else 1
        if self.styles.height is None or self.styles.height.value != height:
            self.styles.height = height  # a layout, once: when the mode is first known
        self.update(text, layout=False)
