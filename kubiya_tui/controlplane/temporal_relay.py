"""The control plane's relay of Temporal reads: one organization's task queues, read once for every caller.

``GET /api/v1/temporal-reads`` answers what the console's collector reads from Temporal
(DescribeTaskQueue per task queue, the workers Temporal sees, one scan of the window's closed
executions), for the caller's own task queues only, from readings at most ``max_age``
seconds old. A one-shot `check` or `top` then reads one HTTP document instead of loading the
Temporal SDK and making hundreds of calls (kubiya_tui/client/relay.py), and a fleet of
monitoring checks that run within seconds of each other share one set of Temporal calls.

Nothing is read in the background: readings are made when asked for and kept ``KEEP_SECONDS``.
Concurrent requests of one organization wait for one fetch (a lock per organization) rather
than each making the same calls.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from kubiya_tui.client.temporal import TemporalReader
from kubiya_tui.client.temporal_types import ClosedExecutions, TemporalRateLimited, TemporalUnavailable
from kubiya_tui.controlplane.naming import legacy_task_queue
from kubiya_tui.controlplane.store import Store

MAX_AGE_LIMIT = 30.0
"""The oldest readings a caller may ask for (seconds)."""
KEEP_SECONDS = 120.0
"""Readings older than this are dropped (they can serve no request)."""
CONCURRENCY = 16
"""DescribeTaskQueue calls in flight for one fetch (what the console's collector uses)."""
CALL_TIMEOUT = 3.0
NAMESPACE_WORKERS_ABOVE = 8
"""With more task queues than this, one namespace-wide ListWorkers, filtered, instead of one per task queue."""
SCAN_CHUNK = 200
"""Task queues per visibility scan (a ``TaskQueue IN (...)`` query), as the collector scans them."""
UNSUPPORTED_WORDS = ("unimplemented", "not enabled", "disabled")


@dataclass
class _Stamped:
    at: float
    """Wall clock of the reading (epoch seconds)."""
    mono: float
    value: Any = None
    error: str | None = None
    rate_limited: bool = False


@dataclass
class _OrgReadings:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stats: dict[str, _Stamped] = field(default_factory=dict)
    workers: _Stamped | None = None
    workers_for: frozenset[str] = frozenset()
    closed: dict[tuple[float, tuple[str, ...]], _Stamped] = field(default_factory=dict)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


class TemporalRelay:
    """Per-organization readings of the app's Temporal reader, made on demand and shared while fresh."""

    def __init__(self, reader: TemporalReader, store: Store, *, monotonic: Any = time.monotonic, clock: Any = time.time) -> None:
        self.reader = reader
        self.store = store
        self._mono = monotonic
        self._clock = clock
        self._orgs: dict[str, _OrgReadings] = {}
        self.calls = 0
        """Temporal calls made so far (the tests and the benchmark read it)."""

    async def task_queues_of(self, org: str) -> list[str]:
        """Every task queue the organization owns: its worker queues', its environments' legacy ones, its legacy workers'."""
        queues, env_names, legacy = await self.store.task_queue_names(org)
        owned = dict.fromkeys(queues)
        owned.update(dict.fromkeys(legacy_task_queue(org, name) for name in env_names))
        owned.update(dict.fromkeys(name for name in legacy if name))
        return list(owned)

    async def read(
        self, org: str, asked: Sequence[str] | None, *, window: float, durations_per_queue: int, max_age: float
    ) -> dict[str, Any]:
        """The document of ``GET /temporal-reads``: readings of the organization's task queues (those asked for, if any)."""
        owned = await self.task_queues_of(org)
        if asked:
            mine = set(owned)
            wanted = [tq for tq in dict.fromkeys(asked) if tq in mine]
            foreign = [tq for tq in dict.fromkeys(asked) if tq not in mine]
        else:
            wanted, foreign = owned, []
        readings = self._orgs.setdefault(org, _OrgReadings())
        async with readings.lock:
            self._forget(readings)
            available = await self.reader.available()
            if available:
                await asyncio.gather(
                    self._fresh_stats(readings, wanted, max_age),
                    self._fresh_workers(readings, owned, max_age),
                    self._fresh_closed(readings, wanted, window, durations_per_queue, max_age),
                )
        return self._document(readings, wanted, foreign, window, available)

    def _forget(self, readings: _OrgReadings) -> None:
        cutoff = self._mono() - KEEP_SECONDS
        readings.stats = {tq: s for tq, s in readings.stats.items() if s.mono >= cutoff}
        readings.closed = {k: s for k, s in readings.closed.items() if s.mono >= cutoff}
        if readings.workers is not None and readings.workers.mono < cutoff:
            readings.workers = None

    def _stale(self, stamped: _Stamped | None, max_age: float) -> bool:
        return stamped is None or stamped.error is not None or self._mono() - stamped.mono > max_age

    async def _fresh_stats(self, readings: _OrgReadings, wanted: list[str], max_age: float) -> None:
        due = [tq for tq in wanted if self._stale(readings.stats.get(tq), max_age)]
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(tq: str) -> None:
            async with sem:
                self.calls += 1
                try:
                    value = await self.reader.queue_stats(tq, timeout=CALL_TIMEOUT, retry=False)
                except TemporalRateLimited as exc:
                    readings.stats[tq] = _Stamped(self._clock(), self._mono(), error=_one_line(exc), rate_limited=True)
                except Exception as exc:
                    readings.stats[tq] = _Stamped(self._clock(), self._mono(), error=_one_line(exc))
                else:
                    readings.stats[tq] = _Stamped(self._clock(), self._mono(), value)

        await asyncio.gather(*(one(tq) for tq in due))

    async def _fresh_workers(self, readings: _OrgReadings, owned: list[str], max_age: float) -> None:
        mine = frozenset(owned)
        if not self._stale(readings.workers, max_age) and readings.workers_for == mine:
            return
        if readings.workers is not None and readings.workers.value == "unsupported":
            return  # the server has no ListWorkers: asking again will not change that
        self.calls += 1
        try:
            if len(owned) > NAMESPACE_WORKERS_ABOVE:
                found = await self.reader.list_workers(None, timeout=CALL_TIMEOUT, page_size=1000)
            else:
                lists = await asyncio.gather(*(self.reader.workers(tq, timeout=CALL_TIMEOUT, retry=False) for tq in owned))
                found = [w for workers in lists for w in workers]
        except Exception as exc:
            text = _one_line(exc)
            unsupported = isinstance(exc, TemporalUnavailable) and any(w in text.lower() for w in UNSUPPORTED_WORDS)
            readings.workers = _Stamped(self._clock(), self._mono(), "unsupported" if unsupported else None, error=text)
            return
        # Only the organization's own task queues: other tenants' workers never leave the server.
        by_tq: dict[str, list[dict]] = {tq: [] for tq in owned}
        for w in found:
            if w.get("task_queue") in by_tq:
                by_tq[w["task_queue"]].append(w)
        readings.workers = _Stamped(self._clock(), self._mono(), by_tq)
        readings.workers_for = mine

    async def _fresh_closed(
        self, readings: _OrgReadings, wanted: list[str], window: float, durations_per_queue: int, max_age: float
    ) -> None:
        key = (window, tuple(sorted(wanted)))
        if not wanted or not self._stale(readings.closed.get(key), max_age):
            return
        try:
            chunks = [wanted[i : i + SCAN_CHUNK] for i in range(0, len(wanted), SCAN_CHUNK)]
            found = {}
            for part in await asyncio.gather(*(self._scan(c, window, durations_per_queue) for c in chunks)):
                found.update(part)
        except TemporalRateLimited as exc:
            readings.closed[key] = _Stamped(self._clock(), self._mono(), error=_one_line(exc), rate_limited=True)
        except Exception as exc:
            readings.closed[key] = _Stamped(self._clock(), self._mono(), error=_one_line(exc))
        else:
            readings.closed[key] = _Stamped(self._clock(), self._mono(), found)

    async def _scan(self, tqs: list[str], window: float, durations_per_queue: int) -> dict[str, ClosedExecutions]:
        """Every task queue's closed executions in the window, whole: a scan too big to finish is split in
        halves (as the collector does), down to one queue, read as a page of durations and a count."""
        self.calls += 1
        scan = await self.reader.closed_scan(tqs, window, durations_per_queue=durations_per_queue, timeout=CALL_TIMEOUT)
        if scan.complete:
            return dict(scan.queues)
        if len(tqs) > 1:
            half = len(tqs) // 2
            first, second = await asyncio.gather(
                self._scan(tqs[:half], window, durations_per_queue), self._scan(tqs[half:], window, durations_per_queue)
            )
            return {**first, **second}
        tq = tqs[0]
        self.calls += 2
        page = await self.reader.closed_executions(tq, window, max(durations_per_queue, 1), timeout=CALL_TIMEOUT)
        counted = await self.reader.outcomes(tq, window, timeout=CALL_TIMEOUT, retry=False)
        return {tq: ClosedExecutions(window, counted.by_status, page.durations_seconds[:durations_per_queue], True)}

    def _document(
        self, readings: _OrgReadings, wanted: list[str], foreign: list[str], window: float, available: bool
    ) -> dict[str, Any]:
        reader = self.reader
        doc: dict[str, Any] = {
            "temporal": {"address": reader.address, "namespace": reader.namespace, "available": available},
            "error": None if available else (reader.last_error or f"Temporal at {reader.address} is unavailable"),
            "queues": {},
            # The organization's task queues this document covers (those named, or all of them), so a
            # client that asked for all can tell another organization's name from a quiet queue.
            "task_queues": list(wanted),
            "not_owned": foreign,
            "workers": None,
            "closed": None,
        }
        if not available:
            return doc
        for tq in wanted:
            s = readings.stats.get(tq)
            if s is None:
                continue
            doc["queues"][tq] = {
                "at": s.at,
                "stats": None if s.value is None else asdict(s.value),
                "error": s.error,
                "rate_limited": s.rate_limited,
            }
        w = readings.workers
        if w is not None:
            by_tq = w.value if isinstance(w.value, dict) else {}
            doc["workers"] = {
                "at": w.at,
                "by_task_queue": {tq: by_tq.get(tq, []) for tq in wanted} if by_tq else {},
                "error": w.error,
                "unsupported": w.value == "unsupported",
            }
        c = readings.closed.get((window, tuple(sorted(wanted))))
        if c is not None:
            doc["closed"] = {
                "at": c.at,
                "error": c.error,
                "rate_limited": c.rate_limited,
                "queues": None if c.value is None else {tq: asdict(ex) for tq, ex in c.value.items()},
            }
        return doc
