"""When the collector's sources poll: readings, trackers, pollers, rate limits, due and back-off.

Nothing here knows what a source reads. A :class:`Poller` runs one source's poll (never two
at once, bounded by a timeout) and reports to its :class:`Tracker` (latency, errors,
back-off), which the snapshot turns into a :class:`SourceState`. A :class:`Reading` is
the newest good value of one read plus how its last attempt went; :func:`is_due` says
when to read it again. A :class:`TokenBucket` paces calls under a server's rate limit.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Generic, Sequence, TypeVar

from kubiya_tui.metrics.snapshot import ReadState, SourceState, SourceStatus

T = TypeVar("T")

LATE_AFTER_PERIODS = 3
"""A read's data is late once it is this many of its periods old (and at least LATE_AFTER_SECONDS)."""
LATE_AFTER_SECONDS = 15.0
DOWN_AFTER_FAILURES = 2
"""Consecutive failed polls before a source that has answered before reads "down": one failure is often transient."""

IDLE = "\0idle"
"""What a poll answers when nothing was due: no call made, nothing to report."""

_RANK = {SourceStatus.ok: 0, SourceStatus.slow: 1, SourceStatus.down: 2, SourceStatus.off: -1}


@dataclass
class Reading(Generic[T]):
    """The newest good value of one read, and how the last attempt went."""

    value: T | None = None
    at: float | None = None
    """Wall time of the newest good value."""
    error: str | None = None
    """The last attempt's error; None when it succeeded."""
    tried: float = -math.inf
    """Monotonic time of the last attempt (never tried: minus infinity, so it is due at once)."""

    def ok(self, value: T, wall: float, mono: float) -> None:
        self.value, self.at, self.error, self.tried = value, wall, None, mono

    def failed(self, error: str, mono: float) -> None:
        self.error, self.tried = error, mono


def is_due(
    reading: Reading | None, mono: float, every: float, failed_at: float | None = None, retry_after: float | None = None
) -> bool:
    """Whether a read is due: ``every`` seconds after its last try, or at once if it failed with its source's last failed poll.

    ``retry_after``: a read that failed is due again this many seconds after it was tried, even when the
    rest of its poll answered (a few calls that timed out on a busy server).
    """
    if reading is None or mono - reading.tried >= every:
        return True
    if retry_after is not None and reading.error is not None and mono - reading.tried >= retry_after:
        return True
    # Retried on the source's backoff (about one interval), so two failed polls in a row come soon.
    return failed_at is not None and reading.error is not None and reading.tried <= failed_at


class Tracker:
    """How one poller is doing: latency, errors, backoff; turned into a SourceState."""

    def __init__(
        self,
        name: str,
        interval: float,
        max_backoff: float,
        mono: Callable[[], float],
        *,
        shows: str = "",
        period: float | None = None,
    ) -> None:
        self.name = name
        self.shows = shows
        """The numbers its poll gives, as the banner names them (``done/m and errors``)."""
        self.period = period if period is not None else interval
        """How often its data is read anew when all is well: older than LATE_AFTER_PERIODS of it is late."""
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
        self.progress_at: float | None = None
        """Monotonic time of the last call a poll of many calls got answered (see progressed())."""
        self.call_latency_ms: float | None = None
        """A poll of many calls: the typical latency of one call (see progressed())."""

    def progressed(self, call_ms: float) -> None:
        """One call of a poll of many was answered in ``call_ms``: such a source is judged by its calls.

        A poll of 2,000 DescribeTaskQueue calls takes seconds however fast each call is; it is
        slow when its calls are slow, or when none has been answered for ``slow_after``.
        """
        self.progress_at = self._mono()
        old = self.call_latency_ms
        self.call_latency_ms = call_ms if old is None else 0.8 * old + 0.2 * call_ms

    def now(self) -> float:
        """The monotonic clock this tracker runs on."""
        return self._mono()

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
        if self.busy_since is not None:
            since = self.busy_since if self.progress_at is None else max(self.busy_since, self.progress_at)
            if self._mono() - since > slow_after:
                return SourceStatus.slow
        latency = self.call_latency_ms if self.call_latency_ms is not None else self.latency_ms
        if latency is not None and latency > slow_after * 1000:
            return SourceStatus.slow
        if self.ok_at is None:
            return SourceStatus.slow if self.busy_since is not None else None
        return SourceStatus.ok


