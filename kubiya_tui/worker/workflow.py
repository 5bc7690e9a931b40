"""The Temporal workflow behind every task: run it at most ``max_attempts`` times, say why each run ended.

``max_attempts`` caps the executions that started, whatever ended them. Each execution is
one activity (``attempt-N``) that Temporal never retries by itself, so every start is seen
and counted here:

- the task fails (or times out on the worker): that attempt is spent; the next one starts
  after a backoff, unless the failure cannot be retried (bad input, unknown kind);
- its worker stops heartbeating (killed, or cut off from Temporal): the workflow waits
  ``LATE_REPORT_GRACE`` for a late report (the worker signals the outcome when Temporal no
  longer takes its completion, after an outage). A late result completes the task without
  running it again ("completion not reported"); no word means "worker lost", and that
  attempt is spent too.

An attempt that never reached a worker (Temporal handed it out, but no worker recorded
that it started it, which a worker does before it runs a task) is handed out again without
being spent, up to ``MAX_REDELIVERIES`` times.

With ``max_attempts: 1`` a task never runs twice: a lost worker fails it visibly. With more,
a task may run again after its worker was lost mid-task (at least once, at most
``max_attempts`` times). Every ended attempt is kept in the memo's ``attempt_log``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from kubiya_tui.tasks import ACTIVITY_NAME, ATTEMPT_REPORT_SIGNAL, WORKFLOW_NAME

# An activity that misses heartbeats this long is taken to be on a dead worker.
ACTIVITY_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# After a missed heartbeat, how long a late report from the worker is awaited.
LATE_REPORT_GRACE = timedelta(seconds=10)
# How often a task may be moved off a lost worker before it is failed (workflows of before ATTEMPTS_PATCH).
MAX_LOST_WORKER_RETRIES = 5
# Server-side backstop beyond the task's own timeout, which the worker enforces itself.
TIMEOUT_MARGIN_SECONDS = 30
NON_RETRYABLE = ["InvalidTaskInput", "UnknownTaskKind"]
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
ATTEMPTS_PATCH = "attempts-count-executions"
"""Workflows started before this patch replay their original logic (``_run_before_counting_executions``)."""
REDELIVERY_PATCH = "attempts-never-started-run-again"
"""From this patch on, an attempt that never reached a worker is handed out again, not spent."""
MAX_REDELIVERIES = 5
# How often one attempt may be handed out again because it never reached a worker.


@workflow.defn(name=WORKFLOW_NAME)
class KubiyaTaskWorkflow:
    def __init__(self) -> None:
        self._reports: dict[int, dict[str, Any]] = {}
        self._log: list[dict[str, Any]] = []

    @workflow.signal(name=ATTEMPT_REPORT_SIGNAL)
    def attempt_report(self, report: dict[str, Any]) -> None:
        """A worker's word on an attempt whose completion Temporal would no longer take."""
        try:
            attempt = int(report["attempt"])
        except (KeyError, TypeError, ValueError):
            return
        self._reports.setdefault(attempt, report)

    @workflow.run
    async def run(self, payload: dict[str, Any]) -> Any:
        if not workflow.patched(ATTEMPTS_PATCH):
            return await self._run_before_counting_executions(payload)
        timeout = float(payload.get("timeout_seconds", 300))
        max_attempts = max(1, int(payload.get("max_attempts", 1)))
        ended: dict[str, Any] = {}
        for attempt in range(1, max_attempts + 1):
            if attempt > 1:
                await workflow.sleep(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (attempt - 2)))
            redelivered = 0
            while True:
                try:
                    return await workflow.execute_activity(
                        ACTIVITY_NAME,
                        {**payload, "attempt": attempt, "max_attempts": max_attempts},
                        # The first hand-out keeps its historical id; hand-outs again get their own.
                        activity_id=f"attempt-{attempt}" + (f"-again-{redelivered}" if redelivered else ""),
                        start_to_close_timeout=timedelta(seconds=timeout + TIMEOUT_MARGIN_SECONDS),
                        heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                        retry_policy=RetryPolicy(maximum_attempts=1),
                    )
                except ActivityError as exc:
                    if isinstance(exc.cause, CancelledError):
                        raise
                    if redelivered < MAX_REDELIVERIES and self._never_started(exc):
                        redelivered += 1
                        workflow.logger.info("task %s attempt %d never reached a worker; handing it out again", payload.get("task_id"), attempt)
                        continue
                    ended = await self._how_it_ended(attempt, exc)
                    break
            if ended.get("result_reported"):
                self._note(attempt, "completion not reported", "the result reached Temporal late, from the worker's report", ended.get("worker"))
                return ended.get("result")
            self._note(attempt, ended["outcome"], ended["error"], ended.get("worker"))
            if ended.get("final"):
                break
        last = self._log[-1]
        spent = len(self._log)
        why = f"attempt {spent} of {max_attempts}"
        if spent == max_attempts and last["outcome"] in ("worker lost", "interrupted"):
            why += f"; not run again: max_attempts is {max_attempts}"
        if spent > 1:
            why += "; earlier: " + ", ".join(f"{e['attempt']} {e['outcome']}" for e in self._log[:-1])
        raise ApplicationError(f"{last['error'] or last['outcome']} ({why})", type=ended.get("type") or "TaskFailed", non_retryable=True)

    @staticmethod
    def _never_started(exc: ActivityError) -> bool:
        """True when the attempt's heartbeat timed out with no details: no worker recorded that it runs it.

        A worker heartbeats (with details) and waits for Temporal to take it before it runs a
        task, so a task that ran always leaves details; one lost on its way does not.
        """
        cause = exc.cause
        return (
            isinstance(cause, TimeoutError)
            and cause.type == TimeoutType.HEARTBEAT
            and not cause.last_heartbeat_details
            and workflow.patched(REDELIVERY_PATCH)
        )

    async def _how_it_ended(self, attempt: int, exc: ActivityError) -> dict[str, Any]:
        """What ended an attempt, as {outcome, error, type, final, worker} (or a late result)."""
        cause = exc.cause
        if isinstance(cause, TimeoutError) and cause.type in (TimeoutType.HEARTBEAT, TimeoutType.START_TO_CLOSE):
            try:
                await workflow.wait_condition(lambda: attempt in self._reports, timeout=LATE_REPORT_GRACE)
            except asyncio.TimeoutError:
                pass
            report = self._reports.get(attempt)
            if report is not None:
                return self._from_report(report)
            if cause.type == TimeoutType.HEARTBEAT:
                return {
                    "outcome": "worker lost",
                    "error": f"worker lost: no heartbeat for {ACTIVITY_HEARTBEAT_TIMEOUT.total_seconds():g} s and no report",
                    "type": "WorkerLost",
                }
            return {"outcome": "timed out", "error": "no result from the worker before the server's deadline", "type": "TaskTimeout"}
        if isinstance(cause, ApplicationError):
            kind = cause.type or "TaskFailed"
            return {
                "outcome": "timed out" if kind == "TaskTimeout" else "failed",
                "error": cause.message or "task failed",
                "type": kind,
                "final": kind in NON_RETRYABLE,
                "worker": exc.identity or None,
            }
        message = getattr(cause, "message", None) or str(cause or exc)
        return {"outcome": "failed", "error": message or "task failed", "type": type(cause).__name__}

    def _from_report(self, report: dict[str, Any]) -> dict[str, Any]:
        worker = report.get("worker")
        if report.get("outcome") == "completed":
            return {"result_reported": True, "result": report.get("result"), "worker": worker}
        if report.get("outcome") == "interrupted":
            return {
                "outcome": "interrupted",
                "error": "Temporal lost track of the attempt (its heartbeats did not arrive); the worker stopped it",
                "type": "WorkerLost",
                "worker": worker,
            }
        kind = str(report.get("error_type") or "TaskFailed")
        return {
            "outcome": "timed out" if kind == "TaskTimeout" else "failed",
            "error": str(report.get("error") or "task failed"),
            "type": kind,
            "final": kind in NON_RETRYABLE,
            "worker": worker,
        }

    def _note(self, attempt: int, outcome: str, error: str | None, worker: str | None) -> None:
        self._log.append({"attempt": attempt, "outcome": outcome, "error": error, "worker": worker})
        workflow.upsert_memo({"attempt_log": list(self._log)})

    async def _run_before_counting_executions(self, payload: dict[str, Any]) -> Any:
        """The logic of workflows started before ATTEMPTS_PATCH: Temporal retries failures, lost workers are free."""
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
