"""Legacy task queues (``/api/v1/task-queues``): CRUD, workers, metrics, tasks, migration and drain.

What a legacy task queue is, and how migration proceeds, is in ``controlplane/legacy_queues.py``.
"""

from __future__ import annotations

import shlex
import time

from fastapi import APIRouter, HTTPException, Query, Request, Response

from kubiya_tui.controlplane import scripts
from kubiya_tui.controlplane.deps import (
    IDEMPOTENCY_HEADER,
    SUBMIT_RESPONSES,
    V1,
    Auth,
    Caller,
    get_intake,
    get_public_url,
    get_store,
    get_temporal,
)
from kubiya_tui.controlplane.legacy_queues import (
    LIVE,
    backlog_of,
    describe_task_queue,
    legacy_task_queue_name,
    queue_safe_name,
    workers_of,
)
from kubiya_tui.controlplane.openapi import errors, submit_responses
from kubiya_tui.controlplane.queue_metrics import metrics_for
from kubiya_tui.controlplane.serializers import queue_out, worker_out
from kubiya_tui.controlplane.store import NotFound
from kubiya_tui.controlplane.temporal_tasks import answer_of, recent_tasks, start_tasks
from kubiya_tui.models import (
    CommandParts,
    LegacyTaskQueue,
    LegacyWorkerCommand,
    MigrateRequest,
    MigrationResult,
    TaskInfo,
    TaskQueueCreate,
    TaskQueueUpdate,
    TaskStatus,
    TaskSubmit,
    TaskSubmitted,
    WorkerCommand,
    WorkerDetail,
    WorkerQueueMetrics,
)

router = APIRouter(tags=["legacy task queues"])
BASE = f"{V1}/task-queues"


@router.get(BASE)
async def list_task_queues(request: Request, who: Caller = Auth) -> list[LegacyTaskQueue]:
    store = get_store(request)
    reader = get_temporal(request)
    migrations = await store.migrations(who.org)
    return [
        await describe_task_queue(store, reader, who, env, migrations.get(env["id"]))
        for env in await store.list_environments(who.org)
    ]


@router.post(BASE, status_code=201, responses=errors(409))
async def create_task_queue(body: TaskQueueCreate, request: Request, who: Caller = Auth) -> LegacyTaskQueue:
    store = get_store(request)
    fields = body.model_dump()
    if fields.pop("priority") is not None:
        fields["settings"] = {**fields["settings"], "priority": body.priority}
    env = await store.create_environment(who.org, fields)
    await store.audit(who.org, who.actor, "task_queue.create", "task_queue", env["id"], {"name": env["name"]})
    return await describe_task_queue(store, get_temporal(request), who, env, None)


@router.get(f"{BASE}/{{task_queue_id}}")
async def get_task_queue(task_queue_id: str, request: Request, who: Caller = Auth) -> LegacyTaskQueue:
    store = get_store(request)
    env = await store.get_environment(who.org, task_queue_id)
    return await describe_task_queue(store, get_temporal(request), who, env, (await store.migrations(who.org)).get(task_queue_id))


@router.patch(f"{BASE}/{{task_queue_id}}", responses=errors(400, 409))
async def update_task_queue(task_queue_id: str, body: TaskQueueUpdate, request: Request, who: Caller = Auth) -> LegacyTaskQueue:
    store = get_store(request)
    changes = body.model_dump(exclude_unset=True)
    if "status" in changes:
        changes["status"] = changes["status"].value
    if "priority" in changes:
        current = await store.get_environment(who.org, task_queue_id)
        changes["settings"] = {**(changes.get("settings") or current["settings"]), "priority": changes.pop("priority")}
    if "name" in changes and await workers_of(store, who.org, await store.get_environment(who.org, task_queue_id)):
        raise HTTPException(400, "a legacy task queue with registered workers cannot be renamed: its workers poll the old name")
    try:
        env = await store.update_environment(who.org, task_queue_id, changes)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    await store.audit(who.org, who.actor, "task_queue.update", "task_queue", task_queue_id, {"changes": sorted(changes)})
    return await describe_task_queue(store, get_temporal(request), who, env, (await store.migrations(who.org)).get(task_queue_id))


