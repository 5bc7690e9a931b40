"""Signals an operator can trust: stuck queues, which read is slow, stable worker order, replaced workers."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from kubiya_tui.client.temporal import QueueStats
from kubiya_tui.metrics.assemble import Readings, SnapshotRules, build_snapshot
from kubiya_tui.metrics.check import Status, Thresholds, evaluate, parse_rate
from kubiya_tui.metrics.collector import Collector, CollectorOptions
from kubiya_tui.metrics.derive import Lifetime, replacements
from kubiya_tui.metrics.scheduler import Reading, Tracker, source_state
from kubiya_tui.metrics.snapshot import QueueSnapshot, Snapshot, SourceState, SourceStatus, WorkerCounts
from kubiya_tui.metrics.sources.registry import QueueRef, Registry, parse_worker
from kubiya_tui.metrics.stuck import stuck_reason
from kubiya_tui.models import WorkerHealth
from tests.unit.test_metrics_unit import Clock, FakeApi, FakeTemporal

NOW = 10_000.0


def _queue(**kw) -> QueueSnapshot:  # type: ignore[no-untyped-def]
    base = dict(id="q1", name="stuck-demo", environment="default", task_queue_name="org.default.stuck-demo", depth=20,
                backlog_age_seconds=39.0, add_rate_per_min=0.0, dispatch_rate_per_min=0.0, pollers=2,
                workers=WorkerCounts(healthy=2, total=2), capacity_used=0, capacity_total=10)  # fmt: skip
    return QueueSnapshot(**{**base, **kw})


# ---------------------------------------------------------------------------- stuck


def test_a_backlog_with_free_slots_and_no_dispatch_is_stuck_with_its_evidence() -> None:
    evidence, cause = stuck_reason(_queue())
    assert evidence == "20 waiting, oldest 39s; none dispatched; 10 of 10 slots free on 2 healthy workers"
    assert cause is None, "pollers there, nothing else known: no cause is made up"


@pytest.mark.parametrize(
    "change, why",
    [
        ({"dispatch_rate_per_min": 30.0}, "tasks are handed out"),
        ({"backlog_age_seconds": 10.0}, "the oldest has not waited long"),
        ({"depth": 0, "backlog_age_seconds": 0.0}, "nothing waits"),
        ({"capacity_used": 10}, "every slot is busy: saturated, not stuck"),
        ({"workers": WorkerCounts()}, "no worker at all: the workers column says so"),
        ({"stale_sources": ("temporal",), "stale": True}, "old numbers prove nothing"),
        ({"status": "inactive"}, "an inactive queue"),
    ],
)
def test_what_is_not_stuck(change: dict, why: str) -> None:
    assert stuck_reason(_queue(**change)) is None, why


def test_the_cause_of_a_stuck_queue_when_it_is_known() -> None:
    assert "no poller on its task queue org.default.stuck-demo" in stuck_reason(_queue(pollers=0))[1]
    draining = _queue(workers=WorkerCounts(draining=2, total=2), capacity_total=10)
    assert stuck_reason(draining)[1].startswith("every worker is draining")
    assert "1 of 2 healthy workers do not poll" in stuck_reason(_queue(workers=WorkerCounts(healthy=2, total=2, not_polling=1)))[1]
    assert "build v2" in stuck_reason(_queue(versioned_builds=("v2",)))[1]
    assert "slots not reported" in stuck_reason(_queue(capacity_used=None, capacity_total=None))[0]


def test_check_calls_a_stuck_queue_critical_by_default_and_can_be_told_not_to() -> None:
    snap = Snapshot(taken_at=NOW, queues=(_queue(pollers=0),), sources={"api": SourceState("control plane", SourceStatus.ok),
                                                                          "temporal": SourceState("Temporal", SourceStatus.ok)})  # fmt: skip
    result = evaluate(snap, [], Thresholds())
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("QUEUES CRITICAL - default/stuck-demo: stuck (20 waiting, oldest 39s; none dispatched")
    assert "no poller on its task queue" in result.summary
    assert evaluate(snap, [], Thresholds(stuck_after=None)).status is Status.OK
    assert evaluate(snap, [], Thresholds(stuck_after=60)).status is Status.OK, "39 s is under a 60 s --stuck-after"
    fine = replace(snap, queues=(_queue(dispatch_rate_per_min=12.0),))
    assert evaluate(fine, [], Thresholds()).summary == "QUEUES OK - 1 queue within limits (sources up, none stuck)"


@pytest.mark.parametrize("text", ["abc", "nan", "1e400", "5%%"])
def test_a_bad_error_rate_says_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_rate(text)
    assert "give a fraction (0.05) or a percentage (5%)" in str(caught.value)
    assert "could not convert" not in str(caught.value)


def test_the_snapshot_marks_a_queue_whose_worker_heartbeats_but_never_polls() -> None:
    ref = QueueRef(id="q1", name="stuck-demo", task_queue_name="org.default.stuck-demo", environment="default")
    body = {"worker_id": "w1", "queue_id": "q1", "status": "active", "heartbeat_interval": 10, "slots_used": 0,
            "slots_available": 10, "registered_at": NOW - 600}  # fmt: skip
    rw = parse_worker("w1", body)
    rw.health, rw.heartbeat_age = WorkerHealth.healthy, 2.0
    registry = Registry(at=NOW - 1, queues=(ref,), workers=(rw,), workers_at=NOW - 1, watched=(ref,))
    stats = QueueStats(backlog=20, backlog_age_seconds=39.0)
    readings = Readings(registry=registry, stats={ref.task_queue_name: Reading(stats, NOW - 1, None, 0.0)})
    [q] = build_snapshot(SnapshotRules(poll_grace=0), [ref], readings, now=NOW).queues
    assert q.stuck and q.stuck_evidence.startswith("20 waiting, oldest 39s; none dispatched; 10 of 10 slots free")
    assert q.stuck_cause.startswith("no poller on its task queue org.default.stuck-demo")


# ---------------------------------------------------------------------------- which read is slow


def test_a_failing_secondary_read_makes_the_source_slow_not_down() -> None:
    mono = Clock()
    stats = Tracker("Temporal task queues", 2.0, 15.0, mono, shows="depth, age and in/out", period=5.0)
    vis = Tracker("Temporal visibility", 2.0, 15.0, mono, shows="done/m, errors and times", period=10.0)
    stats.success(9.0, wall=NOW - 1)
    vis.success(30.0, wall=NOW - 40)
    vis.failure("visibility did not answer")
    vis.failure("visibility did not answer")
    state = source_state("Temporal", [stats, vis], 1.0, NOW, "fake:7233")
    assert state.status is SourceStatus.slow, "depth still comes: Temporal is not down"
    [trouble] = state.troubled_reads()
    assert (trouble.name, trouble.status, trouble.data_age_seconds) == ("Temporal visibility", SourceStatus.down, 40.0)
    assert trouble.shows == "done/m, errors and times"

    stats.failure("connection refused")
    stats.failure("connection refused")
    assert source_state("Temporal", [stats, vis], 1.0, NOW, None).status is SourceStatus.down, "the main read fails: down"


def test_a_late_read_is_named_while_every_poll_succeeds() -> None:
    mono = Clock()
    stats = Tracker("Temporal task queues", 2.0, 15.0, mono, period=5.0)
    vis = Tracker("Temporal visibility", 2.0, 15.0, mono, shows="done/m, errors and times", period=10.0)
    stats.success(9.0, wall=NOW - 1)
    vis.success(30.0, wall=NOW - 12)
    assert source_state("Temporal", [stats, vis], 1.0, NOW, None).status is SourceStatus.ok, "12 s: within its schedule"
    vis.success(30.0, wall=NOW - 45)
    state = source_state("Temporal", [stats, vis], 1.0, NOW, None)
    assert state.status is SourceStatus.slow and [r.name for r in state.troubled_reads()] == ["Temporal visibility"]


async def test_the_collector_keeps_temporal_up_while_only_visibility_fails() -> None:
    api, temporal = FakeApi(), FakeTemporal()
    collector = Collector(api, temporal, CollectorOptions(interval=2.0))
    try:
        await collector.refresh(complete=True)

        async def refused(*_: object, **__: object) -> object:
            raise RuntimeError("visibility: deadline exceeded")

        temporal.closed_executions = refused  # type: ignore[method-assign]
        temporal.outcomes = refused  # type: ignore[method-assign]
        for _ in range(3):
            collector.outcomes.force(collector._mono())  # type: ignore[union-attr]
            snap = await collector.refresh(force=True, complete=True)
            await asyncio.sleep(0)
        state = snap.sources["temporal"]
        assert state.status is SourceStatus.slow, state
        assert [r.name for r in state.troubled_reads()] == ["Temporal visibility"]
        assert snap.queues[0].depth == 12, "depth kept coming"
    finally:
        await collector.aclose()


# ---------------------------------------------------------------------------- workers


def _lifetime(worker_id: str, *, registered: float, gone: bool = False, left: float | None = None, host: str = "h1", healthy: bool = True) -> Lifetime:
    return Lifetime(worker_id, "q1", host, healthy and not gone, gone, registered, left)


def test_a_gone_worker_is_linked_to_the_worker_that_replaced_it() -> None:
    links = replacements([
        _lifetime("old", registered=0, gone=True, left=1000),
        _lifetime("peer", registered=10),  # there before: a peer, not a replacement
        _lifetime("other-host", registered=1005, host="h2"),
        _lifetime("same-host", registered=1010),
    ])  # fmt: skip
    assert links == {"old": "same-host"}, "one on the same host is preferred"


def test_a_worker_drained_by_a_scale_down_has_no_replacement() -> None:
    links = replacements([_lifetime("old", registered=0, gone=True, left=1000), _lifetime("peer", registered=10),
                          _lifetime("much-later", registered=1000 + 3600)])  # fmt: skip
    assert links == {}


def test_snapshot_workers_keep_their_order_whatever_the_heartbeats() -> None:
    ref = QueueRef(id="q1", name="orders", task_queue_name="tq", environment="prod")

    def registry(order: list[str]) -> Registry:
        rows = []
        for worker_id in order:
            rw = parse_worker(worker_id, {"worker_id": worker_id, "queue_id": "q1", "registered_at": NOW - int(worker_id[1:]) * 10})
            rw.health, rw.heartbeat_age = WorkerHealth.healthy, 1.0
            rows.append(rw)
        return Registry(at=NOW, queues=(ref,), workers=tuple(rows), workers_at=NOW, watched=(ref,))

    orders = set()
    for order in (["w1", "w2", "w3"], ["w3", "w1", "w2"], ["w2", "w3", "w1"]):
        snap = build_snapshot(SnapshotRules(mode="api"), [ref], Readings(registry=registry(order)), now=NOW)
        orders.add(tuple(w.worker_id for w in snap.workers))
    assert orders == {("w3", "w2", "w1")}, "the earliest registered first, every refresh"
