"""Durable task intake: a task is recorded before its workflow starts, and a crash leaves nothing unknown.

What an answer to ``POST .../tasks`` means:

- **201**: every task is recorded here and its workflow is in Temporal.
- **an error**: nothing will run, or the answer's ``started`` lists exactly the tasks that
  did start; every other task of the request is recorded as ``not_started`` and never runs.
- **no answer** (the control plane died mid-request): on restart the reconciler settles the
  request from what Temporal holds. A task whose workflow reached Temporal stays started; a
  task whose workflow did not is ``not_started``. The reconciler never starts a workflow: only
  a live request does, so nothing runs that a client was told did not start.

Each task's id is its workflow id, and workflows start with ``id_conflict_policy=USE_EXISTING``
and ``id_reuse_policy=REJECT_DUPLICATE``: starting the same id again (a retried call) is a
no-op. A start whose fate is unknown (Temporal timed out) is looked up; if Temporal cannot
say, the task is answered as not started and the reconciler terminates its workflow if it
ever shows up.

An ``Idempotency-Key`` (per organization and queue, kept 24 hours) makes a retry safe: the
same key gets the first answer again and starts nothing. An answer that started nothing is
not kept, so a retry after it tries again. A workflow of this control plane (its registry's
id is in the memo) that has no record, which only a restored registry can cause, is recorded
by the reconciler: the client that submitted it was answered 201 when its record existed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import HTTPException
from temporalio.client import Client
from temporalio.common import Priority, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from kubiya_tui.client.temporal import TemporalReader, TemporalUnavailable
from kubiya_tui.controlplane.store import BOOT_LEASES, StorageUnavailable, Store
from kubiya_tui.models import TaskSubmit, TaskSubmitted
from kubiya_tui.tasks import WORKFLOW_NAME

log = logging.getLogger("kubiya_tui.controlplane")

IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
"""How long an Idempotency-Key keeps its first answer."""
START_CONCURRENCY = 32
"""Workflow starts in flight at once for one submission: quick, and few enough for Temporal."""
RECONCILE_EVERY_SECONDS = 15.0
ADOPTION_SCAN_EVERY_SECONDS = 300.0
ADOPTION_SCAN_MARGIN_SECONDS = 600.0
"""Each scan for workflows without a record goes this far back before the previous one."""
ADOPTION_FIRST_SCAN_SECONDS = 86400.0
BOOT_LEASE_SECONDS = 4 * RECONCILE_EVERY_SECONDS
"""A process's boot lease lasts this long unrenewed; while it lasts, other replicas leave its requests alone."""
VERIFY_AFTER_SECONDS = 10.0
"""A start whose fate was unknown is looked up again once it is this old."""
START_RPC_TIMEOUT = timedelta(seconds=10)
LOOKUP_RPC_TIMEOUT = timedelta(seconds=5)

# Temporal answered and refused: the workflow was not created.
REFUSALS = {
    RPCStatusCode.INVALID_ARGUMENT,
    RPCStatusCode.NOT_FOUND,
    RPCStatusCode.PERMISSION_DENIED,
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.UNIMPLEMENTED,
    RPCStatusCode.OUT_OF_RANGE,
}
STOPPED_MID_REQUEST = "the control plane stopped before this task's workflow started"
DECLARED_NOT_STARTED = "the control plane answered that this task did not start"


@dataclass(frozen=True)
class Submission:
    """One validated request: what to start, where, for whom."""

    org: str
    queue_id: str
    task_queue: str
    kind: str
    priority: int
    payload: dict[str, Any]
    body: TaskSubmit


@dataclass(frozen=True)
class IntakeAnswer:
    """What a submission answers: 201 and a TaskSubmitted body, or an error status and its detail."""

    status: int
    body: Any
    replayed: bool = False


def fingerprint(body: TaskSubmit) -> str:
    """What makes two requests under one key the same request: the body, without the key."""
    data = body.model_dump(mode="json", exclude={"idempotency_key"})
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


