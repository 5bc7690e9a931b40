"""The control plane as a source of queue numbers, when the console has no Temporal access (API-only).

Each queue's ``GET /worker-queues/{id}/metrics`` once it is ``stats_interval`` old (depth,
backlog age and rates, as the control plane read them from Temporal), and the workers'
own counters from their heartbeats: throughput and error rate are the deltas of
``tasks_processed`` and ``tasks_failed`` over the window (:class:`derive.CounterWindow`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Awaitable, Callable

from kubiya_tui.metrics import derive
from kubiya_tui.metrics.ports import ControlPlaneReader
from kubiya_tui.metrics.scheduler import IDLE, Reading, Tracker, is_due, one_line
from kubiya_tui.metrics.sources.registry import QueueRef, Registry

if TYPE_CHECKING:
    from kubiya_tui.models import WorkerQueueMetrics


class ApiMetricsSource:
    """Reads each queue's metrics endpoint and keeps the workers' counters per queue."""

    def __init__(
        self,
        api: ControlPlaneReader,
        *,
        tracker: Tracker,
        registry: Callable[[], Awaitable[Registry | None]],
        stats_interval: float,
        window: float,
        semaphore: asyncio.Semaphore,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        self.api = api
        self.tracker = tracker
        self._registry = registry
        self.stats_interval = stats_interval
        self.window = window
        self._sem = semaphore
        self._clock = clock
        self._mono = monotonic
        self.metrics: dict[str, Reading[WorkerQueueMetrics]] = {}
        self.counters: dict[str, derive.CounterWindow] = {}

    def observe_counters(self, registry: Registry, now: float) -> None:
        """Record every queue's worker counters as of a new worker list."""
        per_queue: dict[str, dict[str, tuple[int, int]]] = {}
        for rw in registry.workers:
            w = rw.worker
            if w.queue_id is not None:
                per_queue.setdefault(w.queue_id, {})[w.worker_id] = (w.processed, w.failed)
        for ref in registry.queues:
            window = self.counters.get(ref.id)
            if window is None:
                window = self.counters[ref.id] = derive.CounterWindow(self.window)
            window.observe(now, per_queue.get(ref.id, {}))

    async def poll(self, force: bool) -> str | None:
        """Each queue's GET .../metrics once it is stats_interval old (``force``: all); a Poller's work."""
        registry = await self._registry()
        if registry is None:
            return IDLE
        mono = self._mono()
        failed_at = self.tracker.failed_at
        due = [r for r in registry.queues if force or is_due(self.metrics.get(r.id), mono, self.stats_interval, failed_at)]
        if not due:
            return IDLE
        failures: list[str] = []

        async def one(ref: QueueRef) -> None:
            reading = self.metrics.setdefault(ref.id, Reading())
            async with self._sem:
                try:
                    value = await self.api.queue_metrics(ref.id)
                except Exception as exc:
                    reading.failed(one_line(exc), self._mono())
                    failures.append(one_line(exc))
                else:
                    reading.ok(value, self._clock(), self._mono())

        await asyncio.gather(*(one(r) for r in due))
        if failures and len(failures) == len(due):
            raise RuntimeError(failures[-1])
        return f"{len(failures)} of {len(due)} queue metrics failed: {failures[-1]}" if failures else None
