"""Immutable snapshots: what the console and `kubiya-tui top` show, produced by the collector.

Definitions follow docs/architecture.md (Metrics). Every number that a source could not
provide is ``None`` (shown as "-"), never a made-up zero; numbers kept from an earlier poll
while their source is down are marked stale with their age.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Awaitable, Callable, Protocol

from kubiya_tui.vocabulary import WorkerHealth


class SourceStatus(str, Enum):
    ok = "ok"
    slow = "slow"
    down = "down"
    off = "off"
    """Not configured in this profile (for example no Temporal access)."""




@dataclass(frozen=True)
class ReadState:
    """One of a backend's reads (Temporal's task-queue stats, its visibility...) as the collector last saw it."""

    name: str
    """As an operator reads it: ``Temporal visibility``."""
    status: SourceStatus
    shows: str = ""
    """The numbers it gives: ``done/m and errors``."""
    data_age_seconds: float | None = None
    """Age of its newest good answer."""
    late: bool = False
    """Its newest answer is older than it should be (well past its schedule): its numbers are old."""
    last_error: str | None = None

    def summary(self) -> str:
        """What an operator needs to know about it: ``Temporal visibility slow: done/m, errors and times 40s old``."""
        from kubiya_tui import formatting as fmt

        word = "failing" if self.status is SourceStatus.down else "slow"
        age = f"{fmt.age(self.data_age_seconds)} old" if self.data_age_seconds is not None else "not read yet"
        return f"{self.name} {word}: {self.shows} {age}" if self.shows else f"{self.name} {word}, data {age}"


@dataclass(frozen=True)
class SourceState:
    """One backend as the collector last saw it.

    ``status`` is ``down`` only when its main read fails (for Temporal: the task-queue stats,
    depth); a failing or late secondary read (visibility) makes it ``slow``, and ``reads``
    says which read and which numbers.
    """

    name: str
    status: SourceStatus
    latency_ms: float | None = None
    last_error: str | None = None
    data_age_seconds: float | None = None
    """Age of the newest good data from this source."""
    address: str | None = None
    reads: tuple[ReadState, ...] = ()
    """Each of its reads, the main one first."""

    def troubled_reads(self) -> tuple[ReadState, ...]:
        """The reads that fail or whose numbers are late, while the source as a whole is not down."""
        if self.status in (SourceStatus.down, SourceStatus.off):
            return ()
        return tuple(r for r in self.reads if r.status is SourceStatus.down or r.late)


@dataclass(frozen=True)
class WorkerCounts:
    healthy: int = 0
    stale: int = 0
    draining: int = 0
    total: int = 0
    """healthy + stale + draining: the registered workers that have not said goodbye."""
    not_polling: int = 0
    """Healthy registered workers that Temporal has not seen polling (registered_not_polling)."""
    unregistered: int = 0
    """Pollers of the queue that no registration accounts for (polling_not_registered); not in total."""


@dataclass(frozen=True)
class WorkerSnapshot:
    worker_id: str
    queue_id: str | None
    queue_name: str | None
    health: WorkerHealth
    status: str
    heartbeat_age_seconds: float | None = None
    hostname: str | None = None
    slots_used: int | None = None
    slots_available: int | None = None
    processed: int = 0
    failed: int = 0
    current_task_ids: tuple[str, ...] = ()
    registered_not_polling: bool = False
    """Registered with the control plane but no Temporal poller of that identity."""
    polling_not_registered: bool = False
    """A Temporal poller on the queue that no registration accounts for."""
    desired_state: str | None = None
    registered_at: float | None = None
    system_info: dict[str, Any] = field(default_factory=dict)
    capabilities: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    heartbeat_interval: float | None = None
    task_queue_name: str | None = None
    source: str = "api"
    """Where the worker is known from: ``api`` (a registration) or ``temporal`` (pollers, ListWorkers only)."""
    version: str | None = None
    """The kubiya-tui version the worker reports in its heartbeats; None when it reports none."""
    left_at: float | None = None
    """When a gone worker left (its goodbye, else its last heartbeat); None while it lives."""
    replaced_by: str | None = None
    """The worker that replaced this gone one (kubiya_tui.metrics.derive.replacements)."""
    drain_requested_at: float | None = None
    """When a drain was asked of it (epoch seconds); None when none is."""
    drain_ignored: bool = False
    """A drain was asked over one heartbeat interval (plus grace) ago and it still beats as running."""


@dataclass(frozen=True)
class QueueSnapshot:
    id: str
    name: str
    environment: str | None
    task_queue_name: str
    status: str = "active"
    legacy: bool = False
    depth: int | None = None
    backlog_age_seconds: float | None = None
    add_rate_per_min: float | None = None
    dispatch_rate_per_min: float | None = None
    processed_per_min: float | None = None
    duration_p50_seconds: float | None = None
    duration_p95_seconds: float | None = None
    error_rate: float | None = None
    """(Failed + TimedOut) / closed over the window, 0..1."""
    closed_by_status: dict[str, int] = field(default_factory=dict)
    priority_backlog: dict[int, int] = field(default_factory=dict)
    partitions: int | None = None
    pollers: int | None = None
    workers: WorkerCounts = field(default_factory=WorkerCounts)
    capacity_used: int | None = None
    capacity_total: int | None = None
    time_to_drain_seconds: float | None = None
    """depth / (out - in) when the queue shrinks; None when it grows or is empty (see draining)."""
    growing: bool = False
    desired_workers: int | None = None
    max_workers: int | None = None
    heartbeat_interval: int | None = None
    autoscale: dict[str, Any] | None = None
    stale: bool = False
    """Numbers come from an earlier poll: their source is down."""
    data_age_seconds: float | None = None
    """How old the stale numbers of this row are (set by the collector only while ``stale``)."""
    environment_id: str | None = None
    description: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    closed_in_window: int | None = None
    """Executions closed in the window; 0 means an idle queue (error_rate is then None), None unknown."""
    duration_samples: int | None = None
    """How many closed tasks the duration percentiles come from."""
    duration_source: str | None = None
    """``temporal``: close - start time of the latest closed executions (up to 200); ``workers``:
    what workers report in heartbeats (API-only mode)."""
    stale_sources: tuple[str, ...] = ()
    """Sources whose numbers in this row are from an earlier poll (``api``, ``temporal``)."""
    last_error: str | None = None
    """Why this queue's own reads failed, when they did (the source as a whole may be fine)."""
    versioned_builds: tuple[str, ...] = ()
    """Build ids of the queue's pollers that use worker versioning (they take only their build's tasks)."""
    stuck: bool = False
    """Tasks wait while live workers have free slots and nothing is dispatched (see metrics/stuck.py)."""
    stuck_evidence: str | None = None
    """What makes it stuck, in numbers: ``20 waiting, oldest 39s; none dispatched; 10 of 10 slots free``."""
    stuck_cause: str | None = None
    """Why, when it is known (no poller on the task queue, pollers on a versioned build, every worker draining)."""


