"""The recorded moment as a console without a control plane sees it (Temporal-only mode).

Kept apart from ``recorded.py`` (the moment with a control plane), from which it is derived.
"""

from __future__ import annotations

import dataclasses

from kubiya_tui.metrics.snapshot import Snapshot, SourceState, SourceStatus, WorkerCounts, WorkerHealth
from kubiya_tui.metrics.stuck import mark_stuck
from kubiya_tui.tui.recorded import FIXED_NOW, RecordedSource, _queue_rows, _workers


def recorded_temporal_only_snapshot() -> Snapshot:
    """The recorded moment as a console without a control plane sees it: the queues found in Temporal.

    No environments, queue states or registrations: ids are the task queue names, workers are
    Temporal's pollers (SDK heartbeats), and the control plane reads "off".
    """
    queues = []
    for q in _queue_rows({"data_age_seconds": 1.4}):
        if q.status != "active":
            continue  # a paused queue is a control plane's word; Temporal has no such state
        w = q.workers
        queues.append(
            mark_stuck(
                dataclasses.replace(
                    q, id=q.task_queue_name, name=q.task_queue_name, environment=None, environment_id=None,
                    desired_workers=None, max_workers=None, heartbeat_interval=None, autoscale=None, description=None,
                    settings={}, tags=("discovered",) if q.name != "payments" else (),
                    workers=WorkerCounts(healthy=w.healthy, stale=w.stale, draining=w.draining,
                                         total=w.healthy + w.stale + w.draining),
                )
            )
        )  # fmt: skip
    by_name = {q.name.rsplit(".", 1)[-1]: q.id for q in queues}
    workers = tuple(
        dataclasses.replace(w, queue_id=by_name[w.queue_name], queue_name=by_name[w.queue_name], source="temporal",
                            registered_not_polling=False, polling_not_registered=False, version=None, system_info={},
                            capabilities={}, registered_at=None)
        for w in _workers()
        if w.queue_name in by_name and w.health != WorkerHealth.gone
    )  # fmt: skip
    sources = {
        "api": SourceState("control plane", SourceStatus.off),
        "temporal": SourceState("temporal", SourceStatus.ok, latency_ms=31.0, data_age_seconds=1.4,
                                address="prod.a1b2c.tmprl.cloud:7233/prod.a1b2c"),
    }  # fmt: skip
    return Snapshot(taken_at=FIXED_NOW, queues=tuple(queues), workers=workers, sources=sources, profile="temporal-cloud",
                    mode="temporal")  # fmt: skip


class RecordedTemporalOnlySource(RecordedSource):
    """The recorded moment without a control plane (``recorded_temporal_only_snapshot``), with the same history."""

    def __init__(self, interval: float = 3600.0) -> None:
        super().__init__(interval=interval)
        self._snapshot = recorded_temporal_only_snapshot()
        self._recorded_ids = {q.task_queue_name: q.id for q in _queue_rows({})}

    def _recorded_id(self, queue_id: str) -> str:
        return self._recorded_ids.get(queue_id, queue_id)  # a found queue's id is its task queue name
