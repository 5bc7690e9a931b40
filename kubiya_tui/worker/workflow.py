"""The Temporal workflow behind every task: run one activity, survive the loss of a worker.

A task's ``max_attempts`` counts the task's own failures. A worker that dies mid-task (its
activity stops heartbeating) is not the task's fault: the workflow schedules the activity
again, on whichever worker of the queue polls next, without spending an attempt.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from kubiya_tui.tasks import ACTIVITY_NAME, WORKFLOW_NAME

# An activity that misses heartbeats this long is taken to be on a dead worker.
ACTIVITY_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# How often a task may be moved off a lost worker before it is failed.
MAX_LOST_WORKER_RETRIES = 5
# Server-side backstop beyond the task's own timeout, which the worker enforces itself.
TIMEOUT_MARGIN_SECONDS = 30
NON_RETRYABLE = ["InvalidTaskInput", "UnknownTaskKind"]


@workflow.defn(name=WORKFLOW_NAME)
class KubiyaTaskWorkflow:
    @workflow.run
    async def run(self, payload: dict[str, Any]) -> Any:
        timeout = float(payload.get("timeout_seconds", 300))
        attempts = int(payload.get("max_attempts", 1))
        lost = 0
        while True:
            try:
                return await workflow.execute_activity(
                    ACTIVITY_NAME,
                    payload,
                    start_to_close_timeout=timedelta(seconds=timeout + TIMEOUT_MARGIN_SECONDS),
                    heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                    retry_policy=RetryPolicy(
                        maximum_attempts=attempts,
                        initial_interval=timedelta(seconds=1),
                        maximum_interval=timedelta(seconds=30),
                        non_retryable_error_types=NON_RETRYABLE,
                    ),
                )
            except ActivityError as exc:
                cause = exc.cause
                if (
                    isinstance(cause, TimeoutError)
                    and cause.type == TimeoutType.HEARTBEAT
                    and lost < MAX_LOST_WORKER_RETRIES
                ):
                    lost += 1
                    workflow.logger.info("task %s lost its worker; scheduling it again", payload.get("task_id"))
                    continue
                message = cause.message if cause is not None and hasattr(cause, "message") else str(exc)
                kind = getattr(cause, "type", None) or type(cause).__name__
                raise ApplicationError(message or "task failed", type=str(kind), non_retryable=True) from None