class TaskIntake:
    """Task submission and the reconciler that settles what a stopped process left pending."""

    def __init__(self, store: Store, reader: TemporalReader) -> None:
        self.store = store
        self.reader = reader
        self.boot_id = str(uuid.uuid4())
        self.in_flight: set[str] = set()
        """Ids of the requests this process is serving now: the reconciler leaves their tasks alone."""
        self.declared_not_started: set[str] = set()
        """Tasks answered as not started whose record could not be written yet (disk refused)."""
        self._next_adoption_scan = 0.0
        self._announced_at = -1e18

    async def _announce(self) -> None:
        """Say in the registry that this process is alive (its boot lease), so that the reconciler
        of another replica on the same database leaves this one's requests in flight alone."""
        await self.store.acquire_lease(BOOT_LEASES, f"boot-{self.boot_id}", self.boot_id, BOOT_LEASE_SECONDS)
        self._announced_at = time.monotonic()

    async def _stopped_boots(self, boots: set[str]) -> set[str]:
        """Which of these boot ids belong to no live process (this one is alive)."""
        alive = await self.store.lease_holders(BOOT_LEASES)
        return {b for b in boots if b != self.boot_id and b not in alive}

    # ------------------------------------------------------------------ submission

    async def submit(self, sub: Submission, key: str | None) -> IntakeAnswer:
        """Record, start and answer one submission (see the module's docstring for what answers mean)."""
        if time.monotonic() - self._announced_at > RECONCILE_EVERY_SECONDS:
            await self._announce()
        digest = fingerprint(sub.body) if key is not None else ""  # only a keyed request is compared with another
        if key is not None:
            existing = await self.store.find_request(sub.org, sub.queue_id, key)
            if existing is not None:
                replay = await self._replay(existing, digest)
                if replay is not None:
                    return replay
        if not await self.reader.available():
            raise HTTPException(503, f"{self.reader.last_error or 'Temporal is unavailable'}; nothing was recorded or started")
        try:
            client = await self.reader.client()
        except TemporalUnavailable as exc:
            raise HTTPException(503, f"{exc}; nothing was recorded or started") from None
        ids = [f"task-{uuid.uuid4()}" for _ in range(sub.body.count)]
        request_id = str(uuid.uuid4())
        self.in_flight.add(request_id)
        try:
            rows = [
                {
                    "id": task_id,
                    "queue_id": sub.queue_id,
                    "kind": sub.kind,
                    "priority": sub.priority,
                    "timeout_seconds": sub.body.timeout_seconds,
                    "max_attempts": sub.body.max_attempts,
                }
                for task_id in ids
            ]
            idem = None if key is None else {"queue_id": sub.queue_id, "key": key, "fingerprint": digest}
            taken = await self.store.record_tasks(sub.org, rows, request_id, self.boot_id, idem)
            if taken is not None:
                # Another request with this key was recorded between the lookup and now.
                replay = await self._replay(taken, digest)
                if replay is not None:
                    return replay
                raise HTTPException(409, "a request with this Idempotency-Key is being settled; retry in a moment")
            fates = await self._start_all(client, sub, ids)
            return await self._settle(sub, ids, fates, request_id if key is not None else None)
        finally:
            self.in_flight.discard(request_id)

    async def _replay(self, existing: dict[str, Any], digest: str) -> IntakeAnswer | None:
        """The kept answer of a key, or None when the key is free again (expired, or its request started nothing)."""
        expired = existing["created_at"] < time.time() - IDEMPOTENCY_WINDOW_SECONDS
        if expired and existing["status_code"] is not None:
            await self.store.forget_request(existing["id"])
            return None
        if existing["fingerprint"] != digest:
            # A valid request that conflicts with what the key already stands for: 409, as for a taken name.
            raise HTTPException(
                409,
                "this Idempotency-Key was already used for a different request to this queue (keys are kept 24 h); use a new key",
            )
        if existing["status_code"] is not None:
            return IntakeAnswer(existing["status_code"], existing["answer"], replayed=True)
        if existing["id"] in self.in_flight:
            raise HTTPException(
                409,
                "a request with this Idempotency-Key is still being served; retry in a moment",
                headers={"Retry-After": "1"},
            )
        # Left without an answer by a stopped process (or by a write the disk refused): settle it now.
        try:
            answer = await self.settle_request(existing)
        except TemporalUnavailable as exc:
            raise HTTPException(503, f"cannot tell yet what this key's first request started: {exc}") from None
        return None if answer is None else IntakeAnswer(answer[0], answer[1], replayed=True)

    async def _start_all(self, client: Client, sub: Submission, ids: list[str]) -> dict[str, tuple[str, str | None]]:
        """Each task's fate: ("started", None), ("refused", why) or ("unknown", why)."""
        gate = asyncio.Semaphore(START_CONCURRENCY)
        memo = {
            "kind": sub.kind,
            "queue_id": sub.queue_id,
            "priority": sub.priority,
            "org": sub.org,
            "control_plane": self.store.instance_id,
            "max_attempts": sub.body.max_attempts,
            "timeout_seconds": sub.body.timeout_seconds,
        }

        async def start(task_id: str) -> tuple[str, str | None]:
            async with gate:
                try:
                    await client.start_workflow(
                        WORKFLOW_NAME,
                        {**sub.payload, "task_id": task_id},
                        id=task_id,
                        task_queue=sub.task_queue,
                        priority=Priority(priority_key=sub.priority),
                        memo=memo,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        rpc_timeout=START_RPC_TIMEOUT,
                    )
                except WorkflowAlreadyStartedError:
                    return ("started", None)
                except RPCError as exc:
                    fate = "refused" if exc.status in REFUSALS else "unknown"
                    return (fate, _short(exc))
                except Exception as exc:
                    return ("unknown", _short(exc))
                return ("started", None)

        results = await asyncio.gather(*(start(task_id) for task_id in ids))
        fates = dict(zip(ids, results))
        unknown = [task_id for task_id, (fate, _) in fates.items() if fate == "unknown"]
        if unknown:
            found = await self._lookup(client, unknown)
            for task_id in unknown:
                if found.get(task_id) is True:
                    fates[task_id] = ("started", None)
                elif found.get(task_id) is False:
                    fates[task_id] = ("refused", fates[task_id][1])
        return fates

    async def _settle(
        self, sub: Submission, ids: list[str], fates: dict[str, tuple[str, str | None]], request_id: str | None
    ) -> IntakeAnswer:
        started = [t for t in ids if fates[t][0] == "started"]
        not_started = [(t, f"not started: {fates[t][1]}", fates[t][0] == "unknown") for t in ids if fates[t][0] != "started"]
        if not not_started:
            answer = (201, TaskSubmitted(id=ids[0], ids=ids, queue_id=sub.queue_id, kind=sub.kind, priority=sub.priority).model_dump(mode="json"))
        else:
            first = next(why for _, why, _ in not_started)
            answer = (
                503,
                {
                    "error": "Temporal did not accept every task",
                    "message": f"{len(started)} of {len(ids)} task(s) started; the other {len(not_started)} will not run ({first})",
                    "started": started,
                    "not_started": [t for t, _, _ in not_started],
                },
            )
        try:
            await self.store.settle_tasks(
                started,
                not_started,
                request_id,
                answer if request_id is not None and started else None,
                forget_request=request_id is not None and not started,
            )
        except StorageUnavailable:
            # The answer still says exactly what started; the reconciler writes it down later,
            # from Temporal's word and from this set.
            self.declared_not_started.update(t for t, _, _ in not_started)
        return IntakeAnswer(*answer)

    async def _lookup(self, client: Client, task_ids: list[str]) -> dict[str, bool | None]:
        """Whether Temporal holds each workflow: True, False, or None when it would not say."""
        gate = asyncio.Semaphore(16)

        async def one(task_id: str) -> bool | None:
            async with gate:
                try:
                    await client.get_workflow_handle(task_id).describe(rpc_timeout=LOOKUP_RPC_TIMEOUT)
                except RPCError as exc:
                    return False if exc.status == RPCStatusCode.NOT_FOUND else None
                except Exception:
                    return None
                return True

        return dict(zip(task_ids, await asyncio.gather(*(one(t) for t in task_ids))))

    # ------------------------------------------------------------------ reconciling

    async def settle_request(self, request: dict[str, Any]) -> tuple[int, Any] | None:
        """Settle a keyed request that has no answer and keep its answer; None when it started nothing.

        Raises TemporalUnavailable when Temporal cannot say what its pending tasks became.
        """
        await self._settle_pending([t for t in await self.store.request_tasks(request["id"]) if t["state"] == "pending"])
        tasks = await self.store.request_tasks(request["id"])
        if any(t["state"] == "pending" for t in tasks):
            raise TemporalUnavailable("Temporal did not say whether every task of the request started")
        started = [t["id"] for t in tasks if t["state"] == "started"]
        if not started:
            await self.store.settle_tasks([], [], request["id"], None, forget_request=True)
            return None
        first = tasks[0]
        if len(started) == len(tasks):
            body: Any = TaskSubmitted(
                id=first["id"], ids=started, queue_id=first["queue_id"], kind=first["kind"], priority=first["priority"]
            ).model_dump(mode="json")
            answer = (201, body)
        else:
            answer = (
                503,
                {
                    "error": "the control plane stopped during this request",
                    "message": f"{len(started)} of {len(tasks)} task(s) started; the others will not run",
                    "started": started,
                    "not_started": [t["id"] for t in tasks if t["state"] != "started"],
                },
            )
        await self.store.settle_tasks([], [], request["id"], answer)
        return answer

    async def _settle_pending(self, tasks: list[dict[str, Any]]) -> None:
        """Write what Temporal says of pending tasks: started if it has them, not started if not."""
        if not tasks:
            return
        client = await self.reader.client()
        found = await self._lookup(client, [t["id"] for t in tasks])
        started: list[str] = []
        not_started: list[tuple[str, str, bool]] = []
        for task in tasks:
            there = found[task["id"]]
            declared = task["id"] in self.declared_not_started
            if there is None:
                continue
            if there and declared:
                gone = await self._terminate(client, task["id"])
                not_started.append((task["id"], f"not started: {DECLARED_NOT_STARTED}", not gone))
            elif there:
                started.append(task["id"])
            else:
                not_started.append((task["id"], f"not started: {DECLARED_NOT_STARTED if declared else STOPPED_MID_REQUEST}", False))
        await self.store.settle_tasks(started, not_started)
        self.declared_not_started.difference_update(t for t, _, _ in not_started)
        self.declared_not_started.difference_update(started)

    async def _terminate(self, client: Client, task_id: str) -> bool:
        try:
            await client.get_workflow_handle(task_id).terminate(
                reason=DECLARED_NOT_STARTED, rpc_timeout=LOOKUP_RPC_TIMEOUT
            )
        except RPCError as exc:
            return exc.status == RPCStatusCode.NOT_FOUND
        except Exception:
            return False
        log.warning("task %s: terminated its workflow, which started after the answer said it did not", task_id)
        return True

    async def reconcile(self, adopt: bool = False) -> None:
        """One pass: settle pending tasks and unanswered keys left by stopped requests, check unknown starts,
        forget expired keys, and (``adopt``) record this control plane's workflows that have no record."""
        await self._announce()
        found = await self.store.pending_tasks()
        requests = await self.store.open_requests()
        # What another live replica has in flight is that replica's to settle.
        stopped = await self._stopped_boots({t["boot_id"] for t in found} | {r["boot_id"] for r in requests})

        def settleable(boot_id: str | None, request_id: str) -> bool:
            return boot_id in stopped or boot_id is None or (boot_id == self.boot_id and request_id not in self.in_flight)

        pending = [t for t in found if settleable(t["boot_id"], t["request_id"])]
        await self._settle_pending(pending)
        for request in requests:
            if settleable(request["boot_id"], request["id"]):
                try:
                    await self.settle_request(request)
                except TemporalUnavailable:
                    pass
        await self._verify_unknown_starts()
        await self.store.forget_requests_before(time.time() - IDEMPOTENCY_WINDOW_SECONDS)
        # A stopped process's boot lease is kept as long as its keyed requests could be.
        await self.store.forget_expired_leases(BOOT_LEASES, await self.store.now() - IDEMPOTENCY_WINDOW_SECONDS)
        if adopt:
            await self.adopt_unrecorded()

    async def _verify_unknown_starts(self) -> None:
        suspects = await self.store.tasks_to_verify(time.time() - VERIFY_AFTER_SECONDS)
        if not suspects:
            return
        client = await self.reader.client()
        found = await self._lookup(client, [t["id"] for t in suspects])
        for task in suspects:
            there = found[task["id"]]
            if there is False:
                await self.store.verified(task["id"])
            elif there and await self._terminate(client, task["id"]):
                await self.store.verified(task["id"], "its workflow showed up later and was terminated")

    async def adopt_unrecorded(self) -> int:
        """Record the workflows of this control plane started since the last scan that have no record."""
        scan_started = time.time()
        since = await self.store.get_meta("adoption_scanned_until")
        horizon = float(since) - ADOPTION_SCAN_MARGIN_SECONDS if since else scan_started - ADOPTION_FIRST_SCAN_SECONDS
        iso = datetime.fromtimestamp(horizon, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        client = await self.reader.client()
        adopted = 0
        batch: list[tuple[Any, dict[str, Any]]] = []

        async def flush() -> int:
            known = await self.store.known_tasks([wf.id for wf, _ in batch])
            count = 0
            for wf, memo in batch:
                if wf.id in known or not memo.get("org") or not memo.get("queue_id"):
                    continue
                task = {
                    "id": wf.id,
                    "queue_id": memo["queue_id"],
                    "kind": memo.get("kind") or "unknown",
                    "priority": int(memo.get("priority") or 3),
                    "timeout_seconds": float(memo.get("timeout_seconds") or 300),
                    "max_attempts": int(memo.get("max_attempts") or 1),
                    "submitted_at": wf.start_time.timestamp() if wf.start_time else time.time(),
                }
                if await self.store.adopt_task(str(memo["org"]), task):
                    count += 1
                    log.warning("task %s: Temporal runs it but it had no record here; recorded it", wf.id)
            batch.clear()
            return count

        try:
            async for wf in client.list_workflows(
                f'WorkflowType="{WORKFLOW_NAME}" AND StartTime > "{iso}"', page_size=1000
            ):
                memo = await wf.memo()
                if memo.get("control_plane") == self.store.instance_id:
                    batch.append((wf, memo))
                if len(batch) >= 500:
                    adopted += await flush()
                    await asyncio.sleep(0)
        except RPCError as exc:
            raise TemporalUnavailable(f"Temporal visibility failed: {_short(exc)}") from None
        adopted += await flush()
        await self.store.set_meta("adoption_scanned_until", str(scan_started))
        return adopted

    async def run(self) -> None:
        """Reconcile at start-up, then every RECONCILE_EVERY_SECONDS, for as long as the app runs."""
        while True:
            try:
                if await self.reader.available():
                    adopt = time.monotonic() >= self._next_adoption_scan
                    await self.reconcile(adopt=adopt)
                    if adopt:
                        self._next_adoption_scan = time.monotonic() + ADOPTION_SCAN_EVERY_SECONDS
            except (StorageUnavailable, TemporalUnavailable):
                pass  # said once by the store or the reader; the next pass tries again
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("task reconciliation failed (next try in %.0f s): %s", RECONCILE_EVERY_SECONDS, _short(exc))
            await asyncio.sleep(RECONCILE_EVERY_SECONDS)
