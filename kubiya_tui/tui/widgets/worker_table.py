"""A table of workers: health, heartbeat age, host, slots, processed and failed, current task."""

from __future__ import annotations

from operator import attrgetter, itemgetter
from typing import Any, Callable, Hashable, Sequence

from rich.text import Text
from textual.app import App

from kubiya_tui import formatting as fmt
from kubiya_tui.metrics.snapshot import WorkerHealth, WorkerSnapshot
from kubiya_tui.tui.widgets.tables import Column, ResponsiveTable, theme_style

HEALTH_VARIABLE = {
    WorkerHealth.healthy: "status-healthy",
    WorkerHealth.stale: "status-stale",
    WorkerHealth.draining: "status-draining",
    WorkerHealth.gone: "status-gone",
}
_ID, _QUEUE, _HOST, _TASKS, _HEALTH, _VERSION = (
    attrgetter(name) for name in ("worker_id", "queue_name", "hostname", "current_task_ids", "health", "version")
)
_FIRST = itemgetter(0)
_FLAGS = tuple(attrgetter(name) for name in ("registered_not_polling", "polling_not_registered", "drain_ignored", "replaced_by"))
"""What puts more than the health word in a worker's health cell (besides another version)."""
HEALTH_ORDER = {WorkerHealth.stale: 0, WorkerHealth.draining: 1, WorkerHealth.healthy: 2, WorkerHealth.gone: 3}


def other_version(app: App[Any], worker: WorkerSnapshot) -> str | None:
    """The worker's kubiya-tui version when it is not the control plane's (both known); else None."""
    snapshot = getattr(app, "snapshot", None)
    expected = snapshot.control_plane_version if snapshot is not None else None
    return worker.version if worker.version and expected and worker.version != expected else None


WORKER_LEGEND = (
    ("!poll", "registered with the control plane, but Temporal sees it poll nothing"),
    ("!reg", "a poller of the queue that no registration accounts for (counted in pollers, not in workers)"),
    ("!drain", "a drain was asked, and over one heartbeat interval later it still runs: it ignores drains (Kubiya's worker does)"),
    ("!ver", "runs another kubiya-tui version than the control plane"),
    ("↪", "a gone worker's replacement: the worker of its queue that registered as it left (same host first)"),
    ("beat", "age of its last heartbeat; none for a gone worker, whose slots no longer count either"),
)
"""The flags of a worker row and what they mean (help screen)."""


def health_text(app: App[Any], worker: WorkerSnapshot) -> Text:
    """The worker's health word in its colour, with the registration/poller/version flags after it."""
    text = Text(f"● {worker.health.value}", style=theme_style(app, HEALTH_VARIABLE[worker.health], bold=True))
    if worker.replaced_by:
        text.append(f" ↪{worker.replaced_by}", style=theme_style(app, "foreground", dim=True))
    if worker.registered_not_polling:
        text.append(" !poll", style=theme_style(app, "status-failed"))
    if worker.polling_not_registered:
        text.append(" !reg", style=theme_style(app, "status-failed"))
    if worker.drain_ignored:
        text.append(" !drain", style=theme_style(app, "status-stale"))
    if other_version(app, worker):
        text.append(" !ver", style=theme_style(app, "status-stale"))
    return text


def task_text(worker: WorkerSnapshot) -> str:
    """The worker's current task, and how many more it runs (``task-… +2``)."""
    tasks = worker.current_task_ids
    return fmt.MISSING if not tasks else tasks[0] + (f" +{len(tasks) - 1}" if len(tasks) > 1 else "")


