"""The collector against an oracle: a known load through the real stack, checked against Temporal itself.

Tasks go in through the control plane (``POST .../tasks``), real worker processes run them,
and the collector's snapshot is compared with what Temporal answers directly
(DescribeTaskQueue, CountWorkflowExecutions, ListWorkflowExecutions) and with the inputs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from kubiya_tui.secret import SecretStr
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeTaskQueueRequest,
    ListWorkflowExecutionsRequest,
)
from temporalio.client import Client

from kubiya_tui.config import Settings
from kubiya_tui.connection import Connection, connect
from kubiya_tui.metrics.collector import CollectorOptions
from kubiya_tui.metrics.derive import percentile, rate_window
from kubiya_tui.metrics.snapshot import SourceStatus
from tests.helpers import make_queue, submit
from tests.e2e.test_worker import live_workers

pytestmark = pytest.mark.slow

TASKS = 100
FAIL_RATIO = 0.25


class Oracle:
    """Temporal, asked directly, the way the collector is not."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    async def describe(self, task_queue: str) -> tuple[int, set[str]]:
        """(backlog over both task types, poller identities)."""
        backlog, identities = 0, set()
        for task_type in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
            answer = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.namespace,
                    task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                    task_queue_type=task_type,
                    report_stats=True,
                )
            )
            backlog += answer.stats.approximate_backlog_count
            identities |= {p.identity for p in answer.pollers}
        return backlog, identities

    async def closed(self, task_queue: str, window: float = 300) -> dict[str, int]:
        since = (datetime.now(timezone.utc) - timedelta(seconds=window)).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = await self.client.workflow_service.count_workflow_executions(
            CountWorkflowExecutionsRequest(
                namespace=self.namespace,
                query=f'TaskQueue="{task_queue}" AND CloseTime > "{since}" GROUP BY ExecutionStatus',
            )
        )
        return {g.group_values[0].data.decode().strip('"'): g.count for g in answer.groups}

    async def durations(self, task_queue: str, window: float = 300) -> list[float]:
        since = (datetime.now(timezone.utc) - timedelta(seconds=window)).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = await self.client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace=self.namespace, page_size=1000, query=f'TaskQueue="{task_queue}" AND CloseTime > "{since}"'
            )
        )
        return [
            (e.close_time.seconds + e.close_time.nanos / 1e9) - (e.start_time.seconds + e.start_time.nanos / 1e9)
            for e in answer.executions
        ]


