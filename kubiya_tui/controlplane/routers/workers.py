"""Workers: registration (worker queues and the legacy path), heartbeats, disconnect, drain, lookup.

``heartbeat`` is also called directly by the fast path (``controlplane/fastpath.py``), which
checks its parameters at start-up: keep them ``worker_id, body, request, who``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from kubiya_tui.controlplane.deps import (
    V1,
    Auth,
    Caller,
    get_public_url,
    get_settings,
    get_store,
    get_temporal,
    live_worker_count,
)
from kubiya_tui.controlplane.naming import legacy_task_queue
from kubiya_tui.controlplane.openapi import errors
from kubiya_tui.controlplane.serializers import LEGACY_HEARTBEAT_INTERVAL, iso, worker_out
from kubiya_tui.controlplane.store import NotFound
from kubiya_tui.models import (
    DisconnectRequest,
    HeartbeatAnswer,
    HeartbeatRequest,
    LegacyRegisterRequest,
    SimpleHeartbeatRequest,
    TaskQueueInfo,
    TaskQueuePoller,
    WorkerDetail,
    WorkerRegistration,
    WorkerStartRequest,
)

router = APIRouter(tags=["workers"])


@router.post(f"{V1}/worker-queues/{{queue_id}}/start", responses=errors(400, 409))
async def start_worker(queue_id: str, request: Request, body: WorkerStartRequest | None = None, who: Caller = Auth) -> WorkerRegistration:
    store = get_store(request)
    body = body or WorkerStartRequest()
    queue = await store.get_queue(who.org, queue_id)
    if queue["status"] != "active":
        raise HTTPException(400, f"worker queue {queue['name']!r} is {queue['status']}; only active queues accept workers")
    if queue["max_workers"] is not None and await live_worker_count(store, who.org, queue) >= queue["max_workers"]:
        raise HTTPException(
            409, f"worker queue {queue['name']!r} already has its maximum of {queue['max_workers']} live workers"
        )
    worker_id = str(uuid.uuid4())
    system_info = body.system_info.model_dump(exclude_none=True) if body.system_info else None
    await store.register_worker(
        who.org,
        worker_id,
        {
            "queue_id": queue_id,
            "environment_id": queue["environment_id"],
            "hostname": (system_info or {}).get("hostname"),
            "system_info": system_info,
            "worker_metadata": body.worker_metadata,
            "capabilities": body.capabilities,
            "sdk_version": body.worker_sdk_version,
        },
    )
    await store.audit(who.org, who.actor, "worker.start", "worker", worker_id, {"queue": queue["name"]})
    settings = get_settings(request)
    return WorkerRegistration(
        worker_id=worker_id,
        task_queue_name=queue["task_queue_name"],
        temporal_namespace=settings.namespace,
        temporal_host=settings.temporal_address,
        temporal_api_key=settings.temporal_api_key,
        organization_id=who.org,
        control_plane_url=body.control_plane_url or get_public_url(request),
        heartbeat_interval=queue["heartbeat_interval"],
        queue_id=queue_id,
        queue_name=queue["name"],
        environment_name=queue["environment_name"],
    )


@router.post(f"{V1}/workers/register", responses=errors(404))
async def legacy_register(body: LegacyRegisterRequest, request: Request, who: Caller = Auth) -> WorkerRegistration:
    """The Work Queues page's registration: a worker names a Temporal task queue or an environment."""
    store = get_store(request)
    settings = get_settings(request)
    queue: dict[str, Any] | None = None
    if body.queue_name:
        queue = next((q for q in await store.list_queues(who.org) if q["task_queue_name"] == body.queue_name), None)
        if queue is not None:
            env = await store.get_environment(who.org, queue["environment_id"])
        else:
            # A legacy task queue is an environment, polled on `<org>.<environment>`; the org
            # prefix keeps another organization's queues out of reach.
            prefix, _, env_name = body.queue_name.partition(".")
            env = await store.find_environment(who.org, env_name) if prefix == who.org else None
            if env is None:
                raise HTTPException(404, f"no worker queue or legacy task queue named {body.queue_name!r}")
        task_queue = body.queue_name
    else:
        env = await store.find_environment(who.org, body.environment_name or "")
        if env is None:
            raise HTTPException(404, f"environment {body.environment_name!r} not found")
        task_queue = legacy_task_queue(who.org, env["name"])
    worker_id = body.worker_id or str(uuid.uuid4())
    await store.register_worker(
        who.org,
        worker_id,
        {
            "queue_id": queue["id"] if queue else None,
            "environment_id": env["id"] if env else None,
            "legacy_queue_name": None if queue else task_queue,
            "hostname": body.hostname,
            "system_info": {"hostname": body.hostname} if body.hostname else None,
            "worker_metadata": body.worker_metadata,
            "capabilities": body.capabilities,
        },
    )
    await store.audit(who.org, who.actor, "worker.register", "worker", worker_id, {"task_queue": task_queue})
    return WorkerRegistration(
        worker_id=worker_id,
        task_queue_name=task_queue,
        temporal_namespace=settings.namespace,
        temporal_host=settings.temporal_address,
        temporal_api_key=settings.temporal_api_key,
        organization_id=who.org,
        control_plane_url=get_public_url(request),
        heartbeat_interval=queue["heartbeat_interval"] if queue else LEGACY_HEARTBEAT_INTERVAL,
        queue_id=queue["id"] if queue else None,
        queue_name=queue["name"] if queue else task_queue,
        environment_name=env["name"] if env else None,
    )