@router.delete(f"{BASE}/{{task_queue_id}}", status_code=204, responses=errors(400))
async def delete_task_queue(task_queue_id: str, request: Request, who: Caller = Auth) -> Response:
    store = get_store(request)
    env = await store.get_environment(who.org, task_queue_id)
    live = [w for w in await workers_of(store, who.org, env) if w.health in LIVE]
    if live:
        raise HTTPException(400, f"legacy task queue {env['name']!r} still has {len(live)} live worker(s); drain them first")
    try:
        await store.delete_environment(who.org, task_queue_id)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    await store.audit(who.org, who.actor, "task_queue.delete", "task_queue", task_queue_id, {"name": env["name"]})
    return Response(status_code=204)


@router.get(f"{BASE}/{{task_queue_id}}/worker-command")
async def legacy_worker_command(task_queue_id: str, request: Request, who: Caller = Auth) -> LegacyWorkerCommand:
    store = get_store(request)
    env = await store.get_environment(who.org, task_queue_id)
    task_queue = legacy_task_queue_name(who.org, env)
    # Upstream inlines a worker token here; ours reads the API key from KUBIYA_API_KEY instead.
    parts = ["kubiya-tui", "worker", "start", "--task-queue", task_queue, "--control-plane-url", get_public_url(request)]
    migration = (await store.migrations(who.org)).get(task_queue_id)
    return LegacyWorkerCommand(
        task_queue_name=task_queue,
        command=shlex.join(parts),
        command_parts=CommandParts(
            binary="kubiya-tui",
            subcommand="worker start",
            flags={"--task-queue": task_queue, "--control-plane-url": get_public_url(request)},
        ),
        namespace_status=env["status"],
        can_register=env["status"] in ("ready", "active") and not (migration and migration["state"] == "migrated"),
    )


@router.get(f"{BASE}/{{task_queue_id}}/workers")
async def legacy_workers(task_queue_id: str, request: Request, who: Caller = Auth) -> list[WorkerDetail]:
    store = get_store(request)
    return await workers_of(store, who.org, await store.get_environment(who.org, task_queue_id))


@router.get(f"{BASE}/{{task_queue_id}}/metrics")
async def legacy_metrics(task_queue_id: str, request: Request, who: Caller = Auth) -> WorkerQueueMetrics:
    store = get_store(request)
    env = await store.get_environment(who.org, task_queue_id)
    task_queue = legacy_task_queue_name(who.org, env)
    return await metrics_for(get_temporal(request), task_queue_id, task_queue, await store.list_legacy_workers(who.org, task_queue))


@router.post(f"{BASE}/{{task_queue_id}}/tasks", status_code=201, responses=submit_responses(SUBMIT_RESPONSES))
async def submit_legacy_task(
    task_queue_id: str,
    body: TaskSubmit,
    request: Request,
    response: Response,
    idempotency_key: str | None = IDEMPOTENCY_HEADER,
    who: Caller = Auth,
) -> TaskSubmitted:
    store = get_store(request)
    env = await store.get_environment(who.org, task_queue_id)
    migration = (await store.migrations(who.org)).get(task_queue_id)
    if migration and migration["state"] != "migrating":
        target = (await store.get_queue(who.org, migration["worker_queue_id"]))["name"]
        raise HTTPException(
            400, f"legacy task queue {env['name']!r} is {migration['state']}; submit to worker queue {target!r} instead"
        )
    result = await start_tasks(
        get_intake(request), who, task_queue_id, legacy_task_queue_name(who.org, env), env, body, idempotency_key
    )
    return answer_of(result, response)


