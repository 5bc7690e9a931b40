"""Tasks of a worker queue: submit, look up one, list recent ones (the work is in ``temporal_tasks``).

``submit_task`` is also called directly by the fast path (``controlplane/fastpath.py``), which
checks its parameters at start-up: keep them ``queue_id, body, request, response, idempotency_key, who``.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from kubiya_tui.controlplane.deps import (
    IDEMPOTENCY_HEADER,
    SUBMIT_RESPONSES,
    V1,
    Auth,
    Caller,
    get_intake,
    get_store,
    get_temporal,
)
from kubiya_tui.controlplane.openapi import errors, submit_responses
from kubiya_tui.controlplane.temporal_tasks import answer_of, describe_task, recent_tasks, start_tasks
from kubiya_tui.models import TaskInfo, TaskStatus, TaskSubmit, TaskSubmitted

router = APIRouter(tags=["tasks"])


@router.post(f"{V1}/worker-queues/{{queue_id}}/tasks", status_code=201, responses=submit_responses(SUBMIT_RESPONSES))
async def submit_task(
    queue_id: str,
    body: TaskSubmit,
    request: Request,
    response: Response,
    idempotency_key: str | None = IDEMPOTENCY_HEADER,
    who: Caller = Auth,
) -> TaskSubmitted:
    """Record the tasks, then start their workflows; 201 means both happened for every task."""
    queue = await get_store(request).get_queue(who.org, queue_id)
    result = await start_tasks(get_intake(request), who, queue_id, queue["task_queue_name"], queue, body, idempotency_key)
    return answer_of(result, response)


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
    queue = await get_store(request).get_queue(who.org, queue_id)
    return await recent_tasks(get_temporal(request), queue_id, queue["task_queue_name"], status and status.value, limit)
