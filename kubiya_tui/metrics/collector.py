"""The collector: polls the control plane and Temporal and makes immutable Snapshots.

Three pollers, each never overlapping itself, each with its own timeout and backoff:

* **registry** (control plane): ``GET /worker-queues`` every refresh, ``GET /workers`` every
  ``workers_interval`` (5 s: heartbeats come 10 s apart at best) and now and then
  ``GET /environments``: which queues exist, which workers are registered, their heartbeats.
  Bodies are parsed item by item into plain rows (no models: 2,000 workers are 2 MB).
* **stats**: per watched task queue, ``DescribeTaskQueue`` for both task types (depth,
  backlog age, rates, pollers, priorities), ``ListWorkers`` and, every few minutes,
  ``ListTaskQueuePartitions``. A queue's stats are read again only once they are
  ``stats_interval`` (5 s) old: the server caches them that long, so polling faster buys
  nothing. Without Temporal (API-only), the control plane's ``GET .../metrics`` per queue.
* **outcomes** (Temporal visibility): per queue, one page of ``ListWorkflowExecutions``
  of the executions closed in the window (their statuses and durations), plus a
  ``CountWorkflowExecutions ... GROUP BY ExecutionStatus`` when the window holds more than
  that page. A background loop paced by a token bucket under the visibility rate limit,
  each queue every ``outcomes_interval``.

Only queues that the control plane lists, that registered workers poll (legacy task
queues) or that the profile names are described: describing an unknown name creates it.

Processing time (p50, p95) is close_time - start_time of the executions closed in the window,
from one visibility page (the latest 200) per queue, rather than what workers report: it is
Temporal's own record, the same window and the same executions as the error rate, it counts
tasks of every worker (gone, unregistered, or not this project's), and it works with Temporal
alone. It includes the time a task waited in the backlog, which is what a submitter waits.
Without Temporal (API-only) the workers' own p50/p95 (from heartbeats) are used instead, and
throughput and error rate come from the deltas of their task counters.
A refresh starts the pollers that are due, waits for them at most ``slow_after`` seconds
(a slow source never holds back the others: it goes on in the background and is marked
slow), and merges the newest data of each into a Snapshot. Data kept from a source whose
last poll failed is marked stale with its age; the source reads "down" after
DOWN_AFTER_FAILURES failed polls in a row, its failed reads retried on its backoff (about one
interval), so one transient error is no outage and a dead source is down within ~2 intervals.
No exception leaves the collector.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import random
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Generic, Iterable, Iterator, Sequence, TypeVar

from kubiya_tui.metrics import derive
from kubiya_tui.metrics.history import History
from kubiya_tui.metrics.snapshot import (
    Health,
    QueueSnapshot,
    Snapshot,
    SnapshotCallback,
    SourceState,
    SourceStatus,
    WorkerCounts,
    WorkerSnapshot,
)

log = logging.getLogger("kubiya_tui.metrics")

T = TypeVar("T")

DEFAULT_INTERVAL = 2.0
STATS_INTERVAL = 5.0
OUTCOMES_INTERVAL = 10.0
DURATIONS_INTERVAL = 30.0
PARTITIONS_INTERVAL = 300.0
ENVIRONMENTS_INTERVAL = 300.0
WORKERS_INTERVAL = 5.0
"""The worker list is read this often (heartbeats come every 10 s at best); the queue list every refresh."""
WINDOW_SECONDS = 300.0
MIN_RATE_WINDOW = 10.0
"""The shortest span a young queue's processing rate is taken over (at least one refresh interval)."""
DURATION_PAGE = 200
CONCURRENCY = 16
VISIBILITY_RPS = 40.0
"""Below the dev server's ~100/s namespace limit, leaving room for the control plane's own calls."""
VISIBILITY_CONCURRENCY = 4
DESCRIBE_RPS = 600.0
"""DescribeTaskQueue calls per second at most: the dev server limits a namespace's calls (~1,000/s seen)."""
NAMESPACE_WORKERS_ABOVE = 8
"""With more watched queues than this, ListWorkers is one paged call for the namespace."""
GONE_KEEP_SECONDS = 600.0
"""A worker that said goodbye stays in snapshots (as gone) this long."""
POLL_GRACE_SECONDS = 30.0
"""A newly registered worker gets this long to show up as a Temporal poller before it is flagged."""
DOWN_AFTER_FAILURES = 2
"""Consecutive failed polls before a source that has answered before reads "down": one failure is often transient."""


# ---------------------------------------------------------------------------- plain data


@dataclass(frozen=True)
class QueueRef:
    """A watched queue: from the control plane, a legacy task queue, or a profile's task_queues."""

    id: str
    name: str
    task_queue_name: str
    environment: str | None = None
    environment_id: str | None = None
    status: str = "active"
    legacy: bool = False
    desired_workers: int | None = None
    max_workers: int | None = None
    heartbeat_interval: int | None = None
    autoscale: dict[str, Any] | None = None
    description: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    created_at: float | None = None
    """When the control plane created the queue (epoch seconds); None when unknown (legacy, Temporal-only)."""

    @property
    def label(self) -> str:
        return f"{self.environment}/{self.name}" if self.environment else self.name


@dataclass(slots=True)
class WorkerRow:
    """A registered worker as the control plane described it at the latest poll.

    Internal and mutable: a row is kept from poll to poll while the worker's heartbeat is the
    same, and only its age and health are brought up to date.
    """

    worker_id: str
    queue_key: str | None
    queue_name: str | None
    task_queue_name: str | None
    status: str
    desired_state: str | None
    health: str
    heartbeat_age: float | None
    """Seconds since its last heartbeat, as of the poll."""
    last_heartbeat: float | None
    interval: float
    hostname: str | None
    slots_used: int | None
    slots_available: int | None
    processed: int
    failed: int
    current_task_ids: tuple[str, ...]
    registered_at: float | None
    left_at: float | None
    """When it disconnected (gone workers)."""
    environment_id: str | None
    system_info: dict[str, Any]
    capabilities: dict[str, Any]
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Registry:
    """One good answer of the control plane."""

    at: float
    """Wall time of the queue list."""
    queues: tuple[QueueRef, ...]
    workers: tuple[WorkerRow, ...]
    workers_at: float
    """Wall time of the worker list (read less often than queues: heartbeats are 10 s apart at best)."""
    watched: tuple[QueueRef, ...] = ()


@dataclass
class Reading(Generic[T]):
    """The newest good value of one read, and how the last attempt went."""

    value: T | None = None
    at: float | None = None
    """Wall time of the newest good value."""
    error: str | None = None
    """The last attempt's error; None when it succeeded."""
    tried: float = 0.0
    """Monotonic time of the last attempt."""

    def ok(self, value: T, wall: float, mono: float) -> None:
        self.value, self.at, self.error, self.tried = value, wall, None, mono

    def failed(self, error: str, mono: float) -> None:
        self.error, self.tried = error, mono


@dataclass(frozen=True)
class Outcome:
    """What visibility said about a queue's closed executions in the window."""

    by_status: dict[str, int]
    p50: float | None
    p95: float | None
    samples: int
    """How many closed executions the percentiles come from (0: none closed)."""
    durations_at: float
    """Monotonic time the durations were read."""


