"""Tasks as Temporal workflows: start them on a queue's task queue, describe one, list recent ones.

The task routers (``routers/tasks.py``, ``routers/legacy.py``) call these; errors are HTTP
errors already (422 for a bad submission, 503 when Temporal does not answer).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta, timezone
from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import Priority

from kubiya_tui.client import temporal_query
from kubiya_tui.client.temporal import TemporalReader, TemporalUnavailable
from kubiya_tui.controlplane.deps import Caller
from kubiya_tui.controlplane.store import Store
from kubiya_tui.models import TaskInfo, TaskSubmit, TaskSubmitted
from kubiya_tui.tasks import WORKFLOW_NAME, get_kind

# Workflow starts in flight at once for one submission: enough to be quick, few enough for Temporal.
START_CONCURRENCY = 32

STATUS_OF = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "completed",
}
"""The API's status of a closed workflow."""
STATUS_QUERY = {
    "queued": "Running",
    "running": "Running",
    "open": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "timed_out": "TimedOut",
    "canceled": "Canceled",
    "terminated": "Terminated",
}
"""The API's status filter -> Temporal's ExecutionStatus in a visibility query."""


def _validation_error(loc: list[str], msg: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", *loc], "msg": msg, "type": "value_error"}])


async def _workflow_client(reader: TemporalReader) -> Client:
    try:
        return await reader.client()
    except TemporalUnavailable as exc:
        raise HTTPException(503, str(exc)) from None


async def start_tasks(
    store: Store,
    reader: TemporalReader,
    who: Caller,
    queue_id: str,
    task_queue: str,
    queue: dict[str, Any],
    body: TaskSubmit,
) -> TaskSubmitted:
    """Validate a submission against its kind and the queue, then start one workflow per task."""
    try:
        kind = get_kind(body.kind)
    except KeyError as exc:
        raise _validation_error(["kind"], str(exc.args[0])) from None
    try:
        data = kind.input_model.model_validate(body.input)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _validation_error(["input", *map(str, first["loc"])], first["msg"]) from None
    if kind.requires_setting and (queue.get("settings") or {}).get(kind.requires_setting) is not True:
        # A valid task this queue refuses as it is set up: the queue's state, not the body, is at fault.
        raise HTTPException(400, f"{kind.name} tasks need settings.{kind.requires_setting}: true on queue {queue['name']!r}")
    if queue["status"] not in ("active", "ready"):
        raise HTTPException(400, f"queue {queue['name']!r} is {queue['status']}; it takes no tasks")
    client = await _workflow_client(reader)
    priority = body.priority_key
    ids = [f"task-{uuid.uuid4()}" for _ in range(body.count)]
    payload = {
        "kind": kind.name,
        "input": data.model_dump(mode="json"),
        "timeout_seconds": body.timeout_seconds,
        "max_attempts": body.max_attempts,
        "queue_id": queue_id,
    }

    started: list[str] = []
    gate = asyncio.Semaphore(START_CONCURRENCY)

    async def start(task_id: str) -> None:
        async with gate:
            await client.start_workflow(
                WORKFLOW_NAME,
                {**payload, "task_id": task_id},
                id=task_id,
                task_queue=task_queue,
                priority=Priority(priority_key=priority),
                memo={"kind": kind.name, "queue_id": queue_id, "priority": priority},
                rpc_timeout=timedelta(seconds=30),
            )
        # Recorded as soon as Temporal has it, so a task that started is never unknown here.
        store.add_task(
            who.org,
            {
                "id": task_id,
                "queue_id": queue_id,
                "kind": kind.name,
                "priority": priority,
                "timeout_seconds": body.timeout_seconds,
                "max_attempts": body.max_attempts,
            },
        )
        started.append(task_id)

    results = await asyncio.gather(*(start(task_id) for task_id in ids), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        first = str(errors[0]).splitlines()[0][:200] if str(errors[0]) else type(errors[0]).__name__
        raise HTTPException(
            503,
            {
                "error": "Temporal did not accept every task",
                "message": f"{len(started)} of {len(ids)} task(s) started; the rest failed: {first}",
                "started": started,
            },
        )
    return TaskSubmitted(id=ids[0], ids=ids, queue_id=queue_id, kind=kind.name, priority=priority)


async def describe_task(store: Store, reader: TemporalReader, org: str, task_id: str) -> TaskInfo:
    """One task of the organization: its registry row, with state, attempts and outcome from Temporal."""
    row = store.get_task(org, task_id)
    client = await _workflow_client(reader)
    handle = client.get_workflow_handle(task_id)
    try:
        desc = await handle.describe()
    except Exception as exc:
        raise HTTPException(503, f"Temporal could not describe task {task_id}: {str(exc).splitlines()[0][:200]}") from None
    info: dict[str, Any] = {
        "id": task_id,
        "queue_id": row["queue_id"],
        "kind": row["kind"],
        "priority": row["priority"],
        "submitted_at": desc.start_time,
        "closed_at": desc.close_time,
    }
    raw = desc.raw_description
    pending = list(raw.pending_activities)
    if desc.status == WorkflowExecutionStatus.RUNNING:
        started = [p for p in pending if p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED]
        info["status"] = "running" if started else "queued"
        if pending:
            info["attempts"] = pending[0].attempt
            info["worker"] = pending[0].last_worker_identity or None
            if pending[0].HasField("last_started_time"):
                info["started_at"] = pending[0].last_started_time.ToDatetime(timezone.utc)
            if pending[0].HasField("last_failure"):
                info["error"] = pending[0].last_failure.message
    else:
        info["status"] = STATUS_OF.get(desc.status, str(desc.status))
        if desc.status == WorkflowExecutionStatus.COMPLETED:
            try:
                info["result"] = await asyncio.wait_for(handle.result(), 5)
            except Exception:
                info["result"] = None
        else:
            info["error"] = await _failure_message(handle)
        info.update(await _attempt_summary(handle))
    return TaskInfo(**info)


async def _failure_message(handle: Any) -> str | None:
    try:
        await asyncio.wait_for(handle.result(), 5)
    except Exception as exc:
        cause = exc.__cause__ or exc
        return getattr(cause, "message", None) or str(cause) or type(cause).__name__
    return None


async def _attempt_summary(handle: Any) -> dict[str, Any]:
    """Attempts, the last worker and when work first started, read from the closed workflow's history."""
    attempts = 0
    worker = None
    started = None
    try:
        async for event in handle.fetch_history_events():
            if event.HasField("activity_task_started_event_attributes"):
                attrs = event.activity_task_started_event_attributes
                attempts += attrs.attempt
                worker = attrs.identity or worker
                started = started or event.event_time.ToDatetime(timezone.utc)
    except Exception:
        return {}
    return {"attempts": attempts, "worker": worker, "started_at": started}


async def recent_tasks(reader: TemporalReader, queue_id: str, task_queue: str, status: str | None, limit: int) -> list[TaskInfo]:
    """Recent tasks of a Temporal task queue from visibility, newest first."""
    if status is not None and status not in STATUS_QUERY:
        raise HTTPException(
            422, [{"loc": ["query", "status"], "msg": f"must be one of {', '.join(STATUS_QUERY)}", "type": "enum"}]
        )
    client = await _workflow_client(reader)
    out: list[TaskInfo] = []
    try:
        query = temporal_query.executions_on(task_queue, STATUS_QUERY[status] if status else None)
        async for wf in client.list_workflows(query, limit=limit, page_size=min(limit, 100)):
            memo = await wf.memo()
            state = STATUS_OF.get(wf.status, "running") if wf.status != WorkflowExecutionStatus.RUNNING else "open"
            out.append(
                TaskInfo(
                    id=wf.id,
                    queue_id=queue_id,
                    kind=memo.get("kind"),
                    priority=memo.get("priority"),
                    status=state,
                    attempts=None,
                    submitted_at=wf.start_time,
                    closed_at=wf.close_time,
                )
            )
    except Exception as exc:
        raise HTTPException(503, f"Temporal visibility failed: {str(exc).splitlines()[0][:200]}") from None
    return out
