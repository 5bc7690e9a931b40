"""Tasks as Temporal workflows: submit them to a queue's task queue, describe one, list recent ones.

The task routers (``routers/tasks.py``, ``routers/legacy.py``) call these; errors are HTTP
errors already (422 for a bad submission, 503 when Temporal does not answer). How a
submission is recorded and started, and what its answer promises, is in ``intake.py``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from fastapi import HTTPException, Response
from pydantic import ValidationError
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from kubiya_tui.client import temporal_query
from kubiya_tui.client.temporal import TemporalReader, TemporalUnavailable
from kubiya_tui.controlplane.deps import Caller
from kubiya_tui.controlplane.intake import IntakeAnswer, Submission, TaskIntake
from kubiya_tui.controlplane.store import Store
from kubiya_tui.models import IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_RULE, TaskInfo, TaskSubmit, TaskSubmitted
from kubiya_tui.tasks import get_kind

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
    intake: TaskIntake,
    who: Caller,
    queue_id: str,
    task_queue: str,
    queue: dict[str, Any],
    body: TaskSubmit,
    idempotency_key: str | None = None,
) -> IntakeAnswer:
    """Validate a submission against its kind and the queue, then record and start one workflow per task."""
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
    key = _idempotency_key(idempotency_key, body.idempotency_key)
    payload = {
        "kind": kind.name,
        "input": data.model_dump(mode="json"),
        "timeout_seconds": body.timeout_seconds,
        "max_attempts": body.max_attempts,
        "queue_id": queue_id,
    }
    submission = Submission(
        org=who.org,
        queue_id=queue_id,
        task_queue=task_queue,
        kind=kind.name,
        priority=body.priority_key,
        payload=payload,
        body=body,
    )
    return await intake.submit(submission, key)


def _idempotency_key(header: str | None, field: str | None) -> str | None:
    """The request's Idempotency-Key, from the header or the body field (they must agree when both are sent)."""
    if header is not None:
        header = header.strip()
        if not IDEMPOTENCY_KEY.fullmatch(header):
            raise HTTPException(
                422,
                [{"loc": ["header", "Idempotency-Key"], "msg": f"an idempotency key is {IDEMPOTENCY_KEY_RULE}", "type": "value_error"}],
            )
    if header is not None and field is not None and header != field:
        # Each key is valid alone; together they contradict each other (400, not a schema error).
        raise HTTPException(400, "the body's idempotency_key differs from the Idempotency-Key header; send one of them")
    return header if header is not None else field


def answer_of(result: IntakeAnswer, response: Response) -> TaskSubmitted:
    """The route's answer to a submission: a TaskSubmitted for 201, an HTTPException for anything else."""
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if result.status == 201:
        return TaskSubmitted.model_validate(result.body)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    raise HTTPException(result.status, result.body, headers=headers)


async def describe_task(store: Store, reader: TemporalReader, org: str, task_id: str) -> TaskInfo:
    """One task of the organization: its record, with state, attempts and outcome from Temporal."""
    row = await store.get_task(org, task_id)
    info: dict[str, Any] = {
        "id": task_id,
        "queue_id": row["queue_id"],
        "kind": row["kind"],
        "priority": row["priority"],
        "max_attempts": row["max_attempts"],
        "submitted_at": datetime.fromtimestamp(row["submitted_at"], timezone.utc),
    }
    if row["state"] == "not_started":
        return TaskInfo(**info, status="not_started", attempts=0, error=row["start_error"])
    client = await _workflow_client(reader)
    handle = client.get_workflow_handle(task_id)
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND and row["state"] == "pending":
            return TaskInfo(**info, status="pending", attempts=0)
        raise HTTPException(503, f"Temporal could not describe task {task_id}: {str(exc).splitlines()[0][:200]}") from None
    except Exception as exc:
        raise HTTPException(503, f"Temporal could not describe task {task_id}: {str(exc).splitlines()[0][:200]}") from None
    info.update(submitted_at=desc.start_time, closed_at=desc.close_time)
    try:
        log = (await desc.memo()).get("attempt_log")
    except Exception:
        log = None
    if isinstance(log, list):
        info["attempt_log"] = [entry for entry in log if isinstance(entry, dict)]
    raw = desc.raw_description
    pending = list(raw.pending_activities)
    if desc.status == WorkflowExecutionStatus.RUNNING:
        started = [p for p in pending if p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED]
        info["status"] = "running" if started else "queued"
        info["attempts"] = len(info.get("attempt_log") or ())
        if pending:
            current = _attempt_number(pending[0])
            # A scheduled attempt has not started yet: it is not counted.
            info["attempts"] = max(info["attempts"], current if started else current - 1)
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


def _attempt_number(pending: Any) -> int:
    """Which execution of its task a pending activity is: ``attempt-N`` ids count them; older ones use Temporal's count."""
    activity_id = pending.activity_id or ""
    if activity_id.startswith("attempt-") and activity_id[8:].isdigit():
        return int(activity_id[8:])
    return pending.attempt


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
