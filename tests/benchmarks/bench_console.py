"""The console: launch to first frame, refresh of 1,000 queues / 5,000 workers, idle CPU.

Run from the repository root:

    python -m tests.benchmarks.bench_console

What it does (no network: every number comes from a synthetic SnapshotSource defined here):

* **launch**: starts ``KubiyaConsole`` in a fresh ``python -c`` process on a real
  pseudo-terminal (200x60, xterm-256color) and reads the terminal output until the
  header line (`` kubiya-tui ``) has been painted; time from starting the process, so
  imports, mounting and the first real paint are included. Median of 5 launches with a
  small organisation (5 queues, 10 workers) and with 1,000 queues / 5,000 workers (goal:
  400 ms); the time the child spends building the synthetic snapshot (the benchmark's
  fixture: the real console gets its data from the network after its first frame) is
  measured in the child, per launch, and left out of the console's figure (both are printed). The anchor, in the same run: a bare Textual
  app of one line. The package's bytecode is compiled first and every child may use it,
  as an installed package does (PYTHONDONTWRITEBYTECODE=1 would compile our modules at every start);
* **refresh**: inside ``app.run_test(size=(200, 60))`` with 1,000 queues and 5,000
  workers (history rings filled with an hour of samples, like a collector that has been
  running), posts a new snapshot (same rows, changed numbers) as the poll worker does
  (``SnapshotReady``) and measures: the table update itself (``ResponsiveTable.set_items``),
  the whole screen update (``show_snapshot``: table, totals, charts), and the wall time from
  posting the snapshot until the app is idle with the screen re-composited
  (``pilot.pause()``), and the CPU time this process spent over that span (``to_idle_cpu``:
  the same work, less the waits caused by other processes on a busy machine). Median and
  p95 of 20 refreshes, on the overview and on the workers screen. Goal: 50 ms;
* **gc**: the workers screen again, but with a freshly built snapshot every refresh (as the
  collector makes them, so the garbage of the old ones is the console's to collect; at the
  collector's defaults, a snapshot every 2 s and the workers read every 5 s, so 2 in 5 snapshots
  carry a new reading of the workers, whose heartbeats the console records), under the
  console's garbage policy (``tui/gc_policy.py``: collect young objects after each paint and
  freeze what survived) and under the policy before it (freeze once, after the first
  snapshot), alternating in one run; prints to-idle wall and CPU time, the collections' time
  inside each refresh (``gc.callbacks``), and the full collections that landed inside refreshes;
* **idle CPU**: runs the console in a pseudo-terminal process with a source whose snapshot
  changes every 2 s (``interval`` 2 s) for 60 s, and reads that process's CPU time
  (psutil) as a % of one core; the terminal output is drained by this process. Small
  organisation and 1,000 queues / 5,000 workers; the source's own cost per refresh
  (building snapshots, recording history: the collector's work, not the console's) is
  measured separately and printed. Goal: 5 % at the small size;
* prints a table with the goals and the machine's core count, and stops every process it
  started, by pid.

``--quick`` shortens everything (2 launches, 5 refreshes, 10 s of CPU) for a smoke run; ``--only refresh``
(or ``launch``, ``gc``, ``cpu``) runs one part alone; ``--launch-only`` is ``--only launch`` (``--launches N`` of each size).

``to_idle`` (wall) cannot go below about 40 ms: ``pilot.pause()`` waits in sleeps of 20 ms until one of
them passes with the process idle, so it is the work plus at least one idle 20 ms; ``to_idle_cpu`` has no
such floor. ``to_repainted`` (wall) is what the operator waits for: from posting the snapshot to the
first frame composited after the table took it (headless, so the frame is not written to a terminal).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubiya_tui.metrics.history import History, snapshot_values
from kubiya_tui.metrics.snapshot import (
    WorkerHealth,
    QueueSnapshot,
    Snapshot,
    SnapshotCallback,
    SourceState,
    SourceStatus,
    WorkerCounts,
    WorkerSnapshot,
    refresh_loop,
)

ROOT = Path(__file__).resolve().parents[2]
SIZE = (200, 60)
SMALL = (5, 10)
LARGE = (1000, 5000)
REFRESH_GOAL_MS = 50.0
LAUNCH_GOAL_MS = 400.0
WORKERS_GOAL_MS = (30.0, 60.0)
"""The workers screen at 5,000 workers, refresh to idle: median and p95 (issue #19)."""
"""Launch to first frame at 1,000 queues (issue #19)."""
CPU_GOAL_PERCENT = 5.0
HEADER = b" kubiya-tui "
LAUNCH_TIMEOUT = 60.0
ENVIRONMENTS = ("prod", "staging", "dev")
HEALTH_CYCLE = (WorkerHealth.healthy,) * 17 + (WorkerHealth.stale, WorkerHealth.draining, WorkerHealth.gone)


# ---------------------------------------------------------------------------- synthetic data


def _queue(i: int, tick: int, counts: WorkerCounts) -> QueueSnapshot:
    env = ENVIRONMENTS[i % len(ENVIRONMENTS)]
    wave = (i * 37 + tick * 13) % 400
    closed = 200 + (i * 7 + tick) % 300
    failed = (i + tick) % 9
    return QueueSnapshot(
        id=f"q-{i:05d}",
        name=f"queue-{i:05d}",
        environment=env,
        environment_id=f"env-{env}",
        task_queue_name=f"org-bench.{env}.queue-{i:05d}",
        depth=wave,
        backlog_age_seconds=float((i * 11 + tick * 5) % 300),
        add_rate_per_min=float(60 + (i + tick * 3) % 90),
        dispatch_rate_per_min=float(60 + (i * 3 + tick * 7) % 90),
        processed_per_min=float(55 + (i * 5 + tick * 11) % 90) + 0.5,
        duration_p50_seconds=1.0 + (i % 5),
        duration_p95_seconds=4.0 + (i + tick) % 7,
        error_rate=failed / closed,
        closed_by_status={"Completed": closed - failed, "Failed": failed},
        priority_backlog={1: wave // 4, 3: wave // 2, 5: wave - wave // 4 - wave // 2},
        partitions=4,
        pollers=counts.healthy,
        workers=counts,
        capacity_used=min(counts.total * 10, (i * 3 + tick * 7) % 50),
        capacity_total=counts.total * 10,
        growing=(i + tick) % 6 == 0,
        desired_workers=counts.total,
        max_workers=counts.total + 5,
        heartbeat_interval=30,
        data_age_seconds=1.2,
        tags=("bench",),
    )


def _worker(j: int, tick: int, queues: int) -> WorkerSnapshot:
    qi = j % queues
    health = HEALTH_CYCLE[j % len(HEALTH_CYCLE)]
    busy = (j + tick) % 3
    return WorkerSnapshot(
        worker_id=f"wkr-{j:05d}",
        queue_id=f"q-{qi:05d}",
        queue_name=f"queue-{qi:05d}",
        health=health,
        status="disconnected" if health is WorkerHealth.gone else ("draining" if health is WorkerHealth.draining else "running"),
        heartbeat_age_seconds=float((j * 7 + tick * 2) % 30) + (90.0 if health is WorkerHealth.stale else 0.0),
        hostname=f"host-{j % 97:03d}",
        slots_used=busy,
        slots_available=10 - busy,
        processed=1000 + j + tick * 3,
        failed=(j + tick) % 5 if j % 4 == 0 else 0,
        current_task_ids=tuple(f"task-{j}-{tick}-{k}" for k in range(busy)),
        registered_not_polling=j % 101 == 0,
        registered_at=1_767_225_600.0 - j,
        heartbeat_interval=30.0,
        task_queue_name=f"org-bench.q-{qi:05d}",
    )


def synthetic_snapshot(queues: int, workers: int, tick: int, taken_at: float, workers_read_at: float | None = None) -> Snapshot:
    """``queues`` queues and ``workers`` workers; every ``tick`` changes the numbers, never the rows."""
    ws = tuple(_worker(j, tick, queues) for j in range(workers))
    per_queue: dict[int, list[WorkerSnapshot]] = {}
    for j, w in enumerate(ws):
        per_queue.setdefault(j % queues, []).append(w)
    qs = []
    for i in range(queues):
        mine = per_queue.get(i, [])
        healthy = sum(w.health is WorkerHealth.healthy for w in mine)
        stale = sum(w.health is WorkerHealth.stale for w in mine)
        draining = sum(w.health is WorkerHealth.draining for w in mine)
        qs.append(_queue(i, tick, WorkerCounts(healthy, stale, draining, healthy + stale + draining)))
    sources = {
        "api": SourceState("api", SourceStatus.ok, latency_ms=12.0 + tick % 5, data_age_seconds=1.1, address="http://127.0.0.1:8787"),
        "temporal": SourceState("temporal", SourceStatus.ok, latency_ms=8.0 + tick % 3, data_age_seconds=1.3, address="127.0.0.1:7233"),
    }
    return Snapshot(taken_at=taken_at, queues=tuple(qs), workers=ws, sources=sources, profile="bench", refresh_ms=40.0,
                    workers_read_at=taken_at if workers_read_at is None else workers_read_at)  # fmt: skip


class SyntheticSource:
    """A SnapshotSource over synthetic data: each refresh answers the next tick (new numbers, same rows).

    A few variants are built up front and cycled (with a fresh ``taken_at``), so refreshing costs
    little; history is kept in a real in-memory ``History``, optionally pre-filled with
    ``history_samples`` samples as a collector that has been running would have.
    """

    VARIANTS = 4

    def __init__(self, queues: int, workers: int, *, interval: float = 2.0, history_samples: int = 0) -> None:
        self.queues, self.workers = queues, workers
        self._interval = interval
        # Variants are built when first shown: a launch measures the console, not this data's making
        # (4 variants of 1,000 queues and 5,000 workers took ~0.5 s before the console even started).
        self._variants: list[Snapshot | None] = [None] * self.VARIANTS
        self._history = History(interval)
        self._wake = asyncio.Event()
        self._tick = 0
        now = time.time()
        start = now - history_samples * interval
        rows = [{q.id: snapshot_values(q) for q in self._built(k).queues} for k in range(self.VARIANTS)] if history_samples else []
        for k in range(history_samples):
            self._history.record(start + k * interval, rows[k % self.VARIANTS], persist=False)
        self._latest = self._variant(0, now)
        self._history.record_snapshot(self._latest)

    def _built(self, k: int) -> Snapshot:
        variant = self._variants[k]
        if variant is None:
            variant = self._variants[k] = synthetic_snapshot(self.queues, self.workers, k, 0.0)
        return variant

    def _variant(self, tick: int, taken_at: float) -> Snapshot:
        return dataclasses.replace(self._built(tick % self.VARIANTS), taken_at=taken_at)

    def next_snapshot(self) -> Snapshot:
        self._tick += 1
        self._latest = self._variant(self._tick, time.time())
        self._history.record_snapshot(self._latest)
        return self._latest

    def latest(self) -> Snapshot | None:
        return self._latest

    async def refresh(self, *, force: bool = False) -> Snapshot:
        return self.next_snapshot()

    def history(self, queue_id: str, metric: str, last: int | None = None) -> list[tuple[float, float]]:
        return self._history.points(queue_id, "workers_healthy" if metric == "workers.healthy" else metric, last=last)

    @property
    def interval(self) -> float:
        return self._interval

    def request_refresh(self) -> None:
        self._wake.set()

    async def run(self, callback: SnapshotCallback, stop_event: asyncio.Event) -> None:
        await refresh_loop(self, callback, stop_event, self._wake)

    async def aclose(self) -> None:
        return None


def console_app(source: Any, **kwargs: Any) -> Any:
    from kubiya_tui.tui.app import KubiyaConsole

    return KubiyaConsole(source, profile="bench", remember_theme=False, **kwargs)


def run_in_terminal(queues: int, workers: int, interval: float, report: str | None = None) -> None:
    """The child process: the console over synthetic data, on whatever terminal it was given.

    ``report``: a file to write the seconds this process spent building that data (the benchmark's
    fixture, not the console's work: the real console gets its data from the network after its first frame).
    """
    began = time.perf_counter()
    source = SyntheticSource(queues, workers, interval=interval)
    if report:
        Path(report).write_text(f"{time.perf_counter() - began:.6f}")
    console_app(source).run()


# ---------------------------------------------------------------------------- pseudo-terminal


class TerminalProcess:
    """The console in a child process on a pseudo-terminal of SIZE; the output is read (and dropped) here."""

    def __init__(
        self, queues: int, workers: int, interval: float, home: str, code: str | None = None, extra_env: dict[str, str] | None = None
    ) -> None:
        import fcntl
        import pty
        import struct
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLORTERM": "truecolor",
            "COLUMNS": str(SIZE[0]),
            "LINES": str(SIZE[1]),
            "XDG_CONFIG_HOME": f"{home}/config",
            "XDG_STATE_HOME": f"{home}/state",
            "XDG_DATA_HOME": f"{home}/data",
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        # As an installed package runs: with its bytecode (main() compiles it), never compiling at each start.
        for var in ("TEXTUAL", "TEXTUAL_DEBUG", "TEXTUAL_DEVTOOLS_PORT", "PYTHONDONTWRITEBYTECODE"):
            env.pop(var, None)
        self.report = os.path.join(home, f"data-{os.getpid()}-{time.monotonic_ns()}")
        code = code or (f"from tests.benchmarks.bench_console import run_in_terminal; "
                        f"run_in_terminal({queues}, {workers}, {interval}, {self.report!r})")  # fmt: skip
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, start_new_session=True
        )
        os.close(slave)
        self.output = bytearray()

    def read(self, timeout: float) -> bool:
        """Read what the console wrote within ``timeout`` s; False when the terminal closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 1 << 16)
        except OSError:
            return False
        if not data:
            return False
        self.output += data
        if len(self.output) > 1 << 20:
            del self.output[: -4096]
        return True

    def first_frame(self) -> float:
        """Seconds from starting the process until the header text has been written."""
        deadline = self.started + LAUNCH_TIMEOUT
        while HEADER not in self.output:
            if time.perf_counter() > deadline or not self.read(0.05):
                tail = self.output[-2000:].decode("utf-8", "replace")
                raise RuntimeError(f"no first frame within {LAUNCH_TIMEOUT}s (exit code {self.proc.poll()}): {tail!r}")
        return time.perf_counter() - self.started

    def drain(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            if not self.read(min(left, 0.5)):
                raise RuntimeError(f"console exited (code {self.proc.poll()})")

    def stop(self) -> None:
        """Quit with ``q``; kill this process (by pid) when it does not go."""
        try:
            if self.proc.poll() is None:
                os.write(self.master, b"q")
                end = time.perf_counter() + 5
                while self.proc.poll() is None and time.perf_counter() < end:
                    self.read(0.05)
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        finally:
            os.close(self.master)


def bench_launch(queues: int, workers: int, runs: int, home: str) -> list[tuple[float, float]]:
    """(seconds to the first frame, seconds of them the child spent building its synthetic data) of each launch."""
    times = []
    for _ in range(runs):
        term = TerminalProcess(queues, workers, 3600.0, home)
        try:
            wall = term.first_frame()
            times.append((wall, float(Path(term.report).read_text())))
        finally:
            term.stop()
            Path(term.report).unlink(missing_ok=True)
    return times


REAL_LAUNCH = "import sys; sys.argv = ['kubiya-tui']; from kubiya_tui.cli import main; main()"
"""The `kubiya-tui` command itself: argument parsing, the profile's settings, connect(), then the console."""


BARE_TEXTUAL = (
    "from textual.app import App\nfrom textual.widgets import Static\n"
    "class Bare(App):\n    BINDINGS = [('q', 'quit', 'Quit')]\n"
    "    def compose(self):\n        yield Static(' kubiya-tui ')\n"
    "Bare().run()"
)
"""The anchor: a Textual app of one line, the floor of any Textual console's first frame on this machine."""


def bench_bare_launch(runs: int, home: str) -> list[float]:
    times = []
    for _ in range(runs):
        term = TerminalProcess(0, 0, 0.0, home, code=BARE_TEXTUAL)
        try:
            times.append(term.first_frame())
        finally:
            term.stop()
    return times


def bench_real_launch(runs: int, home: str) -> list[float]:
    """First frame of the real command, pointed at a closed loopback port (its first poll comes after the frame,
    so the control plane's answer is not part of the launch)."""
    env = {
        "KUBIYA_CONTROL_PLANE_BASE_URL": "http://127.0.0.1:9",
        "KUBIYA_API_KEY": "bench-placeholder",
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
    }
    times = []
    for _ in range(runs):
        term = TerminalProcess(0, 0, 0.0, home, code=REAL_LAUNCH, extra_env=env)
        try:
            times.append(term.first_frame())
        finally:
            term.stop()
    return times


def bench_idle_cpu(queues: int, workers: int, seconds: float, home: str) -> tuple[float, int]:
    """% of one core used by the console process over ``seconds`` (after it settled), and its refresh count."""
    return process_cpu_percent(TerminalProcess(queues, workers, 2.0, home), 3.0, seconds), round(seconds / 2.0)


def process_cpu_percent(term: Any, settle: float, seconds: float) -> float:
    """% of one core a console in a pseudo-terminal (``first_frame``, ``drain``, ``stop``, ``proc``)
    used over ``seconds``, after its first frame and ``settle`` seconds; stopped at the end."""
    import psutil

    try:
        term.first_frame()
        term.drain(settle)
        proc = psutil.Process(term.proc.pid)
        before = proc.cpu_times()
        t0 = time.perf_counter()
        term.drain(seconds)
        after = proc.cpu_times()
        elapsed = time.perf_counter() - t0
    finally:
        term.stop()
    return 100.0 * ((after.user - before.user) + (after.system - before.system)) / elapsed


def source_cost_ms(queues: int, workers: int, runs: int = 20) -> float:
    """What one refresh of the synthetic source costs (the collector's work, in the console's process)."""
    source = SyntheticSource(queues, workers, history_samples=0)
    t0 = time.process_time()
    for _ in range(runs):
        source.next_snapshot()
    return (time.process_time() - t0) / runs * 1000


# ---------------------------------------------------------------------------- refresh in run_test


def _timed(obj: Any, name: str, sink: list[float]) -> None:
    """Wrap ``obj.name`` so each call's duration (ms) lands in ``sink``."""
    original = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            sink.append((time.perf_counter() - t0) * 1000)

    setattr(obj, name, wrapper)


class RepaintClock:
    """When a refresh is on screen: the first composited frame (``App._display``) after the table's
    ``set_items`` returned. Headless, the frame is composited but not written to a terminal."""

    def __init__(self, app: Any, table: Any) -> None:
        self.items_at = self.shown_at = 0.0
        display, set_items = app._display, table.set_items

        def noting_display(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and self.items_at and not self.shown_at:
                self.shown_at = time.perf_counter()

        def noting_items(*args: Any, **kwargs: Any) -> Any:
            try:
                return set_items(*args, **kwargs)
            finally:
                self.items_at = time.perf_counter()

        app._display, table.set_items = noting_display, noting_items

    def start(self) -> None:
        self.items_at = self.shown_at = 0.0

    def ms_since(self, t0: float) -> float:
        """Milliseconds from ``t0`` to the frame that showed the refresh (NaN: none did)."""
        return (self.shown_at - t0) * 1000 if self.shown_at else float("nan")


async def bench_refresh(refreshes: int, warmup: int = 2) -> dict[str, dict[str, list[float]]]:
    from kubiya_tui.tui.messages import SnapshotReady
    from kubiya_tui.tui.widgets.queue_table import QueueTable
    from kubiya_tui.tui.widgets.worker_table import WorkerTable

    source = SyntheticSource(*LARGE, interval=3600.0, history_samples=History(2.0).span_samples)
    app = console_app(source, cursor_blink=False)
    results: dict[str, dict[str, list[float]]] = {}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for label, table_type, enter in (("overview", QueueTable, None), ("workers", WorkerTable, "w")):
            if enter:
                await pilot.press(enter)
                await pilot.pause()
            screen = app.screen
            table = screen.query_one(table_type)
            assert table.row_count == (LARGE[0] if table_type is QueueTable else LARGE[1]), table.row_count
            set_items: list[float] = []
            show: list[float] = []
            _timed(table, "set_items", set_items)
            _timed(screen, "show_snapshot", show)
            clock = RepaintClock(app, table)
            wall: list[float] = []
            cpu: list[float] = []
            shown: list[float] = []
            for k in range(warmup + refreshes):
                snapshot = source.next_snapshot()
                clock.start()
                t0, c0 = time.perf_counter(), time.process_time()
                app.post_message(SnapshotReady(snapshot))
                await pilot.pause()
                if k >= warmup:
                    wall.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                    shown.append(clock.ms_since(t0))
            assert len(set_items) == warmup + refreshes, len(set_items)
            results[label] = {"set_items": set_items[warmup:], "show_snapshot": show[warmup:], "to_repainted": shown,
                              "to_idle": wall, "to_idle_cpu": cpu}  # fmt: skip
        await pilot.press("q")
    return results


class FreezeOnce:
    """The console's garbage policy before ``gc_policy.CollectAfterPaint``: freeze once, after the first snapshot."""

    def __init__(self) -> None:
        self.first_done = False

    def input_seen(self) -> None:
        return None

    def after_paint(self) -> None:
        import gc

        if not self.first_done:
            self.first_done = True
            gc.collect()
            gc.freeze()


class GcPauses:
    """Every garbage collection's duration (ms) and generation while ``recording``, from ``gc.callbacks``;
    ``full_anywhere``: every full collection while ``watching`` (refreshes and the snapshots' making alike:
    the collector makes them on the console's event loop, so a stall there is felt too)."""

    def __init__(self) -> None:
        self.recording = False
        self.watching = False
        self.pauses: list[tuple[int, float]] = []
        self.full_anywhere: list[float] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        ms = (time.perf_counter() - self._began) * 1000
        if self.recording:
            self.pauses.append((info["generation"], ms))
        if self.watching and info["generation"] == 2:
            self.full_anywhere.append(ms)


async def bench_fresh_refresh(refreshes: int, policy: str, warmup: int = 3) -> dict[str, list[float]]:
    """The workers screen with a freshly built snapshot every refresh (as the collector makes them), under ``policy``.

    Each snapshot is built before its refresh is timed (the collector's work, not the console's);
    the garbage it leaves is the console's to collect. ``gc_ms``: the collections that ran inside
    the timed refreshes, summed per refresh; ``gc_full_ms``: the longest full collection among them.
    """
    import gc

    from kubiya_tui.metrics.collector import DEFAULT_INTERVAL
    from kubiya_tui.metrics.sources.registry import WORKERS_INTERVAL
    from kubiya_tui.tui.messages import SnapshotReady
    from kubiya_tui.tui.widgets.worker_table import WorkerTable

    source = SyntheticSource(*LARGE, interval=3600.0, history_samples=History(2.0).span_samples)
    app = console_app(source, cursor_blink=False)
    if policy == "freeze-once":
        app.gc_policy = FreezeOnce()
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    shown: list[float] = []
    wall: list[float] = []
    cpu: list[float] = []
    gc_ms: list[float] = []
    full: list[float] = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("w")
            await pilot.pause()
            table = app.screen.query_one(WorkerTable)
            assert table.row_count == LARGE[1]
            clock = RepaintClock(app, table)
            first = time.time()
            for k in range(warmup + refreshes):
                pauses.watching = k >= warmup
                # As the collector makes them at its defaults: a snapshot every DEFAULT_INTERVAL, the control
                # plane's workers read every WORKERS_INTERVAL (snapshots in between carry the same reading).
                reading = first + int(k * DEFAULT_INTERVAL / WORKERS_INTERVAL) * WORKERS_INTERVAL
                snapshot = synthetic_snapshot(*LARGE, tick=k + 1, taken_at=time.time(), workers_read_at=reading)
                source._history.record_snapshot(snapshot)
                pauses.pauses.clear()
                pauses.recording = k >= warmup
                clock.start()
                t0, c0 = time.perf_counter(), time.process_time()
                app.post_message(SnapshotReady(snapshot))
                await pilot.pause()
                pauses.recording = False
                del snapshot
                if k >= warmup:
                    shown.append(clock.ms_since(t0))
                    wall.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                    gc_ms.append(sum(ms for _, ms in pauses.pauses))
                    full.extend(ms for gen, ms in pauses.pauses if gen == 2)
            await pilot.press("q")
    finally:
        gc.callbacks.remove(pauses)
        gc.unfreeze()
    return {"to_repainted": shown, "to_idle": wall, "to_idle_cpu": cpu, "gc_ms": gc_ms, "gc_full_ms": full or [0.0], "full_anywhere": pauses.full_anywhere}


# ---------------------------------------------------------------------------- report


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 launches, 5 refreshes, 10 s of CPU")
    parser.add_argument("--skip", action="append", default=[], choices=["launch", "refresh", "gc", "cpu"])
    parser.add_argument("--launch-only", action="store_true", help="only the launch rows (the same as --skip refresh --skip cpu)")
    parser.add_argument("--launches", type=int, default=None, metavar="N", help="launches of each size (default 5; 2 with --quick)")
    parser.add_argument("--only", choices=["launch", "refresh", "gc", "cpu"], help="run this part alone (the others skipped)")
    args = parser.parse_args()
    if args.only:
        args.skip = [part for part in ("launch", "refresh", "gc", "cpu") if part != args.only]
    launches, refreshes, cpu_seconds = (2, 5, 10.0) if args.quick else (5, 20, 60.0)
    launches = args.launches or launches
    if args.launch_only:
        args.skip += ["refresh", "gc", "cpu"]
    rows: list[tuple[str, str, str, str]] = []

    def row(what: str, figure: str, goal: str = "", verdict: str = "") -> None:
        rows.append((what, figure, goal, verdict))
        print(f"  {what}: {figure} {goal} {verdict}".rstrip(), flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-console-") as home:
        if "launch" not in args.skip:
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kubiya_tui"), str(ROOT / "tests")],
                           check=True, env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})  # fmt: skip
            print(f"launch to first frame ({launches} runs each, one of each kind per round)...", flush=True)
            # Round by round, one launch of each kind: a busy minute of this shared machine weighs on all alike.
            bare: list[float] = []
            sized: dict[tuple[int, int], list[tuple[float, float]]] = {SMALL: [], LARGE: []}
            real: list[float] = []
            for _ in range(launches):
                bare += bench_bare_launch(1, home)
                for size in (SMALL, LARGE):
                    sized[size] += bench_launch(*size, 1, home)
                real += bench_real_launch(1, home)
            row("anchor: a bare Textual app (one line of text)",
                f"median {statistics.median(bare) * 1000:.0f} ms (min {min(bare) * 1000:.0f}, max {max(bare) * 1000:.0f})")
            for q, w in (SMALL, LARGE):
                launched = sized[(q, w)]
                walls = [wall * 1000 for wall, _ in launched]
                # The child builds the synthetic data before the console starts (measured there, per launch);
                # the console's own figure leaves it out: the real console's data comes after its first frame.
                own = [(wall - data) * 1000 for wall, data in launched]
                data_ms = statistics.median(data * 1000 for _, data in launched)
                med = statistics.median(own)
                goal = f"<= {LAUNCH_GOAL_MS:.0f} ms" if (q, w) == LARGE else ""
                row(f"launch, {q:,} queues / {w:,} workers, less the child's data building",
                    f"median {med:.0f} ms (min {min(own):.0f}, max {max(own):.0f}; as timed {statistics.median(walls):.0f} ms, "
                    f"of which building the synthetic data {data_ms:.0f} ms)",
                    goal, ("ok" if med <= LAUNCH_GOAL_MS else "MISSED") if goal else "")
            row("launch, the `kubiya-tui` command (settings, connect(), console; no data yet)",
                f"median {statistics.median(real) * 1000:.0f} ms (min {min(real) * 1000:.0f}, max {max(real) * 1000:.0f})")
        if "refresh" not in args.skip:
            print(f"refresh of {LARGE[0]:,} queues / {LARGE[1]:,} workers ({refreshes} refreshes)...", flush=True)
            results = asyncio.run(bench_refresh(refreshes))
            for label, series in results.items():
                for name, values in series.items():
                    med, high = statistics.median(values), p95(values)
                    goal = f"<= {REFRESH_GOAL_MS:.0f} ms" if name in ("set_items", "to_idle", "to_idle_cpu") else ""
                    verdict = ("ok" if high <= REFRESH_GOAL_MS else "MISSED") if goal else ""
                    row(f"refresh {label}: {name}", f"median {med:.1f} ms, p95 {high:.1f} ms", goal, verdict)
        if "gc" not in args.skip:
            print(f"workers screen, a fresh snapshot every refresh ({refreshes} refreshes per policy, alternating)...", flush=True)
            # The two policies alternate, twice each, so a busy minute weighs on both alike.
            merged: dict[str, dict[str, list[float]]] = {"after-paint": {}, "freeze-once": {}}
            for policy in ("freeze-once", "after-paint", "freeze-once", "after-paint"):
                for name, values in asyncio.run(bench_fresh_refresh(max(2, refreshes // 2), policy)).items():
                    merged[policy].setdefault(name, []).extend(values)
            for policy, label in (("after-paint", "collect after paint (now)"), ("freeze-once", "freeze once (before)")):
                series = merged[policy]
                for name in ("to_repainted", "to_idle", "to_idle_cpu", "gc_ms"):
                    med, high = statistics.median(series[name]), p95(series[name])
                    has_goal = name in ("to_repainted", "to_idle_cpu")
                    goal = f"median <= {WORKERS_GOAL_MS[0]:.0f}, p95 <= {WORKERS_GOAL_MS[1]:.0f} ms" if has_goal else ""
                    ok = med <= WORKERS_GOAL_MS[0] and high <= WORKERS_GOAL_MS[1]
                    row(f"fresh snapshots, {label}: {name}", f"median {med:.1f} ms, p95 {high:.1f} ms", goal,
                        ("ok" if ok else "MISSED") if goal else "")
                fulls = [ms for ms in series["gc_full_ms"] if ms]
                row(f"fresh snapshots, {label}: full collections inside refreshes",
                    f"{len(fulls)}, longest {max(fulls, default=0.0):.1f} ms")
                anywhere = series.get("full_anywhere", [])
                row(f"fresh snapshots, {label}: full collections on the event loop (refreshes and snapshot making)",
                    f"{len(anywhere)}, longest {max(anywhere, default=0.0):.1f} ms, total {sum(anywhere):.0f} ms")
        if "cpu" not in args.skip:
            print(f"idle CPU, refresh every 2 s, {cpu_seconds:.0f} s each...", flush=True)
            for q, w in (SMALL, LARGE):
                percent, _ = bench_idle_cpu(q, w, cpu_seconds, home)
                cost = source_cost_ms(q, w)
                goal = f"<= {CPU_GOAL_PERCENT:.0f} %"
                row(f"idle CPU, {q:,} queues / {w:,} workers", f"{percent:.1f} % of one core (source itself: {cost:.1f} ms/refresh "
                    f"= {cost / 20:.2f} %)", goal, "ok" if percent <= CPU_GOAL_PERCENT else "MISSED")

    print()
    print(f"kubiya-tui console benchmark — {os.cpu_count()} cores, Python {sys.version.split()[0]}, terminal {SIZE[0]}x{SIZE[1]}")
    widths = [max(len(r[i]) for r in rows + [("what", "figure", "goal", "")]) for i in range(4)]
    for r in [("what", "figure", "goal", "")] + rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())


if __name__ == "__main__":
    main()