class Tracker:
    """How one poller is doing: latency, errors, backoff; turned into a SourceState."""

    def __init__(self, name: str, interval: float, max_backoff: float, mono: Callable[[], float]) -> None:
        self.name = name
        self.interval = interval
        self.max_backoff = max_backoff
        self._mono = mono
        self.ok_at: float | None = None
        self.latency_ms: float | None = None
        self.error: str | None = None
        self.partial_error: str | None = None
        self.failures = 0
        self.failed_at: float | None = None
        """Monotonic time of the last failed poll while failing; None after a success."""
        self.next_at = 0.0
        self.busy_since: float | None = None

    def success(self, latency_ms: float | None, wall: float, partial: str | None = None) -> None:
        self.ok_at = wall
        if latency_ms is not None:
            self.latency_ms = latency_ms
        self.error = None
        self.partial_error = partial
        self.failures = 0
        self.failed_at = None
        self.next_at = 0.0

    def failure(self, error: str, latency_ms: float | None = None) -> None:
        self.failures += 1
        self.failed_at = self._mono()
        self.error = error
        if latency_ms is not None:
            self.latency_ms = latency_ms
        delay = min(self.max_backoff, self.interval * 2 ** (self.failures - 1))
        self.next_at = self._mono() + delay * random.uniform(0.8, 1.2)

    def backing_off(self) -> bool:
        return self.failures > 0 and self._mono() < self.next_at

    @property
    def failing(self) -> bool:
        """Its last poll failed: what it said before is kept, marked stale, and retried after the backoff."""
        return self.failures > 0

    def status(self, slow_after: float) -> SourceStatus | None:
        """ok, slow or down (after DOWN_AFTER_FAILURES failed polls in a row, or one before any answer); None before its first answer."""
        if self.failures >= DOWN_AFTER_FAILURES or (self.failures and self.ok_at is None):
            return SourceStatus.down
        if self.busy_since is not None and self._mono() - self.busy_since > slow_after:
            return SourceStatus.slow
        if self.latency_ms is not None and self.latency_ms > slow_after * 1000:
            return SourceStatus.slow
        if self.ok_at is None:
            return SourceStatus.slow if self.busy_since is not None else None
        return SourceStatus.ok


_RANK = {SourceStatus.ok: 0, SourceStatus.slow: 1, SourceStatus.down: 2, SourceStatus.off: -1}


class Poller:
    """Runs one source's poll: never two at once, bounded by a timeout, backing off after failures."""

    def __init__(self, tracker: Tracker, work: Callable[[bool], Awaitable[str | None]], timeout: float, clock: Callable[[], float]) -> None:
        self.tracker = tracker
        self._work = work
        self.timeout = timeout
        self._clock = clock
        self.task: asyncio.Task | None = None

    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, force: bool = False) -> asyncio.Task | None:
        """The poll under way, or a new one; None while backing off (unless forced)."""
        if self.running():
            return self.task
        if not force and self.tracker.backing_off():
            return None
        self.task = asyncio.get_running_loop().create_task(self._run(force))
        return self.task

    async def _run(self, force: bool) -> None:
        tracker = self.tracker
        began = time.perf_counter()
        tracker.busy_since = tracker._mono()
        try:
            partial = await asyncio.wait_for(self._work(force), self.timeout)
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            tracker.failure(f"{tracker.name}: no answer within {self.timeout:g} s", (time.perf_counter() - began) * 1000)
        except Exception as exc:  # every failure of a source becomes its state, never an exception
            tracker.failure(_one_line(exc), (time.perf_counter() - began) * 1000)
        else:
            if partial != _IDLE:
                tracker.success((time.perf_counter() - began) * 1000, self._clock(), partial)
            elif tracker.ok_at is None or tracker.failures:
                # Nothing was due (no queue to read): nothing failed either.
                tracker.success(None, self._clock())
        finally:
            tracker.busy_since = None

    async def cancel(self) -> None:
        if self.running():
            assert self.task is not None
            self.task.cancel()
            try:
                await self.task
            except BaseException:
                pass


_IDLE = "\0idle"
"""What a poll answers when nothing was due: no call made, nothing to report."""


class TokenBucket:
    """Paces calls at ``rate`` per second with a small burst; halves its rate when told to slow down."""

    def __init__(self, rate: float, burst: float = 5.0, mono: Callable[[], float] = time.monotonic) -> None:
        self.rate = self.max_rate = rate
        self.burst = burst
        self._tokens = burst
        self._mono = mono
        self._at = mono()
        self._lock = asyncio.Lock()

    async def take(self, amount: float = 1.0) -> None:
        async with self._lock:
            while True:
                now = self._mono()
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= amount:
                    self._tokens -= amount
                    return
                await asyncio.sleep((amount - self._tokens) / self.rate)

    def slow_down(self) -> None:
        self.rate = max(1.0, self.rate / 2)

    def recover(self) -> None:
        if self.rate < self.max_rate:
            self.rate = min(self.max_rate, self.rate * 1.1)


# ---------------------------------------------------------------------------- the collector


