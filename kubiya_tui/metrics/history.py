"""Rolling history of queue metrics: ring buffers in memory, batches in SQLite on disk.

One sample per refresh for every queue. All queues are sampled at the same moments, so one
ring of timestamps serves them all. Each queue holds preallocated arrays of codes: 16 bits
(``array('H')``) for depth, backlog age, rates and duration, 8 bits (``array('B')``) for the
error rate and the worker counts, plus one float scale per metric and block of 32 samples
(block floating point). A value is stored as ``code x scale`` with a power-of-two scale
chosen from the block's largest value: in 16 bits integers below 32,768 are exact and other
values keep 15 bits of the block's largest; in 8 bits integers below 128 are exact and a
ratio keeps 1/127 of the block's largest. Ample for charts (the live numbers are in the
snapshot), and about 30 KB per queue for an hour at a 2 s interval, allocated once. When the
writer enters a block it forgets that block's old samples at once; one spare block keeps the
ring at least ``hours`` long.

Persistence (optional) keeps charts across a restart: samples wait in memory and are
written in one transaction per ``flush_every`` seconds (one row per queue holding that
batch as packed float32 arrays), from a worker thread, never on the refresh path. Rows older
than the ring's span are pruned as new ones are written. Loading at start happens in a
worker thread too; samples recorded meanwhile are kept and replayed. Several consoles may
share the file: each writes under its own scope (a hash of what it is connected to).
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

BLOCK = 32
"""Samples per block (a minute at 2 s); each block of each metric has its own scale."""
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

Row = Sequence[float | None]


def samples_for(interval: float, hours: float = 1.0) -> int:
    """Samples that cover ``hours`` at one sample per ``interval`` seconds."""
    return max(2, math.ceil(hours * 3600.0 / max(interval, 0.01)) + 1)


def capacity_for(interval: float, hours: float = 1.0) -> int:
    """Ring slots: whole blocks for ``hours``, plus the block that is being forgotten."""
    return (math.ceil(samples_for(interval, hours) / BLOCK) + 1) * BLOCK


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


NARROW = frozenset({"error_rate", "workers_healthy", "capacity_used"})
"""Metrics kept in 8 bits (small integers exact below 128; a ratio to 1/127 of its block's largest value)."""


class _Codes:
    """How one width of code is kept: the array type, the gap code, the largest code, the headroom."""

    def __init__(self, typecode: str, bits: int) -> None:
        self.typecode = typecode
        self.gap = (1 << bits) - 1
        self.top = self.gap - 1
        self.half = (1 << (bits - 1)) - 1
        self.gap_block = array(typecode, [self.gap]) * BLOCK


WIDE = _Codes("H", 16)
SMALL = _Codes("B", 8)


class Rings:
    """The ring buffers themselves: timestamps, and per queue the codes and block scales."""

    def __init__(self, capacity: int, metrics: Sequence[str] = METRICS) -> None:
        assert capacity % BLOCK == 0
        self.capacity = capacity
        self.width = len(metrics)
        self.blocks = capacity // BLOCK
        # Metric index -> (which codes, column among those codes).
        self.layout: list[tuple[_Codes, int]] = []
        counts = {WIDE: 0, SMALL: 0}
        for name in metrics:
            kind = SMALL if name in NARROW else WIDE
            self.layout.append((kind, counts[kind]))
            counts[kind] += 1
        self.columns = counts
        self.times = array("d", [NAN]) * capacity
        self.codes: dict[str, dict[_Codes, array]] = {}
        self.scales: dict[str, array] = {}
        self.last_seen: dict[str, int] = {}
        self.pos = 0
        self.count = 0
        self._nan_block = array("d", [NAN]) * BLOCK

    def _series(self, queue_id: str) -> tuple[dict[_Codes, array], array]:
        codes = self.codes.get(queue_id)
        if codes is None:
            codes = self.codes[queue_id] = {
                kind: array(kind.typecode, [kind.gap]) * (n * self.capacity) for kind, n in self.columns.items() if n
            }
            self.scales[queue_id] = array("f", [0.0]) * (self.width * self.blocks)
        return codes, self.scales[queue_id]

    def record(self, at: float, values: Mapping[str, Row]) -> None:
        cap, width = self.capacity, self.width
        slot = self.pos
        block = slot // BLOCK
        if slot % BLOCK == 0:
            # Entering a block: its samples from an hour ago go at once, and its scales start afresh.
            self.times[slot : slot + BLOCK] = self._nan_block
            for queue_id, codes in self.codes.items():
                for kind, arr in codes.items():
                    for col in range(self.columns[kind]):
                        base = col * cap + slot
                        arr[base : base + BLOCK] = kind.gap_block
                scales = self.scales[queue_id]
                for m in range(width):
                    scales[m * self.blocks + block] = 0.0
        self.times[slot] = at
        layout = self.layout
        for queue_id, row in values.items():
            codes, scales = self._series(queue_id)
            for m in range(min(width, len(row))):
                v = row[m]
                if v is None or v != v:
                    continue
                kind, col = layout[m]
                self._put(kind, codes[kind], scales, col * cap, m * self.blocks + block, slot, float(v))
            self.last_seen[queue_id] = self.count
        self.pos = (slot + 1) % cap
        self.count += 1
        if self.count % BLOCK == 0:
            # A queue not seen for a whole ring holds nothing but gaps: let it go.
            for queue_id in [q for q, seen in self.last_seen.items() if self.count - seen > cap]:
                self.codes.pop(queue_id, None)
                self.scales.pop(queue_id, None)
                self.last_seen.pop(queue_id, None)

    def put(self, queue_id: str, m: int, slot: int, v: float) -> None:
        """One value at a slot (loading from disk, in time order)."""
        codes, scales = self._series(queue_id)
        kind, col = self.layout[m]
        self._put(kind, codes[kind], scales, col * self.capacity, m * self.blocks + slot // BLOCK, slot, v)

    @staticmethod
    def _put(kind: _Codes, codes: array, scales: array, base: int, si: int, slot: int, v: float) -> None:
        if v < 0 or v == math.inf:
            v = 0.0 if v < 0 else 3.0e38
        scale = scales[si]
        if scale == 0.0 or v > scale * kind.top:
            new = 2.0 ** math.ceil(math.log2(v / kind.half)) if v > 0 else 2.0**-40
            if scale and new > scale:
                # Re-express the block's other samples in the coarser scale (shift right, rounded).
                shift = round(math.log2(new / scale))
                first = base + slot - slot % BLOCK
                half = 1 << (shift - 1)
                gap = kind.gap
                for i in range(first, first + BLOCK):
                    c = codes[i]
                    if c != gap:
                        codes[i] = (c + half) >> shift
            if new > scale:
                scales[si] = scale = new
        codes[base + slot] = min(kind.top, int(v / scale + 0.5))

    def points(self, queue_id: str, m: int, last: int | None = None) -> list[tuple[float, float]]:
        series = self.codes.get(queue_id)
        if series is None:
            return []
        cap = self.capacity
        kind, col = self.layout[m]
        codes = series[kind]
        gap = kind.gap
        scales = self.scales[queue_id]
        n = min(self.count, cap)
        start = (self.pos - n) % cap
        base = col * cap
        sbase = m * self.blocks
        times = self.times
        out = []
        if last is not None:
            # Newest first, stopping at ``last`` points: a sparkline reads 6 samples, not the hour.
            for k in range(n - 1, -1, -1):
                if len(out) >= last:
                    break
                j = (start + k) % cap
                c = codes[base + j]
                if c != gap:
                    t = times[j]
                    if t == t:
                        out.append((t, c * scales[sbase + j // BLOCK]))
            out.reverse()
            return out
        for k in range(n):
            j = (start + k) % cap
            c = codes[base + j]
            if c != gap:
                t = times[j]
                if t == t:
                    out.append((t, c * scales[sbase + j // BLOCK]))
        return out


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
        self.hours = hours
        self.capacity = capacity_for(interval, hours)
        self.span_samples = samples_for(interval, hours)
        self.path = path
        self.scope = scope
        self.flush_every = flush_every
        self._clock = clock
        self._index = {name: i for i, name in enumerate(METRICS)}
        self._rings = Rings(self.capacity)
        self._pending: list[tuple[float, dict[str, Row]]] = []
        self._last_flush = clock()
        self._flushing: asyncio.Task | None = None
        self._loading: asyncio.Task | None = None
        self._during_load: list[tuple[float, dict[str, Row]]] | None = None
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()
        self._disk_error: str | None = None
        self.loaded = path is None

    # ------------------------------------------------------------------ memory

    @property
    def metrics(self) -> tuple[str, ...]:
        return METRICS

    def queues(self) -> list[str]:
        return list(self._rings.codes)

    def __len__(self) -> int:
        return min(self._rings.count, self.capacity)

    def record(self, at: float, values: Mapping[str, Row], persist: bool = True) -> None:
        """One sample for every queue: ``values[queue_id]`` in METRICS order (None: unknown); absent queues get a gap."""
        self._rings.record(at, values)
        if self._during_load is not None:
            self._during_load.append((at, dict(values)))
        if persist and self.path is not None:
            self._pending.append((at, dict(values)))

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

    def points(self, queue_id: str, metric: str, last: int | None = None) -> list[tuple[float, float]]:
        """(time, value) of one metric of one queue, oldest first; gaps left out.

        ``last``: only the newest ``last`` of those points (the same as ``points(...)[-last:]``, read from the newest end).
        """
        m = self._index.get(metric)
        if m is None:
            return []
        if last is not None and last <= 0:
            return []
        return self._rings.points(queue_id, m, last)

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

    def start_loading(self) -> None:
        """Read this scope's recent samples from disk in a worker thread (call from the event loop)."""
        if self.loaded or self._loading is not None:
            return
        self._during_load = []
        self._loading = asyncio.get_running_loop().create_task(self._load_and_install())

    async def _load_and_install(self) -> None:
        try:
            rings = await asyncio.to_thread(self._read_rings)
        except Exception as exc:
            self._disk_failed("read", exc)
            rings = None
        if rings is not None and rings.count:
            # What was recorded while loading goes on top of what was loaded.
            for at, values in self._during_load or ():
                rings.record(at, values)
            self._rings = rings
        self._during_load = None
        self.loaded = True

    async def wait_loaded(self) -> None:
        if self._loading is not None:
            await asyncio.shield(self._loading)

    def load(self) -> int:
        """Fill the rings from disk at once (blocking); answers how many sample times were loaded."""
        rings = self._read_rings()
        if rings is not None and rings.count:
            self._rings = rings
        self.loaded = True
        return 0 if rings is None else min(rings.count, self.capacity)

    def _read_rings(self) -> Rings | None:
        if self.path is None or not self.path.exists():
            return None
        since = self._clock() - self.span_samples * self.interval
        try:
            with self._db_lock:
                rows = self._connect().execute(
                    "SELECT queue_id, metrics, times, vals FROM chunks WHERE scope=? AND t_last>=? ORDER BY t_first",
                    (self.scope, since),
                ).fetchall()
        except sqlite3.Error as exc:
            self._disk_failed("read", exc)
            return None
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
            columns = [(c, self._index[name]) for c, name in enumerate(names) if name in self._index]
            decoded.append((queue_id, times, vals, columns, len(names)))
            all_times.update(t for t in times if t >= since)
        rings = Rings(self.capacity)
        kept = sorted(all_times)[-self.span_samples :]
        if not kept:
            return rings
        slot_of = {t: k for k, t in enumerate(kept)}
        for k, t in enumerate(kept):
            rings.times[k] = t
        for queue_id, times, vals, columns, n in decoded:
            for j, t in enumerate(times):
                k = slot_of.get(t)
                if k is None:
                    continue
                at = j * n
                for c, m in columns:
                    v = vals[at + c]
                    if v == v:
                        rings.put(queue_id, m, k, v)
            rings.last_seen[queue_id] = len(kept) - 1
        rings.count = len(kept)
        rings.pos = len(kept) % rings.capacity
        return rings

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

    def _write(self, batch: list[tuple[float, dict[str, Row]]]) -> None:
        per_queue: dict[str, tuple[array, array]] = {}
        width = len(METRICS)
        for at, values in batch:
            for queue_id, row in values.items():
                times, vals = per_queue.setdefault(queue_id, (array("d"), array("f")))
                times.append(at)
                padded = list(row[:width]) + [None] * (width - len(row))
                vals.extend(NAN if v is None else min(float(v), 3.0e38) for v in padded)
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
                    (self.scope, now - self.span_samples * self.interval - self.flush_every),
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
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
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
        depth = float(k % 97)
        row = (depth, 1.5 + k % 7, 60.0, 58.25, 57.0, 0.02, 1.2, 3.0, 7.0)
        history.record(t, {q: row for q in ids}, persist=False)