class WorkerTable(ResponsiveTable[WorkerSnapshot]):
    """Every worker (or one queue's); Enter opens the worker's detail, ``d`` drains it."""

    COLUMNS = (
        Column("worker", "worker", 16, priority=1, grow=20),
        Column("queue", "queue", 14, priority=2, grow=10),
        Column("health", "health", 14, priority=1),
        Column("heartbeat", "beat", 7, priority=1, numeric=True),
        Column("host", "host", 13, priority=5),
        Column("slots", "slots", 6, priority=3, numeric=True),
        Column("processed", "done", 7, priority=3, numeric=True),
        Column("failed", "failed", 8, priority=4, numeric=True),
        Column("task", "current task", 20, priority=6, grow=20),
    )

    MEASURED = ("worker", "queue", "health", "host", "task")

    def item_key(self, item: WorkerSnapshot) -> str:
        return item.worker_id

    def item_keys(self, items: Sequence[WorkerSnapshot]) -> list[str]:
        return list(map(_ID, items))

    def measure(self, item: WorkerSnapshot, key: str) -> int:
        if key == "task":
            return len(task_text(item))
        if key == "host":
            return len(item.hostname or "")
        if key == "worker":
            return len(item.worker_id)
        if key == "health":
            flags = (
                6 * item.registered_not_polling
                + 5 * item.polling_not_registered
                + 7 * item.drain_ignored
                + 5 * bool(other_version(self.app, item))
            )
            return 2 + len(item.health.value) + flags + (len(item.replaced_by) + 2 if item.replaced_by else 0)
        return len(item.queue_name or "")

    def measure_all(self, items: Sequence[WorkerSnapshot]) -> dict[str, int]:
        # 5,000 workers are measured at every refresh: each column in one pass that runs in C
        # (map and filter over attrgetters); only the few flagged workers are measured one by one.
        snapshot = getattr(self.app, "snapshot", None)
        expected = snapshot.control_plane_version if snapshot is not None else None
        busy = list(filter(None, map(_TASKS, items)))
        # (first task's length, number of tasks) pairs, deduplicated in C: few, whatever the workers.
        tasks = set(zip(map(len, map(_FIRST, busy)), map(len, busy)))
        flagged = [w for flag in _FLAGS for w in filter(flag, items)]
        if expected is not None and set(map(_VERSION, items)) - {None, "", expected}:
            flagged += [w for w in items if w.version and w.version != expected]
        measure = self.measure
        return {
            "worker": max(map(len, map(_ID, items)), default=0),
            "queue": max(map(len, filter(None, map(_QUEUE, items))), default=0),
            "host": max(map(len, filter(None, map(_HOST, items))), default=0),
            "task": max(len(fmt.MISSING), max((first + (len(f" +{n - 1}") if n > 1 else 0) for first, n in tasks), default=0)),
            "health": max(
                max((2 + len(health.value) for health in set(map(_HEALTH, items))), default=0),
                max((measure(w, "health") for w in flagged), default=0),
            ),
        }

    def search_text(self, item: WorkerSnapshot) -> str:
        return f"{item.worker_id} {item.queue_name or ''} {item.hostname or ''} {item.health.value} {item.status}"

    SORT_VALUES: dict[str, Callable[[WorkerSnapshot], Hashable]] = {
        "worker": lambda item: item.worker_id,
        "queue": lambda item: item.queue_name or "",
        "health": lambda item: HEALTH_ORDER[item.health],
        "heartbeat": lambda item: item.heartbeat_age_seconds,
        "host": lambda item: item.hostname or "",
        "slots": lambda item: item.slots_used,
        "processed": lambda item: item.processed,
        "failed": lambda item: item.failed,
        "task": lambda item: item.current_task_ids[0] if item.current_task_ids else "",
    }

    def sort_value(self, item: WorkerSnapshot, key: str) -> Hashable:
        return self.SORT_VALUES[key](item)

    def sort_values(self, items: Sequence[WorkerSnapshot], key: str) -> list[Hashable]:
        return list(map(self.SORT_VALUES[key], items))

    def cells(self, w: WorkerSnapshot) -> dict[str, Any]:
        app = self.app
        dim = w.health is WorkerHealth.gone
        base = theme_style(app, "foreground", dim=dim)
        beat_var = "status-stale" if w.health is WorkerHealth.stale else None
        task = task_text(w)
        # A gone worker's last heartbeat only ages and its slots are nobody's: neither is shown.
        beat = fmt.MISSING if dim else fmt.age(w.heartbeat_age_seconds)
        total = None if w.slots_used is None or w.slots_available is None else w.slots_used + w.slots_available
        slots = fmt.MISSING if dim else fmt.ratio(w.slots_used, total)
        return {
            "worker": Text(w.worker_id, style=theme_style(app, "foreground", dim=dim, bold=True)),
            "queue": Text(w.queue_name or fmt.MISSING, style=base),
            "health": health_text(app, w),
            "heartbeat": Text(beat, style=theme_style(app, beat_var) if beat_var else base, justify="right"),
            "host": Text(w.hostname or fmt.MISSING, style=base),
            "slots": Text(slots, style=base, justify="right"),
            "processed": Text(f"{w.processed:,}", style=base, justify="right"),
            "failed": Text(f"{w.failed:,}", style=theme_style(app, "status-failed") if w.failed else base, justify="right"),
            "task": Text(task if not dim else fmt.MISSING, style=base),
        }
