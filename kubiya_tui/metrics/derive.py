"""Pure arithmetic of the metrics engine: rates, percentiles, time to drain, worker flags.

Nothing here does I/O or reads a clock; the collector passes times in. Definitions follow
docs/architecture.md (Metrics). A queue row's numbers (depth, rates, workers) are put
together from these in :mod:`kubiya_tui.metrics.assemble`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import AbstractSet, Iterable, Mapping, Sequence

from kubiya_tui.vocabulary import FAILED_STATUSES, STALE_AFTER_INTERVALS

POLLER_FRESH_SECONDS = 90.0
"""A poller seen within this long is polling: an idle long poll renews itself about every 60 s."""
SDK_HEARTBEAT_SECONDS = 60.0
"""The SDK's default worker-heartbeat interval to Temporal (ListWorkers)."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100) of the values; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def error_rate(by_status: Mapping[str, int]) -> float | None:
    """(Failed + TimedOut) / closed, 0..1; None when nothing closed (no rate to speak of)."""
    closed = sum(by_status.values())
    if closed <= 0:
        return None
    return sum(by_status.get(s, 0) for s in FAILED_STATUSES) / closed


def per_minute(count: float, window_seconds: float) -> float:
    """A count over a window as a rate per minute."""
    return count * 60.0 / window_seconds if window_seconds > 0 else 0.0


def rate_window(window_seconds: float, read_at: float | None, created_at: float | None, floor_seconds: float = 10.0) -> float:
    """The window, or the queue's age (at least ``floor_seconds``) when younger: nothing closed before it existed."""
    if created_at is None or read_at is None:
        return window_seconds
    return min(window_seconds, max(floor_seconds, read_at - created_at))


def time_to_drain(depth: int | None, add_per_min: float | None, dispatch_per_min: float | None) -> tuple[float | None, bool]:
    """(seconds until the backlog is gone, growing).

    depth / (out - in) while the queue shrinks; ``(None, True)`` while it does not (tasks wait
    and out <= in), ``(None, False)`` when it is empty or a number is unknown.
    """
    if depth is None or add_per_min is None or dispatch_per_min is None or depth <= 0:
        return None, False
    net_per_second = (dispatch_per_min - add_per_min) / 60.0
    if net_per_second <= 1e-9:
        return None, True
    return depth / net_per_second, False


def live_identities(
    poller_last_access: Mapping[str, float],
    read_at: float,
    temporal_workers: Iterable[Mapping],
    fresh_seconds: float = POLLER_FRESH_SECONDS,
) -> set[str]:
    """Identities that poll a queue now: recent pollers, and workers heartbeating to Temporal."""
    out = {
        identity
        for identity, seen in poller_last_access.items()
        if identity and (not seen or read_at - seen <= fresh_seconds)
    }
    for w in temporal_workers:
        if w.get("status_name") in ("Running", "ShuttingDown") and (
            w.get("heartbeat_age_seconds") is None or w["heartbeat_age_seconds"] <= STALE_AFTER_INTERVALS * SDK_HEARTBEAT_SECONDS
        ):
            if w.get("identity"):
                out.add(w["identity"])
    return out


def worker_identities(worker_id: str, system_info: Mapping | None) -> tuple[str, ...]:
    """The Temporal identities a registered worker may poll as: its worker id (kubiya-tui's worker),
    and ``pid@hostname`` from its system info (Temporal's default identity, which Kubiya's worker uses)."""
    info = system_info or {}
    pid, host = info.get("pid"), info.get("hostname")
    if isinstance(pid, int) and not isinstance(pid, bool) and isinstance(host, str) and host:
        return (worker_id, f"{pid}@{host}")
    return (worker_id,)


def registered_not_polling(
    health: str,
    worker_id: "str | Iterable[str]",
    registered_age: float | None,
    polling: AbstractSet[str],
    temporal_fresh: bool,
    grace_seconds: float,
) -> bool:
    """A healthy registered worker that Temporal has not seen polling after a grace period.

    Draining, stale and gone workers are not flagged: they are not expected to poll.
    Without fresh Temporal data nothing can be said, so nothing is flagged.
    """
    if not temporal_fresh or health != "healthy":
        return False
    if registered_age is not None and registered_age < grace_seconds:
        return False
    identities = (worker_id,) if isinstance(worker_id, str) else tuple(worker_id)
    return not any(i in polling for i in identities)


def temporal_only_health(status_name: str | None, heartbeat_age: float | None) -> str:
    """Health of a worker known only from Temporal's ListWorkers."""
    if status_name == "Shutdown":
        return "gone"
    if heartbeat_age is None or heartbeat_age > STALE_AFTER_INTERVALS * SDK_HEARTBEAT_SECONDS:
        return "stale"
    if status_name == "ShuttingDown":
        return "draining"
    return "healthy"


# ---------------------------------------------------------------------------- counters