@router.get(f"{BASE}/{{task_queue_id}}/tasks", responses=errors(503))
async def list_legacy_tasks(
    task_queue_id: str,
    request: Request,
    status: TaskStatus | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=500),
    who: Caller = Auth,
) -> list[TaskInfo]:
    env = await get_store(request).get_environment(who.org, task_queue_id)
    task_queue = legacy_task_queue_name(who.org, env)
    return await recent_tasks(get_temporal(request), task_queue_id, task_queue, status and status.value, limit)


@router.post(f"{BASE}/{{task_queue_id}}/migrate", status_code=201, responses=errors(409))
async def migrate(task_queue_id: str, body: MigrateRequest, request: Request, who: Caller = Auth) -> MigrationResult:
    store = get_store(request)
    legacy = await store.get_environment(who.org, task_queue_id)
    existing = (await store.migrations(who.org)).get(task_queue_id)
    if existing:
        raise HTTPException(409, f"legacy task queue {legacy['name']!r} is already {existing['state']} (worker queue {existing['worker_queue_id']})")
    try:
        target = await store.get_environment(who.org, body.environment_id)
    except NotFound:
        target = await store.find_environment(who.org, body.environment_id)
        if target is None:
            raise NotFound(f"environment {body.environment_id!r} not found") from None
    fields = {
        "name": body.name or queue_safe_name(legacy["name"]),
        "display_name": legacy["display_name"] or legacy["name"],
        "description": legacy["description"] or f"Migrated from legacy task queue {legacy['name']!r}",
        "max_workers": body.max_workers,
        "heartbeat_interval": body.heartbeat_interval,
        "tags": legacy["tags"],
        "settings": {**legacy["settings"], "migrated_from_task_queue": legacy["id"]},
    }
    queue = await store.create_queue(who.org, target["id"], fields, who.actor)
    migration = await store.start_migration(who.org, task_queue_id, queue["id"], who.actor)
    await store.audit(
        who.org,
        who.actor,
        "task_queue.migrate",
        "task_queue",
        task_queue_id,
        {"name": legacy["name"], "worker_queue": queue["name"], "environment": target["name"]},
    )
    url = get_public_url(request)
    command = WorkerCommand(
        queue_id=queue["id"],
        command=scripts.worker_command(queue["id"], url),
        command_parts=scripts.worker_command_object(queue["id"], url),
        can_register=True,
        queue_status=queue["status"],
        active_workers=0,
        max_workers=queue["max_workers"],
    )
    return MigrationResult(
        task_queue=await describe_task_queue(store, get_temporal(request), who, legacy, migration),
        worker_queue=queue_out(queue, 0),
        worker_command=command,
    )


@router.post(f"{BASE}/{{task_queue_id}}/drain-workers", status_code=202, responses=errors(409, 503))
async def drain_legacy_workers(
    task_queue_id: str, request: Request, force: bool = Query(default=False), who: Caller = Auth
) -> list[WorkerDetail]:
    """Drain every live legacy worker; refused while tasks still wait on the legacy path."""
    store = get_store(request)
    env = await store.get_environment(who.org, task_queue_id)
    task_queue = legacy_task_queue_name(who.org, env)
    if not force:
        backlog = await backlog_of(get_temporal(request), task_queue)
        if backlog is None:
            raise HTTPException(503, "cannot read the legacy backlog from Temporal; refusing to drain (force=true drains anyway)")
        if backlog:
            raise HTTPException(
                409, f"{backlog} task(s) still queued on {task_queue}; draining its workers now would strand them"
            )
    drained = []
    for worker in await workers_of(store, who.org, env):
        if worker.health == "healthy":
            await store.set_desired_state(who.org, worker.worker_id, "draining")
            await store.audit(who.org, who.actor, "worker.drain", "worker", worker.worker_id, {"task_queue": task_queue})
            drained.append(worker_out(await store.get_worker(who.org, worker.worker_id), time.time()))
    migration = (await store.migrations(who.org)).get(task_queue_id)
    if migration and migration["state"] == "migrating":
        await store.set_migration_state(who.org, task_queue_id, "draining")
    return drained