NEEDS_CONTROL_PLANE = ("env", "queue state", "registered workers (!poll, versions)", "actions (create, drain, scale)")
"""What a Temporal-only console cannot show or do: only a control plane knows it (depth, rates, pollers,
SDK workers and errors are Temporal's)."""
TEMPORAL_ONLY_NOTE = "env, state, registrations and actions need a control plane"
"""The console's short line (80 columns); ``temporal_only_line()`` is the long one."""


def temporal_only_line() -> str:
    """What `top` says without a control plane."""
    return (
        "Temporal only (no control plane; the queues found in Temporal and named in the profile): "
        + ", ".join(NEEDS_CONTROL_PLANE[:-1]) + f" and {NEEDS_CONTROL_PLANE[-1]} need a control plane"
    )


@dataclass(frozen=True)
class Snapshot:
    taken_at: float
    queues: tuple[QueueSnapshot, ...] = ()
    workers: tuple[WorkerSnapshot, ...] = ()
    sources: dict[str, SourceState] = field(default_factory=dict)
    profile: str | None = None
    mode: str = "api+temporal"
    """api+temporal, api or temporal: what this console is connected to."""
    window_seconds: float = 300.0
    refresh_ms: float | None = None
    """How long the refresh that made this snapshot took."""
    control_plane_version: str | None = None
    """The control plane's kubiya-tui version (``/api/health``); workers on another one are flagged."""
    workers_read_at: float | None = None
    """When the control plane's worker list behind ``workers`` was read (None: no control plane). The list
    is read less often than snapshots are made: a snapshot with its predecessor's value shows no new heartbeat."""

    def queue(self, queue_id: str) -> QueueSnapshot | None:
        return next((q for q in self.queues if q.id == queue_id), None)

    def workers_of(self, queue_id: str) -> tuple[WorkerSnapshot, ...]:
        return tuple(w for w in self.workers if w.queue_id == queue_id)

    def to_json(self) -> dict[str, Any]:
        """The `kubiya-tui top -o json` document."""
        out = asdict(self)
        out["sources"] = {
            k: {**asdict(v), "status": v.status.value, "reads": [{**asdict(r), "status": r.status.value} for r in v.reads]}
            for k, v in self.sources.items()
        }
        for q in out["queues"]:
            q["workers"] = dict(q["workers"])
            q["priority_backlog"] = {str(k): v for k, v in q["priority_backlog"].items()}
        for w in out["workers"]:
            w["health"] = w["health"].value if isinstance(w["health"], WorkerHealth) else w["health"]
        return out