@dataclass
class CounterWindow:
    """Tasks done and failed per queue from workers' own counters, over a sliding window.

    Used without Temporal (API-only mode), where the only record of outcomes is what workers
    report in heartbeats: ``tasks_processed`` (successes) and ``tasks_failed``. A counter that
    goes down (a worker restarted under the same id) counts from zero again. What a worker had
    done before the collector first saw it is not counted.
    """

    window_seconds: float = 300.0
    _last: dict[str, tuple[int, int]] = field(default_factory=dict)
    _samples: deque = field(default_factory=deque)
    _done: int = 0
    _failed: int = 0

    def observe(self, at: float, counters: Mapping[str, tuple[int, int]]) -> None:
        """Record the (processed, failed) counters of each worker of the queue at time ``at``."""
        for worker_id, (processed, failed) in counters.items():
            before = self._last.get(worker_id)
            if before is not None:
                d_ok = processed - before[0] if processed >= before[0] else processed
                d_failed = failed - before[1] if failed >= before[1] else failed
                self._done += max(0, d_ok) + max(0, d_failed)
                self._failed += max(0, d_failed)
            self._last[worker_id] = (processed, failed)
        self._samples.append((at, self._done, self._failed))
        while len(self._samples) > 2 and at - self._samples[1][0] >= self.window_seconds:
            self._samples.popleft()

    def rates(self, min_span: float = 10.0) -> tuple[float | None, float | None, int | None]:
        """(closed per minute, error rate, closed) over the window; Nones until ``min_span`` s are seen."""
        if len(self._samples) < 2:
            return None, None, None
        t0, done0, failed0 = self._samples[0]
        t1, done1, failed1 = self._samples[-1]
        span = t1 - t0
        if span < min_span:
            return None, None, None
        done = done1 - done0
        failed = failed1 - failed0
        return per_minute(done, span), (failed / done if done else None), done


def merge_worker_durations(metadata: Iterable[Mapping]) -> tuple[float | None, float | None]:
    """(p50, p95) in seconds from workers' own duration summaries (API-only mode).

    p50: the median of the workers' medians; p95: the largest of their p95s (an upper bound).
    """
    p50s = [m["task_duration_p50_ms"] / 1000 for m in metadata if _number(m.get("task_duration_p50_ms"))]
    p95s = [m["task_duration_p95_ms"] / 1000 for m in metadata if _number(m.get("task_duration_p95_ms"))]
    if not p50s:
        avgs = [m["task_duration_avg_ms"] / 1000 for m in metadata if _number(m.get("task_duration_avg_ms"))]
        p50s = avgs
    return percentile(p50s, 50), (max(p95s) if p95s else None)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------------------- worker lifetimes

REPLACED_WITHIN_SECONDS = 300.0
"""A gone worker is replaced by a live worker of its queue that registered this long after it left, at most."""
REPLACED_SLACK_SECONDS = 30.0
"""...or a little before it left: a replacement may register while the old worker says goodbye."""


@dataclass(frozen=True)
class Lifetime:
    """What the replacement rule needs of a worker."""

    worker_id: str
    queue: str | None
    host: str | None
    healthy: bool
    gone: bool
    registered_at: float | None
    """Epoch seconds; None when unknown (a poller no registration accounts for)."""
    left_at: float | None
    """When a gone worker left: its goodbye, else its last heartbeat."""


def replacements(
    workers: Iterable[Lifetime],
    within: float = REPLACED_WITHIN_SECONDS,
    slack: float = REPLACED_SLACK_SECONDS,
) -> dict[str, str]:
    """Gone worker id -> the id of the worker that replaced it.

    A gone worker was *replaced* by a healthy worker of the same queue that registered from
    ``slack`` seconds before it left to ``within`` seconds after (what a runner or a
    Deployment does: the runner starts one once a drained worker has exited). Each
    replacement stands for one gone worker; one on the same host is preferred, then the
    earliest. Workers that were there before (registered earlier) are peers, not
    replacements; a drained worker nobody replaced (a scale down) has none.
    """
    rows = list(workers)
    gone = sorted((w for w in rows if w.gone and w.left_at is not None), key=lambda w: (w.left_at, w.worker_id))
    claimed: set[str] = set()
    out: dict[str, str] = {}
    for old in gone:
        assert old.left_at is not None
        candidates = [
            w
            for w in rows
            if w.healthy
            and not w.gone
            and w.worker_id not in claimed
            and w.queue == old.queue
            and w.registered_at is not None
            and old.left_at - slack <= w.registered_at <= old.left_at + within
            and (old.registered_at is None or w.registered_at > old.registered_at)
        ]
        if not candidates:
            continue
        best = min(candidates, key=lambda w: (not (old.host and w.host == old.host), w.registered_at, w.worker_id))
        claimed.add(best.worker_id)
        out[old.worker_id] = best.worker_id
    return out
