"""Tasks of a worker queue: submit, look up one, list recent ones (the work is in ``temporal_tasks``)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from kubiya_tui.controlplane.deps import V1, Auth, Caller, get_store, get_temporal
from kubiya_tui.controlplane.openapi import errors
from kubiya_tui.controlplane.temporal_tasks import describe_task, recent_tasks, start_tasks
from kubiya_tui.models import TaskInfo, TaskStatus, TaskSubmit, TaskSubmitted

router = APIRouter(tags=["tasks"])


@router.post(f"{V1}/worker-queues/{{queue_id}}/tasks", status_code=201, responses=errors(400, 503, temporal=True))
async def submit_task(queue_id: str, body: TaskSubmit, request: Request, who: Caller = Auth) -> TaskSubmitted:
    store = get_store(request)
    queue = store.get_queue(who.org, queue_id)
    return await start_tasks(store, get_temporal(request), who, queue_id, queue["task_queue_name"], queue, body)


@router.get(f"{V1}/tasks/{{task_id}}", responses=errors(503))
async def get_task(task_id: str, request: Request, who: Caller = Auth) -> TaskInfo:
    return await describe_task(get_store(request), get_temporal(request), who.org, task_id)


@router.get(f"{V1}/worker-queues/{{queue_id}}/tasks", responses=errors(503))
async def list_tasks(
    queue_id: str,
    request: Request,
    status: TaskStatus | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=500),
    who: Caller = Auth,
) -> list[TaskInfo]:
    queue = get_store(request).get_queue(who.org, queue_id)
    return await recent_tasks(get_temporal(request), queue_id, queue["task_queue_name"], status and status.value, limit)
