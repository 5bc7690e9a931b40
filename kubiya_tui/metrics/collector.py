"""The collector: polls the control plane and Temporal and makes immutable Snapshots.

A façade over three kinds of module:

* **sources** (``metrics/sources/``), one per backend read: the control plane's registry of
  queues and workers (``registry``), Temporal's task-queue stats and pollers
  (``temporal_stats``), visibility outcomes (``outcomes``), and without Temporal the control
  plane's per-queue metrics (``api_metrics``);
* the **scheduler** (``metrics/scheduler.py``): each source's poller never overlaps itself,
  has its own timeout and backoff, and reads "down" after DOWN_AFTER_FAILURES failed polls in
  a row, so one transient error is no outage and a dead source is down within ~2 intervals;
* the **assembler** (``metrics/assemble.py``): a pure function from the sources' readings to
  a Snapshot; where every number of a queue row (depth included) is put together.

A refresh starts the pollers that are due, waits for them at most ``slow_after`` seconds
(a slow source never holds back the others: it goes on in the background and is marked
slow), and assembles the newest data of each. Only queues that the control plane lists,
that registered workers poll (legacy task queues) or that the profile names are described:
describing an unknown name creates it. No exception leaves the collector.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable

from kubiya_tui.metrics.assemble import Readings, SnapshotRules, build_snapshot
from kubiya_tui.metrics.history import History
from kubiya_tui.metrics.ports import CapabilitiesView, ControlPlaneReader, TemporalStatsReader
from kubiya_tui.metrics.scheduler import IDLE, Poller, Tracker, source_state
from kubiya_tui.metrics.snapshot import Snapshot, SnapshotCallback, SourceState, SourceStatus
from kubiya_tui.metrics.sources.api_metrics import ApiMetricsSource
from kubiya_tui.metrics.sources.discovery import DISCOVERY_INTERVAL, DiscoverySource
from kubiya_tui.metrics.sources.outcomes import DURATIONS_INTERVAL, OUTCOMES_INTERVAL, VISIBILITY_RPS, OutcomesSource
from kubiya_tui.metrics.sources.registry import WORKERS_INTERVAL, QueueRef, Registry, RegistrySource, Selection, watched_queues
from kubiya_tui.metrics.sources.temporal_stats import DESCRIBE_RPS, STATS_INTERVAL, TemporalStatsSource

log = logging.getLogger("kubiya_tui.metrics")

DEFAULT_INTERVAL = 2.0
WINDOW_SECONDS = 300.0
CONCURRENCY = 32
FILLING_INTERVAL = 0.5
"""While a source's first answer is still coming in (a cold start), refreshes come this often."""
FIRST_ANSWER_GRACE = 0.25
"""A first refresh returns this long after the control plane answered, whatever Temporal has said by then."""
STATS_POLL_BUDGET = 0.5
"""A stats poll starts reads for this share of the source timeout; the rest of the due queues wait for the next
poll (oldest first), so 1,000 queues on a slow server fill in over polls instead of failing the source."""
STEADY_WAIT = 0.2
"""A scheduled refresh that has numbers to show waits this long for its polls (1,000 queues' stats take
~2 s of calls: they go on in the background and show at the next refresh)."""
POLL_GRACE_SECONDS = 30.0
"""A newly registered worker gets this long to show up as a Temporal poller before it is flagged."""


@dataclass(frozen=True)
class CollectorOptions:
    """How a collector polls and what it watches; every field has a working default."""

    interval: float | None = None
    """Seconds between two refreshes of :meth:`Collector.run`; None: DEFAULT_INTERVAL (connect: the profile's)."""
    stats_interval: float = STATS_INTERVAL
    """A queue's Temporal stats (or API metrics) are read again once they are this old."""
    outcomes_interval: float = OUTCOMES_INTERVAL
    durations_interval: float = DURATIONS_INTERVAL
    window_seconds: float = WINDOW_SECONDS
    concurrency: int = CONCURRENCY
    visibility_rps: float = VISIBILITY_RPS
    describe_rps: float = DESCRIBE_RPS
    durations: bool = True
    """Read processing times (one visibility page per queue); off for ``check``."""
    partitions: bool = True
    """Read each queue's partition count (every few minutes); off for ``check``, which does not show it."""
    source_timeout: float = 10.0
    """A whole poll of one source gives up after this long."""
    call_timeout: float = 3.0
    """One Temporal call gives up after this long."""
    slow_after: float = 1.0
    """A refresh waits this long for its sources; a source slower than this reads "slow"."""
    max_backoff: float = 15.0
    poll_grace: float = POLL_GRACE_SECONDS
    workers_interval: float = WORKERS_INTERVAL
    task_queues: tuple[str, ...] = ()
    """The profile's task queues (always watched)."""
    discover: bool = True
    """Without a control plane, also watch the task queues found in Temporal (``sources/discovery.py``)."""
    discovery_interval: float = DISCOVERY_INTERVAL
    environments: tuple[str, ...] | None = None
    """Only queues of these environments (names or ids)."""
    queues: tuple[str, ...] | None = None
    """Only these queues (ids, 8+ id prefixes, names, ENV/NAME or task queues)."""
    profile: str | None = None
    """The profile's name, shown in snapshots."""


