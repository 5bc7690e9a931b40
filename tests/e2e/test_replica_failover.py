"""Losing a replica loses nothing: workers and task submissions go through two replicas of one
control plane (one PostgreSQL database); one replica is SIGKILLed mid-run; every client names
both replicas (comma-separated URLs) and fails over. Then Temporal is asked: every task that
was answered 201 completed, no workflow of the queue is left unfinished, and every worker is
still registered, heartbeating through the surviving replica, and drains cleanly through it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.stack.processes import ManagedProcess, spawn, start_control_plane
from tests.helpers import make_queue, wait_for

pytestmark = pytest.mark.postgres
V1 = "/api/v1"
WORKERS = 3


def test_sigkill_of_one_replica_loses_no_task_and_no_worker(temporal_server, postgres_databases, tmp_path: Path) -> None:
    database_url = postgres_databases.new()
    key = "kty_test_" + secrets.token_urlsafe(16)
    env = {"KUBIYA_TUI_DATABASE_URL": database_url}
    replicas: list[tuple[ManagedProcess, str]] = []
    workers: list[ManagedProcess] = []
    try:
        for i in range(2):
            replicas.append(start_control_plane(tmp_path / f"replica-{i}", temporal_server.address, api_key=key, extra_env=env))
        (doomed, doomed_url), (survivor, survivor_url) = replicas
        both = f"{doomed_url},{survivor_url}"
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=survivor_url, headers=headers, timeout=30) as api:
            queue = make_queue(api, "failover", heartbeat_interval=10)
            # Each worker's first choice is the replica that will die; the last one's, the survivor.
            for n in range(WORKERS):
                urls = both if n < WORKERS - 1 else f"{survivor_url},{doomed_url}"
                argv = [sys.executable, "-m", "kubiya_tui", "worker", "start", "--queue-id", queue["id"],
                        "--control-plane-url", urls, "--concurrency", "5"]  # fmt: skip
                workers.append(spawn(f"worker-{n}", argv, tmp_path / f"worker-{n}.log", {**os.environ, "KUBIYA_API_KEY": key}))
            registered = wait_for(
                lambda: (rows := api.get(f"{V1}/worker-queues/{queue['id']}/workers").json()) and len(rows) == WORKERS and rows,
                60,
                "three workers registered",
            )
            worker_ids = {w["worker_id"] for w in registered}

            accepted: list[str] = []
            refused: list[str] = []
            stop = threading.Event()

            async def submitting() -> None:
                async with ApiClient(both, key, retries=0) as client:
                    while not stop.is_set():
                        try:
                            answer = await client.submit_task(queue["id"], {"kind": "sleep", "input": {"seconds": 0.2}, "count": 3})
                            accepted.extend(answer["ids"])
                        except ApiError as exc:
                            refused.append(str(exc))
                        await asyncio.sleep(0.1)

            submitter = threading.Thread(target=lambda: asyncio.run(submitting()))
            submitter.start()
            try:
                wait_for(lambda: len(accepted) >= 30, 60, "30 tasks accepted before the kill", every=0.1)
                os.killpg(doomed.pid, signal.SIGKILL)
                killed_at = len(accepted)
                wait_for(lambda: len(accepted) >= killed_at + 30, 60, "30 more tasks accepted after the kill", every=0.1)
            finally:
                stop.set()
                submitter.join(60)
            assert doomed.proc.wait(10) == -signal.SIGKILL

            async def outcomes() -> dict[str, WorkflowExecutionStatus | None]:
                client = await Client.connect(temporal_server.address)
                found = {}
                async for wf in client.list_workflows(f'TaskQueue="{queue["task_queue_name"]}"'):
                    found[wf.id] = wf.status
                return found

            def all_done() -> dict | None:
                found = asyncio.run(outcomes())
                done = set(accepted) <= set(found) and all(s == WorkflowExecutionStatus.COMPLETED for s in found.values())
                return found if done else None

            found = wait_for(all_done, 120, "every accepted task completed in Temporal", every=1)
            # Every task answered 201 ran to completion; nothing the dead replica half-started is left open.
            assert set(accepted) <= set(found)
            assert all(status == WorkflowExecutionStatus.COMPLETED for status in found.values())
            # At most the requests in flight at the kill went unanswered; none after it.
            assert len(refused) <= 1, refused

            # Every worker is accounted for: registered, heartbeating through the survivor, alive.
            assert all(w.alive() for w in workers)
            since = time.time()

            def beating() -> list | None:
                rows = api.get(f"{V1}/worker-queues/{queue['id']}/workers").json()
                fresh = [r for r in rows if r["health"] == "healthy" and r["heartbeat_age_seconds"] is not None
                         and r["heartbeat_age_seconds"] < time.time() - since + 1]  # fmt: skip
                return rows if {r["worker_id"] for r in fresh} == worker_ids else None

            rows = wait_for(beating, 60, "every worker heartbeating through the surviving replica")
            assert {r["worker_id"] for r in rows} == worker_ids
            assert sum(r["tasks_processed"] for r in rows) >= len(accepted)
            for worker_id in worker_ids:
                assert api.post(f"{V1}/workers/{worker_id}/drain").status_code == 202
            for proc in workers:
                assert proc.proc.wait(60) == 0, "a drained worker exits 0"
            states = {r["status"] for r in api.get(f"{V1}/worker-queues/{queue['id']}/workers").json()}
            assert states == {"disconnected"}
    finally:
        for proc in workers:
            proc.stop(grace=5)
        for proc, _ in replicas:
            proc.stop()