def _heartbeat_fields(body: HeartbeatRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": body.status.value,
        "tasks_processed": body.tasks_processed,
        "current_task_id": body.current_task_id,
    }
    if body.worker_metadata:
        fields["worker_metadata"] = body.worker_metadata
    if body.system_info is not None:
        info = body.system_info.model_dump(exclude_none=True)
        fields["system_info"] = info
        if info.get("hostname"):
            fields["hostname"] = info["hostname"]
    for name in ("tasks_failed", "slots_used", "slots_available", "capabilities"):
        value = getattr(body, name)
        if value is not None:
            fields[name] = value
    if body.current_task_ids is not None:
        fields["current_task_ids"] = body.current_task_ids
        if fields["current_task_id"] is None and body.current_task_ids:
            fields["current_task_id"] = body.current_task_ids[0]
    return fields


async def _record_heartbeat(request: Request, who: Caller, worker_id: str, body: HeartbeatRequest) -> HeartbeatAnswer:
    store = get_store(request)
    answer = await store.heartbeat(who.org, worker_id, _heartbeat_fields(body))
    if answer is None:
        try:
            await store.get_worker(who.org, worker_id)
        except NotFound:
            raise NotFound(f"worker {worker_id!r} not found; register it first") from None
        # A worker that said goodbye stays gone: it must register again to come back.
        raise HTTPException(409, f"worker {worker_id!r} has disconnected; register again to send heartbeats")
    # The queue's config version comes from its row with the same statement: every replica answers the same.
    desired, _queue_id, version = answer
    return HeartbeatAnswer(worker_id=worker_id, desired_state=desired, config_version=version)


@router.post(f"{V1}/workers/heartbeat", responses=errors(404, 409))
async def simple_heartbeat(body: SimpleHeartbeatRequest, request: Request, who: Caller = Auth) -> HeartbeatAnswer:
    return await _record_heartbeat(request, who, body.worker_id, body)


@router.post(f"{V1}/workers/{{worker_id}}/heartbeat", responses=errors(409))
async def heartbeat(worker_id: str, body: HeartbeatRequest, request: Request, who: Caller = Auth) -> HeartbeatAnswer:
    return await _record_heartbeat(request, who, worker_id, body)


@router.post(f"{V1}/workers/{{worker_id}}/disconnect", status_code=204)
async def disconnect(worker_id: str, request: Request, body: DisconnectRequest | None = None, who: Caller = Auth) -> Response:
    body = body or DisconnectRequest()
    store = get_store(request)
    if not await store.disconnect_worker(who.org, worker_id, body.reason, body.exit_code, body.error_message):
        raise NotFound(f"worker {worker_id!r} not found")
    await store.audit(who.org, who.actor, "worker.disconnect", "worker", worker_id, {"reason": body.reason})
    return Response(status_code=204)


