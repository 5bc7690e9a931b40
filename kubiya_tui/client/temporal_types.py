"""What Temporal reads answer, as plain data: no Temporal SDK here.

:mod:`kubiya_tui.client.temporal` reads these from Temporal itself, and
:mod:`kubiya_tui.client.relay` from the control plane's relay of the same reads; the
collector's sources import only this module, so a command reading through the control
plane never loads the SDK (about a quarter of a second of imports).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubiya_tui.vocabulary import FAILED_STATUSES

TASK_TYPE_COUNT = 2
"""DescribeTaskQueue calls per queue: one per task type (workflow, activity)."""


@dataclass(frozen=True)
class QueueStats:
    """One task queue as Temporal sees it, summed over workflow and activity task types."""

    backlog: int = 0
    backlog_age_seconds: float = 0.0
    add_rate_per_second: float = 0.0
    dispatch_rate_per_second: float = 0.0
    pollers: int = 0
    poller_identities: tuple[str, ...] = ()
    backlog_by_priority: dict[int, int] = field(default_factory=dict)
    poller_last_access: dict[str, float] = field(default_factory=dict)
    """Poller identity -> epoch seconds of its latest poll over both task types (0 when unknown)."""
    workflow_backlog: int = 0
    activity_backlog: int = 0
    versioned_builds: dict[str, str] = field(default_factory=dict)
    """Poller identity -> the build id of a poller that uses worker versioning (it takes only its build's tasks)."""


@dataclass(frozen=True)
class Outcomes:
    """Closed executions of a queue per status over a window."""

    window_seconds: float
    by_status: dict[str, int]

    @property
    def closed(self) -> int:
        return sum(self.by_status.values())

    @property
    def failed(self) -> int:
        return sum(self.by_status.get(s, 0) for s in FAILED_STATUSES)

    @property
    def error_rate(self) -> float:
        return self.failed / self.closed if self.closed else 0.0


@dataclass(frozen=True)
class ClosedExecutions:
    """The most recently closed executions of a queue within a window (one visibility page)."""

    window_seconds: float
    by_status: dict[str, int]
    """Statuses of the executions in this page (all of the window's when ``complete``)."""
    durations_seconds: tuple[float, ...]
    """close_time - start_time of each execution in the page, newest first."""
    complete: bool
    """True when the page holds every execution closed in the window."""


SYSTEM_TASK_QUEUE_PREFIX = "temporal-sys-"
"""Task queues of Temporal's own workflows in a namespace (batch operations, schedules): never listed as found."""


@dataclass(frozen=True)
class Discovery:
    """Task queues found in a namespace: of recent executions (visibility) and of workers (ListWorkers)."""

    from_executions: tuple[str, ...] = ()
    from_workers: tuple[str, ...] = ()
    complete: bool = True
    """False when the search stopped at its limit (more queues may exist)."""
    workers_listed: bool = True
    """False when the server does not answer ListWorkers (older servers, worker heartbeats off)."""

    @property
    def task_queues(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.from_executions) | set(self.from_workers)))


@dataclass(frozen=True)
class ClosedScan:
    """What one scan of several task queues' closed executions in a window found, per task queue."""

    window_seconds: float
    queues: dict[str, ClosedExecutions]
    """Every task queue the scan named (those with nothing closed too); each ``complete`` when the scan is."""
    complete: bool
    """True when the scan read every execution closed in the window (else it stopped at ``max_executions``)."""
    calls: int
    """Visibility calls (pages) the scan made."""


STATUS_NAMES = {
    2: "Completed",
    3: "Failed",
    4: "Canceled",
    5: "Terminated",
    6: "ContinuedAsNew",
    7: "TimedOut",
}
WORKER_STATUS_NAMES = {1: "Running", 2: "ShuttingDown", 3: "Shutdown"}


class TemporalUnavailable(Exception):
    """Temporal could not be reached or refused the call; the message names the address."""


class TemporalRateLimited(TemporalUnavailable):
    """Temporal answered RESOURCE_EXHAUSTED (its visibility rate limit): slow down and try again."""
