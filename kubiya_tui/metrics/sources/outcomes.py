"""Temporal visibility as a source: what closed in the window, how (statuses) and how long it took.

The queues that are due are read SCAN_CHUNK at a time: one paged ``ListWorkflowExecutions``
of ``TaskQueue IN (...) AND CloseTime > ...`` (``TemporalReader.closed_scan``), bucketed by
task queue, so the cost grows with the executions closed in the window, not with the number
of queues (1,000 quiet queues: 5 calls, not 1,000). A scan that stops at
SCAN_MAX_EXECUTIONS (busy queues) is split in two and each half scanned again, down to
single queues, which are read as before: one page of the queue's closed executions (statuses
and durations) plus a ``CountWorkflowExecutions ... GROUP BY ExecutionStatus`` when the
window holds more than that page. A background loop paced by a token bucket under the
visibility rate limit (one token per call, halved on "rate limit exceeded") reads each queue
every ``outcomes_interval``.

Processing time (p50, p95) is close_time - start_time of the executions closed in the
window, from one visibility page (the latest 200) per queue: Temporal's own record, the same
window and the same executions as the error rate, counting tasks of every worker. It
includes the time a task waited in the backlog, which is what a submitter waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from kubiya_tui.metrics import derive
from kubiya_tui.metrics.ports import TemporalStatsReader
from kubiya_tui.metrics.scheduler import Reading, TokenBucket, Tracker, is_due, one_line

log = logging.getLogger("kubiya_tui.metrics")

OUTCOMES_INTERVAL = 10.0
DURATIONS_INTERVAL = 30.0
DURATION_PAGE = 200
VISIBILITY_RPS = 40.0
"""Below the dev server's ~100/s namespace limit, leaving room for the control plane's own calls."""
VISIBILITY_CONCURRENCY = 4
SCAN_CHUNK = 200
"""Task queues named in one scan (a query of ~8 KB: 1,000 names, 40 KB, the dev server takes too)."""
SCAN_MAX_EXECUTIONS = 5000
"""A scan reads at most this many executions (5 pages); a scan that stops there is split."""


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


class OutcomesSource:
    """Reads every watched queue's outcomes in a background loop, paced under the visibility rate limit."""

    def __init__(
        self,
        temporal: TemporalStatsReader,
        *,
        tracker: Tracker,
        task_queues: Callable[[], Awaitable[list[str]]],
        watched_task_queues: Callable[[], list[str]],
        window: float,
        interval: float,
        outcomes_interval: float,
        durations_interval: float,
        durations: bool,
        call_timeout: float,
        visibility_rps: float,
        concurrency: int,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        self.temporal = temporal
        self.tracker = tracker
        self._task_queues = task_queues
        self._watched = watched_task_queues
        self.window = window
        self._interval = interval
        self.outcomes_interval = outcomes_interval
        self.durations_interval = durations_interval
        self.durations = durations
        self.call_timeout = call_timeout
        self._clock = clock
        self._mono = monotonic
        self._sem = asyncio.Semaphore(min(VISIBILITY_CONCURRENCY, concurrency))
        # Pacing is about real time, whatever clock the rest of the collector is given.
        self._bucket = TokenBucket(visibility_rps, burst=min(10.0, max(1.0, visibility_rps / 4)))
        self.outcomes: dict[str, Reading[Outcome]] = {}
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._progress: asyncio.Event | None = None
        self._force_at = 0.0
        self._round_started = -1e18
        self._sweeping = False
        self._closed = False

    # ------------------------------------------------------------------ control

    def ensure_running(self) -> None:
        """Start the background loop if it is not running."""
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._progress = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._loop())

    def force(self, at: float) -> None:
        """Read every queue again now, whatever its schedule (``at``: monotonic time of the request)."""
        self._force_at = at
        if self._wake is not None:
            self._wake.set()

    async def aclose(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except BaseException:
                pass

    # ------------------------------------------------------------------ the loop

    def _due(self, tq: str, mono: float) -> bool:
        reading = self.outcomes.get(tq)
        if reading is None or reading.tried < self._force_at:
            return True
        return is_due(reading, mono, self.outcomes_interval, self.tracker.failed_at, retry_after=self._retry_after)

    @property
    def _retry_after(self) -> float:
        """A read that failed while others answered (a scan that timed out on a dev server busy with a cold
        start's 2,000 DescribeTaskQueue calls) is tried again after one refresh interval, not a whole outcomes
        interval: that wait was 10 of the 14 s before a cold 1,000-queue console had every number."""
        return min(self._interval, self.outcomes_interval)

    async def _loop(self) -> None:
        """Reads outcomes queue by queue, paced under the visibility rate limit, until closed."""
        assert self._wake is not None and self._progress is not None
        while not self._closed:
            try:
                wait = await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the loop alive whatever happens
                log.exception("visibility round failed")
                wait = self._interval
            self._progress.set()
            if wait > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except asyncio.TimeoutError:
                    pass

    async def _round(self) -> float:
        """Read every queue whose outcomes are due; answers how long to wait before the next round."""
        from kubiya_tui.client.temporal_types import TemporalRateLimited, TemporalUnavailable

        tracker = self.tracker
        forced = self._force_at > self._round_started
        if tracker.backing_off() and not forced:
            return max(0.05, tracker.next_at - self._mono())
        self._round_started = self._mono()
        tqs = await self._task_queues()
        mono = self._mono()
        due = [tq for tq in tqs if self._due(tq, mono)]
        if not due:
            pending = [r.tried + (self.outcomes_interval if r.error is None else self._retry_after) - mono
                       for tq in tqs if (r := self.outcomes.get(tq)) is not None]  # fmt: skip
            return max(0.05, min(pending, default=self._interval))
        due.sort(key=lambda tq: self.outcomes[tq].tried if tq in self.outcomes else -1.0)
        state = {"ok": 0, "failed": 0, "streak": 0, "error": None, "latency": 0.0}
        abort = asyncio.Event()
        scanning = hasattr(self.temporal, "closed_scan")
        # A sweep is paced on purpose: it is never "busy" as a whole; each call's latency tells if it is slow.
        self._sweeping = True

        async def one(tq: str) -> None:
            reading = self.outcomes.setdefault(tq, Reading())
            began = time.perf_counter()
            try:
                async with self._sem:
                    if abort.is_set():
                        return
                    value = await self._read(tq, reading)
            except TemporalRateLimited as exc:
                self._bucket.slow_down()
                reading.failed(one_line(exc), self._mono())
                state["error"] = one_line(exc)
                return
            except Exception as exc:  # TemporalUnavailable, or anything unexpected: this queue failed
                error = one_line(exc) if isinstance(exc, TemporalUnavailable) else f"outcomes of {tq}: {one_line(exc)}"
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
            self._progress.set()  # type: ignore[union-attr]

        async def scan(chunk: list[str]) -> None:
            """One scan of the chunk's closed executions; split when it could not read them all."""
            began = time.perf_counter()
            try:
                async with self._sem:
                    if abort.is_set():
                        return
                    found = await self.temporal.closed_scan(  # type: ignore[attr-defined]
                        chunk, self.window, durations_per_queue=DURATION_PAGE, max_executions=SCAN_MAX_EXECUTIONS,
                        timeout=self.call_timeout, before_page=self._bucket.take,
                    )  # fmt: skip
            except TemporalRateLimited as exc:
                self._bucket.slow_down()
                for tq in chunk:
                    self.outcomes.setdefault(tq, Reading()).failed(one_line(exc), self._mono())
                state["error"] = one_line(exc)
                return
            except Exception as exc:  # TemporalUnavailable, or anything unexpected: these queues failed
                error = one_line(exc) if isinstance(exc, TemporalUnavailable) else f"outcomes: {one_line(exc)}"
                if not isinstance(exc, TemporalUnavailable):
                    log.exception("scanning outcomes of %d queues failed", len(chunk))
                for tq in chunk:
                    self.outcomes.setdefault(tq, Reading()).failed(error, self._mono())
                state["failed"] += len(chunk)
                state["streak"] += 1
                state["error"] = error
                if state["streak"] >= VISIBILITY_CONCURRENCY and not state["ok"]:
                    abort.set()
                return
            if not found.complete:
                if len(chunk) == 1:  # one busy queue: a page of it and a Count, as without scans
                    await self._bucket.take()
                    await one(chunk[0])
                else:
                    half = len(chunk) // 2
                    await asyncio.gather(scan(chunk[:half]), scan(chunk[half:]))
                return
            wall, mono = self._clock(), self._mono()
            for tq in chunk:
                page = found.queues[tq]
                durations = page.durations_seconds if self.durations else ()
                value = Outcome(
                    by_status=page.by_status,
                    p50=derive.percentile(durations, 50),
                    p95=derive.percentile(durations, 95),
                    samples=len(durations),
                    durations_at=mono,
                )
                self.outcomes.setdefault(tq, Reading()).ok(value, wall, mono)
            self._bucket.recover()
            state["ok"] += len(chunk)
            state["streak"] = 0
            state["latency"] = (time.perf_counter() - began) * 1000
            self._progress.set()  # type: ignore[union-attr]

        running: set[asyncio.Task] = set()
        work = [due[i : i + SCAN_CHUNK] for i in range(0, len(due), SCAN_CHUNK)] if scanning else due
        try:
            for item in work:
                if abort.is_set() or self._closed:
                    break
                if isinstance(item, list):
                    task = asyncio.get_running_loop().create_task(scan(item))
                else:
                    await self._bucket.take()
                    task = asyncio.get_running_loop().create_task(one(item))
                running.add(task)
                task.add_done_callback(running.discard)
                if len(running) >= VISIBILITY_CONCURRENCY * 2:
                    await asyncio.wait(set(running), return_when=asyncio.FIRST_COMPLETED)
            if running:
                await asyncio.wait(set(running))
        finally:
            for task in running:
                task.cancel()
            self._sweeping = False
        if state["ok"]:
            partial = f"{state['failed']} of {len(due)} outcome reads failed: {state['error']}" if state["failed"] else None
            tracker.success(state["latency"], self._clock(), partial)
        elif state["failed"]:
            tracker.failure(state["error"] or "visibility did not answer")
            return max(0.05, tracker.next_at - self._mono())
        return 0.0 if self._any_due() else 0.05

    def _any_due(self) -> bool:
        mono = self._mono()
        return any(self._due(tq, mono) for tq in self._watched())

    async def _read(self, tq: str, reading: Reading[Outcome]) -> Outcome:
        previous = reading.value
        mono = self._mono()
        want_durations = self.durations and (
            previous is None or reading.tried < self._force_at or mono - previous.durations_at >= self.durations_interval
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

    async def wait_read(self, since: float | None, timeout: float) -> None:
        """Until every watched queue's outcomes were read (after ``since``), or visibility failed."""
        assert self._progress is not None
        deadline = self._mono() + timeout

        def settled() -> bool:
            tracker = self.tracker
            # The last round failed as a whole (Temporal down): nothing more will come for now.
            if tracker.failures and not self._sweeping and (since is None or self._round_started >= since):
                return True
            for tq in set(self._watched()):
                reading = self.outcomes.get(tq)
                if reading is None or (reading.value is None and reading.error is None):
                    return False  # not read yet, or its first read is under way
                if since is not None and reading.tried < since:
                    return False
            return True

        while not settled():
            remaining = deadline - self._mono()
            if remaining <= 0:
                return
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass
