"""Rolling history of queue metrics: ring buffers in memory, batches in SQLite on disk.

One sample per refresh for every queue. All queues are sampled at the same moments, so one
ring of timestamps serves them all, and each queue holds one flat ``array('f')`` of
``len(METRICS) x capacity`` values (float32, NaN for "unknown"): about 65 KB per queue for
an hour at a 2 s interval, allocated once.

Persistence (optional) keeps charts across a restart: samples wait in memory and are
written in one transaction per ``flush_every`` seconds (one row per queue holding that
batch as packed arrays), from a worker thread, never on the refresh path. Rows older than
the ring's span are pruned as new ones are written. Several consoles may share the file:
each writes under its own scope (a hash of what it is connected to).
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import threading
import time
from array import array
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

log = logging.getLogger("kubiya_tui.metrics")

METRICS: tuple[str, ...] = (
    "depth",
    "backlog_age_seconds",
    "add_rate_per_min",
    "dispatch_rate_per_min",
    "processed_per_min",
    "error_rate",
    "duration_p95_seconds",
    "workers_healthy",
    "capacity_used",
)
"""What is kept per queue; each is a QueueSnapshot field, or workers_healthy (workers.healthy)."""

NAN = float("nan")
SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    scope TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    t_first REAL NOT NULL,
    t_last REAL NOT NULL,
    metrics TEXT NOT NULL,
    times BLOB NOT NULL,
    vals BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_scope_last ON chunks (scope, t_last);
"""
FORGET_OTHER_SCOPES_AFTER = 86400.0
"""Rows of other scopes (other profiles, other servers) are deleted after a day."""


def capacity_for(interval: float, hours: float = 1.0) -> int:
    """Samples that cover ``hours`` at one sample per ``interval`` seconds (at least)."""
    return max(2, math.ceil(hours * 3600.0 / max(interval, 0.01)) + 1)


def snapshot_values(queue) -> tuple[float | None, ...]:  # type: ignore[no-untyped-def]
    """The METRICS of one QueueSnapshot, in order."""
    return (
        queue.depth,
        queue.backlog_age_seconds,
        queue.add_rate_per_min,
        queue.dispatch_rate_per_min,
        queue.processed_per_min,
        queue.error_rate,
        queue.duration_p95_seconds,
        queue.workers.healthy,
        queue.capacity_used,
    )


class History:
    """Ring buffers per queue and metric; optionally persisted to SQLite in batches."""

    def __init__(
        self,
        interval: float,
        *,
        hours: float = 1.0,
        path: Path | None = None,
        scope: str = "default",
        flush_every: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval = interval
        self.capacity = capacity_for(interval, hours)
        self.path = path
        self.scope = scope
        self.flush_every = flush_every
        self._clock = clock
        self._index = {name: i for i, name in enumerate(METRICS)}
        self._times = array("d", [NAN]) * self.capacity
        self._series: dict[str, array] = {}
        self._last_seen: dict[str, int] = {}
        self._pos = 0
        self._count = 0
        self._pending: list[tuple[float, dict[str, tuple[float | None, ...]]]] = []
        self._last_flush = clock()
        self._flushing: asyncio.Task | None = None
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()
        self._disk_error: str | None = None
        self.loaded = False

    # ------------------------------------------------------------------ memory

    @property
    def metrics(self) -> tuple[str, ...]:
        return METRICS

    def queues(self) -> list[str]:
        return list(self._series)

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    def record(self, at: float, values: Mapping[str, Sequence[float | None]], persist: bool = True) -> None:
        """One sample for every queue: ``values[queue_id]`` in METRICS order; absent queues get a gap."""
        cap = self.capacity
        slot = self._pos
        self._times[slot] = at
        width = len(METRICS)
        for queue_id, series in self._series.items():
            row = values.get(queue_id)
            if row is None:
                for m in range(width):
                    series[m * cap + slot] = NAN
        for queue_id, row in values.items():
            series = self._series.get(queue_id)
            if series is None:
                series = self._series[queue_id] = array("f", [NAN]) * (width * cap)
            for m in range(width):
                v = row[m] if m < len(row) else None
                series[m * cap + slot] = NAN if v is None else v
            self._last_seen[queue_id] = self._count
        self._pos = (slot + 1) % cap
        self._count += 1
        # A queue not seen for a whole ring holds nothing but gaps: let it go.
        if self._count % 64 == 0:
            for queue_id in [q for q, seen in self._last_seen.items() if self._count - seen > cap]:
                self._series.pop(queue_id, None)
                self._last_seen.pop(queue_id, None)
        if persist and self.path is not None:
            self._pending.append((at, {q: tuple(v) for q, v in values.items()}))

    def record_snapshot(self, snapshot, persist: bool = True) -> None:  # type: ignore[no-untyped-def]
        """Record every queue of a Snapshot; numbers whose source is down are a gap, not a flat line."""
        numbers_from = "api" if snapshot.mode == "api" else "temporal"
        workers_from = "temporal" if snapshot.mode == "temporal" else "api"
        split = len(METRICS) - 2
        values = {}
        for q in snapshot.queues:
            row = snapshot_values(q)
            if q.stale_sources:
                numbers = (None,) * split if numbers_from in q.stale_sources else row[:split]
                workers = (None, None) if workers_from in q.stale_sources else row[split:]
                row = numbers + workers
            values[q.id] = row
        self.record(snapshot.taken_at, values, persist)

    def points(self, queue_id: str, metric: str) -> list[tuple[float, float]]:
        """(time, value) of one metric of one queue, oldest first; gaps left out."""
        series = self._series.get(queue_id)
        m = self._index.get(metric)
        if series is None or m is None:
            return []
        cap = self.capacity
        n = min(self._count, cap)
        start = (self._pos - n) % cap
        base = m * cap
        times = self._times
        out = []
        for k in range(n):
            j = (start + k) % cap
            v = series[base + j]
            if v == v:  # not NaN
                out.append((times[j], float(v)))
        return out

    # ------------------------------------------------------------------ disk

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), timeout=5.0, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            self._db = db
        return self._db

    def load(self) -> int:
        """Fill the rings from disk with this scope's samples of the ring's span; answers how many."""
        self.loaded = True
        if self.path is None or not self.path.exists():
            return 0
        since = self._clock() - self.capacity * self.interval
        try:
            with self._db_lock:
                rows = self._connect().execute(
                    "SELECT queue_id, metrics, times, vals FROM chunks WHERE scope=? AND t_last>=? ORDER BY t_first",
                    (self.scope, since),
                ).fetchall()
        except sqlite3.Error as exc:
            self._disk_failed("read", exc)
            return 0
        decoded = []
        all_times: set[float] = set()
        for queue_id, metrics, times_blob, vals_blob in rows:
            times = array("d")
            times.frombytes(times_blob)
            vals = array("f")
            vals.frombytes(vals_blob)
            names = metrics.split(",")
            if len(vals) != len(times) * len(names):
                continue
            decoded.append((queue_id, names, times, vals))
            all_times.update(t for t in times if t >= since)
        if not all_times:
            return 0
        kept = sorted(all_times)[-self.capacity :]
        slot_of = {t: k for k, t in enumerate(kept)}
        cap = self.capacity
        for k, t in enumerate(kept):
            self._times[k] = t
        width = len(METRICS)
        for queue_id, names, times, vals in decoded:
            series = self._series.get(queue_id)
            if series is None:
                series = self._series[queue_id] = array("f", [NAN]) * (width * cap)
            self._last_seen[queue_id] = len(kept) - 1
            columns = [(self._index.get(name), c) for c, name in enumerate(names)]
            for j, t in enumerate(times):
                slot = slot_of.get(t)
                if slot is None:
                    continue
                row = j * len(names)
                for m, c in columns:
                    if m is not None:
                        series[m * cap + slot] = vals[row + c]
        self._pos = len(kept) % cap
        self._count = len(kept)
        return len(kept)

    def due(self) -> bool:
        return (
            self.path is not None
            and bool(self._pending)
            and self._clock() - self._last_flush >= self.flush_every
            and (self._flushing is None or self._flushing.done())
        )

    def flush_soon(self) -> None:
        """Write the pending samples from a worker thread if a batch is due (call from the event loop)."""
        if self.due():
            self._flushing = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        """Write every pending sample now, from a worker thread."""
        if self.path is None or not self._pending:
            return
        batch, self._pending = self._pending, []
        self._last_flush = self._clock()
        try:
            await asyncio.to_thread(self._write, batch)
        except Exception as exc:  # a full disk must not stop the console
            self._disk_failed("write", exc)

    def _write(self, batch: list[tuple[float, dict[str, tuple[float | None, ...]]]]) -> None:
        per_queue: dict[str, tuple[array, array]] = {}
        width = len(METRICS)
        for at, values in batch:
            for queue_id, row in values.items():
                times, vals = per_queue.setdefault(queue_id, (array("d"), array("f")))
                times.append(at)
                vals.extend(NAN if v is None else v for v in (tuple(row) + (None,) * width)[:width])
        names = ",".join(METRICS)
        now = self._clock()
        rows = [
            (self.scope, q, times[0], times[-1], names, times.tobytes(), vals.tobytes())
            for q, (times, vals) in per_queue.items()
        ]
        with self._db_lock:
            db = self._connect()
            db.execute("BEGIN")
            try:
                db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?)", rows)
                db.execute(
                    "DELETE FROM chunks WHERE scope=? AND t_last<?",
                    (self.scope, now - self.capacity * self.interval - self.flush_every),
                )
                db.execute("DELETE FROM chunks WHERE t_last<?", (now - FORGET_OTHER_SCOPES_AFTER,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self._disk_error = None

    def _disk_failed(self, what: str, exc: BaseException) -> None:
        message = f"history file {self.path}: cannot {what}: {exc}"
        if message != self._disk_error:
            log.warning("%s", message)
        self._disk_error = message

    @property
    def disk_error(self) -> str | None:
        return self._disk_error

    async def close(self) -> None:
        """Write what is pending and close the file."""
        if self._flushing is not None and not self._flushing.done():
            try:
                await self._flushing
            except Exception:
                pass
        await self.flush()
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def fill_synthetic(history: History, queue_ids: Iterable[str], start: float | None = None) -> None:
    """Fill every slot of the ring for these queues with made-up values (benchmarks, tests)."""
    ids = list(queue_ids)
    start = start if start is not None else time.time() - history.capacity * history.interval
    for k in range(history.capacity):
        t = start + k * history.interval
        row_base = float(k % 97)
        history.record(t, {q: (row_base, 1.5, 60.0, 58.0, 57.0, 0.02, 1.2, 3.0, 7.0) for q in ids}, persist=False)
