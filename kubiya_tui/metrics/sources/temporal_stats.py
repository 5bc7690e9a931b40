"""Temporal as a source of queue numbers: DescribeTaskQueue, ListWorkers and ListTaskQueuePartitions.

Per watched task queue, ``DescribeTaskQueue`` for both task types (depth, backlog age,
rates, pollers, priorities: see ``TemporalReader.queue_stats``), ``ListWorkers`` and, every
few minutes, ``ListTaskQueuePartitions``. A queue's stats are read again only once they are
``stats_interval`` (5 s) old: the server caches them that long, so polling faster buys
nothing. With more watched queues than NAMESPACE_WORKERS_ABOVE, ListWorkers is one paged
call for the namespace. Calls are paced under the server's per-namespace limit.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING, Awaitable, Callable

from kubiya_tui.metrics.ports import TemporalStatsReader
from kubiya_tui.metrics.scheduler import IDLE, Reading, TokenBucket, Tracker, is_due, one_line, run_pool

if TYPE_CHECKING:
    from kubiya_tui.client.temporal_types import QueueStats

log = logging.getLogger("kubiya_tui.metrics")

STATS_INTERVAL = 5.0
PARTITIONS_INTERVAL = 300.0
DESCRIBE_RPS = 900.0
"""DescribeTaskQueue calls per second at most: the dev server limits a namespace's calls (~1,000/s seen);
an answer "rate limit exceeded" halves it. 1,000 queues (2,000 calls) take ~2.2 s."""
NAMESPACE_WORKERS_ABOVE = 8
"""With more watched queues than this, ListWorkers is one paged call for the namespace."""


class TemporalStatsSource:
    """Reads each watched task queue's stats, pollers and partitions from Temporal."""

    def __init__(
        self,
        temporal: TemporalStatsReader,
        *,
        tracker: Tracker,
        task_queues: Callable[[], Awaitable[list[str]]],
        stats_interval: float,
        call_timeout: float,
        describe_rps: float,
        semaphore: asyncio.Semaphore,
        concurrency: int,
        partitions: bool = True,
        budget: float | None = None,
        retry_after: float | None = None,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        self.temporal = temporal
        self.tracker = tracker
        self._task_queues = task_queues
        self.stats_interval = stats_interval
        self.call_timeout = call_timeout
        self._sem = semaphore
        self._concurrency = concurrency
        self._read_partitions = partitions
        self._budget = budget
        """Seconds a poll starts new reads for; what is left stays due and is read first by the next poll."""
        self._retry_after = retry_after
        """Seconds after which a queue whose read failed is read again, while the rest of the poll answered."""
        self._clock = clock
        self._mono = monotonic
        self._bucket = TokenBucket(describe_rps, burst=max(2.0, min(200.0, describe_rps / 3)))
        self.stats: dict[str, Reading[QueueStats]] = {}
        self.partitions: dict[str, Reading[int]] = {}
        self.workers: dict[str, Reading[list[dict]]] = {}
        """ListWorkers answers per task queue (dicts of ``TemporalReader.list_workers``)."""
        self._workers_unsupported: str | None = None
        self._watched: list[str] = []

    @property
    def filling(self) -> bool:
        """Whether a queue of the last poll has no numbers yet (a cold start: its first read is still to come)."""
        stats = self.stats
        return any(tq not in stats or stats[tq].value is None for tq in self._watched)

    async def poll(self, force: bool) -> str | None:
        """One poll over the queues that are due (``force``: all); a Poller's work."""
        from kubiya_tui.client.temporal_types import TASK_TYPE_COUNT, TemporalRateLimited, TemporalUnavailable

        tqs = await self._task_queues()
        self._watched = tqs
        mono = self._mono()
        failed_at = self.tracker.failed_at
        retry = self._retry_after
        due = [tq for tq in tqs if force or is_due(self.stats.get(tq), mono, self.stats_interval, failed_at, retry)]
        if not due:
            return IDLE
        # Oldest first (never read: first of all): a poll cut short by its budget leaves the newest for the next.
        stats = self.stats
        due.sort(key=lambda tq: stats[tq].tried if tq in stats else -math.inf)
        deadline = None if self._budget is None else self._mono() + self._budget
        # A cold start reads depths first: partitions (a third more calls) wait until every queue has its numbers.
        partitions = self._read_partitions and (force or all(tq in stats and stats[tq].value is not None for tq in tqs))
        prefetch = getattr(self.temporal, "prefetch", None)  # only a reader that reads in bulk has it (the relay)
        if prefetch is not None:
            await prefetch(due)
        partitions = partitions and getattr(self.temporal, "reads_partitions", True)  # the relay reads none
        # Paced only where each read is a DescribeTaskQueue call: the relay's prefetched document answers all
        # (pacing it cost a one-shot `check` of 200 queues ~0.2 s of sleeps for no call made).
        paced = getattr(self.temporal, "calls_per_queue", True)
        await self.temporal.service()  # a connection failure fails the poll at once
        state = {"ok": 0, "failed": 0, "streak": 0, "error": None, "limited": 0}
        abort = asyncio.Event()
        streak_limit = max(4, min(16, len(due)))

        async def one(tq: str) -> None:
            if abort.is_set() or (deadline is not None and self._mono() > deadline):
                return  # stays due: the next poll reads it first
            reading = self.stats.setdefault(tq, Reading())
            if paced:
                await self._bucket.take(TASK_TYPE_COUNT)
            async with self._sem:
                if abort.is_set():
                    return
                began = time.perf_counter()
                try:
                    value = await self.temporal.queue_stats(tq, timeout=self.call_timeout, retry=False)
                except TemporalRateLimited as exc:  # the server is up, only busy: slow down, keep the old numbers
                    self._bucket.slow_down()
                    reading.failed(one_line(exc), self._mono())
                    state["limited"] += 1
                    state["error"] = one_line(exc)
                    return
                except Exception as exc:  # TemporalUnavailable, or anything unexpected: this queue failed
                    error = one_line(exc) if isinstance(exc, TemporalUnavailable) else f"stats of {tq}: {one_line(exc)}"
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
                self.tracker.progressed((time.perf_counter() - began) * 1000)
                self._bucket.recover()
                state["ok"] += 1
                state["streak"] = 0
            if not partitions:
                return
            parts = self.partitions.setdefault(tq, Reading())
            if is_due(parts, self._mono(), PARTITIONS_INTERVAL):
                async with self._sem:
                    try:
                        parts.ok(await self.temporal.partitions(tq, timeout=self.call_timeout), self._clock(), self._mono())
                    except Exception as exc:  # partitions are a detail: their failure fails nothing else
                        parts.failed(one_line(exc), self._mono())

        await asyncio.gather(run_pool(one, due, self._concurrency), self._read_workers(tqs, due))
        if state["failed"] and not state["ok"] and not state["limited"]:
            raise TemporalUnavailable(state["error"] or "Temporal did not answer")
        if state["failed"] or state["limited"]:
            return f"{state['failed'] + state['limited']} of {len(due)} queue reads failed: {state['error']}"
        return None

    async def _read_workers(self, tqs: list[str], due: list[str]) -> None:
        from kubiya_tui.client.temporal_types import TemporalUnavailable

        if self._workers_unsupported:
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
                    self.workers.setdefault(tq, Reading()).ok(workers, wall, mono)
            else:

                async def one(tq: str) -> None:
                    reading = self.workers.setdefault(tq, Reading())
                    async with self._sem:
                        try:
                            workers = await self.temporal.workers(tq, timeout=self.call_timeout, retry=False)
                        except TemporalUnavailable as exc:
                            reading.failed(one_line(exc), self._mono())
                            raise
                    reading.ok(workers, self._clock(), self._mono())

                await asyncio.gather(*(one(tq) for tq in due))
        except TemporalUnavailable as exc:
            text = str(exc).lower()
            if "unimplemented" in text or "not enabled" in text or "disabled" in text:
                self._workers_unsupported = str(exc)
        except Exception:
            log.exception("ListWorkers failed")
