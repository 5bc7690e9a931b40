"""The metrics document of a queue: registered workers from the registry, backlog and outcomes from Temporal."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

from kubiya_tui.client.temporal import TemporalReader, TemporalUnavailable
from kubiya_tui.controlplane.serializers import worker_out
from kubiya_tui.models import WorkerQueueMetrics


async def metrics_for(
    reader: TemporalReader, queue_id: str, task_queue: str, worker_rows: list[dict[str, Any]]
) -> WorkerQueueMetrics:
    """The metrics document of one Temporal task queue and the workers registered on it."""
    now = time.time()
    workers = [worker_out(w, now) for w in worker_rows]
    live = [w for w in workers if w.health in ("healthy", "draining")]
    metrics: dict[str, Any] = {
        "queue_id": queue_id,
        "active_workers": sum(1 for w in live if w.status in ("active", "busy", "idle")),
        "idle_workers": sum(1 for w in live if w.status == "idle"),
        "busy_workers": sum(1 for w in live if w.status == "busy"),
        "total_workers": len(live),
        "stale_workers": sum(1 for w in workers if w.health == "stale"),
        "draining_workers": sum(1 for w in workers if w.health == "draining"),
        "tasks_processed_24h": sum(w.tasks_processed for w in workers),
        "tasks_failed_24h": sum(w.tasks_failed for w in workers),
        "last_activity_at": max((w.last_heartbeat for w in workers if w.last_heartbeat), default=None),
        "updated_at": datetime.now(timezone.utc),
    }
    durations = [w.worker_metadata.get("task_duration_avg_ms") for w in live]
    durations = [d for d in durations if isinstance(d, (int, float))]
    if durations:
        metrics["avg_task_duration_ms"] = sum(durations) / len(durations)
    try:
        if not await reader.available():
            # Down as of a health check at most a few seconds old: answer now, without waiting on it.
            raise TemporalUnavailable(reader.last_error or f"Temporal at {reader.address} is unavailable")
        stats, outcomes = await asyncio.wait_for(
            asyncio.gather(
                reader.queue_stats(task_queue),
                reader.outcomes(task_queue, window_seconds=86400),
            ),
            timeout=5,
        )
    except (TemporalUnavailable, asyncio.TimeoutError) as exc:
        metrics["temporal_available"] = False
        metrics["temporal_error"] = str(exc) or f"Temporal at {reader.address} did not answer in time"
    else:
        metrics.update(
            temporal_available=True,
            task_queue_backlog=stats.backlog,
            tasks_pending=stats.backlog,
            task_queue_pollers=stats.pollers,
            task_queue_backlog_age_seconds=stats.backlog_age_seconds,
            tasks_add_rate_per_min=stats.add_rate_per_second * 60,
            tasks_dispatch_rate_per_min=stats.dispatch_rate_per_second * 60,
            tasks_processed_24h=outcomes.closed,
            tasks_failed_24h=outcomes.failed,
            error_rate_percent=round(outcomes.error_rate * 100, 2),
        )
    if not metrics.get("temporal_available") and metrics["tasks_processed_24h"]:
        metrics["error_rate_percent"] = round(100 * metrics["tasks_failed_24h"] / metrics["tasks_processed_24h"], 2)
    return WorkerQueueMetrics(**metrics)
