"""The metrics engine's logic with fake sources: rates, time to drain, flags, history, checks, scheduling."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from kubiya_tui.client.temporal import ClosedExecutions, Outcomes, QueueStats, TemporalUnavailable
from kubiya_tui.metrics import derive
from kubiya_tui.metrics.check import Status, Thresholds, evaluate, parse_rate, parse_seconds
from kubiya_tui.metrics.collector import Collector, CollectorOptions
from kubiya_tui.metrics.history import BLOCK, History
from kubiya_tui.metrics.scheduler import Tracker
from kubiya_tui.metrics.snapshot import (
    QueueSnapshot,
    Snapshot,
    SourceState,
    SourceStatus,
    WorkerCounts,
)

# ---------------------------------------------------------------------------- arithmetic


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(100, 0, -1)]  # 100..1, unsorted on purpose
    assert derive.percentile(values, 50) == 50.0
    assert derive.percentile(values, 95) == 95.0
    assert derive.percentile([7.0], 95) == 7.0
    assert derive.percentile([], 50) is None


def test_time_to_drain_and_growing():
    # 120 waiting, 30 in and 90 out per minute: one task per second net, two minutes.
    assert derive.time_to_drain(120, 30.0, 90.0) == (pytest.approx(120.0), False)
    assert derive.time_to_drain(120, 90.0, 30.0) == (None, True)
    assert derive.time_to_drain(5, 0.0, 0.0) == (None, True), "nothing leaves: it never drains"
    assert derive.time_to_drain(0, 10.0, 5.0) == (None, False), "empty is not growing"
    assert derive.time_to_drain(None, 10.0, 50.0) == (None, False)


def test_error_rate_counts_failed_and_timed_out_over_closed():
    assert derive.error_rate({"Completed": 7, "Failed": 2, "TimedOut": 1}) == pytest.approx(0.3)
    assert derive.error_rate({"Completed": 5, "Canceled": 5}) == 0.0
    assert derive.error_rate({}) is None
    assert derive.per_minute(50, 300) == 10.0


def test_a_queue_younger_than_the_window_is_rated_over_its_age():
    now = 10_000.0
    # Created 60 s ago, 60 executions closed: 60 a minute, not 60 over the whole 5-minute window (12).
    span = derive.rate_window(300.0, now, now - 60.0)
    assert span == 60.0 and derive.per_minute(60, span) == pytest.approx(60.0)
    assert derive.per_minute(60, 300.0) == pytest.approx(12.0), "what a young queue read before"
    assert derive.rate_window(300.0, now, now - 3600.0) == 300.0, "older than the window: the whole window"
    assert derive.rate_window(300.0, now, None) == 300.0, "creation time unknown (Temporal-only): the whole window"
    assert derive.rate_window(300.0, now, now - 1.0, floor_seconds=10.0) == 10.0, "a brand-new queue: the floor, not ~0"
    assert derive.rate_window(300.0, now, now + 5.0, floor_seconds=10.0) == 10.0, "a clock ahead of ours: the floor"


def test_counter_window_rates_survive_a_worker_restart():
    window = derive.CounterWindow(window_seconds=300)
    window.observe(0.0, {"w1": (100, 10)})  # done before the collector looked: not counted
    assert window.rates() == (None, None, None)
    window.observe(30.0, {"w1": (130, 20)})
    window.observe(60.0, {"w1": (5, 0), "w2": (0, 0)})  # w1 restarted: 5 new successes
    per_min, rate, closed = window.rates()
    assert closed == 30 + 10 + 5
    assert rate == pytest.approx(10 / 45)
    assert per_min == pytest.approx(45.0)  # 45 tasks in 60 s


def test_poll_flags_need_fresh_temporal_data_and_a_grace_period():
    read_at = 1000.0
    polling = derive.live_identities(
        {"fresh": read_at - 30, "dead": read_at - 400},
        read_at,
        [{"identity": "hb", "status_name": "Running", "heartbeat_age_seconds": 12.0},
         {"identity": "stopped", "status_name": "Shutdown", "heartbeat_age_seconds": 1.0}],
    )  # fmt: skip
    assert polling == {"fresh", "hb"}
    flag = derive.registered_not_polling
    assert flag("healthy", "w-missing", 120.0, polling, temporal_fresh=True, grace_seconds=30) is True
    assert flag("healthy", "fresh", 120.0, polling, True, 30) is False
    assert flag("healthy", "w-new", 5.0, polling, True, 30) is False, "just registered: give it time"
    assert flag("draining", "w-missing", 120.0, polling, True, 30) is False, "a draining worker stops polling"
    assert flag("healthy", "w-missing", 120.0, polling, temporal_fresh=False, grace_seconds=30) is False


# ---------------------------------------------------------------------------- history


def test_ring_buffer_wraps_keeps_at_least_its_span_and_marks_gaps():
    history = History(interval=1.0, hours=100 / 3600)  # 101 samples of span, 192 slots
    assert history.span_samples == 101 and history.capacity % BLOCK == 0 and history.capacity >= 101 + BLOCK
    for k in range(1000):
        row = (float(k), None if k % 10 == 0 else 0.25, 3.0)
        queues = {"a": row}
        if k >= 990:
            queues["b"] = (7.0,)
        history.record(float(k), queues, persist=False)
    depth = history.points("a", "depth")
    assert [t for t, _ in depth] == sorted(t for t, _ in depth), "oldest first"
    assert history.span_samples <= len(depth) <= history.capacity
    assert depth[-1] == (999.0, 999.0)
    assert all(t == v for t, v in depth), "integers below 32768 are exact"
    ages = history.points("a", "backlog_age_seconds")
    assert all(v == 0.25 for _, v in ages)
    assert len(ages) < len(depth), "None is a gap, not a zero"
    assert history.points("b", "depth") == [(float(k), 7.0) for k in range(990, 1000)]
    assert history.points("nope", "depth") == [] and history.points("a", "nope") == []


def test_history_keeps_about_five_significant_digits():
    history = History(interval=2.0)
    values = [0.0123, 0.5, 17.25, 1234.5678, 98765.4]
    for k, v in enumerate(values):
        history.record(float(k), {"q": (v,)}, persist=False)
    got = [v for _, v in history.points("q", "depth")]
    # One block holds them all: the step is the largest value's / 32768.
    assert all(abs(g - v) <= 98765.4 / 32768 for g, v in zip(got, values))
    assert got[-1] == pytest.approx(98765.4, rel=1e-4)


def test_an_hour_at_two_seconds_is_compact():
    history = History(interval=2.0)
    assert history.span_samples >= 1800
    history.record(0.0, {"q": (1.0,) * 9}, persist=False)
    held = sum(a.itemsize * len(a) for a in history._rings.codes["q"].values()) + 4 * len(history._rings.scales["q"])
    assert held <= 32_000, "about 30 KB per queue for an hour of 9 metrics"


def test_small_numbers_keep_eight_bits_exactly():
    history = History(interval=2.0)
    for k, (rate, healthy) in enumerate([(0.0, 0), (0.02, 3), (0.5, 127), (0.25, 300)]):
        history.record(float(k), {"q": (None,) * 5 + (rate, None, healthy)}, persist=False)
    assert [v for _, v in history.points("q", "workers_healthy")] == [0.0, 4.0, 128.0, 300.0], "300 widens the block: step 4"
    rates = [v for _, v in history.points("q", "error_rate")]
    assert all(abs(got - want) <= 0.5 / 127 for got, want in zip(rates, [0.0, 0.02, 0.5, 0.25]))


async def test_history_survives_a_restart_through_sqlite(tmp_path: Path):
    path = tmp_path / "history.sqlite"
    now = time.time()
    first = History(interval=2.0, path=path, scope="s1", flush_every=0.0)
    for k in range(50):
        first.record(now - 100 + 2 * k, {"q1": (float(k), 0.5), "q2": (float(2 * k),)})
    other = History(interval=2.0, path=path, scope="s2", flush_every=0.0)
    other.record(now, {"q1": (12345.0,)})
    await first.flush()
    await other.flush()
    await first.close()
    await other.close()

    again = History(interval=2.0, path=path, scope="s1")
    again.start_loading()
    again.record(now + 2, {"q1": (50.0, 0.5)})  # recorded while loading: kept
    await again.wait_loaded()
    depth = again.points("q1", "depth")
    assert [v for _, v in depth] == [float(k) for k in range(50)] + [50.0]
    assert again.points("q2", "depth")[-1][1] == 98.0
    assert 12345.0 not in [v for _, v in depth], "another scope's samples stay apart"
    await again.close()


def test_history_prunes_what_is_older_than_its_span(tmp_path: Path):
    path = tmp_path / "history.sqlite"
    now = time.time()
    history = History(interval=2.0, path=path, hours=0.01)  # 19 samples, 38 s
    history.record(now - 3600, {"q": (1.0,)})
    history._write(history._pending)
    history._pending = []
    history.record(now, {"q": (2.0,)})
    history._write(history._pending)
    rows = history._connect().execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    assert rows == 1
    loaded = History(interval=2.0, path=path, hours=0.01)
    loaded.load()
    assert [v for _, v in loaded.points("q", "depth")] == [2.0]


# ---------------------------------------------------------------------------- checks


def _snapshot(*queues: QueueSnapshot, temporal: SourceStatus = SourceStatus.ok, api: SourceStatus = SourceStatus.ok) -> Snapshot:
    return Snapshot(
        taken_at=time.time(),
        queues=queues,
        sources={
            "api": SourceState("control plane", api, last_error=None if api == SourceStatus.ok else "connection refused"),
            "temporal": SourceState("Temporal", temporal, last_error=None if temporal == SourceStatus.ok else "Temporal down"),
        },
    )


def _queue(name: str, **numbers: Any) -> QueueSnapshot:
    base = dict(id=f"id-{name}", name=name, environment="prod", task_queue_name=f"org.prod.{name}", closed_in_window=10)
    return QueueSnapshot(**{**base, **numbers})


def test_check_levels_follow_the_monitoring_plugin_convention():
    limits = Thresholds(max_depth=100, max_error_rate=0.1, max_backlog_age=60)
    calm = _queue("calm", depth=80, error_rate=0.02, backlog_age_seconds=10)
    assert evaluate(_snapshot(calm), [], limits).status == Status.OK, "80 is not above 80% of 100"
    warm = _queue("warm", depth=81, error_rate=0.02, backlog_age_seconds=10)
    result = evaluate(_snapshot(warm), [], limits)
    assert result.status == Status.WARNING and result.exit_code == 1
    assert result.summary.startswith("QUEUES WARNING - prod/warm: depth 81")
    hot = _queue("hot", depth=20, error_rate=0.25, backlog_age_seconds=10)
    result = evaluate(_snapshot(calm, hot), [], limits)
    assert result.status == Status.CRITICAL and "error rate 25.0% > 10.0%" in result.summary
    assert "'prod/hot error_rate'=0.25;0.08;0.1;0;1" in result.summary


def test_check_cannot_tell_without_its_source_or_its_queue():
    limits = Thresholds(max_depth=100)
    stale = _queue("q", depth=3, stale=True, stale_sources=("temporal",), data_age_seconds=42.0)
    result = evaluate(_snapshot(stale, temporal=SourceStatus.down), [], limits)
    assert result.status == Status.UNKNOWN and "Temporal down" in result.summary and "42s old" in result.summary
    assert evaluate(_snapshot(_queue("q", depth=3)), ["nope"], limits).status == Status.UNKNOWN
    down = evaluate(_snapshot(api=SourceStatus.down), ["orders"], limits)
    assert down.status == Status.UNKNOWN and "cannot list queues" in down.summary
    assert evaluate(None, [], limits).exit_code == 3


def test_check_without_thresholds_is_a_liveness_check():
    assert evaluate(_snapshot(_queue("q", depth=3)), [], Thresholds()).status == Status.OK
    down = evaluate(_snapshot(_queue("q", depth=3), temporal=SourceStatus.down), [], Thresholds())
    assert down.status == Status.UNKNOWN and "Temporal down" in down.summary
    # With a threshold on numbers that are fresh, a control plane that is down does not hide them.
    fresh = _queue("q", depth=300)
    assert evaluate(_snapshot(fresh, api=SourceStatus.down), [], Thresholds(max_depth=100)).status == Status.CRITICAL


def test_check_worst_wins_critical_over_unknown_over_warning():
    limits = Thresholds(max_depth=100)
    critical = _queue("a", depth=500)
    unknown = _queue("b", depth=None)
    warning = _queue("c", depth=90)
    assert evaluate(_snapshot(critical, unknown, warning), [], limits).status == Status.CRITICAL
    assert evaluate(_snapshot(unknown, warning), [], limits).status == Status.UNKNOWN
    assert evaluate(_snapshot(warning), ["prod/c", "id-c"], limits).status == Status.WARNING


def test_an_idle_queue_passes_the_error_rate_check():
    idle = _queue("idle", depth=0, error_rate=None, closed_in_window=0)
    assert evaluate(_snapshot(idle), [], Thresholds(max_error_rate=0.05)).status == Status.OK
    never_read = _queue("unread", depth=0, error_rate=None, closed_in_window=None)
    assert evaluate(_snapshot(never_read), [], Thresholds(max_error_rate=0.05)).status == Status.UNKNOWN


def test_threshold_parsing():
    assert parse_rate("5%") == 0.05 and parse_rate("0.2") == 0.2
    with pytest.raises(ValueError):
        parse_rate("5")
    assert parse_seconds("90") == 90 and parse_seconds("2m") == 120 and parse_seconds("1h") == 3600
    with pytest.raises(ValueError):
        parse_seconds("soon")


# ---------------------------------------------------------------------------- the collector with fakes


class FakeApi:
    base_url = "http://fake"

    def __init__(self) -> None:
        self.queues = [
            {"id": "q1", "name": "orders", "environment_id": "e1", "environment_name": "prod",
             "task_queue_name": "org.prod.orders", "heartbeat_interval": 10, "status": "active"},
        ]  # fmt: skip
        self.workers: list[dict] = []
        self.calls: list[str] = []
        self.fail: Exception | None = None
        self.metrics: dict[str, Any] = {}
        self.health: Any = {"status": "ok", "service": "kubiya-tui", "version": "0.0.0"}
        self.environments: list[dict] = [{"id": "e1", "name": "prod"}]

    async def get_raw(self, path: str) -> bytes:
        self.calls.append(path)
        if self.fail is not None:
            raise self.fail
        if path == "/api/health":
            return json.dumps(self.health).encode()
        if path == "/api/v1/environments":
            return json.dumps(self.environments).encode()
        data = self.queues if path.endswith("worker-queues") else self.workers
        return json.dumps(data).encode()

    async def queue_metrics(self, queue_id: str) -> Any:
        self.calls.append(f"metrics {queue_id}")
        return self.metrics[queue_id]

    async def aclose(self) -> None:
        pass


class FakeTemporal:
    address = "fake:7233"
    namespace = "default"

    def __init__(self) -> None:
        self.stats = QueueStats(backlog=12, backlog_age_seconds=30.0, add_rate_per_second=0.5, dispatch_rate_per_second=1.0,
                                backlog_by_priority={1: 2, 3: 10})  # fmt: skip
        self.pollers: dict[str, float] = {}
        self.calls: list[str] = []
        self.delay = 0.0
        self.fail: Exception | None = None
        self.closed = {"Completed": 8, "Failed": 2}
        self.asked = self.answered = 0
        self.time_out_once: set[str] = set()
        """Calls (``describe TQ``) that time out once, as a few do on a busy server."""

    async def service(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def _maybe(self, what: str) -> None:
        self.calls.append(what)
        self.asked += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        self.answered += 1
        if self.fail is not None:
            raise self.fail
        if what in self.time_out_once:
            self.time_out_once.discard(what)
            raise TemporalUnavailable(f"Temporal call to {self.address} failed: Timeout expired")

    async def queue_stats(self, tq: str, timeout: float = 3.0, *, retry: bool = True) -> QueueStats:
        await self._maybe(f"describe {tq}")
        return QueueStats(**{**self.stats.__dict__, "poller_last_access": dict(self.pollers)})

    async def partitions(self, tq: str, timeout: float = 3.0, *, retry: bool = False) -> int:
        await self._maybe(f"partitions {tq}")
        return 4

    async def closed_executions(self, tq: str, window: float = 300, limit: int = 200, timeout: float = 3.0, **_: Any):
        await self._maybe(f"list {tq}")
        return ClosedExecutions(window, dict(self.closed), tuple(float(d) for d in range(1, 11)), True)

    async def outcomes(self, tq: str, window: float = 300, timeout: float = 3.0, **_: Any) -> Outcomes:
        await self._maybe(f"count {tq}")
        return Outcomes(window, dict(self.closed))

    async def workers(self, tq: str, timeout: float = 3.0, **_: Any) -> list:
        await self._maybe(f"workers {tq}")
        return []

    async def list_workers(self, query: Any = None, timeout: float = 3.0, **_: Any) -> list:
        await self._maybe("workers *")
        return []

    async def close(self) -> None:
        pass


async def wait_until(condition: Any, timeout: float = 3.0) -> None:
    """Until ``condition()`` holds, in real time (a background loop's work); an AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout} s")
        await asyncio.sleep(0.01)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _worker(worker_id: str, age: float, **extra: Any) -> dict:
    return {"worker_id": worker_id, "id": worker_id, "queue_id": "q1", "status": "busy", "heartbeat_age_seconds": age,
            "heartbeat_interval": 10, "tasks_processed": 5, "tasks_failed": 1, "slots_used": 2, "slots_available": 3,
            "registered_at": "2020-01-01T00:00:00+00:00", "hostname": "h1", **extra}  # fmt: skip


async def test_numbers_and_workers_merge_into_one_snapshot():
    api, temporal = FakeApi(), FakeTemporal()
    api.workers = [_worker("w-ok", 3), _worker("w-stale", 100), _worker("w-drain", 2, desired_state="draining"),
                   _worker("w-gone", 50, status="disconnected", disconnected_at="2000-01-01T00:00:00Z")]  # fmt: skip
    temporal.pollers = {"w-ok": time.time(), "w-drain": time.time(), "intruder": time.time()}
    collector = Collector(api, temporal, CollectorOptions(poll_grace=0))
    snap = await collector.refresh(complete=True)
    [q] = snap.queues
    assert (q.name, q.environment, q.depth, q.backlog_age_seconds) == ("orders", "prod", 12, 30.0)
    assert (q.add_rate_per_min, q.dispatch_rate_per_min) == (30.0, 60.0)
    assert q.time_to_drain_seconds == pytest.approx(24.0) and not q.growing  # 12 / (1/s - 0.5/s)
    assert q.priority_backlog == {1: 2, 3: 10} and q.partitions == 4
    assert q.closed_in_window == 10 and q.error_rate == pytest.approx(0.2)
    assert q.processed_per_min == pytest.approx(2.0)  # 10 closed over 5 minutes
    assert (q.duration_p50_seconds, q.duration_p95_seconds, q.duration_samples) == (5.0, 10.0, 10)
    assert q.workers == WorkerCounts(healthy=1, stale=1, draining=1, total=3, not_polling=0, unregistered=1)
    assert (q.capacity_used, q.capacity_total) == (4, 10), "healthy and draining workers' slots"
    by_id = {w.worker_id: w for w in snap.workers}
    assert "w-gone" not in by_id, "gone long ago"
    assert by_id["intruder"].polling_not_registered and by_id["intruder"].source == "temporal"
    assert not by_id["w-ok"].registered_not_polling
    assert snap.sources["api"].status == SourceStatus.ok and snap.sources["temporal"].status == SourceStatus.ok
    data = snap.to_json()
    assert data["queues"][0]["workers"]["healthy"] == 1 and data["sources"]["temporal"]["status"] == "ok"
    await collector.aclose()


async def test_a_complete_refresh_on_a_machine_just_booted_reads_everything():
    api, temporal = FakeApi(), FakeTemporal()
    booted = Clock()
    booted.t = 5.0  # the monotonic clock counts from boot: younger than every schedule's interval
    collector = Collector(api, temporal, monotonic=booted)
    snap = await collector.refresh(complete=True)
    [q] = snap.queues
    assert q.partitions == 4, "partitions are read at the first poll, not 5 minutes after boot"
    assert q.depth == 12 and q.closed_in_window == 10
    await collector.aclose()


async def test_a_healthy_worker_that_never_polls_is_flagged():
    api, temporal = FakeApi(), FakeTemporal()
    api.workers = [_worker("w-silent", 1)]
    collector = Collector(api, temporal, CollectorOptions(poll_grace=0))
    snap = await collector.refresh(complete=True)
    assert snap.workers[0].registered_not_polling
    assert snap.queues[0].workers.not_polling == 1
    await collector.aclose()


async def test_stats_are_reused_until_they_are_five_seconds_old():
    api, temporal = FakeApi(), FakeTemporal()
    mono = Clock()
    collector = Collector(api, temporal, CollectorOptions(stats_interval=5.0), monotonic=mono)
    await collector.refresh(complete=True)
    assert temporal.calls.count("describe org.prod.orders") == 1
    for step in (2.0, 2.0):
        mono.t += step
        await collector.refresh()
        await asyncio.sleep(0)
    assert temporal.calls.count("describe org.prod.orders") == 1, "4 s later: the server's cache would answer the same"
    mono.t += 2.0
    await collector.refresh()
    assert temporal.calls.count("describe org.prod.orders") == 2
    assert api.calls.count("/api/v1/worker-queues") == 4, "the queue list is read every refresh"
    await collector.aclose()


async def test_a_slow_source_never_holds_back_the_other():
    api, temporal = FakeApi(), FakeTemporal()
    collector = Collector(api, temporal, CollectorOptions(slow_after=0.3, source_timeout=5.0))
    first = await collector.refresh(complete=True)
    assert first.queues[0].depth == 12
    temporal.delay = 3.0
    temporal.stats = QueueStats(backlog=99)
    api.queues[0]["max_workers"] = 7
    snap = await collector.refresh(force=True)
    assert temporal.answered < temporal.asked, "the snapshot came while Temporal was still answering"
    assert snap.queues[0].max_workers == 7, "the control plane's news arrived"
    assert snap.sources["temporal"].status == SourceStatus.slow
    assert snap.queues[0].depth == 12, "Temporal's last numbers, still there"
    await collector.aclose()


async def test_a_young_queue_reads_its_rate_over_its_age_not_the_window():
    from datetime import datetime, timezone

    api, temporal = FakeApi(), FakeTemporal()
    clock = Clock()
    api.queues[0]["created_at"] = datetime.fromtimestamp(clock.t - 60, timezone.utc).isoformat()
    api.queues.append({"id": "q2", "name": "old", "environment_id": "e1", "environment_name": "prod",
                       "task_queue_name": "org.prod.old", "created_at": clock.t - 3600})  # fmt: skip
    temporal.closed = {"Completed": 55, "Failed": 5}
    collector = Collector(api, temporal, clock=clock)
    snap = await collector.refresh(complete=True)
    young, old = snap.queue("q1"), snap.queue("q2")
    assert young.closed_in_window == 60 and young.processed_per_min == pytest.approx(60.0), "60 closed in its first 60 s"
    assert young.error_rate == pytest.approx(5 / 60, abs=1e-4), "a ratio: the window's length does not matter"
    assert old.processed_per_min == pytest.approx(12.0), "60 closed over the whole 5-minute window"
    await collector.aclose()

    only = FakeTemporal()
    only.closed = {"Completed": 60}
    collector = Collector(None, only, CollectorOptions(task_queues=("payments",)), clock=clock)
    snap = await collector.refresh(complete=True)
    assert snap.queues[0].processed_per_min == pytest.approx(12.0), "Temporal-only: no creation time, the whole window"
    await collector.aclose()


def test_a_source_is_down_after_two_failed_polls_in_a_row():
    mono = Clock()
    tracker = Tracker("Temporal", interval=2.0, max_backoff=15.0, mono=mono)
    tracker.failure("h2 protocol error: http2 error")
    assert tracker.status(1.0) == SourceStatus.down, "never answered: nothing to keep, down at once"
    tracker.success(5.0, wall=1.0)
    assert tracker.status(1.0) == SourceStatus.ok
    tracker.failure("h2 protocol error: http2 error", latency_ms=5.0)
    assert tracker.status(1.0) == SourceStatus.ok, "one failure keeps the last status"
    assert tracker.failing and tracker.error == "h2 protocol error: http2 error"
    tracker.failure("Temporal unreachable: connection refused", latency_ms=5.0)
    assert tracker.status(1.0) == SourceStatus.down, "two in a row"
    tracker.success(5.0, wall=2.0)
    assert tracker.status(1.0) == SourceStatus.ok and not tracker.failing and tracker.error is None
    tracker.failure("again", latency_ms=5.0)
    assert tracker.status(1.0) == SourceStatus.ok, "a success in between starts the count again"


async def test_one_transient_error_is_not_an_outage_and_a_failed_read_is_retried_soon():
    api, temporal = FakeApi(), FakeTemporal()
    mono = Clock()
    collector = Collector(api, temporal, CollectorOptions(interval=2.0, stats_interval=5.0, max_backoff=10.0), monotonic=mono)
    await collector.refresh(complete=True)

    async def connected() -> None:  # the connection is up; one call fails, as under load
        return None

    temporal.service = connected  # type: ignore[method-assign]
    temporal.fail = TemporalUnavailable("Temporal call to fake:7233 failed: h2 protocol error: http2 error")
    mono.t += 5
    snap = await collector.refresh()
    source, q = snap.sources["temporal"], snap.queues[0]
    assert source.status == SourceStatus.ok and "h2 protocol error" in source.last_error, "told, but not called down"
    assert q.stale and q.depth == 12 and q.data_age_seconds is not None, "the numbers are kept and dim by age"
    temporal.fail = None
    mono.t += 2.5  # past the backoff, before the 5 s stats schedule: the failed read is retried now
    snap = await collector.refresh()
    assert snap.sources["temporal"].status == SourceStatus.ok and snap.sources["temporal"].last_error is None
    assert not snap.queues[0].stale
    assert temporal.calls.count("describe org.prod.orders") == 3

    # A source that stays unreachable is down by the second poll, about one interval after the first.
    temporal.fail = TemporalUnavailable("Temporal call to fake:7233 failed: connection refused")
    mono.t += 5
    assert (await collector.refresh()).sources["temporal"].status == SourceStatus.ok
    mono.t += 2.5
    snap = await collector.refresh()
    assert snap.sources["temporal"].status == SourceStatus.down and "connection refused" in snap.sources["temporal"].last_error
    assert snap.queues[0].stale and snap.queues[0].depth == 12
    await collector.aclose()


async def test_a_read_that_timed_out_while_the_rest_answered_is_read_again_after_one_interval():
    api, temporal = FakeApi(), FakeTemporal()
    names = _many_queues(api, 3)
    mono = Clock()
    collector = Collector(api, temporal, CollectorOptions(interval=2.0, stats_interval=5.0), monotonic=mono)
    temporal.time_out_once = {f"describe {names[1]}"}
    snap = await collector.refresh(complete=True)
    assert [q.depth for q in snap.queues] == [12, None, 12] and snap.sources["temporal"].status == SourceStatus.ok
    mono.t += 2.5  # one refresh interval later, before the 5 s stats schedule
    await collector.refresh()
    if collector._stats_poller.task is not None:
        await collector._stats_poller.task  # the poll that refresh started
    snap = await collector.refresh()
    assert [q.depth for q in snap.queues] == [12, 12, 12], "the queue that timed out is read at the next refresh"
    assert [temporal.calls.count(f"describe {tq}") for tq in names] == [1, 2, 1], "only it"
    await collector.aclose()


async def test_failures_back_off_and_recover_without_a_restart():
    api, temporal = FakeApi(), FakeTemporal()
    mono = Clock()
    collector = Collector(api, temporal, CollectorOptions(interval=2.0, max_backoff=10.0), monotonic=mono)
    await collector.refresh(complete=True)
    temporal.fail = TemporalUnavailable("Temporal unreachable at fake:7233: connection refused")
    mono.t += 10
    snap = await collector.refresh()
    # One failed poll: the error is told and the numbers are stale, but the source is not called down yet.
    assert snap.sources["temporal"].status == SourceStatus.ok
    assert "connection refused" in snap.sources["temporal"].last_error
    q = snap.queues[0]
    assert q.stale and "temporal" in q.stale_sources and q.depth == 12
    assert snap.sources["api"].status == SourceStatus.ok and "api" not in q.stale_sources
    calls = len(temporal.calls)
    mono.t += 0.5
    await collector.refresh()
    assert len(temporal.calls) == calls, "backing off: no new attempt half a second later"
    mono.t += 2.5  # past the first backoff (one interval, +20 % jitter at most)
    snap = await collector.refresh()
    assert snap.sources["temporal"].status == SourceStatus.down, "the second failed poll in a row"
    assert snap.queues[0].stale and snap.queues[0].depth == 12
    temporal.fail = None
    mono.t += 30
    snap = await collector.refresh(complete=True)
    assert snap.sources["temporal"].status == SourceStatus.ok and not snap.queues[0].stale
    await collector.aclose()


async def test_no_exception_leaves_the_collector():
    api, temporal = FakeApi(), FakeTemporal()
    temporal.fail = RuntimeError("something nobody expected")
    api.fail = ValueError("garbage")
    collector = Collector(api, temporal)
    snap = await collector.refresh(complete=True)
    assert snap.sources["api"].status == SourceStatus.down and "garbage" in snap.sources["api"].last_error
    assert snap.sources["temporal"].status in (SourceStatus.down, SourceStatus.ok)
    delivered = []
    stop = asyncio.Event()

    def callback(s: Snapshot) -> None:
        delivered.append(s)
        if len(delivered) == 2:
            stop.set()
        raise RuntimeError("a broken callback is logged, not raised")

    await asyncio.wait_for(collector.run(callback, stop), 10)
    assert len(delivered) == 2
    await collector.aclose()


async def test_refresh_now_wakes_the_run_loop():
    api, temporal = FakeApi(), FakeTemporal()
    collector = Collector(api, temporal, CollectorOptions(interval=3600.0))
    delivered: list[Snapshot] = []
    arrived = asyncio.Event()
    stop = asyncio.Event()

    def callback(snapshot: Snapshot) -> None:
        delivered.append(snapshot)
        arrived.set()

    task = asyncio.create_task(collector.run(callback, stop))
    await asyncio.wait_for(arrived.wait(), 30)
    arrived.clear()
    api.queues[0]["max_workers"] = 9
    collector.request_refresh()
    # An hour between refreshes: only the request can bring the second snapshot (the guard only ends a hang).
    await asyncio.wait_for(arrived.wait(), 30)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert len(delivered) == 2 and delivered[1].queues[0].max_workers == 9, "a fresh poll, not the old snapshot"
    await collector.aclose()


async def test_api_only_mode_reads_the_metrics_endpoint_and_worker_counters():
    from kubiya_tui.models import WorkerQueueMetrics

    api = FakeApi()
    api.metrics["q1"] = WorkerQueueMetrics(queue_id="q1", task_queue_backlog=7, task_queue_backlog_age_seconds=4.0,
                                           tasks_add_rate_per_min=6.0, tasks_dispatch_rate_per_min=12.0, temporal_available=True)  # fmt: skip
    api.workers = [_worker("w1", 1, tasks_processed=10, tasks_failed=0,
                           worker_metadata={"task_duration_p50_ms": 200.0, "task_duration_p95_ms": 900.0})]  # fmt: skip
    clock = Clock()
    collector = Collector(api, None, CollectorOptions(workers_interval=0), clock=clock)
    snap = await collector.refresh(complete=True)
    # No Temporal access of its own: Temporal is as the control plane's metrics say.
    assert snap.mode == "api" and snap.sources["temporal"].status == SourceStatus.ok
    q = snap.queues[0]
    assert (q.depth, q.backlog_age_seconds, q.add_rate_per_min) == (7, 4.0, 6.0)
    assert (q.duration_p50_seconds, q.duration_p95_seconds, q.duration_source) == (0.2, 0.9, "workers")
    api.workers = [_worker("w1", 1, tasks_processed=25, tasks_failed=5)]
    clock.t += 60
    snap = await collector.refresh(force=True, complete=True)
    q = snap.queues[0]
    assert q.processed_per_min == pytest.approx(20.0) and q.error_rate == pytest.approx(0.25)
    api.metrics["q1"] = WorkerQueueMetrics(queue_id="q1", temporal_available=False, temporal_error="Temporal unreachable at x")
    clock.t += 60
    snap = await collector.refresh(force=True, complete=True)
    assert snap.sources["temporal"].status == SourceStatus.down
    assert snap.sources["temporal"].last_error == "Temporal unreachable at x"
    await collector.aclose()


async def test_temporal_only_mode_watches_the_profiles_task_queues():
    temporal = FakeTemporal()
    temporal.pollers = {"1234@host": time.time()}
    collector = Collector(None, temporal, CollectorOptions(task_queues=("payments", "payments", "mail")))
    snap = await collector.refresh(complete=True)
    assert snap.mode == "temporal" and snap.sources["api"].status == SourceStatus.off
    assert sorted(q.name for q in snap.queues) == ["mail", "payments"]
    assert all(q.depth == 12 and q.environment is None for q in snap.queues)
    assert {w.worker_id for w in snap.workers} == {"1234@host"}
    assert not any(w.polling_not_registered for w in snap.workers), "nothing registers without a control plane"
    assert snap.queue("payments").workers.healthy == 1
    assert sorted(c for c in temporal.calls if c.startswith("describe")) == ["describe mail", "describe payments"]
    await collector.aclose()


def test_connect_picks_the_mode_and_refuses_nothing_to_watch():
    from kubiya_tui.secret import SecretStr

    from kubiya_tui.config import Settings
    from kubiya_tui.connection import connect
    from kubiya_tui.errors import UserError
    from kubiya_tui.metrics.collector import CollectorOptions

    both = connect(Settings(api_key=SecretStr("k"), temporal_address="127.0.0.1:7233"), history="off").source
    assert both.mode == "api+temporal" and both.interval == 2.0
    api_only = connect(Settings(api_key=SecretStr("k"), refresh_interval=5), history="off").source
    assert api_only.mode == "api" and api_only.interval == 5.0
    t_only = connect(Settings(temporal_address="127.0.0.1:7233", task_queues=["a"]), history="off").source
    assert t_only.mode == "temporal" and t_only.task_queues == ("a",)
    # Temporal alone, no task queues named: the queues are found in Temporal (only without discovery is that refused).
    found = connect(Settings(temporal_address="127.0.0.1:7233"), history="off").source
    assert found.mode == "temporal" and found.discovery is not None and found.task_queues == ()
    with pytest.raises(UserError, match="task_queues"):
        connect(Settings(temporal_address="127.0.0.1:7233"), CollectorOptions(discover=False)).source
    with pytest.raises(UserError, match="nothing to watch"):
        connect(Settings()).source
    persisted = connect(Settings(api_key=SecretStr("k"))).source
    assert persisted._history is not None and persisted._history.path.name == "history.sqlite"
    assert math.isclose(persisted._history.interval, 2.0)


def test_history_on_disk_can_be_turned_off(monkeypatch: pytest.MonkeyPatch):
    from kubiya_tui.secret import SecretStr

    from kubiya_tui.config import Settings
    from kubiya_tui.connection import connect

    monkeypatch.setenv("KUBIYA_TUI_HISTORY", "off")
    in_memory = connect(Settings(api_key=SecretStr("k"))).source
    assert in_memory._history is not None and in_memory._history.path is None
    assert connect(Settings(api_key=SecretStr("k")), history="off").source._history is None


# ---------------------------------------------------------------------------- outcomes: one scan for many queues


class ScanningTemporal(FakeTemporal):
    """A reader that also scans several queues at once (as TemporalReader.closed_scan does)."""

    def __init__(self, closed_per_queue: dict[str, int] | None = None) -> None:
        super().__init__()
        self.closed_per_queue = closed_per_queue or {}
        self.scans: list[list[str]] = []
        self.limited = 0

    async def closed_scan(self, task_queues: Any, window: float = 300, *, max_executions: int = 5000, before_page: Any = None, **_: Any):
        from kubiya_tui.client.temporal import ClosedScan, TemporalRateLimited

        if before_page is not None:
            await before_page()
        self.scans.append(list(task_queues))
        if self.time_out_once & set(task_queues):
            self.time_out_once -= set(task_queues)
            raise TemporalUnavailable(f"Temporal call to {self.address} failed: Timeout expired")
        if self.limited:
            self.limited -= 1
            raise TemporalRateLimited("Temporal call to fake failed: namespace rate limit exceeded")
        total = sum(self.closed_per_queue.get(tq, 0) for tq in task_queues)
        complete = total <= max_executions
        queues = {tq: ClosedExecutions(window, {"Completed": self.closed_per_queue.get(tq, 0)} if self.closed_per_queue.get(tq) else {},
                                       (2.0,) * min(200, self.closed_per_queue.get(tq, 0)), complete)  # fmt: skip
                  for tq in task_queues}  # fmt: skip
        return ClosedScan(window, queues, complete, 1)


def _many_queues(api: FakeApi, n: int) -> list[str]:
    api.queues = [{"id": f"q{i}", "name": f"q{i:04d}", "environment_id": "e1", "environment_name": "prod",
                   "task_queue_name": f"org.prod.q{i:04d}", "heartbeat_interval": 10, "status": "active"}
                  for i in range(n)]  # fmt: skip
    return [q["task_queue_name"] for q in api.queues]


async def test_outcomes_of_a_thousand_quiet_queues_cost_a_few_scans_not_a_call_per_queue():
    api, temporal = FakeApi(), ScanningTemporal()
    names = _many_queues(api, 1000)
    temporal.closed_per_queue = {names[0]: 30, names[999]: 4}
    collector = Collector(api, temporal, CollectorOptions(source_timeout=30))
    snap = await collector.refresh(complete=True)
    assert len(temporal.scans) == 5 and sorted(sum(temporal.scans, [])) == sorted(names), "200 queues a scan, each once"
    assert not [c for c in temporal.calls if c.startswith(("list ", "count "))], "no queue was read on its own"
    by_tq = {q.task_queue_name: q for q in snap.queues}
    assert all(q.closed_in_window is not None for q in snap.queues), "every queue's outcomes are known"
    assert by_tq[names[0]].closed_in_window == 30 and by_tq[names[999]].closed_in_window == 4
    assert by_tq[names[1]].closed_in_window == 0 and by_tq[names[0]].duration_p95_seconds == 2.0
    await collector.aclose()


async def test_a_scan_that_cannot_read_everything_is_split_down_to_the_busy_queue():
    api, temporal = FakeApi(), ScanningTemporal()
    names = _many_queues(api, 8)
    temporal.closed_per_queue = {names[5]: 6000, names[1]: 3}  # one queue closes more than a scan reads
    collector = Collector(api, temporal, CollectorOptions(source_timeout=30))
    snap = await collector.refresh(complete=True)
    assert [names[5]] in temporal.scans and [names[4], names[5]] in temporal.scans, "halved until it is alone"
    alone = [c for c in temporal.calls if c.startswith(("list ", "count "))]
    assert alone == [f"list {names[5]}"], "the busy queue, and only it, is read on its own"
    by_tq = {q.task_queue_name: q for q in snap.queues}
    assert by_tq[names[1]].closed_in_window == 3 and by_tq[names[0]].closed_in_window == 0
    await collector.aclose()


async def test_a_scan_that_timed_out_while_the_others_answered_is_scanned_again_after_one_interval():
    # A cold dev server busy with 2,000 DescribeTaskQueue calls lets some scans time out: those queues
    # waited a whole outcomes interval (10 s) for their numbers; they are scanned again at the next refresh.
    api, temporal = FakeApi(), ScanningTemporal()
    names = _many_queues(api, 400)
    temporal.time_out_once = {names[300]}
    mono = Clock()
    collector = Collector(api, temporal, CollectorOptions(interval=2.0, outcomes_interval=10.0, source_timeout=5), monotonic=mono)
    await collector.refresh()
    await wait_until(lambda: len(temporal.scans) >= 2)
    await asyncio.sleep(0.2)  # the loop, with nothing more due, waits
    assert len(temporal.scans) == 2, "each chunk once, one of them timed out"
    mono.t += 2.5
    await wait_until(lambda: len(temporal.scans) >= 3)
    assert temporal.scans[2] == names[200:], "the chunk that timed out, and only it"
    snap = await collector.refresh()
    assert all(q.closed_in_window is not None for q in snap.queues)
    await collector.aclose()


async def test_scans_slow_down_when_visibility_says_rate_limit_exceeded():
    api, temporal = FakeApi(), ScanningTemporal()
    _many_queues(api, 10)
    temporal.limited = 1
    collector = Collector(api, temporal, CollectorOptions(source_timeout=30))
    await collector.refresh(complete=True)
    assert collector.outcomes is not None and collector.outcomes._bucket.rate < collector.options.visibility_rps
    assert collector.latest() is not None
    await collector.aclose()


async def test_refusals_of_one_burst_halve_the_describe_rate_once_not_once_each():
    # A dev server just restarted refuses a burst of DescribeTaskQueue calls ("namespace rate limit
    # exceeded"): the 16 in flight come back refused together. Halving for each took 900 calls/s down to 1.
    from kubiya_tui.client.temporal_types import TemporalRateLimited

    api, temporal = FakeApi(), FakeTemporal()
    names = _many_queues(api, 40)
    temporal.delay = 0.01
    temporal.fail_once = {f"describe {tq}" for tq in names[:16]}
    original = temporal._maybe

    async def refusing(what: str) -> None:
        await original(what)
        if what in temporal.fail_once:
            temporal.fail_once.discard(what)
            raise TemporalRateLimited("Temporal call to fake failed: namespace rate limit exceeded")

    temporal._maybe = refusing  # type: ignore[method-assign]
    collector = Collector(api, temporal, CollectorOptions(source_timeout=30, concurrency=16))
    bucket = collector.temporal_stats._bucket
    lowest = [bucket.rate]
    slow_down = bucket.slow_down

    def noting() -> None:
        slow_down()
        lowest.append(min(lowest[-1], bucket.rate))

    bucket.slow_down = noting  # type: ignore[method-assign]
    await collector.refresh(complete=True)
    assert not temporal.fail_once and len(lowest) == 17, "the 16 were asked, and refused"
    assert lowest[-1] == collector.options.describe_rps / 2, f"halved once: {lowest[-1]:.1f}/s at the lowest"
    del bucket.slow_down
    # A refusal later than SLOW_DOWN_EVERY halves again: the server is still saying no.
    rate = bucket.rate
    bucket._slowed_at -= bucket.SLOW_DOWN_EVERY
    bucket.slow_down()
    assert bucket.rate == rate / 2
    await collector.aclose()


async def test_a_cold_start_shows_the_queue_list_before_temporal_has_answered():
    api, temporal = FakeApi(), FakeTemporal()
    _many_queues(api, 50)
    temporal.delay = 0.2  # every DescribeTaskQueue is slow: the first poll takes seconds
    collector = Collector(api, temporal, CollectorOptions(slow_after=5.0, source_timeout=30, concurrency=4))
    began = time.monotonic()
    first = await collector.refresh()
    assert time.monotonic() - began < 1.0, "not held back by Temporal's numbers"
    assert len(first.queues) == 50 and sum(q.depth is not None for q in first.queues) < 50
    assert collector.interval < collector.rules.interval, "refreshed often while the numbers fill in"
    full = await collector.refresh(complete=True)
    assert all(q.depth == 12 for q in full.queues) and collector.interval == collector.rules.interval
    await collector.aclose()


async def test_a_long_poll_of_quick_calls_is_not_a_slow_temporal():
    """1,000 queues' DescribeTaskQueue calls take seconds in all, each quick: Temporal is not called slow for it."""
    api, temporal = FakeApi(), ScanningTemporal()
    _many_queues(api, 40)
    temporal.delay = 0.02
    collector = Collector(api, temporal, CollectorOptions(slow_after=0.3, source_timeout=30, concurrency=2))
    began = time.monotonic()
    snap = await collector.refresh(complete=True)
    assert time.monotonic() - began > 0.3, "the poll itself took longer than slow_after"
    assert snap.sources["temporal"].status == SourceStatus.ok, snap.sources["temporal"]
    # (Slow calls still make it slow: test_a_slow_source_never_holds_back_the_other.)
    await collector.aclose()


async def test_a_one_shot_poll_asks_each_thing_once_and_side_by_side():
    """A one-shot `check --env prod` reads the queue list, workers, health and environments at once, and the
    control plane's kind from that health answer: no second /api/health, no environments after the queues."""
    from kubiya_tui.client.capabilities import CapabilitiesCache

    class Overlapping(FakeApi):
        """Records which requests had started when the queue list was answered."""

        def __init__(self) -> None:
            super().__init__()
            self.started: list[str] = []
            self.before_queue_answer: list[str] = []

        async def get_raw(self, path: str) -> bytes:
            self.started.append(path)
            await asyncio.sleep(0)  # the requests of one gather start before any is answered
            if path == "/api/v1/worker-queues":
                self.before_queue_answer = list(self.started)
            return await super().get_raw(path)

    api, temporal = Overlapping(), FakeTemporal()
    api.queues[0]["environment_name"] = None  # named by the environments list only
    caps = CapabilitiesCache(api)
    collector = Collector(api, temporal, CollectorOptions(poll_grace=0, environments=("prod",)), capabilities=caps)
    snap = await collector.refresh(complete=True)
    assert [(q.name, q.environment) for q in snap.queues] == [("orders", "prod")]
    assert caps.known is not None and caps.known.flavour == "kubiya-tui" and caps.known.temporal_reads, "learned from the health read"
    assert api.calls.count("/api/health") == 1 and api.calls.count("/api/v1/environments") == 1
    assert set(api.before_queue_answer) == {"/api/v1/worker-queues", "/api/v1/registered-workers", "/api/health",
                                            "/api/v1/environments"}, "environments are asked beside the queue list"  # fmt: skip
    # An answer that names no known control plane teaches nothing: the cache learns on its own later.
    unknown = CapabilitiesCache(api)
    unknown.offer_health({"status": "ok"})
    unknown.offer_health(["not", "an", "object"])
    assert unknown.known is None
    await collector.aclose()


async def test_a_snapshot_says_which_reading_of_the_workers_it_shows():
    """The workers are read every workers_interval, snapshots are made more often: those in between carry the
    same reading (the console records no heartbeats from them), and a new reading carries its own time."""
    api = FakeApi()
    api.workers = [_worker("w1", 1)]
    clock, mono = Clock(), Clock()
    collector = Collector(api, FakeTemporal(), CollectorOptions(workers_interval=5), clock=clock, monotonic=mono)
    first = await collector.refresh(complete=True)
    assert first.workers_read_at == 1000.0

    async def after(seconds: float) -> Snapshot:
        clock.t += seconds
        mono.t += seconds
        return await collector.refresh()  # as the run loop refreshes: each source on its own schedule

    between = await after(2)
    assert between.taken_at == 1002.0 and between.workers_read_at == 1000.0
    assert between.workers[0].heartbeat_age_seconds == first.workers[0].heartbeat_age_seconds + 2, "ages grow between readings"
    assert (await after(2)).workers_read_at == 1000.0
    assert (await after(2)).workers_read_at == 1006.0, "5 s on: read again"
    clock.t += 1
    assert (await collector.refresh(force=True)).workers_read_at == 1007.0, "a forced refresh reads them now"
    assert first.to_json()["workers_read_at"] == 1000.0
    await collector.aclose()