class Collector:
    """The metrics engine: a SnapshotSource over a control plane, Temporal, or both.

    The clients are the caller's (see ``kubiya_tui.connection``): the collector never closes them.
    """

    def __init__(
        self,
        api: ControlPlaneReader | None = None,
        temporal: TemporalStatsReader | None = None,
        options: CollectorOptions | None = None,
        *,
        history: History | None = None,
        capabilities: CapabilitiesView | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if api is None and temporal is None:
            raise ValueError("a collector needs a control plane, Temporal, or both")
        o = options or CollectorOptions()
        interval = float(o.interval if o.interval is not None else DEFAULT_INTERVAL)
        self.options = o
        self.api = api
        self.temporal = temporal
        self.mode = "api+temporal" if api is not None and temporal is not None else ("api" if api is not None else "temporal")
        self.task_queues = tuple(dict.fromkeys(t for t in o.task_queues if t))
        self.selection = Selection(frozenset(o.environments) if o.environments else None, tuple(o.queues) if o.queues else None)
        self.rules = SnapshotRules(
            mode=self.mode,
            window=float(o.window_seconds),
            interval=interval,
            stats_interval=max(float(o.stats_interval), 0.0),
            poll_grace=o.poll_grace,
            durations=o.durations,
            profile=o.profile,
        )
        self._clock = clock
        self._mono = monotonic
        self._history = history
        sem = asyncio.Semaphore(o.concurrency)
        backoff = max(1.0, interval)
        self._registry_tracker = Tracker(
            "control plane", backoff, o.max_backoff, monotonic, shows="queues and workers", period=interval
        )
        self._stats_tracker = Tracker(
            "Temporal task queues" if temporal is not None else "control plane metrics", backoff, o.max_backoff, monotonic,
            shows="depth, age and in/out", period=max(interval, float(o.stats_interval)),
        )  # fmt: skip
        self._vis_tracker = Tracker(
            "Temporal visibility", backoff, o.max_backoff, monotonic,
            shows="done/m, errors and times", period=max(interval, float(o.outcomes_interval)),
        )  # fmt: skip

        self.registry: RegistrySource | None = None
        self.discovery: DiscoverySource | None = None
        self._discovery_poller: Poller | None = None
        self._discovered_at: float | None = None
        self.api_metrics: ApiMetricsSource | None = None
        self.temporal_stats: TemporalStatsSource | None = None
        self.outcomes: OutcomesSource | None = None
        if api is not None:
            if temporal is None:
                self.api_metrics = ApiMetricsSource(
                    api, tracker=self._stats_tracker, registry=self._first_registry, stats_interval=self.rules.stats_interval,
                    window=self.rules.window, semaphore=sem, clock=clock, monotonic=monotonic,
                )  # fmt: skip
            self.registry = RegistrySource(
                api, task_queues=self.task_queues, selection=self.selection, workers_interval=float(o.workers_interval),
                semaphore=sem, capabilities=capabilities, clock=clock, monotonic=monotonic,
                on_workers=self.api_metrics.observe_counters if self.api_metrics is not None else None,
            )  # fmt: skip
        if temporal is not None:
            self.temporal_stats = TemporalStatsSource(
                temporal, tracker=self._stats_tracker, task_queues=self._task_queues, stats_interval=self.rules.stats_interval,
                call_timeout=o.call_timeout, describe_rps=o.describe_rps, semaphore=sem, concurrency=o.concurrency,
                partitions=o.partitions, budget=o.source_timeout * STATS_POLL_BUDGET, retry_after=interval,
                clock=clock, monotonic=monotonic,
            )  # fmt: skip
            self.outcomes = OutcomesSource(
                temporal, tracker=self._vis_tracker, task_queues=self._task_queues, watched_task_queues=self._watched_task_queues,
                window=self.rules.window, interval=interval, outcomes_interval=float(o.outcomes_interval),
                durations_interval=float(o.durations_interval), durations=o.durations, call_timeout=o.call_timeout,
                visibility_rps=o.visibility_rps, concurrency=o.concurrency, clock=clock, monotonic=monotonic,
            )  # fmt: skip
        if temporal is not None and api is None and o.discover:
            self._discovery_tracker = Tracker(
                "Temporal discovery", backoff, o.max_backoff, monotonic,
                shows="which task queues are listed", period=max(interval, float(o.discovery_interval)),
            )  # fmt: skip
            self.discovery = DiscoverySource(temporal, tracker=self._discovery_tracker, call_timeout=max(o.call_timeout, 5.0),
                                             monotonic=monotonic)  # fmt: skip
            self._discovery_poller = Poller(self._discovery_tracker, self._discover, o.source_timeout, clock)
        self._registry_poller = Poller(self._registry_tracker, self.registry.poll, o.source_timeout, clock) if self.registry else None
        stats_work = self.temporal_stats.poll if self.temporal_stats is not None else self.api_metrics.poll  # type: ignore[union-attr]
        self._stats_poller = Poller(self._stats_tracker, stats_work, o.source_timeout, clock)
        self._static_watch: list[QueueRef] | None = None
        self._static_version = -1
        self._latest: Snapshot | None = None
        self._refreshing: asyncio.Future | None = None
        self._force_next = False
        self._wake: asyncio.Event | None = None

    # ------------------------------------------------------------------ SnapshotSource

    @property
    def interval(self) -> float:
        """Seconds to the next refresh: the refresh interval, or FILLING_INTERVAL while a watched queue has
        no numbers from Temporal yet (a cold start at 1,000 queues: the numbers fill in as they come)."""
        tracker = self._stats_tracker
        if tracker.failures == 0 and (
            (tracker.ok_at is None and self._stats_poller.running())
            or (self.temporal_stats is not None and self.temporal_stats.filling)
        ):
            return min(FILLING_INTERVAL, self.rules.interval)
        return self.rules.interval

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
        if self.outcomes is not None:
            self.outcomes.force(self._mono())
        if self._wake is not None:
            self._wake.set()

    async def refresh(self, *, force: bool = False, complete: bool = False, record: bool = True) -> Snapshot:
        """Poll what is due and answer a snapshot; joins a refresh already under way.

        ``force`` polls every source and queue now, whatever their schedule and backoff;
        ``complete`` polls every source and waits until each has answered (or failed) for
        every watched queue, rather than at most ``slow_after`` seconds (one-shot commands, tests).
        """
        if self._refreshing is not None and not self._refreshing.done():
            return await asyncio.shield(self._refreshing)
        self._refreshing = asyncio.get_running_loop().create_future()
        try:
            snapshot = await self._refresh(force, complete, record)
        except BaseException as exc:  # the last line of defence: a snapshot, always
            if isinstance(exc, asyncio.CancelledError):
                self._refreshing.cancel()
                raise
            log.exception("refresh failed")
            snapshot = self._latest or Snapshot(taken_at=self._clock(), mode=self.mode, window_seconds=self.rules.window)
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
                    if result is not None:
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
                    await asyncio.wait(waiters, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
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
        """Stop background polls and write pending history (the clients are the caller's to close)."""
        if self.outcomes is not None:
            await self.outcomes.aclose()
        if self._registry_poller is not None:
            await self._registry_poller.cancel()
        if self._discovery_poller is not None:
            await self._discovery_poller.cancel()
        await self._stats_poller.cancel()
        if self._history is not None:
            try:
                await self._history.close()
            except Exception:
                log.exception("history close failed")

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
        registry_task = None
        # The queue list comes from the control plane, or (Temporal only) from discovery.
        lister = self._registry_poller if self._registry_poller is not None else self._discovery_poller
        for poller in (self._registry_poller, self._discovery_poller, self._stats_poller):
            task = poller.start(force or complete) if poller is not None else None
            if task is not None:
                tasks.append(task)
                if poller is lister:
                    registry_task = task
        if self.outcomes is not None:
            self.outcomes.ensure_running()
            if force:
                self.outcomes.force(started_mono)
        if tasks and not complete and self._latest is None and registry_task is not None:
            # The first refresh: the queue list as soon as the control plane answers (never a blank
            # screen while 1,000 DescribeTaskQueue calls run); the numbers fill in on the next ones.
            await asyncio.wait([registry_task], timeout=self.options.slow_after)
            spent = time.perf_counter() - began
            await asyncio.wait(tasks, timeout=max(0.0, min(FIRST_ANSWER_GRACE, self.options.slow_after - spent)))
        elif tasks:
            wait = self.options.slow_after if force or self._latest is None else min(STEADY_WAIT, self.options.slow_after)
            await asyncio.wait(tasks, timeout=None if complete else wait)
        if complete and self.outcomes is not None:
            await self.outcomes.wait_read(started_mono if force else None, self._stats_poller.timeout * 2)
        snapshot = self._build(refresh_ms=(time.perf_counter() - began) * 1000)
        self._latest = snapshot
        if record and self._history is not None:
            self._history.record_snapshot(snapshot)
            self._history.flush_soon()
        return snapshot

    def _build(self, refresh_ms: float | None = None) -> Snapshot:
        stats, outcomes, api_metrics = self.temporal_stats, self.outcomes, self.api_metrics
        readings = Readings(
            registry=self.registry.registry if self.registry is not None else None,
            stats=stats.stats if stats is not None else {},
            partitions=stats.partitions if stats is not None else {},
            temporal_workers=stats.workers if stats is not None else {},
            outcomes=outcomes.outcomes if outcomes is not None else {},
            api_metrics=api_metrics.metrics if api_metrics is not None else {},
            counters=api_metrics.counters if api_metrics is not None else {},
            # Rows are stale from a source's first failed poll, well before the source itself reads "down".
            api_failing=self.api is not None and (
                self._registry_tracker.failing or (self.temporal is None and self._stats_tracker.failing)
            ),
            temporal_failing=self.temporal is not None and (self._stats_tracker.failing or self._vis_tracker.failing),
            control_plane_version=self.registry.control_plane_version if self.registry is not None else None,
        )
        now = self._clock()
        return build_snapshot(
            self.rules, self._watched(), readings, now=now, sources=self._source_states(now), previous=self._latest,
            refresh_ms=refresh_ms,
        )  # fmt: skip

    def _source_states(self, now: float) -> dict[str, SourceState]:
        slow = self.options.slow_after
        out: dict[str, SourceState] = {}
        if self.api is None:
            out["api"] = SourceState(name="control plane", status=SourceStatus.off)
        else:
            trackers = [self._registry_tracker] + ([self._stats_tracker] if self.temporal is None else [])
            out["api"] = source_state("control plane", trackers, slow, now, self.api.base_url)
        if self.temporal is None:
            out["temporal"] = self._temporal_via_api()
        else:
            address = f"{self.temporal.address}/{self.temporal.namespace}"
            if getattr(self.temporal, "relayed", False):
                address += ", read by the control plane"
            trackers = [self._stats_tracker, self._vis_tracker] + ([self._discovery_tracker] if self.discovery is not None else [])
            out["temporal"] = source_state("Temporal", trackers, slow, now, address)
        return out

    def _temporal_via_api(self) -> SourceState:
        """Without its own Temporal access: Temporal as the control plane's metrics answers last saw it."""
        readings = self.api_metrics.metrics.values() if self.api_metrics is not None else ()
        seen = [r.value for r in readings if r.value is not None and r.error is None]
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

    # ------------------------------------------------------------------ what is watched

    def _watched(self) -> list[QueueRef]:
        if self.registry is not None:
            if self.registry.registry is not None:
                return list(self.registry.registry.watched)
            return self._watch_list()
        version = self.discovery.version if self.discovery is not None else 0
        if self._static_watch is None or version != self._static_version:
            self._static_watch, self._static_version = self._watch_list(), version
        return self._static_watch

    def _watch_list(self) -> list[QueueRef]:
        refs = watched_queues(
            None, self.task_queues, with_control_plane=self.api is not None, selection=self.selection, env_names={}
        )
        if self.discovery is not None:
            known = {r.task_queue_name for r in refs}
            found = [QueueRef(id=tq, name=tq, task_queue_name=tq, tags=("discovered",)) for tq in self.discovery.task_queues]
            refs += [ref for ref in found if ref.task_queue_name not in known and self.selection.keeps(ref)]
        return refs

    async def _discover(self, force: bool) -> str | None:
        """The discovery poller's work: a search when one is due (every ``discovery_interval``), else IDLE."""
        assert self.discovery is not None
        mono = self._mono()
        failed = self._discovery_tracker.failures > 0
        if not force and not failed and self._discovered_at is not None and mono - self._discovered_at < self.options.discovery_interval:
            return IDLE
        self._discovered_at = mono
        return await self.discovery.poll(force)

    def _watched_task_queues(self) -> list[str]:
        return [r.task_queue_name for r in self._watched()]

    async def _first_registry(self) -> Registry | None:
        """The control plane's latest answer; waits for the first one if it is under way."""
        if self.registry is None:
            return None
        if self.registry.registry is None and self._registry_poller is not None:
            await self._registry_poller.wait_first()
        return self.registry.registry

    async def _task_queues(self) -> list[str]:
        """Task queue names to read from Temporal; waits for the first control-plane answer (or search) if none yet."""
        await self._first_registry()
        if self.discovery is not None and self.discovery.found is None and self._discovery_poller is not None:
            await self._discovery_poller.wait_first()
        return list(dict.fromkeys(self._watched_task_queues()))
