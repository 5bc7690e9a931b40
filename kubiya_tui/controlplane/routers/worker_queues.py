"""Worker queues: CRUD, worker command and install script, config, scale, autoscale and metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse

from kubiya_tui.controlplane import distribution, scripts
from kubiya_tui.controlplane.deps import (
    V1,
    Auth,
    Caller,
    get_public_url,
    get_store,
    get_temporal,
    live_worker_count,
)
from kubiya_tui.controlplane.openapi import errors
from kubiya_tui.controlplane.queue_metrics import metrics_for
from kubiya_tui.controlplane.serializers import config_version, queue_out
from kubiya_tui.controlplane.store import LeaseLost, Store
from kubiya_tui.models import (
    AutoscalePolicy,
    Platform,
    ScaleRequest,
    ScaleResult,
    WorkerCommand,
    WorkerQueue,
    WorkerQueueCreate,
    WorkerQueueMetrics,
    WorkerQueueUpdate,
)

router = APIRouter(tags=["worker queues"])


async def _queues_out(store: Store, org: str, rows: list[dict[str, Any]]) -> list[WorkerQueue]:
    live = await store.live_worker_counts(org, time.time())
    return [queue_out(r, live.get(r["id"], 0)) for r in rows]


@router.post(f"{V1}/environments/{{env_id}}/worker-queues", status_code=201, responses=errors(409))
async def create_queue(env_id: str, body: WorkerQueueCreate, request: Request, who: Caller = Auth) -> WorkerQueue:
    store = get_store(request)
    row = await store.create_queue(who.org, env_id, body.model_dump(), who.actor)
    await store.audit(
        who.org,
        who.actor,
        "queue.create",
        "worker_queue",
        row["id"],
        {"name": row["name"], "environment": row["environment_name"]},
    )
    return queue_out(row, 0)


@router.get(f"{V1}/worker-queues")
async def list_queues(request: Request, who: Caller = Auth) -> list[WorkerQueue]:
    store = get_store(request)
    return await _queues_out(store, who.org, await store.list_queues(who.org))


@router.get(f"{V1}/environments/{{env_id}}/worker-queues")
async def list_env_queues(env_id: str, request: Request, who: Caller = Auth) -> list[WorkerQueue]:
    store = get_store(request)
    return await _queues_out(store, who.org, await store.list_queues(who.org, env_id))


@router.get(f"{V1}/worker-queues/{{queue_id}}")
async def get_queue(queue_id: str, request: Request, who: Caller = Auth) -> WorkerQueue:
    store = get_store(request)
    row = await store.get_queue(who.org, queue_id)
    return queue_out(row, await live_worker_count(store, who.org, row))


@router.patch(f"{V1}/worker-queues/{{queue_id}}", responses=errors(400, 409))
async def update_queue(queue_id: str, body: WorkerQueueUpdate, request: Request, who: Caller = Auth) -> WorkerQueue:
    store = get_store(request)
    changes = body.model_dump(exclude_unset=True)
    if "status" in changes:
        changes["status"] = changes["status"].value
    try:
        row = await store.update_queue(who.org, queue_id, changes)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    await store.audit(who.org, who.actor, "queue.update", "worker_queue", queue_id, {"changes": sorted(changes)})
    return queue_out(row, await live_worker_count(store, who.org, row))


@router.delete(f"{V1}/worker-queues/{{queue_id}}", status_code=204, responses=errors(400))
async def delete_queue(queue_id: str, request: Request, who: Caller = Auth) -> Response:
    store = get_store(request)
    queue = await store.get_queue(who.org, queue_id)
    try:
        await store.delete_queue(who.org, queue_id, await live_worker_count(store, who.org, queue))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    await store.audit(who.org, who.actor, "queue.delete", "worker_queue", queue_id, {"name": queue["name"]})
    return Response(status_code=204)


@router.get(f"{V1}/worker-queues/{{queue_id}}/worker-command")
async def worker_command(queue_id: str, request: Request, who: Caller = Auth) -> WorkerCommand:
    store = get_store(request)
    queue = await store.get_queue(who.org, queue_id)
    live = await live_worker_count(store, who.org, queue)
    url = get_public_url(request)
    under_limit = queue["max_workers"] is None or live < queue["max_workers"]
    wheel, problem = await distribution.current(request)
    return WorkerCommand(
        queue_id=queue_id,
        command=scripts.worker_command(queue_id, url),
        package=scripts.package_source(wheel, problem),
        command_parts=scripts.worker_command_object(queue_id, url),
        can_register=queue["status"] == "active" and under_limit,
        queue_status=queue["status"],
        active_workers=live,
        max_workers=queue["max_workers"],
    )


@router.get(f"{V1}/worker-queues/{{queue_id}}/install-script", response_class=PlainTextResponse)
async def install_script(
    queue_id: str,
    request: Request,
    platform: Platform | None = Query(default=None, description="local, docker or kubernetes"),
    deployment_type: Platform | None = Query(default=None, description="the upstream name of `platform`"),
    who: Caller = Auth,
) -> PlainTextResponse:
    queue = await get_store(request).get_queue(who.org, queue_id)
    chosen = platform or deployment_type or Platform.local
    wheel, problem = await distribution.current(request)
    return PlainTextResponse(scripts.install_script(chosen.value, queue, get_public_url(request), wheel, problem))


@router.get(f"{V1}/worker-queues/{{queue_id}}/config")
async def queue_config(queue_id: str, request: Request, who: Caller = Auth) -> dict[str, Any]:
    queue = await get_store(request).get_queue(who.org, queue_id)
    config = {
        "queue_id": queue_id,
        "name": queue["name"],
        "status": queue["status"],
        "max_workers": queue["max_workers"],
        "heartbeat_interval": queue["heartbeat_interval"],
        "task_queue_name": queue["task_queue_name"],
        "settings": queue["settings"],
        "tags": queue["tags"],
    }
    config["config_version"] = config_version(queue)
    return config


@router.post(f"{V1}/worker-queues/{{queue_id}}/scale", status_code=202, responses=errors(409, lease=True))
async def scale_queue(queue_id: str, body: ScaleRequest, request: Request, who: Caller = Auth) -> ScaleResult:
    store = get_store(request)
    queue = await store.get_queue(who.org, queue_id)
    if queue["max_workers"] is not None and body.workers > queue["max_workers"]:
        raise HTTPException(
            409, f"{body.workers} workers is more than queue {queue['name']!r} allows (max_workers {queue['max_workers']})"
        )
    lease = (body.lease.name, body.lease.holder, body.lease.token) if body.lease else None
    try:
        await store.set_desired_workers(who.org, queue_id, body.workers, lease=lease)
    except LeaseLost as exc:
        raise HTTPException(409, {"error": "lease lost", "message": str(exc)}) from None
    await store.audit(
        who.org,
        who.actor,
        "queue.scale",
        "worker_queue",
        queue_id,
        {
            "name": queue["name"],
            "from": queue["desired_workers"],
            "to": body.workers,
            **({"reason": body.reason} if body.reason else {}),
            **({"lease": {"name": body.lease.name, "holder": body.lease.holder, "token": body.lease.token}} if body.lease else {}),
        },
    )
    return ScaleResult(
        queue_id=queue_id,
        desired_workers=body.workers,
        active_workers=await live_worker_count(store, who.org, queue),
        max_workers=queue["max_workers"],
    )


@router.put(f"{V1}/worker-queues/{{queue_id}}/autoscale", responses=errors(409))
async def set_autoscale(queue_id: str, body: AutoscalePolicy, request: Request, who: Caller = Auth) -> WorkerQueue:
    store = get_store(request)
    queue = await store.get_queue(who.org, queue_id)
    if queue["max_workers"] is not None and body.max_workers > queue["max_workers"]:
        raise HTTPException(
            409, f"autoscale max {body.max_workers} is more than queue {queue['name']!r} allows ({queue['max_workers']})"
        )
    row = await store.set_autoscale(who.org, queue_id, body.model_dump())
    await store.audit(who.org, who.actor, "queue.autoscale", "worker_queue", queue_id, {"policy": body.model_dump()})
    return queue_out(row, await live_worker_count(store, who.org, row))


@router.delete(f"{V1}/worker-queues/{{queue_id}}/autoscale")
async def clear_autoscale(queue_id: str, request: Request, who: Caller = Auth) -> WorkerQueue:
    store = get_store(request)
    row = await store.set_autoscale(who.org, queue_id, None)
    await store.audit(who.org, who.actor, "queue.autoscale", "worker_queue", queue_id, {"policy": None})
    return queue_out(row, await live_worker_count(store, who.org, row))


@router.get(f"{V1}/worker-queues/{{queue_id}}/metrics")
async def queue_metrics(queue_id: str, request: Request, who: Caller = Auth) -> WorkerQueueMetrics:
    store = get_store(request)
    queue = await store.get_queue(who.org, queue_id)
    return await metrics_for(get_temporal(request), queue_id, queue["task_queue_name"], await store.list_workers(who.org, queue_id))
