"""Queue metrics from Temporal (backlog, pollers) and from the worker registry, with and without Temporal."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from kubiya_tui.stack.processes import free_port

V1 = "/api/v1"


def make_queue(api: httpx.Client, name: str, **fields) -> dict:
    env_id = next(e["id"] for e in api.get(f"{V1}/environments").json() if e["name"] == "default")
    r = api.post(f"{V1}/environments/{env_id}/worker-queues", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def wait_for_metrics(api: httpx.Client, queue_id: str, check, timeout: float = 20.0) -> dict:
    """Poll the metrics endpoint until check(metrics) holds (Temporal caches stats ~5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        r = await asyncio.to_thread(api.get, f"{V1}/worker-queues/{queue_id}/metrics")
        assert r.status_code == 200, r.text
        metrics = r.json()
        if check(metrics) or time.monotonic() > deadline:
            return metrics
        await asyncio.sleep(0.5)


@activity.defn
async def noop() -> None:
    return None


async def test_backlog_and_pollers_come_from_temporal(api, temporal_server, unique):
    q = make_queue(api, unique("m"))
    first = api.get(f"{V1}/worker-queues/{q['id']}/metrics").json()
    assert first["queue_id"] == q["id"] and first["temporal_available"] is True, first
    assert first["task_queue_backlog"] == 0 and first["task_queue_pollers"] == 0

    client = await Client.connect(temporal_server.address, namespace=temporal_server.namespace)
    started = 4
    handles = [
        await client.start_workflow("AnyName", id=f"metrics-{uuid.uuid4()}", task_queue=q["task_queue_name"])
        for _ in range(started)
    ]
    try:
        metrics = await wait_for_metrics(api, q["id"], lambda m: m["task_queue_backlog"] >= started)
        assert metrics["temporal_available"] is True and metrics["temporal_error"] is None
        assert metrics["task_queue_backlog"] >= started, metrics
        assert metrics["tasks_pending"] == metrics["task_queue_backlog"]
        assert metrics["task_queue_pollers"] == 0

        # a bare worker polling the queue (activities only: the workflows stay in the backlog)
        worker = Worker(client, task_queue=q["task_queue_name"], activities=[noop])
        async with worker:
            metrics = await wait_for_metrics(api, q["id"], lambda m: m["task_queue_pollers"] >= 1)
            assert metrics["task_queue_pollers"] >= 1, metrics
            assert metrics["task_queue_backlog"] >= started
    finally:
        for handle in handles:
            try:
                await handle.terminate("test over")
            except Exception:
                pass

    # another queue's metrics are not affected by this queue's backlog
    other = make_queue(api, unique("m"))
    assert api.get(f"{V1}/worker-queues/{other['id']}/metrics").json()["task_queue_backlog"] == 0


def test_worker_counts_from_the_registry(api, unique):
    q = make_queue(api, unique("m"))
    ids = [api.post(f"{V1}/worker-queues/{q['id']}/start", json={}).json()["worker_id"] for _ in range(4)]
    api.post(f"{V1}/workers/{ids[0]}/heartbeat", json={"status": "busy", "worker_metadata": {"task_duration_avg_ms": 100}})
    api.post(f"{V1}/workers/{ids[1]}/heartbeat", json={"status": "idle", "worker_metadata": {"task_duration_avg_ms": 300}})
    api.post(f"{V1}/workers/{ids[2]}/drain")
    api.post(f"{V1}/workers/{ids[3]}/disconnect", json={"reason": "bye"})
    m = api.get(f"{V1}/worker-queues/{q['id']}/metrics").json()
    assert (m["busy_workers"], m["idle_workers"]) == (1, 1)
    assert m["active_workers"] == 3  # busy, idle and the draining one still working
    assert m["total_workers"] == 3 and m["draining_workers"] == 1 and m["stale_workers"] == 0
    assert m["avg_task_duration_ms"] == 200
    assert m["last_activity_at"] and m["updated_at"]


def test_metrics_without_temporal(control_plane_factory):
    closed_port = free_port()
    cp = control_plane_factory(temporal_address=f"127.0.0.1:{closed_port}")
    with cp.client() as c:
        q = make_queue(c, "offline")
        wid = c.post(f"{V1}/worker-queues/{q['id']}/start", json={}).json()["worker_id"]
        c.post(f"{V1}/workers/{wid}/heartbeat", json={"status": "busy", "tasks_processed": 8})
        t0 = time.monotonic()
        r = c.get(f"{V1}/worker-queues/{q['id']}/metrics")
        assert time.monotonic() - t0 < 8
        assert r.status_code == 200, r.text
        m = r.json()
        assert m["temporal_available"] is False
        assert f"127.0.0.1:{closed_port}" in m["temporal_error"] and "Traceback" not in m["temporal_error"]
        assert m["task_queue_backlog"] == 0 and m["task_queue_pollers"] == 0
        # what the registry knows still comes through
        assert m["busy_workers"] == 1 and m["tasks_processed_24h"] == 8
        # a second call answers too (no hanging reconnect), and health says Temporal is down
        assert c.get(f"{V1}/worker-queues/{q['id']}/metrics").json()["temporal_available"] is False
        health = httpx.get(f"{cp.url}/api/health").json()
        assert health["status"] == "ok" and health["temporal"] == "unavailable"
    cp.stop()
