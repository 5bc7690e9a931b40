"""Registry rows (plain dicts, epoch seconds) as the API's response models (ISO-8601 times)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from kubiya_tui.controlplane.store import config_version  # noqa: F401  (the routers take it from here)
from kubiya_tui.models import (
    AuditEntry,
    Environment,
    Migration,
    WorkerDetail,
    WorkerQueue,
)
from kubiya_tui.vocabulary import derive_health, drain_ignored, effective_interval

# Legacy workers belong to no worker queue, so no queue sets their heartbeat interval.
LEGACY_HEARTBEAT_INTERVAL = 15


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO-8601 UTC time; None stays None."""
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat()


def env_out(row: dict[str, Any]) -> Environment:
    """An environment row as the API shows it."""
    return Environment(**{**row, "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])})


def queue_out(row: dict[str, Any], live: int) -> WorkerQueue:
    """A worker-queue row as the API shows it, with its count of live workers."""
    row = {k: v for k, v in row.items() if k != "seq"}
    return WorkerQueue(
        **{
            **row,
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
            "last_scaled_at": iso(row.get("last_scaled_at")),
            "active_workers": live,
        }
    )


def worker_out(row: dict[str, Any], now: float) -> WorkerDetail:
    """A worker row as the API shows it, with its heartbeat age and health as of ``now``.

    Health is judged by the interval the worker is seen to keep when that is longer than
    its queue's (bounded: models.effective_interval), and a drain it ignores is said so.
    """
    interval = row.get("heartbeat_interval") or LEGACY_HEARTBEAT_INTERVAL
    kept = row.get("beat_interval")
    judged = effective_interval(interval, kept)
    age = None if row["last_heartbeat"] is None else max(0.0, now - row["last_heartbeat"])
    ignored = drain_ignored(
        row["status"], row["desired_state"], row.get("drain_requested_at"), row["last_heartbeat"], judged
    )
    return WorkerDetail(
        **{
            **{k: v for k, v in row.items() if k != "beat_interval"},  # shown as observed_heartbeat_interval
            "id": row["id"],
            "queue_name": row.get("queue_name") or row.get("legacy_queue_name"),
            "last_heartbeat": iso(row["last_heartbeat"]),
            "registered_at": iso(row["registered_at"]),
            "disconnected_at": iso(row["disconnected_at"]),
            "drain_requested_at": iso(row.get("drain_requested_at")),
            "observed_heartbeat_interval": None if kept is None else round(kept, 3),
            "drain_ignored": ignored,
            "heartbeat_age_seconds": None if age is None else round(age, 3),
            "heartbeat_interval": interval,
            "health": derive_health(row["status"], row["desired_state"], age, judged, drain_ignored=ignored),
        }
    )


def migration_out(row: dict[str, Any] | None) -> Migration | None:
    """A legacy task queue's migration row as the API shows it; None when it has none."""
    if row is None:
        return None
    return Migration(
        state=row["state"],
        worker_queue_id=row["worker_queue_id"],
        started_at=iso(row["started_at"]),
        completed_at=iso(row["completed_at"]),
        started_by=row["started_by"],
    )


def audit_out(row: dict[str, Any]) -> AuditEntry:
    """An audit row as the API shows it."""
    return AuditEntry(**{**row, "created_at": iso(row["created_at"])})


