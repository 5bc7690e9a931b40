"""build_snapshot without I/O: plain readings in, the rows an operator reads out."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from kubiya_tui.client.temporal import QueueStats
from kubiya_tui.metrics.assemble import GONE_KEEP_SECONDS, Readings, SnapshotRules, build_snapshot
from kubiya_tui.metrics.derive import CounterWindow
from kubiya_tui.metrics.scheduler import Reading
from kubiya_tui.metrics.snapshot import WorkerCounts
from kubiya_tui.metrics.sources.outcomes import Outcome
from kubiya_tui.metrics.sources.registry import QueueRef, Registry, parse_worker
from kubiya_tui.models import WorkerHealth, WorkerQueueMetrics

NOW = 10_000.0
ORDERS = QueueRef(id="q1", name="orders", task_queue_name="org.prod.orders", environment="prod", environment_id="e1",
                  heartbeat_interval=10, created_at=NOW - 3600)  # fmt: skip


def _reading(value, at: float = NOW - 1, error: str | None = None) -> Reading:  # type: ignore[no-untyped-def]
    return Reading(value=value, at=at, error=error, tried=0.0)


def _registered(worker_id: str, health: WorkerHealth, age: float | None, **extra):  # type: ignore[no-untyped-def]
    body = {"worker_id": worker_id, "queue_id": "q1", "status": "busy", "heartbeat_interval": 10, "tasks_processed": 5,
            "tasks_failed": 1, "slots_used": 2, "slots_available": 3, "registered_at": NOW - 600, "hostname": "h1", **extra}  # fmt: skip
    rw = parse_worker(worker_id, body)
    rw.health, rw.heartbeat_age = health, age
    return rw


def _registry(*workers, queues=(ORDERS,), at: float = NOW - 1) -> Registry:  # type: ignore[no-untyped-def]
    return Registry(at=at, queues=tuple(queues), workers=tuple(workers), workers_at=at, watched=tuple(queues))


STATS = QueueStats(backlog=12, backlog_age_seconds=30.0, add_rate_per_second=0.5, dispatch_rate_per_second=1.0,
                   backlog_by_priority={1: 2, 3: 10, 5: 0}, poller_last_access={"w-ok": NOW - 5, "rogue": NOW - 5})  # fmt: skip
OUTCOME = Outcome(by_status={"Completed": 8, "Failed": 1, "TimedOut": 1}, p50=5.0, p95=10.0, samples=10, durations_at=0.0)


def test_a_queue_row_from_temporal_and_the_control_plane():
    registry = _registry(
        _registered("w-ok", WorkerHealth.healthy, 3.0),
        _registered("w-stale", WorkerHealth.stale, 100.0),
        _registered("w-drain", WorkerHealth.draining, 2.0, desired_state="draining"),
        _registered("w-silent", WorkerHealth.healthy, 1.0),
    )
    readings = Readings(
        registry=registry,
        stats={"org.prod.orders": _reading(STATS)},
        partitions={"org.prod.orders": _reading(4)},
        outcomes={"org.prod.orders": _reading(OUTCOME)},
    )
    snap = build_snapshot(SnapshotRules(poll_grace=0), registry.watched, readings, now=NOW)
    [q] = snap.queues
    assert (q.depth, q.backlog_age_seconds, q.add_rate_per_min, q.dispatch_rate_per_min) == (12, 30.0, 30.0, 60.0)
    assert q.priority_backlog == {1: 2, 3: 10}, "an empty priority level is not shown"
    assert q.partitions == 4 and q.pollers == 2
    assert q.time_to_drain_seconds == pytest.approx(24.0) and not q.growing  # 12 / (1/s - 0.5/s)
    assert q.closed_in_window == 10 and q.error_rate == pytest.approx(0.2), "failed = Failed + TimedOut"
    assert q.processed_per_min == pytest.approx(2.0) and (q.duration_p50_seconds, q.duration_p95_seconds) == (5.0, 10.0)
    assert q.workers == WorkerCounts(healthy=2, stale=1, draining=1, total=4, not_polling=1, unregistered=1)
    assert (q.capacity_used, q.capacity_total) == (6, 15), "healthy and draining workers' slots"
    assert not q.stale and q.last_error is None
    by_id = {w.worker_id: w for w in snap.workers}
    assert by_id["w-silent"].registered_not_polling and not by_id["w-ok"].registered_not_polling
    assert by_id["rogue"].polling_not_registered and by_id["rogue"].source == "temporal"
    assert by_id["w-ok"].heartbeat_age_seconds == 4.0, "its age at the poll, plus the time since the poll"
    assert by_id["w-ok"].queue_name == "orders" and by_id["w-ok"].task_queue_name == "org.prod.orders"


def test_the_rules_numbers_depend_on():
    readings = Readings(registry=_registry(), stats={"org.prod.orders": _reading(STATS)}, outcomes={"org.prod.orders": _reading(OUTCOME)})
    young = replace(ORDERS, created_at=NOW - 61)
    snap = build_snapshot(SnapshotRules(), [young], replace(readings, registry=_registry(queues=(young,))), now=NOW)
    assert snap.queues[0].processed_per_min == pytest.approx(10.0), "10 closed over its 60 s of life, not the 5-minute window"
    growing = Readings(stats={"org.prod.orders": _reading(replace(STATS, add_rate_per_second=2.0))})
    q = build_snapshot(SnapshotRules(), [ORDERS], growing, now=NOW).queues[0]
    assert q.growing and q.time_to_drain_seconds is None


def test_old_data_is_kept_and_marked_stale_with_its_age():
    registry = _registry(_registered("w-ok", WorkerHealth.healthy, 3.0), at=NOW - 40)
    readings = Readings(
        registry=registry,
        stats={"org.prod.orders": _reading(STATS, at=NOW - 25, error="Temporal call to t:7233 failed: connection refused")},
        api_failing=True,
    )
    [q] = build_snapshot(SnapshotRules(), registry.watched, readings, now=NOW).queues
    assert q.depth == 12, "the last numbers stay"
    assert q.stale and q.stale_sources == ("api", "temporal") and q.data_age_seconds == 40.0
    assert q.last_error == "Temporal call to t:7233 failed: connection refused"
    assert q.workers.not_polling == 0, "without fresh Temporal data nothing is flagged"


def test_a_worker_that_left_long_ago_is_dropped_and_one_that_just_left_is_shown_as_gone():
    just = _registered("w-just", WorkerHealth.gone, 50.0, status="disconnected", disconnected_at=NOW - 30)
    long_ago = _registered("w-old", WorkerHealth.gone, 5000.0, status="disconnected", disconnected_at=NOW - GONE_KEEP_SECONDS - 1)
    snap = build_snapshot(SnapshotRules(), [ORDERS], Readings(registry=_registry(just, long_ago)), now=NOW)
    assert [(w.worker_id, w.health) for w in snap.workers] == [("w-just", WorkerHealth.gone)]
    assert snap.queues[0].workers.total == 0


def test_api_only_rows_come_from_the_metrics_endpoint_and_the_workers_counters():
    counters = CounterWindow(300.0)
    counters.observe(NOW - 60, {"w1": (10, 0)})
    counters.observe(NOW, {"w1": (25, 5)})
    worker = _registered("w1", WorkerHealth.healthy, 1.0, worker_metadata={"task_duration_p50_ms": 200.0, "task_duration_p95_ms": 900.0})
    metrics = WorkerQueueMetrics(queue_id="q1", task_queue_backlog=7, task_queue_backlog_age_seconds=4.0, tasks_add_rate_per_min=6.0,
                                 tasks_dispatch_rate_per_min=12.0, task_queue_pollers=1, temporal_available=True)  # fmt: skip
    readings = Readings(registry=_registry(worker), api_metrics={"q1": _reading(metrics)}, counters={"q1": counters})
    snap = build_snapshot(SnapshotRules(mode="api"), [ORDERS], readings, now=NOW)
    [q] = snap.queues
    assert (q.depth, q.backlog_age_seconds, q.add_rate_per_min, q.pollers) == (7, 4.0, 6.0, 1)
    assert q.processed_per_min == pytest.approx(20.0) and q.error_rate == pytest.approx(0.25) and q.closed_in_window == 20
    assert (q.duration_p50_seconds, q.duration_p95_seconds, q.duration_source) == (0.2, 0.9, "workers")
    assert not snap.workers[0].registered_not_polling, "no Temporal: nothing to compare with"


def test_temporal_only_pollers_are_the_workers():
    tq = QueueRef(id="payments", name="payments", task_queue_name="payments")
    listed = [{"identity": "1@h", "status_name": "Running", "heartbeat_age_seconds": 5.0, "host_name": "h",
               "activity_slots_used": 1, "activity_slots_available": 4, "activity_processed": 9, "activity_failed": 1},
              {"identity": "2@h", "status_name": "Shutdown", "heartbeat_age_seconds": 1.0}]  # fmt: skip
    stats = replace(STATS, poller_last_access={"1@h": NOW - 5, "old@h": NOW - 4000})
    readings = Readings(stats={"payments": _reading(stats)}, temporal_workers={"payments": _reading(listed)})
    snap = build_snapshot(SnapshotRules(mode="temporal"), [tq], readings, now=NOW)
    by_id = {w.worker_id: w for w in snap.workers}
    assert set(by_id) == {"1@h", "old@h"}, "a worker that shut down is gone from a Temporal-only view"
    assert by_id["1@h"].health == WorkerHealth.healthy and by_id["1@h"].processed == 9
    assert by_id["old@h"].health == WorkerHealth.stale, "not seen polling for an hour"
    assert not any(w.polling_not_registered for w in snap.workers), "nothing registers without a control plane"
    assert snap.queues[0].workers.healthy == 1 and (snap.queues[0].capacity_used, snap.queues[0].capacity_total) == (1, 5)


def test_it_changes_nothing_it_is_given_and_keeps_equal_rows():
    registry = _registry(_registered("w-ok", WorkerHealth.healthy, 3.0))
    readings = Readings(registry=registry, stats={"org.prod.orders": _reading(STATS)}, outcomes={"org.prod.orders": _reading(OUTCOME)})
    before = copy.deepcopy(readings)
    first = build_snapshot(SnapshotRules(), registry.watched, readings, now=NOW)
    again = build_snapshot(SnapshotRules(), registry.watched, readings, now=NOW + 2, previous=first)
    assert readings == before
    assert again.queues[0] is first.queues[0], "an unchanged row is the old object"
    moved = replace(readings, stats={"org.prod.orders": _reading(replace(STATS, backlog=13))})
    third = build_snapshot(SnapshotRules(), registry.watched, moved, now=NOW + 4, previous=again)
    assert third.queues[0].depth == 13 and third.queues[0] is not again.queues[0]


def test_a_poller_of_kubiyas_worker_is_matched_by_pid_at_hostname():
    """Kubiya's worker polls Temporal as pid@hostname (its default identity), never as its worker id."""
    kubiya = _registered("3f2a-worker", WorkerHealth.healthy, 2.0, system_info={"pid": 4242, "hostname": "box"})
    plain = _registered("w-ok", WorkerHealth.healthy, 2.0)
    stats = replace(STATS, poller_last_access={"4242@box": NOW - 5, "w-ok": NOW - 5, "7@elsewhere": NOW - 5})
    registry = _registry(kubiya, plain)
    readings = Readings(registry=registry, stats={"org.prod.orders": _reading(stats)})
    snap = build_snapshot(SnapshotRules(poll_grace=0), registry.watched, readings, now=NOW)
    rows = {w.worker_id: w for w in snap.workers}
    assert set(rows) == {"3f2a-worker", "w-ok", "7@elsewhere"}, "one row per worker; its poller is no second row"
    assert not rows["3f2a-worker"].registered_not_polling and not rows["3f2a-worker"].polling_not_registered
    assert rows["7@elsewhere"].polling_not_registered, "a poller nobody registered is still shown, once"
    assert snap.queues[0].workers == WorkerCounts(healthy=2, total=2, unregistered=1)


def test_a_drain_the_worker_ignores_is_carried_to_its_row():
    ignoring = _registered(
        "w-kubiya", WorkerHealth.healthy, 2.0, desired_state="draining", drain_ignored=True,
        drain_requested_at=NOW - 120, status="active",
    )  # fmt: skip
    registry = _registry(ignoring)
    snap = build_snapshot(SnapshotRules(mode="api", poll_grace=0), registry.watched, Readings(registry=registry), now=NOW)
    (row,) = snap.workers
    assert row.drain_ignored and row.drain_requested_at == NOW - 120 and row.health == WorkerHealth.healthy