async def until(check: Any, timeout: float, what: str, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def connection_for(control_plane: Any, queue_ids: list[str], **options: Any) -> Connection:
    settings = Settings(
        api_url=control_plane.url, api_key=SecretStr(control_plane.api_key), temporal_address=control_plane.temporal_address
    )
    return connect(settings, CollectorOptions(queues=tuple(queue_ids), **options), history="off")


async def in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_depth_errors_and_workers_match_temporal_and_the_load(api, control_plane, temporal_server, start_worker, unique):
    oracle = Oracle(await Client.connect(temporal_server.address), temporal_server.namespace)
    queue = make_queue(api, unique("oracle"))
    tq = queue["task_queue_name"]
    connection = connection_for(control_plane, [queue["id"]], poll_grace=0)
    collector = connection.source
    try:
        # No worker yet: every task waits, so the backlog is exactly what was submitted.
        submitted_at = time.time()
        await in_thread(
            submit, api, queue["id"], count=TASKS, input={"seconds": 0.05, "fail_ratio": FAIL_RATIO}, max_attempts=1
        )
        await until(lambda: _eq((oracle.describe(tq)), TASKS), 30, "Temporal to count the backlog")
        snap = await collector.refresh(force=True, complete=True)
        q = snap.queue(queue["id"])
        direct_backlog, _ = await oracle.describe(tq)
        # Exact: nothing moves while no worker polls, so both reads see the same count.
        assert q.depth == direct_backlog == TASKS
        # Temporal caches stats for ~5 s, so the age may lag the truth by that much.
        assert time.time() - submitted_at - 6 <= q.backlog_age_seconds <= time.time() - submitted_at + 1
        assert q.growing and q.time_to_drain_seconds is None, "nothing leaves the queue"
        assert q.workers.total == 0 and q.closed_in_window == 0 and q.error_rate is None
        assert q.priority_backlog == {3: TASKS}
        assert snap.sources["api"].status == SourceStatus.ok and snap.sources["temporal"].status == SourceStatus.ok

        # Two workers drain it; 25 % of the tasks fail on their only attempt.
        workers = [start_worker(queue["id"]), start_worker(queue["id"])]
        await until(lambda: _closed_total(oracle, tq, TASKS), 90, f"{TASKS} tasks closed")
        direct = await oracle.closed(tq)
        read_from = time.time()
        snap = await collector.refresh(force=True, complete=True)
        read_to = time.time()
        q = snap.queue(queue["id"])
        assert q.closed_in_window == sum(direct.values()) == TASKS
        assert q.closed_by_status == direct
        # Exact: the same window over the same closed executions.
        assert q.error_rate == pytest.approx((direct.get("Failed", 0) + direct.get("TimedOut", 0)) / TASKS, abs=1e-4)
        # Against the input: failures are Bernoulli(0.25) over 100 tasks, sd 0.043; 0.17 is four sd.
        assert abs(q.error_rate - FAIL_RATIO) <= 0.17
        # The queue is younger than the 5-minute window: 100 closed over its age when the outcomes were read.
        created = datetime.fromisoformat(queue["created_at"]).timestamp()
        floor = max(10.0, collector.interval)
        slowest = TASKS * 60 / rate_window(300.0, read_to, created, floor)
        fastest = TASKS * 60 / rate_window(300.0, read_from, created, floor)
        assert slowest - 1e-3 <= q.processed_per_min <= fastest + 1e-3, (q.processed_per_min, slowest, fastest)
        durations = await oracle.durations(tq)
        assert q.duration_samples == len(durations) == TASKS
        assert q.duration_p95_seconds == pytest.approx(percentile(durations, 95), abs=1e-3)
        assert q.duration_p50_seconds == pytest.approx(percentile(durations, 50), abs=1e-3)
        assert 0.05 <= q.duration_p50_seconds <= q.duration_p95_seconds

        # Workers: the control plane's health and Temporal's pollers, both.
        registered = await in_thread(live_workers, api, queue["id"])
        assert q.workers.healthy == len(registered) == 2 and q.workers.total == 2
        await until(lambda: _pollers_include(oracle, tq, {w["worker_id"] for w in registered}), 20, "both pollers")
        await until(lambda: _eq(oracle.describe(tq), 0), 15, "Temporal to see the queue empty")
        snap = await collector.refresh(force=True, complete=True)
        q = snap.queue(queue["id"])
        assert q.workers.not_polling == 0 and q.workers.unregistered == 0
        assert {w.worker_id for w in snap.workers_of(queue["id"])} == {w["worker_id"] for w in registered}
        assert q.depth == (await oracle.describe(tq))[0] == 0
        assert q.capacity_total == 20, "two workers of 10 slots"

        # The workers' own counts, from their heartbeats (every 10 s), add up to what Temporal closed.
        async def counted() -> Any:
            s = await collector.refresh(force=True)
            ws = s.workers_of(queue["id"])
            return sum(w.processed + w.failed for w in ws) == TASKS and ws

        ws = await until(counted, 60, "heartbeats to carry the final counts", every=1)  # beats every 10 s, slower on a loaded machine
        assert sum(w.failed for w in ws) == direct.get("Failed", 0)
        for proc in workers:
            proc.stop(grace=20)
    finally:
        await connection.aclose()


async def _eq(awaitable: Any, expected: int) -> bool:
    backlog, _ = await awaitable
    return backlog == expected


async def _closed_total(oracle: Oracle, tq: str, total: int) -> bool:
    return sum((await oracle.closed(tq)).values()) == total


async def _pollers_include(oracle: Oracle, tq: str, identities: set[str]) -> Any:
    backlog, pollers = await oracle.describe(tq)
    return identities <= pollers and (backlog, pollers)


async def test_a_silent_registration_and_a_rogue_poller_are_flagged(api, control_plane, temporal_server, unique):
    from temporalio import activity
    from temporalio.worker import Worker

    @activity.defn(name="nothing")
    async def nothing() -> None:
        return None

    queue = make_queue(api, unique("flags"))
    tq = queue["task_queue_name"]
    # Registered and heartbeating through the API, but never polling Temporal.
    silent = api.post(f"/api/v1/worker-queues/{queue['id']}/start", json={}).json()["worker_id"]
    api.post(f"/api/v1/workers/{silent}/heartbeat", json={"status": "idle", "slots_used": 0, "slots_available": 4})
    client = await Client.connect(temporal_server.address, identity=f"rogue-{uuid.uuid4().hex[:6]}")
    connection = connection_for(control_plane, [queue["id"]], poll_grace=1.0)
    collector = connection.source
    oracle = Oracle(client, temporal_server.namespace)
    try:
        async with Worker(client, task_queue=tq, activities=[nothing]):
            rogue = client.identity
            await until(lambda: _pollers_include(oracle, tq, {rogue}), 20, "the rogue poller in Temporal")
            await asyncio.sleep(1.0)
            snap = await collector.refresh(force=True, complete=True)
            by_id = {w.worker_id: w for w in snap.workers_of(queue["id"])}
            assert by_id[silent].registered_not_polling and not by_id[silent].polling_not_registered
            assert by_id[rogue].polling_not_registered and by_id[rogue].source == "temporal"
            q = snap.queue(queue["id"])
            assert (q.workers.not_polling, q.workers.unregistered, q.workers.total) == (1, 1, 1)
    finally:
        await connection.aclose()


async def test_the_three_ways_to_connect_agree_on_depth(api, control_plane, temporal_server, unique):
    queue = make_queue(api, unique("modes"))
    await in_thread(submit, api, queue["id"], count=5, input={"seconds": 0})
    oracle = Oracle(await Client.connect(temporal_server.address), temporal_server.namespace)
    await until(lambda: _eq(oracle.describe(queue["task_queue_name"]), 5), 30, "the backlog in Temporal")
    key = SecretStr(control_plane.api_key)
    settings = {
        "api+temporal": Settings(api_url=control_plane.url, api_key=key, temporal_address=temporal_server.address),
        "api": Settings(api_url=control_plane.url, api_key=key),
        "temporal": Settings(temporal_address=temporal_server.address, task_queues=[queue["task_queue_name"]]),
    }
    for mode, found in settings.items():
        connection = connect(found, CollectorOptions(queues=(queue["id"], queue["task_queue_name"])), history="off")
        try:
            snap = await connection.source.refresh(complete=True)
        finally:
            await connection.aclose()
        assert snap.mode == mode
        [q] = snap.queues
        assert q.depth == 5, mode
        assert q.task_queue_name == queue["task_queue_name"]
        if mode != "temporal":
            assert (q.name, q.environment) == (queue["name"], "default")