SnapshotCallback = Callable[[Snapshot], "Awaitable[None] | None"]
"""What :meth:`SnapshotSource.run` hands each snapshot to (a plain function or a coroutine function)."""


class SnapshotSource(Protocol):
    """What the console and the headless commands need from the metrics engine.

    The collector is one; recorded data (snapshot tests, screenshots) and synthetic data
    (benchmarks) are others. Every member is required, so no caller has to probe for one.
    """

    @property
    def interval(self) -> float:
        """Seconds between two refreshes."""
        ...

    def latest(self) -> Snapshot | None:
        """The newest snapshot, or None before the first refresh."""
        ...

    async def refresh(self, *, force: bool = False) -> Snapshot:
        """Poll what is due (``force``: every source now, skipping schedules and back-off) and answer the snapshot."""
        ...

    def history(self, queue_id: str, metric: str, last: int | None = None) -> list[tuple[float, float]]:
        """(time, value) points of one queue metric, oldest first; ``last``: only the newest ``last`` points.

        Metrics: depth, processed_per_min, error_rate... (see metrics/history.py METRICS), and
        ``workers.healthy``.
        """
        ...

    def request_refresh(self) -> None:
        """Ask a running :meth:`run` loop to refresh now rather than at its next interval."""
        ...

    async def run(self, callback: SnapshotCallback, stop_event: asyncio.Event) -> None:
        """Refresh, hand the snapshot to ``callback``, wait ``interval`` (or a refresh request), again, until ``stop_event``."""
        ...

    async def aclose(self) -> None:
        """Stop background work and write what must be kept; the source is not used after."""
        ...


async def refresh_loop(source: SnapshotSource, callback: SnapshotCallback, stop_event: asyncio.Event, wake: asyncio.Event) -> None:
    """The plain :meth:`SnapshotSource.run` of a source that polls nothing in the background."""
    while not stop_event.is_set():
        result = callback(await source.refresh())
        if result is not None:
            await result
        wake.clear()
        waiters = [asyncio.ensure_future(stop_event.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=source.interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