def read_state(tracker: Tracker, slow_after: float, now: float) -> ReadState:
    """One read's state: its status, the age of its data and whether that is late."""
    age = round(now - tracker.ok_at, 1) if tracker.ok_at is not None else None
    late_after = max(LATE_AFTER_SECONDS, LATE_AFTER_PERIODS * tracker.period)
    return ReadState(
        name=tracker.name,
        status=tracker.status(slow_after) or SourceStatus.slow,
        shows=tracker.shows,
        data_age_seconds=age,
        late=age is not None and age > late_after,
        last_error=tracker.error if tracker.failures else None,
    )


def source_state(name: str, trackers: Sequence[Tracker], slow_after: float, now: float, address: str | None) -> SourceState:
    """One backend's state in a snapshot, from the trackers of its reads (the main read first).

    It is down only when its main read is down; a secondary read that fails or is late makes it
    slow (the backend answers, one of its reads does not) and is named in ``reads``.
    """
    statuses = [s for t in trackers if (s := t.status(slow_after)) is not None]
    # Until a source has answered once, it reads "slow" (its first poll is under way), not "down".
    worst = max(statuses, key=lambda s: _RANK[s]) if statuses else SourceStatus.slow
    reads = tuple(read_state(t, slow_after, now) for t in trackers)
    main = trackers[0].status(slow_after)
    if worst is SourceStatus.down and main is not SourceStatus.down:
        worst = SourceStatus.slow
    if worst is SourceStatus.ok and any(r.late for r in reads):
        worst = SourceStatus.slow
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
        reads=reads,
    )


class Poller:
    """Runs one source's poll: never two at once, bounded by a timeout, backing off after failures.

    ``work(force)`` answers None (all went well), a line saying what partly failed, or IDLE.
    """

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

    async def wait_first(self) -> None:
        """Until the poll under way ends (how it ends is its tracker's business)."""
        if self.task is not None and not self.task.done():
            try:
                await asyncio.shield(self.task)
            except Exception:
                pass

    async def _run(self, force: bool) -> None:
        tracker = self.tracker
        began = time.perf_counter()
        tracker.busy_since = tracker.now()
        try:
            partial = await asyncio.wait_for(self._work(force), self.timeout)
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            tracker.failure(f"{tracker.name}: no answer within {self.timeout:g} s", (time.perf_counter() - began) * 1000)
        except Exception as exc:  # every failure of a source becomes its state, never an exception
            tracker.failure(one_line(exc), (time.perf_counter() - began) * 1000)
        else:
            if partial != IDLE:
                tracker.success((time.perf_counter() - began) * 1000, self._clock(), partial)
            elif tracker.ok_at is None or tracker.failures:
                # Nothing was due (no queue to read): nothing failed either.
                tracker.success(None, self._clock())
        finally:
            tracker.busy_since = None

    async def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            try:
                await self.task
            except BaseException:
                pass


class TokenBucket:
    """Paces calls at ``rate`` per second with a small burst; halves its rate when told to slow down.

    It halves at most once per ``SLOW_DOWN_EVERY`` seconds: the calls in flight when the server
    first refused were sent at the old rate, and their refusals, arriving together, say nothing
    more. (Halving for each, 16 refusals of one burst took 900 calls/s down to 1.)
    """

    SLOW_DOWN_EVERY = 0.5

    def __init__(self, rate: float, burst: float = 5.0, mono: Callable[[], float] = time.monotonic) -> None:
        self.rate = self.max_rate = rate
        self.burst = burst
        self._tokens = burst
        self._mono = mono
        self._at = mono()
        self._slowed_at = -math.inf
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
        now = self._mono()
        if now - self._slowed_at < self.SLOW_DOWN_EVERY:
            return
        self._slowed_at = now
        self.rate = max(1.0, self.rate / 2)

    def recover(self) -> None:
        if self.rate < self.max_rate:
            self.rate = min(self.max_rate, self.rate * 1.1)


async def run_pool(work: Callable[[T], Awaitable[None]], items: Sequence[T], size: int) -> None:
    """Run ``work`` over the items with at most ``size`` at once, from ``size`` tasks (not one per item)."""
    feed = iter(items)

    async def runner() -> None:
        for item in feed:
            await work(item)

    await asyncio.gather(*(runner() for _ in range(max(1, min(size, len(items))))))


def one_line(exc: BaseException | str) -> str:
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
