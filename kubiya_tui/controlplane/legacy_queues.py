"""Legacy task queues and their migration to worker queues.

Upstream, a legacy task queue is an environment-level queue: the environment itself, polled
on the Temporal task queue ``<org>.<environment>``, with workers registered on that name
rather than on a worker queue. Here the same: every environment is also a legacy task queue.

Migration makes the equivalent worker queue, then waits: legacy workers keep serving the
legacy backlog; they are drained only once it is empty (or on an explicit force); the
legacy queue is marked migrated when its backlog and its live workers are both zero.
The routes are in ``routers/legacy.py``.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from kubiya_tui.client.temporal import TemporalReader, TemporalUnavailable
from kubiya_tui.controlplane.deps import Caller
from kubiya_tui.controlplane.naming import legacy_task_queue
from kubiya_tui.controlplane.serializers import iso, migration_out, worker_out
from kubiya_tui.controlplane.store import Store
from kubiya_tui.models import LegacyTaskQueue, WorkerDetail

LIVE = ("healthy", "draining")
"""Worker health values that still serve a legacy task queue."""


def legacy_task_queue_name(org: str, env: dict[str, Any]) -> str:
    """The Temporal task queue a legacy task queue (an environment) is polled on."""
    return legacy_task_queue(org, env["name"])


def queue_safe_name(name: str) -> str:
    """A worker-queue name made from a legacy task queue's name: lower case, dashes, 2-50 characters."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:50]
    return slug if len(slug) >= 2 else f"{slug or 'q'}-queue"


async def workers_of(store: Store, org: str, env: dict[str, Any]) -> list[WorkerDetail]:
    """The workers registered on a legacy task queue, as of now."""
    now = time.time()
    return [worker_out(w, now) for w in await store.list_legacy_workers(org, legacy_task_queue_name(org, env))]


async def backlog_of(reader: TemporalReader, task_queue: str) -> int | None:
    """Tasks waiting on a Temporal task queue; None when Temporal does not answer within 5 s."""
    try:
        if not await reader.available():
            return None
        return (await asyncio.wait_for(reader.queue_stats(task_queue), 5)).backlog
    except (TemporalUnavailable, asyncio.TimeoutError):
        return None


async def describe_task_queue(
    store: Store, reader: TemporalReader, who: Caller, env: dict[str, Any], migration: dict[str, Any] | None
) -> LegacyTaskQueue:
    """A legacy task queue as the API shows it; marks its migration migrated once nothing is left on it."""
    workers = await workers_of(store, who.org, env)
    live = [w for w in workers if w.health in LIVE]
    if migration and migration["state"] != "migrated" and not live:
        # Migrated once nothing is left on the legacy path: no live worker, an empty backlog.
        if await backlog_of(reader, legacy_task_queue_name(who.org, env)) == 0:
            await store.complete_migration(who.org, env["id"])
            migration = (await store.migrations(who.org))[env["id"]]
            await store.audit(who.org, who.actor, "task_queue.migrated", "task_queue", env["id"], {"name": env["name"]})
    return LegacyTaskQueue(
        **{
            **{k: v for k, v in env.items() if k not in ("created_at", "updated_at")},
            "created_at": iso(env["created_at"]),
            "updated_at": iso(env["updated_at"]),
            "priority": (env.get("settings") or {}).get("priority"),
            "task_queue_name": legacy_task_queue_name(who.org, env),
            "active_workers": len(live),
            "idle_workers": sum(1 for w in live if w.status == "idle"),
            "busy_workers": sum(1 for w in live if w.status == "busy"),
            "migration": migration_out(migration),
        }
    )