class Collector:
    """The metrics engine: a SnapshotSource over a control plane, Temporal, or both."""

    def __init__(
        self,
        api: Any = None,
        temporal: Any = None,
        *,
        task_queues: Sequence[str] = (),
        interval: float = DEFAULT_INTERVAL,
        stats_interval: float = STATS_INTERVAL,
        outcomes_interval: float = OUTCOMES_INTERVAL,
        durations_interval: float = DURATIONS_INTERVAL,
        window_seconds: float = WINDOW_SECONDS,
        concurrency: int = CONCURRENCY,
        visibility_rps: float = VISIBILITY_RPS,
        describe_rps: float = DESCRIBE_RPS,
        durations: bool = True,
        source_timeout: float = 10.0,
        call_timeout: float = 3.0,
        slow_after: float = 1.0,
        max_backoff: float = 15.0,
        poll_grace: float = POLL_GRACE_SECONDS,
        workers_interval: float = WORKERS_INTERVAL,
        history: History | None = None,
        environments: Sequence[str] | None = None,
        queues: Sequence[str] | None = None,
        profile: str | None = None,
        owns_clients: bool = True,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if api is None and temporal is None:
            raise ValueError("a collector needs a control plane, Temporal, or both")
        self.api = api
        self.temporal = temporal
        self.mode = "api+temporal" if api is not None and temporal is not None else ("api" if api is not None else "temporal")
        self.task_queues = tuple(dict.fromkeys(t for t in task_queues if t))
        self._interval = float(interval)
        self.stats_interval = max(float(stats_interval), 0.0)
        self.outcomes_interval = float(outcomes_interval)
        self.durations_interval = float(durations_interval)
        self.window = float(window_seconds)
        self.durations = durations
        self.call_timeout = call_timeout
        self.slow_after = slow_after
        self.poll_grace = poll_grace
        self.workers_interval = float(workers_interval)
        self.profile = profile
        self.environments = set(environments) if environments else None
        self.queue_filter = list(queues) if queues else None
        self._owns_clients = owns_clients
        self._clock = clock
        self._mono = monotonic
        self._history = history
        self._sem = asyncio.Semaphore(concurrency)
        self._sem_size = concurrency
        self._vis_sem = asyncio.Semaphore(min(VISIBILITY_CONCURRENCY, concurrency))
        # Pacing is about real time, whatever clock the rest of the collector is given.
        self._bucket = TokenBucket(visibility_rps, burst=min(10.0, max(1.0, visibility_rps / 4)))
        self._stats_bucket = TokenBucket(describe_rps, burst=max(2.0, min(200.0, describe_rps / 3)))

        backoff_base = max(1.0, self._interval)
        self._registry_tracker = Tracker("control plane", backoff_base, max_backoff, monotonic)
        self._stats_tracker = Tracker("Temporal" if temporal is not None else "control plane metrics", backoff_base, max_backoff, monotonic)
        self._vis_tracker = Tracker("Temporal visibility", backoff_base, max_backoff, monotonic)
        self._registry_poller = Poller(self._registry_tracker, self._poll_registry, source_timeout, clock)
        stats_work = self._poll_temporal_stats if temporal is not None else self._poll_api_metrics
        self._stats_poller = Poller(self._stats_tracker, stats_work, source_timeout, clock)

        self._registry: Registry | None = None
        self._static_watch: list[QueueRef] | None = None
        self._rows: dict[str, tuple[tuple, WorkerRow]] = {}
        self._qrefs: dict[str, QueueRef] = {}
        self._qsnaps: dict[str, QueueSnapshot] = {}
        self._qsnaps_next: dict[str, QueueSnapshot] = {}
        self._workers_read = -1e18
        self._env_names: dict[str, str] = {}
        self._envs_read = -1e18
        self._workers_endpoint = True
        self._stats: dict[str, Reading] = {}
        self._partitions: dict[str, Reading] = {}
        self._tworkers: dict[str, Reading] = {}
        self._tworkers_unsupported: str | None = None
        self._outcomes: dict[str, Reading] = {}
        self._api_metrics: dict[str, Reading] = {}
        self._counters: dict[str, derive.CounterWindow] = {}

        self._latest: Snapshot | None = None
        self._refreshing: asyncio.Future | None = None
        self._force_next = False
        self._wake: asyncio.Event | None = None
        self._vis_task: asyncio.Task | None = None
        self._vis_wake: asyncio.Event | None = None
        self._vis_progress: asyncio.Event | None = None
        self._vis_force_at = 0.0
        self._vis_round_started = -1e18
        self._vis_sweeping = False
        self._closed = False

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> "Collector":
        """A collector for resolved Settings: API and Temporal, API only, or Temporal only.

        The API is used when a key is configured, Temporal when an address is. Temporal
        alone needs the profile's ``task_queues``. ``history=True`` keeps history in
        ``$XDG_STATE_HOME/kubiya-tui/history.sqlite``; ``False`` keeps it in memory only;
        ``None`` keeps none. Without the option: a ``history`` setting if Settings has one,
        else ``KUBIYA_TUI_HISTORY=off`` (or 0, false, memory) keeps it in memory only, else on
        disk. Other options go to the constructor.
        """
        from kubiya_tui.client.api import ApiClient, ApiError
        from kubiya_tui.client.temporal import TemporalReader
        from kubiya_tui.errors import UserError

        key = settings.api_key_value()
        timeout = float(options.get("call_timeout", 3.0)) + 2.0
        api = None
        if key:
            try:
                api = ApiClient(settings.api_url, key, timeout=timeout, retries=0)
            except ApiError as exc:
                raise UserError(str(exc)) from None
        temporal = None
        if settings.temporal_address:
            temporal = TemporalReader(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                api_key=settings.temporal_api_key_value(),
                tls=settings.temporal_tls,
            )
        if api is None and temporal is None:
            raise UserError(
                "nothing to watch: configure a control-plane API key (KUBIYA_API_KEY) or a Temporal "
                "address (TEMPORAL_ADDRESS, or temporal_address in a profile)"
            )
        if api is None and not settings.task_queues:
            raise UserError(
                f"no control-plane API key and no task_queues: a Temporal-only profile lists the task queues "
                f"to watch (task_queues = [\"...\"]) for {settings.temporal_address}"
            )
        history_option = options.pop("history", _history_default(settings))
        interval = float(options.pop("interval", settings.refresh_interval))
        history = None
        if history_option is not None:
            history = cls._make_history(settings, interval, persist=bool(history_option), api=api is not None)
        return cls(
            api,
            temporal,
            task_queues=settings.task_queues,
            interval=interval,
            history=history,
            profile=settings.profile,
            **options,
        )

    @staticmethod
    def _make_history(settings: Any, interval: float, persist: bool, api: bool) -> History:
        from kubiya_tui.locations import state_dir

        parts = [settings.api_url if api else "", settings.temporal_address or "", settings.temporal_namespace]
        scope = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
        path = state_dir() / "history.sqlite" if persist else None
        return History(interval, path=path, scope=scope)

    # ------------------------------------------------------------------ SnapshotSource

    @property
    def interval(self) -> float:
        return self._interval

    def latest(self) -> Snapshot | None:
        return self._latest

    def history(self, queue_id: str, metric: str, last: int | None = None) -> list[tuple[float, float]]:
        """(time, value) points of one queue's metric, oldest first; ``last``: only the newest ``last``."""
        if self._history is None:
            return []
        if metric == "workers.healthy":
            metric = "workers_healthy"
        return self._history.points(queue_id, metric, last=last)

    def request_refresh(self) -> None:
        """Refresh now: the run loop wakes, every source is polled, nothing waits for its schedule."""
        self._force_next = True
        self._vis_force_at = self._mono()
        if self._wake is not None:
            self._wake.set()
        if self._vis_wake is not None:
            self._vis_wake.set()

    async def refresh(self, *, force: bool = False, complete: bool = False, record: bool = True) -> Snapshot:
        """Poll what is due and answer a snapshot; joins a refresh already under way.

        ``force`` polls every source and queue now, whatever their schedule and backoff;
        ``complete`` waits until every source has answered (or failed) for every queue,
        rather than at most ``slow_after`` seconds (for one-shot commands and tests).
        """
        if self._refreshing is not None and not self._refreshing.done():
            return await asyncio.shield(self._refreshing)
        loop = asyncio.get_running_loop()
        self._refreshing = loop.create_future()
        try:
            snapshot = await self._refresh(force, complete, record)
        except BaseException as exc:  # the last line of defence: a snapshot, always
            if isinstance(exc, asyncio.CancelledError):
                self._refreshing.cancel()
                raise
            log.exception("refresh failed")
            snapshot = self._latest or Snapshot(taken_at=self._clock(), mode=self.mode, window_seconds=self.window)
        self._refreshing.set_result(snapshot)
        return snapshot

    async def run(self, callback: SnapshotCallback, stop_event: asyncio.Event) -> None:
        """Refresh, hand the snapshot to ``callback``, wait ``interval`` (or a refresh request), again.

        The next poll starts only after the previous refresh finished. Returns when
        ``stop_event`` is set; the callback's own exceptions are logged, not raised.
        """
        self._wake = asyncio.Event()
        try:
            while not stop_event.is_set():
                force, self._force_next = self._force_next, False
                snapshot = await self.refresh(force=force)
                try:
                    result = callback(snapshot)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("snapshot callback failed")
                if stop_event.is_set():
                    break
                self._wake.clear()
                if self._force_next:
                    continue
                waiters = [asyncio.ensure_future(stop_event.wait()), asyncio.ensure_future(self._wake.wait())]
                try:
                    await asyncio.wait(waiters, timeout=self._interval, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()
        finally:
            if self._history is not None:
                try:
                    await self._history.flush()
                except Exception:
                    log.exception("history flush failed")

    async def aclose(self) -> None:
        """Stop background polls, write pending history, close the clients this collector made."""
        self._closed = True
        if self._vis_task is not None:
            self._vis_task.cancel()
            try:
                await self._vis_task
            except BaseException:
                pass
        await self._registry_poller.cancel()
        await self._stats_poller.cancel()
        if self._history is not None:
            try:
                await self._history.close()
            except Exception:
                log.exception("history close failed")
        if self._owns_clients:
            if self.api is not None:
                try:
                    await self.api.aclose()
                except Exception:
                    pass
            if self.temporal is not None:
                try:
                    await self.temporal.close()
                except Exception:
                    pass

    async def __aenter__(self) -> "Collector":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ refresh

    async def _refresh(self, force: bool, complete: bool, record: bool) -> Snapshot:
        began = time.perf_counter()
        started_mono = self._mono()
        if self._history is not None and not self._history.loaded:
            self._history.start_loading()  # in a worker thread; what is recorded meanwhile is kept
        tasks = []
        if self.api is not None:
            task = self._registry_poller.start(force or complete)
            if task is not None:
                tasks.append(task)
        task = self._stats_poller.start(force or complete)
        if task is not None:
            tasks.append(task)
        if self.temporal is not None:
            self._ensure_visibility_loop()
            if force:
                self._vis_force_at = started_mono
                assert self._vis_wake is not None
                self._vis_wake.set()
        if tasks:
            if complete:
                await asyncio.wait(tasks)
            else:
                await asyncio.wait(tasks, timeout=self.slow_after)
        if complete and self.temporal is not None:
            await self._wait_outcomes(started_mono if force else None, self._stats_poller.timeout * 2)
        snapshot = self._build(refresh_ms=(time.perf_counter() - began) * 1000)
        self._latest = snapshot
        if record and self._history is not None:
            self._history.record_snapshot(snapshot)
            self._history.flush_soon()
        return snapshot

    # ------------------------------------------------------------------ what is watched

    def _watched(self) -> list[QueueRef]:
        if self.api is not None:
            if self._registry is not None:
                return list(self._registry.watched)
            return self._watch_list(None)
        if self._static_watch is None:
            self._static_watch = self._watch_list(None)
        return self._static_watch

    def _watch_list(self, registry: Registry | None) -> list[QueueRef]:
        """Queues of the control plane, legacy task queues that live workers poll, the profile's task queues."""
        refs: list[QueueRef] = list(registry.queues) if registry is not None else []
        known = {r.task_queue_name for r in refs}
        if registry is not None:
            for w in registry.workers:
                if w.queue_key is None and w.task_queue_name and w.task_queue_name not in known and w.health != "gone":
                    if self.environments and w.environment_id not in self.environments and (
                        self._env_names.get(w.environment_id or "") not in self.environments
                    ):
                        continue
                    if self.queue_filter and not any(s in (w.task_queue_name, f"legacy:{w.task_queue_name}") for s in self.queue_filter):
                        continue
                    known.add(w.task_queue_name)
                    refs.append(
                        QueueRef(
                            id=f"legacy:{w.task_queue_name}",
                            name=w.task_queue_name,
                            task_queue_name=w.task_queue_name,
                            environment=self._env_names.get(w.environment_id or ""),
                            environment_id=w.environment_id,
                            legacy=True,
                        )
                    )
        for tq in self.task_queues:
            if tq not in known:
                known.add(tq)
                refs.append(QueueRef(id=tq if self.api is None else f"tq:{tq}", name=tq, task_queue_name=tq))
        return refs

    async def _task_queues(self) -> list[str]:
        """Task queue names to read from Temporal; waits for the first control-plane answer if none yet."""
        if self.api is not None and self._registry is None and self._registry_poller.running():
            try:
                assert self._registry_poller.task is not None
                await asyncio.shield(self._registry_poller.task)
            except Exception:
                pass
        return list(dict.fromkeys(r.task_queue_name for r in self._watched()))

    # ------------------------------------------------------------------ the control plane

    async def _poll_registry(self, force: bool) -> str | None:
        from kubiya_tui.client.api import ApiError

        previous = self._registry
        want_workers = force or previous is None or self._mono() - self._workers_read >= self.workers_interval
        workers_raw: bytes | None = None
        if want_workers and self._workers_endpoint:
            queues_raw, answer = await asyncio.gather(
                self._get_raw("/api/v1/worker-queues"), self._get_raw("/api/v1/workers"), return_exceptions=True
            )
            if isinstance(queues_raw, BaseException):
                raise queues_raw
            if isinstance(answer, ApiError) and answer.status in (404, 405):
                # GET /workers is an extension of the local control plane: ask per queue instead.
                self._workers_endpoint = False
            elif isinstance(answer, BaseException):
                raise answer
            else:
                workers_raw = answer
        else:
            queues_raw = await self._get_raw("/api/v1/worker-queues")
        now = self._clock()
        refs = [r for q in _json_list(queues_raw, "/api/v1/worker-queues", "worker_queues", "queues") if (r := self._queue_ref(q))]
        if any(r.environment is None and r.environment_id for r in refs) or (
            self.environments and self._mono() - self._envs_read > ENVIRONMENTS_INTERVAL
        ):
            try:
                envs = await self.api.list_environments()
            except ApiError:
                pass
            else:
                self._env_names.update({e.id: e.name for e in envs})
                self._envs_read = self._mono()
                refs = [
                    replace(r, environment=self._env_names.get(r.environment_id or "")) if r.environment is None else r
                    for r in refs
                ]
        refs = [r for r in refs if self._selected(r)]
        workers: Iterable[dict] | None = None
        if workers_raw is not None:
            workers = _json_list(workers_raw, "/api/v1/workers", "workers")
        elif want_workers:
            workers = await self._workers_per_queue(refs)
        if workers is not None:
            wanted = {r.id for r in refs}
            rows = tuple(row for w in workers if (row := self._worker_row(w, now, wanted)) is not None)
            self._workers_read = self._mono()
            if len(self._rows) > len(rows):
                seen = {row.worker_id for row in rows}
                self._rows = {k: v for k, v in self._rows.items() if k in seen}
            workers_at = now
        else:
            assert previous is not None
            rows, workers_at = previous.workers, previous.workers_at
        registry = Registry(at=now, queues=tuple(refs), workers=rows, workers_at=workers_at)
        self._registry = replace(registry, watched=tuple(self._watch_list(registry)))
        if self.temporal is None and workers is not None:
            self._observe_counters(now)
        return None

    async def _get_raw(self, path: str) -> bytes:
        """The body of a GET to the control plane (parsed item by item later: no models, no big list at once)."""
        response = await self.api._send("GET", path)
        return response.content

    async def _workers_per_queue(self, refs: Iterable[QueueRef]) -> list[dict]:
        from urllib.parse import quote

        async def one(ref: QueueRef) -> list[dict]:
            async with self._sem:
                path = f"/api/v1/worker-queues/{quote(ref.id, safe='')}/workers"
                return list(_json_list(await self._get_raw(path), path, "workers"))

        answers = await asyncio.gather(*(one(r) for r in refs))
        return [w for batch in answers for w in batch]

    def _queue_ref(self, q: dict) -> QueueRef | None:
        queue_id, name = q.get("id"), q.get("name")
        if not isinstance(queue_id, str) or not isinstance(name, str):
            return None
        env_id = q.get("environment_id")
        env_name = q.get("environment_name")
        if env_name and env_id:
            self._env_names.setdefault(env_id, env_name)
        ref = QueueRef(
            id=queue_id,
            name=name,
            task_queue_name=q.get("task_queue_name") or queue_id,
            environment=env_name or self._env_names.get(env_id or ""),
            environment_id=env_id,
            status=q.get("status") or "active",
            desired_workers=q.get("desired_workers"),
            max_workers=q.get("max_workers"),
            heartbeat_interval=q.get("heartbeat_interval"),
            autoscale=q.get("autoscale"),
            description=q.get("description"),
            settings=q.get("settings") or {},
            tags=tuple(q.get("tags") or ()),
            created_at=_epoch(q.get("created_at")),
        )
        # An unchanged queue keeps its old object: fewer long-lived allocations, less heap churn.
        before = self._qrefs.get(queue_id)
        if before == ref:
            return before
        self._qrefs[queue_id] = ref
        return ref

    def _selected(self, ref: QueueRef) -> bool:
        if self.environments and not ({ref.environment, ref.environment_id} & self.environments):
            return False
        if self.queue_filter:
            return any(queue_matches(ref, s) for s in self.queue_filter)
        return True

    def _worker_row(self, w: dict, now: float, wanted: set[str]) -> WorkerRow | None:
        """The row of one worker of a watched queue (or of a legacy task queue); None for others."""
        from kubiya_tui.models import derive_health

        worker_id = w.get("worker_id") or w.get("id")
        if not isinstance(worker_id, str):
            return None
        queue_id = w.get("queue_id")
        if queue_id is not None and queue_id not in wanted:
            return None
        key = (
            w.get("last_heartbeat"),
            w.get("status"),
            w.get("desired_state"),
            queue_id,
            w.get("disconnected_at"),
            w.get("tasks_processed"),
            w.get("tasks_failed"),
            w.get("slots_used"),
        )
        cached = self._rows.get(worker_id)
        if cached is not None and cached[0] == key:
            row = cached[1]
        else:
            row = self._new_worker_row(worker_id, w)
            self._rows[worker_id] = (key, row)
        age = w.get("heartbeat_age_seconds")
        if not isinstance(age, (int, float)):
            age = None if row.last_heartbeat is None else max(0.0, now - row.last_heartbeat)
        row.heartbeat_age = age
        health = derive_health(row.status, row.desired_state, age, row.interval)
        row.health = health.value if hasattr(health, "value") else str(health)
        return row

    def _new_worker_row(self, worker_id: str, w: dict) -> WorkerRow:
        system_info = w.get("system_info") if isinstance(w.get("system_info"), dict) else {}
        ids = w.get("current_task_ids") or ([w["current_task_id"]] if w.get("current_task_id") else [])
        queue_id = w.get("queue_id")
        return WorkerRow(
            worker_id=worker_id,
            queue_key=queue_id,
            queue_name=w.get("queue_name"),
            task_queue_name=w.get("task_queue_name") or (w.get("queue_name") if queue_id is None else None),
            status=str(w.get("status") or "active"),
            desired_state=w.get("desired_state"),
            health="healthy",
            heartbeat_age=None,
            last_heartbeat=_epoch(w.get("last_heartbeat")),
            interval=float(w.get("heartbeat_interval") or 60),
            hostname=w.get("hostname") or system_info.get("hostname"),
            slots_used=_int_or_none(w.get("slots_used")),
            slots_available=_int_or_none(w.get("slots_available")),
            processed=_int_or_none(w.get("tasks_processed")) or 0,
            failed=_int_or_none(w.get("tasks_failed")) or 0,
            current_task_ids=tuple(str(i) for i in ids),
            registered_at=_epoch(w.get("registered_at")),
            left_at=_epoch(w.get("disconnected_at")),
            environment_id=w.get("environment_id"),
            system_info=system_info,
            capabilities=w.get("capabilities") if isinstance(w.get("capabilities"), dict) else {},
            metadata=w.get("worker_metadata") if isinstance(w.get("worker_metadata"), dict) else {},
        )

    def _observe_counters(self, now: float) -> None:
        assert self._registry is not None
        per_queue: dict[str, dict[str, tuple[int, int]]] = {}
        for w in self._registry.workers:
            if w.queue_key is not None:
                per_queue.setdefault(w.queue_key, {})[w.worker_id] = (w.processed, w.failed)
        for ref in self._registry.queues:
            window = self._counters.get(ref.id)
            if window is None:
                window = self._counters[ref.id] = derive.CounterWindow(self.window)
            window.observe(now, per_queue.get(ref.id, {}))

    async def _poll_api_metrics(self, force: bool) -> str | None:
        """API-only mode: each queue's GET .../metrics once it is stats_interval old."""
        if self._registry is None and self._registry_poller.running():
            try:
                assert self._registry_poller.task is not None
                await asyncio.shield(self._registry_poller.task)
            except Exception:
                pass
        if self._registry is None:
            return _IDLE
        mono = self._mono()
        failed_at = self._stats_tracker.failed_at
        due = [r for r in self._registry.queues if force or _due(self._api_metrics.get(r.id), mono, self.stats_interval, failed_at)]
        if not due:
            return _IDLE
        failures: list[str] = []

        async def one(ref: QueueRef) -> None:
            reading = self._api_metrics.setdefault(ref.id, Reading())
            async with self._sem:
                try:
                    value = await self.api.queue_metrics(ref.id)
                except Exception as exc:
                    reading.failed(_one_line(exc), self._mono())
                    failures.append(_one_line(exc))
                else:
                    reading.ok(value, self._clock(), self._mono())

        await asyncio.gather(*(one(r) for r in due))
        if failures and len(failures) == len(due):
            raise RuntimeError(failures[-1])
        return f"{len(failures)} of {len(due)} queue metrics failed: {failures[-1]}" if failures else None

    # ------------------------------------------------------------------ Temporal: stats

    async def _poll_temporal_stats(self, force: bool) -> str | None:
        from kubiya_tui.client.temporal import TASK_TYPES, TemporalRateLimited, TemporalUnavailable

        tqs = await self._task_queues()
        mono = self._mono()
        failed_at = self._stats_tracker.failed_at
        due = [tq for tq in tqs if force or _due(self._stats.get(tq), mono, self.stats_interval, failed_at)]
        if not due:
            return _IDLE
        await self.temporal.client()  # a connection failure fails the poll at once
        state = {"ok": 0, "failed": 0, "streak": 0, "error": None, "limited": 0}
        abort = asyncio.Event()
        streak_limit = max(4, min(16, len(due)))

        async def one(tq: str) -> None:
            if abort.is_set():
                return
            reading = self._stats.setdefault(tq, Reading())
            await self._stats_bucket.take(len(TASK_TYPES))
            async with self._sem:
                if abort.is_set():
                    return
                try:
                    value = await self.temporal.queue_stats(tq, timeout=self.call_timeout, retry=False)
                except TemporalRateLimited as exc:  # the server is up, only busy: slow down, keep the old numbers
                    self._stats_bucket.slow_down()
                    reading.failed(_one_line(exc), self._mono())
                    state["limited"] += 1
                    state["error"] = _one_line(exc)
                    return
                except Exception as exc:  # TemporalUnavailable, or anything unexpected: this queue failed
                    error = _one_line(exc) if isinstance(exc, TemporalUnavailable) else f"stats of {tq}: {_one_line(exc)}"
                    reading.failed(error, self._mono())
                    state["failed"] += 1
                    state["streak"] += 1
                    state["error"] = error
                    if state["streak"] >= streak_limit and not state["ok"]:
                        abort.set()
                    return
                if value == reading.value:
                    value = reading.value  # unchanged: keep the old object (less heap churn over 1,000s of queues)
                reading.ok(value, self._clock(), self._mono())
                self._stats_bucket.recover()
                state["ok"] += 1
                state["streak"] = 0
            parts = self._partitions.setdefault(tq, Reading())
            if _due(parts, self._mono(), PARTITIONS_INTERVAL):
                async with self._sem:
                    try:
                        parts.ok(await self.temporal.partitions(tq, timeout=self.call_timeout), self._clock(), self._mono())
                    except Exception as exc:  # partitions are a detail: their failure fails nothing else
                        parts.failed(_one_line(exc), self._mono())

        await asyncio.gather(_pool(one, due, self._sem_size), self._read_temporal_workers(tqs, due))
        if state["failed"] and not state["ok"] and not state["limited"]:
            raise TemporalUnavailable(state["error"] or "Temporal did not answer")
        if state["failed"] or state["limited"]:
            return f"{state['failed'] + state['limited']} of {len(due)} queue reads failed: {state['error']}"
        return None

    async def _read_temporal_workers(self, tqs: list[str], due: list[str]) -> None:
        from kubiya_tui.client.temporal import TemporalUnavailable

        if self._tworkers_unsupported:
            return
        try:
            if len(tqs) > NAMESPACE_WORKERS_ABOVE:
                async with self._sem:
                    found = await self.temporal.list_workers(None, timeout=self.call_timeout, page_size=1000)
                per_tq: dict[str, list[dict]] = {tq: [] for tq in tqs}
                for w in found:
                    if w["task_queue"] in per_tq:
                        per_tq[w["task_queue"]].append(w)
                wall, mono = self._clock(), self._mono()
                for tq, workers in per_tq.items():
                    self._tworkers.setdefault(tq, Reading()).ok(workers, wall, mono)
            else:

                async def one(tq: str) -> None:
                    reading = self._tworkers.setdefault(tq, Reading())
                    async with self._sem:
                        try:
                            workers = await self.temporal.workers(tq, timeout=self.call_timeout, retry=False)
                        except TemporalUnavailable as exc:
                            reading.failed(_one_line(exc), self._mono())
                            raise
                    reading.ok(workers, self._clock(), self._mono())

                await asyncio.gather(*(one(tq) for tq in due))
        except TemporalUnavailable as exc:
            text = str(exc).lower()
            if "unimplemented" in text or "not enabled" in text or "disabled" in text:
                self._tworkers_unsupported = str(exc)
        except Exception:
            log.exception("ListWorkers failed")

    # ------------------------------------------------------------------ Temporal: outcomes

    def _ensure_visibility_loop(self) -> None:
        if self._vis_task is None or self._vis_task.done():
            self._vis_wake = asyncio.Event()
            self._vis_progress = asyncio.Event()
            self._vis_task = asyncio.get_running_loop().create_task(self._visibility_loop())

    def _outcome_due(self, tq: str, mono: float) -> bool:
        reading = self._outcomes.get(tq)
        if reading is None or reading.tried < self._vis_force_at:
            return True
        return _due(reading, mono, self.outcomes_interval, self._vis_tracker.failed_at)

    async def _visibility_loop(self) -> None:
        """Reads outcomes queue by queue, paced under the visibility rate limit, until closed."""
        assert self._vis_wake is not None and self._vis_progress is not None
        while not self._closed:
            try:
                wait = await self._visibility_round()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the loop alive whatever happens
                log.exception("visibility round failed")
                wait = self._interval
            self._vis_progress.set()
            if wait > 0:
                self._vis_wake.clear()
                try:
                    await asyncio.wait_for(self._vis_wake.wait(), wait)
                except asyncio.TimeoutError:
                    pass

    async def _visibility_round(self) -> float:
        """Read every queue whose outcomes are due; answers how long to wait before the next round."""
        from kubiya_tui.client.temporal import TemporalRateLimited, TemporalUnavailable

        tracker = self._vis_tracker
        forced = self._vis_force_at > self._vis_round_started
        if tracker.backing_off() and not forced:
            return max(0.05, tracker.next_at - self._mono())
        self._vis_round_started = self._mono()
        tqs = await self._task_queues()
        mono = self._mono()
        due = [tq for tq in tqs if self._outcome_due(tq, mono)]
        if not due:
            pending = [
                (r.tried + self.outcomes_interval) - mono for tq in tqs if (r := self._outcomes.get(tq)) is not None
            ]
            return max(0.05, min(pending, default=self._interval))
        due.sort(key=lambda tq: self._outcomes[tq].tried if tq in self._outcomes else -1.0)
        state = {"ok": 0, "failed": 0, "streak": 0, "error": None, "latency": 0.0}
        abort = asyncio.Event()
        # A sweep is paced on purpose: it is never "busy" as a whole; each call's latency tells if it is slow.
        self._vis_sweeping = True

        async def one(tq: str) -> None:
            reading = self._outcomes.setdefault(tq, Reading())
            began = time.perf_counter()
            try:
                async with self._vis_sem:
                    if abort.is_set():
                        return
                    value = await self._read_outcome(tq, reading)
            except TemporalRateLimited as exc:
                self._bucket.slow_down()
                reading.failed(_one_line(exc), self._mono())
                state["error"] = _one_line(exc)
                return
            except Exception as exc:  # TemporalUnavailable, or anything unexpected: this queue failed
                error = _one_line(exc) if isinstance(exc, TemporalUnavailable) else f"outcomes of {tq}: {_one_line(exc)}"
                if not isinstance(exc, TemporalUnavailable):
                    log.exception("reading outcomes of %s failed", tq)
                reading.failed(error, self._mono())
                state["failed"] += 1
                state["streak"] += 1
                state["error"] = error
                if state["streak"] >= VISIBILITY_CONCURRENCY and not state["ok"]:
                    abort.set()
                return
            reading.ok(value, self._clock(), self._mono())
            self._bucket.recover()
            state["ok"] += 1
            state["streak"] = 0
            state["latency"] = (time.perf_counter() - began) * 1000
            self._vis_progress.set()  # type: ignore[union-attr]

        running: set[asyncio.Task] = set()
        try:
            for tq in due:
                if abort.is_set() or self._closed:
                    break
                await self._bucket.take()
                task = asyncio.get_running_loop().create_task(one(tq))
                running.add(task)
                task.add_done_callback(running.discard)
                if len(running) >= VISIBILITY_CONCURRENCY * 2:
                    await asyncio.wait(set(running), return_when=asyncio.FIRST_COMPLETED)
            if running:
                await asyncio.wait(set(running))
        finally:
            for task in running:
                task.cancel()
            self._vis_sweeping = False
        if state["ok"]:
            partial = f"{state['failed']} of {len(due)} outcome reads failed: {state['error']}" if state["failed"] else None
            tracker.success(state["latency"], self._clock(), partial)
        elif state["failed"]:
            tracker.failure(state["error"] or "visibility did not answer")
            return max(0.05, tracker.next_at - self._mono())
        return 0.0 if self._any_due() else 0.05

    def _any_due(self) -> bool:
        mono = self._mono()
        return any(self._outcome_due(r.task_queue_name, mono) for r in self._watched())

    async def _read_outcome(self, tq: str, reading: Reading) -> Outcome:
        previous: Outcome | None = reading.value
        mono = self._mono()
        want_durations = self.durations and (
            previous is None
            or reading.tried < self._vis_force_at
            or mono - previous.durations_at >= self.durations_interval
        )
        if want_durations:
            page = await self.temporal.closed_executions(tq, self.window, DURATION_PAGE, timeout=self.call_timeout)
            if page.complete:
                by_status = page.by_status
            else:
                await self._bucket.take()
                by_status = (await self.temporal.outcomes(tq, self.window, timeout=self.call_timeout, retry=False)).by_status
            durations = page.durations_seconds
            return Outcome(
                by_status=by_status,
                p50=derive.percentile(durations, 50),
                p95=derive.percentile(durations, 95),
                samples=len(durations),
                durations_at=mono,
            )
        counted = await self.temporal.outcomes(tq, self.window, timeout=self.call_timeout, retry=False)
        return Outcome(
            by_status=counted.by_status,
            p50=previous.p50 if previous else None,
            p95=previous.p95 if previous else None,
            samples=previous.samples if previous else 0,
            durations_at=previous.durations_at if previous else mono,
        )

    async def _wait_outcomes(self, since: float | None, timeout: float) -> None:
        """Until every watched queue's outcomes were read (after ``since``), or visibility failed."""
        assert self._vis_progress is not None
        deadline = self._mono() + timeout

        def settled() -> bool:
            tracker = self._vis_tracker
            # The last round failed as a whole (Temporal down): nothing more will come for now.
            if tracker.failures and not self._vis_sweeping and (since is None or self._vis_round_started >= since):
                return True
            for tq in {r.task_queue_name for r in self._watched()}:
                reading = self._outcomes.get(tq)
                if reading is None or (reading.value is None and reading.error is None):
                    return False  # not read yet, or its first read is under way
                if since is not None and reading.tried < since:
                    return False
            return True

        while not settled():
            remaining = deadline - self._mono()
            if remaining <= 0:
                return
            self._vis_progress.clear()
            try:
                await asyncio.wait_for(self._vis_progress.wait(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------------ merge

    def _source_states(self) -> dict[str, SourceState]:
        now = self._clock()
        out: dict[str, SourceState] = {}
        if self.api is None:
            out["api"] = SourceState(name="control plane", status=SourceStatus.off)
        else:
            trackers = [self._registry_tracker] + ([self._stats_tracker] if self.temporal is None else [])
            out["api"] = _combine("control plane", trackers, self.slow_after, now, getattr(self.api, "base_url", None))
        if self.temporal is None:
            out["temporal"] = self._temporal_via_api()
        else:
            address = f"{self.temporal.address}/{self.temporal.namespace}"
            out["temporal"] = _combine("Temporal", [self._stats_tracker, self._vis_tracker], self.slow_after, now, address)
        return out

    def _temporal_via_api(self) -> SourceState:
        """Without its own Temporal access: Temporal as the control plane's metrics answers last saw it."""
        seen = [r.value for r in self._api_metrics.values() if r.value is not None and r.error is None]
        if self.api is None or not seen:
            return SourceState(name="Temporal", status=SourceStatus.off)
        down = [m for m in seen if not m.temporal_available]
        if not down:
            return SourceState(name="Temporal (via the control plane)", status=SourceStatus.ok)
        return SourceState(
            name="Temporal (via the control plane)",
            status=SourceStatus.down,
            last_error=down[0].temporal_error or "the control plane cannot reach Temporal",
        )

    def _build(self, refresh_ms: float | None = None) -> Snapshot:
        now = self._clock()
        mono = self._mono()
        sources = self._source_states()
        # Rows are stale from a source's first failed poll, well before the source itself reads "down".
        api_failing = self.api is not None and (
            self._registry_tracker.failing or (self.temporal is None and self._stats_tracker.failing)
        )
        temporal_failing = self.temporal is not None and (self._stats_tracker.failing or self._vis_tracker.failing)
        registry = self._registry
        rows_by_queue: dict[str, list[WorkerRow]] = {}
        if registry is not None:
            for w in registry.workers:
                key = w.queue_key if w.queue_key is not None else (f"legacy:{w.task_queue_name}" if w.task_queue_name else None)
                if key is not None:
                    rows_by_queue.setdefault(key, []).append(w)
        queues: list[QueueSnapshot] = []
        workers: list[WorkerSnapshot] = []
        self._qsnaps_next = {}
        for ref in self._watched():
            q, ws = self._queue_snapshot(ref, rows_by_queue.get(ref.id, []), now, mono, api_failing, temporal_failing)
            queues.append(q)
            workers.extend(ws)
        self._qsnaps = self._qsnaps_next
        queues.sort(key=lambda q: (q.legacy, q.environment or "", q.name, q.id))
        return Snapshot(
            taken_at=now,
            queues=tuple(queues),
            workers=tuple(workers),
            sources=sources,
            profile=self.profile,
            mode=self.mode,
            window_seconds=self.window,
            refresh_ms=None if refresh_ms is None else round(refresh_ms, 1),
        )

    def _queue_snapshot(
        self,
        ref: QueueRef,
        rows: list[WorkerRow],
        now: float,
        mono: float,
        api_failing: bool,
        temporal_failing: bool,
    ) -> tuple[QueueSnapshot, list[WorkerSnapshot]]:
        tq = ref.task_queue_name
        stale: list[str] = []
        errors: list[str] = []
        ages: list[float] = []
        """Ages of the data that is stale in this row."""
        registry = self._registry
        if self.api is not None and registry is not None and api_failing:
            stale.append("api")
            ages.append(now - registry.at)

        numbers: dict[str, Any] = {}
        stats_reading = self._stats.get(tq) if self.temporal is not None else None
        temporal_fresh = False
        polling: set[str] = set()
        tworkers: list[dict] = []
        if self.temporal is not None:
            t_stale = temporal_failing
            if stats_reading is not None and stats_reading.value is not None:
                st = stats_reading.value
                if stats_reading.error:
                    t_stale = True
                    errors.append(stats_reading.error)
                if t_stale:
                    ages.append(now - stats_reading.at)
                tw_reading = self._tworkers.get(tq)
                tworkers = list(tw_reading.value or []) if tw_reading is not None and tw_reading.value is not None else []
                polling = derive.live_identities(st.poller_last_access, stats_reading.at, tworkers)
                temporal_fresh = not t_stale and not stats_reading.error and (now - stats_reading.at) < max(
                    3 * self.stats_interval, 30.0
                )
                add = st.add_rate_per_second * 60
                dispatch = st.dispatch_rate_per_second * 60
                numbers.update(
                    depth=st.backlog,
                    backlog_age_seconds=round(st.backlog_age_seconds, 3),
                    add_rate_per_min=round(add, 3),
                    dispatch_rate_per_min=round(dispatch, 3),
                    priority_backlog={int(k): int(v) for k, v in sorted(st.backlog_by_priority.items()) if v},
                    pollers=len(polling),
                )
            elif stats_reading is not None and stats_reading.error:
                errors.append(stats_reading.error)
            parts = self._partitions.get(tq)
            if parts is not None and parts.value is not None:
                numbers["partitions"] = parts.value
            oc_reading = self._outcomes.get(tq)
            if oc_reading is not None and oc_reading.value is not None:
                oc: Outcome = oc_reading.value
                closed = sum(oc.by_status.values())
                # A queue younger than the window closed its executions over its age, not the whole window.
                span = derive.rate_window(self.window, oc_reading.at, ref.created_at, max(MIN_RATE_WINDOW, self._interval))
                numbers.update(
                    closed_by_status=dict(oc.by_status),
                    closed_in_window=closed,
                    processed_per_min=round(derive.per_minute(closed, span), 3),
                    error_rate=_round(derive.error_rate(oc.by_status), 4),
                )
                if oc.samples:
                    numbers.update(
                        duration_p50_seconds=_round(oc.p50, 3),
                        duration_p95_seconds=_round(oc.p95, 3),
                        duration_samples=oc.samples,
                        duration_source="temporal",
                    )
                elif self.durations:
                    numbers.update(duration_samples=0, duration_source="temporal")
                if oc_reading.error:
                    t_stale = True
                    errors.append(oc_reading.error)
                    ages.append(now - oc_reading.at)
            if t_stale or (stats_reading is None and temporal_failing):
                stale.append("temporal")
        else:
            m_reading = self._api_metrics.get(ref.id)
            if m_reading is not None and m_reading.value is not None:
                m = m_reading.value
                if m_reading.error and "api" not in stale:
                    stale.append("api")
                if m_reading.error or "api" in stale:
                    ages.append(now - m_reading.at)
                if m_reading.error:
                    errors.append(m_reading.error)
                if m.temporal_available:
                    numbers.update(
                        depth=m.task_queue_backlog,
                        backlog_age_seconds=m.task_queue_backlog_age_seconds,
                        add_rate_per_min=m.tasks_add_rate_per_min,
                        dispatch_rate_per_min=m.tasks_dispatch_rate_per_min,
                        pollers=m.task_queue_pollers,
                    )
                elif m.temporal_error:
                    errors.append(m.temporal_error)
            counter = self._counters.get(ref.id)
            if counter is not None:
                per_min, rate, closed = counter.rates()
                numbers.update(processed_per_min=_round(per_min, 3), error_rate=_round(rate, 4), closed_in_window=closed)
            live_meta = [w.metadata for w in rows if w.health in ("healthy", "draining")]
            p50, p95 = derive.merge_worker_durations(live_meta)
            if p50 is not None or p95 is not None:
                numbers.update(
                    duration_p50_seconds=_round(p50, 3),
                    duration_p95_seconds=_round(p95, 3),
                    duration_source="workers",
                    duration_samples=sum(1 for m in live_meta if m.get("task_duration_p50_ms") is not None),
                )

        ttd, growing = derive.time_to_drain(numbers.get("depth"), numbers.get("add_rate_per_min"), numbers.get("dispatch_rate_per_min"))
        numbers["time_to_drain_seconds"] = _round(ttd, 1)
        numbers["growing"] = growing

        worker_snaps, counts, used, total = self._workers_of(ref, rows, now, polling, tworkers, temporal_fresh, stats_reading)
        if total:
            numbers["capacity_used"] = used
            numbers["capacity_total"] = total
        queue = QueueSnapshot(
            id=ref.id,
            name=ref.name,
            environment=ref.environment,
            task_queue_name=tq,
            status=ref.status,
            legacy=ref.legacy,
            workers=counts,
            desired_workers=ref.desired_workers,
            max_workers=ref.max_workers,
            heartbeat_interval=ref.heartbeat_interval,
            autoscale=ref.autoscale,
            stale=bool(stale),
            stale_sources=tuple(stale),
            data_age_seconds=round(max(ages), 1) if ages else None,
            environment_id=ref.environment_id,
            description=ref.description,
            settings=ref.settings,
            tags=ref.tags,
            last_error=errors[0] if errors else None,
            **numbers,
        )
        # An unchanged row keeps its old object: over 1,000s of queues, less heap churn every refresh.
        before = self._qsnaps.get(ref.id)
        if before == queue:
            queue = before
        self._qsnaps_next[ref.id] = queue
        return queue, worker_snaps

    def _workers_of(
        self,
        ref: QueueRef,
        rows: list[WorkerRow],
        now: float,
        polling: set[str],
        tworkers: list[dict],
        temporal_fresh: bool,
        stats_reading: Reading | None,
    ) -> tuple[list[WorkerSnapshot], WorkerCounts, int, int]:
        by_identity = {w["identity"]: w for w in tworkers if w.get("identity")}
        out: list[WorkerSnapshot] = []
        healthy = stale = draining = not_polling = unregistered = 0
        used = total = 0
        since_poll = now - self._registry.workers_at if self._registry is not None else 0.0
        registered = set()
        for w in rows:
            registered.add(w.worker_id)
            if w.health == "gone":
                left = w.left_at
                if left is None and w.heartbeat_age is not None and self._registry is not None:
                    left = self._registry.workers_at - w.heartbeat_age
                if left is None or now - left > GONE_KEEP_SECONDS:
                    continue
            elif w.health == "healthy":
                healthy += 1
            elif w.health == "stale":
                stale += 1
            elif w.health == "draining":
                draining += 1
            registered_age = now - w.registered_at if w.registered_at is not None else None
            flag = self.temporal is not None and derive.registered_not_polling(
                w.health, w.worker_id, registered_age, polling, temporal_fresh, self.poll_grace
            )
            not_polling += flag
            slots_used, slots_free = w.slots_used, w.slots_available
            tw = by_identity.get(w.worker_id)
            if slots_used is None and tw is not None:
                slots_used, slots_free = tw.get("activity_slots_used"), tw.get("activity_slots_available")
            if w.health in ("healthy", "draining") and slots_used is not None and slots_free is not None:
                used += slots_used
                total += slots_used + slots_free
            out.append(
                WorkerSnapshot(
                    worker_id=w.worker_id,
                    queue_id=ref.id,
                    queue_name=ref.name,
                    health=Health(w.health),
                    status=w.status,
                    heartbeat_age_seconds=None if w.heartbeat_age is None else round(w.heartbeat_age + since_poll, 1),
                    hostname=w.hostname or (tw or {}).get("host_name") or None,
                    slots_used=slots_used,
                    slots_available=slots_free,
                    processed=w.processed,
                    failed=w.failed,
                    current_task_ids=w.current_task_ids,
                    registered_not_polling=flag,
                    desired_state=w.desired_state,
                    registered_at=w.registered_at,
                    system_info=w.system_info,
                    capabilities=w.capabilities,
                    metadata=w.metadata,
                    heartbeat_interval=w.interval,
                    task_queue_name=ref.task_queue_name,
                    source="api",
                )
            )
        if self.temporal is not None and stats_reading is not None and stats_reading.value is not None:
            last_access = stats_reading.value.poller_last_access
            identities = set(polling) if temporal_fresh else set()
            if self.api is None:
                identities |= set(last_access) | set(by_identity)
            for identity in sorted(identities - registered):
                tw = by_identity.get(identity)
                if tw is not None:
                    health = derive.temporal_only_health(tw.get("status_name"), tw.get("heartbeat_age_seconds"))
                    hb_age = tw.get("heartbeat_age_seconds")
                else:
                    seen = last_access.get(identity) or 0.0
                    hb_age = max(0.0, now - seen) if seen else None
                    health = "healthy" if identity in polling else "stale"
                if self.api is None:
                    if health == "gone":
                        continue
                    healthy += health == "healthy"
                    stale += health == "stale"
                    draining += health == "draining"
                else:
                    unregistered += 1
                slots_used = tw.get("activity_slots_used") if tw else None
                slots_free = tw.get("activity_slots_available") if tw else None
                if self.api is None and health in ("healthy", "draining") and slots_used is not None and slots_free is not None:
                    used += slots_used
                    total += slots_used + slots_free
                out.append(
                    WorkerSnapshot(
                        worker_id=identity,
                        queue_id=ref.id,
                        queue_name=ref.name,
                        health=Health(health),
                        status=(tw or {}).get("status_name", "polling").lower() if tw else "polling",
                        heartbeat_age_seconds=None if hb_age is None else round(hb_age, 1),
                        hostname=(tw or {}).get("host_name") or None,
                        slots_used=slots_used,
                        slots_available=slots_free,
                        processed=int((tw or {}).get("activity_processed") or 0),
                        failed=int((tw or {}).get("activity_failed") or 0),
                        polling_not_registered=self.api is not None,
                        task_queue_name=ref.task_queue_name,
                        source="temporal",
                    )
                )
        counts = WorkerCounts(
            healthy=healthy,
            stale=stale,
            draining=draining,
            total=healthy + stale + draining,
            not_polling=not_polling,
            unregistered=unregistered,
        )
        return out, counts, used, total


# ---------------------------------------------------------------------------- helpers


async def _pool(work: Callable[[Any], Awaitable[None]], items: Sequence[Any], size: int) -> None:
    """Run ``work`` over the items with at most ``size`` at once, from ``size`` tasks (not one per item)."""
    feed = iter(items)

    async def runner() -> None:
        for item in feed:
            await work(item)

    await asyncio.gather(*(runner() for _ in range(max(1, min(size, len(items))))))


def queue_matches(ref: Any, selector: str) -> bool:
    """Whether a queue is named by an id, an id prefix of 8+, a name, ENV/NAME or its task queue."""
    if selector in (ref.id, ref.name, ref.task_queue_name):
        return True
    if "/" in selector:
        env, _, name = selector.rpartition("/")
        if name == ref.name and env in (ref.environment, ref.environment_id):
            return True
    return len(selector) >= 8 and ref.id.startswith(selector)


def _due(reading: Reading | None, mono: float, every: float, failed_at: float | None = None) -> bool:
    """Whether a read is due: ``every`` seconds after its last try, or at once if it failed with its source's last failed poll."""
    if reading is None or mono - reading.tried >= every:
        return True
    # Retried on the source's backoff (about one interval), so two failed polls in a row come soon.
    return failed_at is not None and reading.error is not None and reading.tried <= failed_at


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _json_list(content: bytes, path: str, *keys: str) -> Iterator[dict]:
    """The objects of a JSON list, parsed one at a time (a big list never exists whole in memory).

    A body that is an object wrapping the list (``{"workers": [...]}``) is parsed whole.
    A malformed body is an ApiError naming the path.
    """
    from kubiya_tui.client.api import ApiError

    try:
        text = content.decode("utf-8")
        i = _WS.match(text, 0).end()  # type: ignore[union-attr]
        if not text.startswith("[", i):
            data = json.loads(text)
            if isinstance(data, dict):
                data = next((data[k] for k in (*keys, "items", "data", "results") if isinstance(data.get(k), list)), None)
            if not isinstance(data, list):
                raise ValueError("expected a JSON list")
            yield from (item for item in data if isinstance(item, dict))
            return
        i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
        if text.startswith("]", i):
            return
        while True:
            item, i = _DECODER.raw_decode(text, i)
            if isinstance(item, dict):
                yield item
            i = _WS.match(text, i).end()  # type: ignore[union-attr]
            mark = text[i : i + 1]
            if mark == ",":
                i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
            elif mark == "]":
                return
            else:
                raise ValueError(f"unexpected {mark!r} at character {i}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(200, "not a JSON list", message=f"unexpected answer from the control plane ({path}): {exc}") from None


def _history_default(settings: Any) -> bool:
    """Whether history goes to disk: a ``history`` setting when there is one, else KUBIYA_TUI_HISTORY."""
    import os

    value = getattr(settings, "history", None)
    if isinstance(value, bool):
        return value
    return os.environ.get("KUBIYA_TUI_HISTORY", "").strip().lower() not in ("0", "off", "false", "no", "memory")


def _epoch(value: Any) -> float | None:
    """An ISO 8601 time (naive means UTC) or a number as epoch seconds; None for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _one_line(exc: BaseException | str) -> str:
    """An error as one short line; the native client's transport dumps become a plain reason."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    lower = line.lower()
    if "tonic" in lower or "tcp connect error" in lower or "transport error" in lower:
        head = line.split(": ", 1)[0]
        if "refused" in lower:
            reason = "connection refused"
        elif "timed out" in lower or "deadline" in lower:
            reason = "no answer in time"
        elif "dns" in lower or "resolve" in lower or "lookup" in lower:
            reason = "host name not found"
        elif "certificate" in lower or "tls" in lower:
            reason = "TLS error"
        else:
            reason = "connection failed"
        line = f"{head}: {reason}" if head != line else reason
    return line[:300]


def _combine(name: str, trackers: list[Tracker], slow_after: float, now: float, address: str | None) -> SourceState:
    statuses = [s for t in trackers if (s := t.status(slow_after)) is not None]
    # Until a source has answered once, it reads "slow" (its first poll is under way), not "down".
    worst = max(statuses, key=lambda s: _RANK[s]) if statuses else SourceStatus.slow
    errors = [t.error for t in trackers if t.failures and t.error]
    partial = [t.partial_error for t in trackers if t.partial_error]
    oks = [t.ok_at for t in trackers if t.ok_at is not None]
    latency = trackers[0].latency_ms
    return SourceState(
        name=name,
        status=worst,
        latency_ms=None if latency is None else round(latency, 1),
        last_error=(errors or partial or [None])[0],
        data_age_seconds=round(now - max(oks), 1) if oks else None,
        address=address,
    )
