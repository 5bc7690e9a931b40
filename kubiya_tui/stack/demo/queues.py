"""What the demo puts in its control plane: the queues, their worker counts, and the load on each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.models import WorkerQueue
from kubiya_tui.stack.loadgen import LoadSpec

ENVIRONMENT = "default"
MAX_WORKERS = 8
HEARTBEAT_INTERVAL = 10  # the minimum: health stays fresh on screen


@dataclass(frozen=True)
class DemoQueue:
    name: str
    display_name: str
    description: str


DEMO_QUEUES = (
    DemoQueue("default", "Default", "General-purpose tasks: a steady mix with bursts."),
    DemoQueue("high-priority", "High priority", "Urgent tasks, submitted with high priority; short and frequent."),
    DemoQueue("low-priority", "Low priority", "Background jobs, submitted with low priority; long and patient."),
    DemoQueue("team-data", "Team data", "Dedicated queue of the data team's batch jobs; bursty, with a few failures."),
)


def demo_load(queues: dict[str, WorkerQueue]) -> list[LoadSpec]:
    """The demo's traffic: each queue its own rhythm, bursts staggered so something always moves.

    With the default 2 workers of 5 slots per queue, the baseline keeps them partly busy and
    each burst builds a backlog that drains over the following seconds.
    """
    specs = [
        LoadSpec("", "default", rate=1.5, seconds_per_task=2.0, fail_ratio=0.05,
                 burst_every=30, burst_seconds=5, burst_factor=5, burst_offset=6),
        LoadSpec("", "high-priority", rate=1.0, seconds_per_task=0.5, fail_ratio=0.02, priority="high",
                 burst_every=20, burst_seconds=3, burst_factor=8, burst_offset=12),
        LoadSpec("", "low-priority", rate=0.7, seconds_per_task=4.0, fail_ratio=0.05, priority="low",
                 burst_every=45, burst_seconds=10, burst_factor=4, burst_offset=20),
        LoadSpec("", "team-data", rate=1.0, seconds_per_task=1.5, fail_ratio=0.1,
                 burst_every=25, burst_seconds=4, burst_factor=6, burst_offset=3),
    ]  # fmt: skip
    out = []
    for spec in specs:
        queue = queues.get(spec.name)
        if queue is not None:
            spec.queue_id = queue.id
            out.append(spec)
    return out


def autoscale_policy(workers: int) -> dict[str, Any]:
    return {
        "min_workers": 1,
        "max_workers": max(4, workers),
        "target_backlog_age_seconds": 5,
        "cooldown_seconds": 15,
    }


async def setup_queues(
    api: ApiClient, workers: int, autoscale: bool, say: Callable[[str], None]
) -> dict[str, WorkerQueue]:
    """Create the demo queues that are missing and set their wanted worker counts."""
    envs = await api.list_environments()
    env = next((e for e in envs if e.name == ENVIRONMENT), None)
    if env is None:
        env = await api.create_environment(ENVIRONMENT, description="Default environment")
    existing = {q.name: q for q in await api.list_queues(env.id)}
    # Workers still registered come from an earlier run of this data dir, killed with it (the
    # data dir is this demo's alone): say they are gone rather than leave them stale forever.
    for w in await api.list_workers():
        if w.status not in ("disconnected", "offline"):
            try:
                await api.disconnect(w.worker_id, reason="left over from an earlier demo run")
            except ApiError:
                pass
    out: dict[str, WorkerQueue] = {}
    for spec in DEMO_QUEUES:
        queue = existing.get(spec.name)
        if queue is None:
            body = {
                "name": spec.name,
                "display_name": spec.display_name,
                "description": spec.description,
                "max_workers": MAX_WORKERS,
                "heartbeat_interval": HEARTBEAT_INTERVAL,
                "tags": ["demo"],
            }
            try:
                queue = await api.create_queue(env.id, body)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                queue = next(q for q in await api.list_queues(env.id) if q.name == spec.name)
        if autoscale:
            queue = await api.set_autoscale(queue.id, autoscale_policy(workers))
        if queue.autoscale:
            p = queue.autoscale
            say(
                f"queue {spec.name}: autoscaling between {p.get('min_workers')} and {p.get('max_workers')} workers "
                f"(target backlog age {p.get('target_backlog_age_seconds')}s); "
                f"`kubiya-tui --profile demo autoscale {spec.name} --off` stops it"
            )
        elif queue.desired_workers != workers:
            await api.scale_queue(queue.id, workers, reason="demo start")
            queue.desired_workers = workers
        out[spec.name] = queue
    return out