@router.post(f"{V1}/workers/{{worker_id}}/drain", status_code=202)
async def drain(worker_id: str, request: Request, who: Caller = Auth) -> WorkerDetail:
    store = get_store(request)
    before = await store.get_worker(who.org, worker_id)
    if before["status"] == "disconnected":
        # Nothing to drain: the worker is already gone.
        return worker_out(before, time.time())
    row = await store.set_desired_state(who.org, worker_id, "draining")
    if before["desired_state"] != "draining":
        await store.audit(who.org, who.actor, "worker.drain", "worker", worker_id, {"queue": row.get("queue_name")})
    return worker_out(row, time.time())


# Every worker of the organization, and one by id: this project's extensions. They are not on
# /workers and /workers/{id}, which on Kubiya's control plane mean runners (below).
REGISTERED = f"{V1}/registered-workers"


@router.get(REGISTERED)
async def list_all_workers(request: Request, who: Caller = Auth) -> list[WorkerDetail]:
    """Every registered worker of the organization (gone ones too), newest heartbeat first."""
    now = time.time()
    return [worker_out(r, now) for r in await get_store(request).list_workers(who.org)]


@router.get(f"{REGISTERED}/{{worker_id}}", responses=errors(404))
async def get_worker(worker_id: str, request: Request, who: Caller = Auth) -> WorkerDetail:
    """One registered worker by its worker id."""
    return worker_out(await get_store(request).get_worker(who.org, worker_id), time.time())


# Kubiya's meaning of /workers and /workers/{runner_name} (its SDK's workers.list and workers.get):
# a runner's Temporal task queue `<org>.<runner>` and the pollers Temporal sees on it. Here a
# runner is an environment (the legacy task queue `<org>.<environment>` that /workers/register
# hands out), as on Kubiya's server, where a legacy registration names an environment.


async def _runner_info(request: Request, org: str, runner_name: str) -> TaskQueueInfo:
    task_queue = legacy_task_queue(org, runner_name)
    reader = get_temporal(request)
    pollers: list[TaskQueuePoller] = []
    backlog: int | None = None
    if await reader.available():
        try:
            stats = await reader.queue_stats(task_queue)
        except Exception:  # Temporal went away meanwhile: the runner is shown without pollers
            stats = None
        if stats is not None:
            backlog = stats.backlog
            pollers = [
                TaskQueuePoller(identity=identity, last_access_time=iso(seen) if seen else None)
                for identity, seen in sorted(stats.poller_last_access.items())
            ]
    return TaskQueueInfo(
        task_queue=task_queue,
        organization_id=org,
        runner_name=runner_name,
        workers=pollers,
        worker_count=len(pollers),
        approximate_backlog_count=backlog,
    )


@router.get(f"{V1}/workers")
async def list_runners(request: Request, who: Caller = Auth) -> list[TaskQueueInfo]:
    """Kubiya's ``GET /workers``: one entry per runner (here: per environment) with its Temporal pollers."""
    envs = await get_store(request).list_environments(who.org)
    return list(await asyncio.gather(*(_runner_info(request, who.org, e["name"]) for e in envs)))


@router.get(f"{V1}/workers/{{runner_name}}")
async def get_runner(runner_name: str, request: Request, who: Caller = Auth) -> TaskQueueInfo:
    """Kubiya's ``GET /workers/{runner_name}``: always an answer, empty for a runner nobody polls for."""
    return await _runner_info(request, who.org, runner_name)


@router.get(f"{V1}/worker-queues/{{queue_id}}/workers")
async def list_queue_workers(queue_id: str, request: Request, who: Caller = Auth) -> list[WorkerDetail]:
    store = get_store(request)
    await store.get_queue(who.org, queue_id)
    now = time.time()
    return [worker_out(r, now) for r in await store.list_workers(who.org, queue_id)]
