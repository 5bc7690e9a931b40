"""Where the console's snapshots come from: the metrics Collector, or a control-plane-only poller.

``open_source`` prefers ``kubiya_tui.metrics`` (the Collector, which also reads Temporal). Until
that is available, or when it cannot be built for these settings, ``ControlPlaneSource`` makes
snapshots from the control plane's own endpoints (queues, workers, per-queue metrics), keeps the
last good data marked stale while the control plane is down, and keeps an hour of history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.config import Settings
from kubiya_tui.metrics.snapshot import (
    Health,
    QueueSnapshot,
    Snapshot,
    SnapshotSource,
    SourceState,
    SourceStatus,
    WorkerCounts,
    WorkerSnapshot,
)

log = logging.getLogger(__name__)

HISTORY_SECONDS = 3600.0
HISTORY_METRICS = ("depth", "processed_per_min", "error_rate", "backlog_age_seconds")


def open_source(settings: Settings, api: ApiClient | None) -> SnapshotSource:
    """The collector for these settings when the metrics package offers one, else a ControlPlaneSource."""
    try:
        from kubiya_tui.metrics import collector as collector_module  # type: ignore[attr-defined]
    except ImportError:
        collector_module = None
    if collector_module is not None:
        factory = getattr(collector_module, "collector_from_settings", None) or getattr(
            getattr(collector_module, "Collector", None), "from_settings", None
        )
        if factory is not None:
            try:
                return factory(settings)
            except Exception:  # a collector that cannot start must not keep the console from opening
                log.exception("metrics collector unavailable; reading the control plane only")
    if api is None:
        raise ValueError("a control-plane client is needed without the metrics collector")
    return ControlPlaneSource(api, profile=settings.profile, interval=settings.refresh_interval)


class ControlPlaneSource:
    """Snapshots from the control plane's API alone (Temporal numbers as the control plane reports them)."""

    def __init__(self, api: ApiClient, *, profile: str | None = None, interval: float = 2.0) -> None:
        self.api = api
        self.profile = profile
        self._interval = interval
        self._latest: Snapshot | None = None
        self._last_good_at: float | None = None
        self._history: dict[tuple[str, str], deque[tuple[float, float]]] = {}
        self._env_names: dict[str, str] = {}
        self._lock = asyncio.Lock()

    @property
    def interval(self) -> float:
        return self._interval

    def latest(self) -> Snapshot | None:
        return self._latest

    def history(self, queue_id: str, metric: str) -> list[tuple[float, float]]:
        return list(self._history.get((queue_id, metric), ()))

    async def refresh(self) -> Snapshot:
        async with self._lock:
            snapshot = await self._poll()
            self._latest = snapshot
            return snapshot

    async def _poll(self) -> Snapshot:
        started = time.monotonic()
        now = time.time()
        try:
            queues, workers = await asyncio.gather(self.api.list_queues(), self.api.list_workers())
            if not self._env_names or any(q.environment_id not in self._env_names for q in queues):
                self._env_names = {e.id: e.name for e in await self.api.list_environments()}
            metrics = await asyncio.gather(*(self.api.queue_metrics(q.id) for q in queues), return_exceptions=True)
        except ApiError as exc:
            return self._down(now, str(exc))
        latency = (time.monotonic() - started) * 1000
        self._last_good_at = now
        temporal_errors = [m.temporal_error for m in metrics if not isinstance(m, BaseException) and m.temporal_available is False]
        temporal_ok = any(not isinstance(m, BaseException) and m.temporal_available for m in metrics)
        by_queue: dict[str, list[Any]] = {}
        worker_snaps = []
        for w in workers:
            worker_snaps.append(_worker_snapshot(w))
            by_queue.setdefault(w.queue_id or "", []).append(w)
        queue_snaps = []
        for q, m in zip(queues, metrics):
            queue_snaps.append(self._queue_snapshot(q, None if isinstance(m, BaseException) else m, by_queue.get(q.id, [])))
        for qs in queue_snaps:
            for metric in HISTORY_METRICS:
                value = getattr(qs, metric)
                if value is not None:
                    ring = self._history.setdefault((qs.id, metric), deque(maxlen=max(60, int(HISTORY_SECONDS / self._interval))))
                    ring.append((now, float(value)))
        if temporal_ok:
            temporal = SourceState("temporal", SourceStatus.ok, data_age_seconds=0.0)
        elif temporal_errors:
            temporal = SourceState("temporal", SourceStatus.down, last_error=temporal_errors[0])
        else:
            temporal = SourceState("temporal", SourceStatus.off)
        sources = {
            "control_plane": SourceState(
                "control_plane",
                SourceStatus.ok if latency < 2000 else SourceStatus.slow,
                latency_ms=latency,
                data_age_seconds=0.0,
                address=self.api.base_url,
            ),
            "temporal": temporal,
        }
        return Snapshot(taken_at=now, queues=tuple(queue_snaps), workers=tuple(worker_snaps), sources=sources,
                        profile=self.profile, mode="api")  # fmt: skip

    def _down(self, now: float, error: str) -> Snapshot:
        age = None if self._last_good_at is None else now - self._last_good_at
        previous = self._latest
        down = SourceState("control_plane", SourceStatus.down, last_error=error, data_age_seconds=age, address=self.api.base_url)
        temporal = previous.sources.get("temporal") if previous else None
        sources = {"control_plane": down, "temporal": temporal or SourceState("temporal", SourceStatus.off)}
        if previous is None:
            return Snapshot(taken_at=now, sources=sources, profile=self.profile, mode="api")
        from dataclasses import replace

        queues = tuple(replace(q, stale=True, data_age_seconds=age) for q in previous.queues)
        return replace(previous, taken_at=now, queues=queues, sources=sources)

    def _queue_snapshot(self, q: Any, m: Any, workers: list[Any]) -> QueueSnapshot:
        health = [w.health.value if w.health else None for w in workers]
        counts = WorkerCounts(
            healthy=health.count("healthy"),
            stale=health.count("stale"),
            draining=health.count("draining"),
            total=sum(1 for h in health if h != "gone"),
        )
        used = [w.slots_used for w in workers if w.slots_used is not None and w.health and w.health.value != "gone"]
        avail = [w.slots_available for w in workers if w.slots_available is not None and w.health and w.health.value != "gone"]
        depth = add = out = age = error = None
        if m is not None and m.temporal_available:
            depth, age = m.task_queue_backlog, m.task_queue_backlog_age_seconds
            add, out = m.tasks_add_rate_per_min, m.tasks_dispatch_rate_per_min
        if m is not None:
            error = m.error_rate_percent / 100
        drain = None
        growing = False
        if depth and add is not None and out is not None:
            if out > add:
                drain = depth / (out - add) * 60
            else:
                growing = True
        return QueueSnapshot(
            id=q.id,
            name=q.name,
            environment=q.environment_name or self._env_names.get(q.environment_id),
            environment_id=q.environment_id,
            task_queue_name=q.task_queue_name or "",
            status=q.status,
            depth=depth,
            backlog_age_seconds=age,
            add_rate_per_min=add,
            dispatch_rate_per_min=out,
            processed_per_min=out,
            duration_p50_seconds=None if m is None or m.avg_task_duration_ms is None else m.avg_task_duration_ms / 1000,
            error_rate=error,
            pollers=None if m is None else m.task_queue_pollers,
            workers=counts,
            capacity_used=sum(used) if used else None,
            capacity_total=sum(u + a for u, a in zip(used, avail)) if used and avail else None,
            time_to_drain_seconds=drain,
            growing=growing,
            desired_workers=q.desired_workers,
            max_workers=q.max_workers,
            heartbeat_interval=q.heartbeat_interval,
            autoscale=q.autoscale,
            description=q.description,
            settings=dict(q.settings),
            tags=tuple(q.tags),
            data_age_seconds=0.0,
        )


def _worker_snapshot(w: Any) -> WorkerSnapshot:
    health = Health(w.health.value) if w.health else Health.stale
    return WorkerSnapshot(
        worker_id=w.worker_id or w.id,
        queue_id=w.queue_id,
        queue_name=w.queue_name,
        health=health,
        status=w.status,
        heartbeat_age_seconds=w.heartbeat_age_seconds,
        hostname=w.hostname or (w.system_info or {}).get("hostname"),
        slots_used=w.slots_used,
        slots_available=w.slots_available,
        processed=w.tasks_processed,
        failed=w.tasks_failed,
        current_task_ids=tuple(w.current_task_ids or ([w.current_task_id] if w.current_task_id else [])),
        desired_state=w.desired_state,
        registered_at=w.registered_at.timestamp() if w.registered_at else None,
        system_info=dict(w.system_info or {}),
        capabilities=dict(w.capabilities or {}),
        metadata=dict(w.worker_metadata or {}),
    )
