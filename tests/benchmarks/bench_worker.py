"""Task throughput of one kubiya-tui worker against a bare temporalio Worker, in one run.

Run from the repository root:

    python -m tests.benchmarks.bench_worker [--tasks 1000] [--rounds 3]

Both sides run the same shape of work on the same Temporal dev server: a workflow that
runs one activity which sleeps 0 s. Ours is a real `kubiya-tui worker start` process
(registration, heartbeats, the KubiyaTask workflow and its activity wrapper), fed through
the control plane's task endpoint. The bare side is a `temporalio.worker.Worker` in its own
process with an equivalent workflow and activity, fed with `start_workflow` directly.

Each round pre-loads N tasks into a fresh task queue (so submission speed is not measured),
starts the worker, and times from the first task close to the last as Temporal records
them (so the worker's start-up is not measured either). Rounds alternate ours and bare to share the machine's noise. The figure is
tasks per second, median over rounds, and the ratio ours / bare (goal: at least 0.9).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
from temporalio.client import Client

from kubiya_tui.client import temporal_query
from kubiya_tui.client.temporal import TemporalReader
from kubiya_tui.stack.processes import ManagedProcess, spawn, start_control_plane, start_temporal

BARE_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import timedelta
    from temporalio import activity, workflow
    from temporalio.client import Client
    from temporalio.worker import Worker

    @activity.defn(name="bare_sleep")
    async def bare_sleep(payload: dict) -> dict:
        await asyncio.sleep(payload.get("seconds", 0))
        return {"slept_seconds": payload.get("seconds", 0)}

    @workflow.defn(name="BareTask")
    class BareTask:
        @workflow.run
        async def run(self, payload: dict) -> dict:
            return await workflow.execute_activity(
                "bare_sleep", payload, start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=timedelta(seconds=10),
            )

    async def main() -> None:
        client = await Client.connect(sys.argv[1])
        worker = Worker(client, task_queue=sys.argv[2], workflows=[BareTask], activities=[bare_sleep],
                        max_concurrent_activities=10, disable_eager_activity_execution=True)
        await worker.run()

    if __name__ == "__main__":
        asyncio.run(main())
    """
)


async def _span(temporal: str, task_queue: str, expected: int, timeout: float, worker: ManagedProcess) -> float:
    """Seconds from the first workflow start to the last close, once all `expected` closed."""
    reader = TemporalReader(temporal)
    client = await reader.client()
    deadline = time.monotonic() + timeout
    closed = 0
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"the worker for {task_queue} exited early; see {worker.log_path}")
        closed = (await reader.outcomes(task_queue, window_seconds=3600)).closed
        if closed >= expected:
            break
        await asyncio.sleep(0.5)
    else:
        raise RuntimeError(f"only {closed} of {expected} tasks closed on {task_queue} within {timeout:.0f} s")
    closes = sorted([wf.close_time async for wf in client.list_workflows(temporal_query.executions_on(task_queue)) if wf.close_time])
    # From the first close to the last: n - 1 tasks finished in that span, worker start-up excluded.
    return (closes[-1] - closes[0]).total_seconds() * expected / (expected - 1)


async def _wait_backlog(temporal: str, task_queue: str, expected: int) -> None:
    reader = TemporalReader(temporal)
    for _ in range(120):
        if (await reader.queue_stats(task_queue)).backlog >= expected:
            return
        await asyncio.sleep(0.5)


def round_ours(api: httpx.Client, temporal: str, url: str, key: str, env_id: str, n: int, logs: Path) -> float:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    queue = api.post(f"/api/v1/environments/{env_id}/worker-queues", json={"name": name, "heartbeat_interval": 10}).json()
    left = n
    while left:
        batch = min(left, 1000)
        answer = api.post(f"/api/v1/worker-queues/{queue['id']}/tasks", json={"kind": "sleep", "input": {"seconds": 0}, "count": batch})
        answer.raise_for_status()
        left -= batch
    asyncio.run(_wait_backlog(temporal, queue["task_queue_name"], n))
    argv = [sys.executable, "-m", "kubiya_tui", "worker", "start", "--queue-id", queue["id"], "--control-plane-url", url]
    proc = spawn("worker", argv, logs / f"{name}.log", {**os.environ, "KUBIYA_API_KEY": key})
    try:
        return n / asyncio.run(_span(temporal, queue["task_queue_name"], n, timeout=600, worker=proc))
    finally:
        proc.stop(grace=10)


def round_bare(temporal: str, n: int, logs: Path, script: Path) -> float:
    task_queue = f"bare-{uuid.uuid4().hex[:8]}"

    async def load() -> None:
        client = await Client.connect(temporal)
        sem = asyncio.Semaphore(50)

        async def one(i: int) -> None:
            async with sem:
                await client.start_workflow("BareTask", {"seconds": 0}, id=f"{task_queue}-{i}", task_queue=task_queue)

        await asyncio.gather(*(one(i) for i in range(n)))

    asyncio.run(load())
    asyncio.run(_wait_backlog(temporal, task_queue, n))
    proc: ManagedProcess = spawn("bare", [sys.executable, str(script), temporal, task_queue], logs / f"{task_queue}.log")
    try:
        return n / asyncio.run(_span(temporal, task_queue, n, timeout=600, worker=proc))
    finally:
        proc.stop(grace=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each side")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kubiya-bench-worker-"))
    script = work / "bare_worker.py"
    script.write_text(BARE_WORKER)
    temporal_proc, temporal = start_temporal(work / "temporal")
    key = "bench-" + uuid.uuid4().hex
    cp_proc, url = start_control_plane(work / "cp", temporal, api_key=key)
    ours: list[float] = []
    bare: list[float] = []
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as api:
            env_id = next(e["id"] for e in api.get("/api/v1/environments").json() if e["name"] == "default")
            for r in range(args.rounds):
                bare.append(round_bare(temporal, args.tasks, work, script))
                ours.append(round_ours(api, temporal, url, key, env_id, args.tasks, work))
                print(f"round {r + 1}: ours {ours[-1]:7.1f} tasks/s   bare {bare[-1]:7.1f} tasks/s", flush=True)
    finally:
        cp_proc.stop()
        temporal_proc.stop()
    o, b = statistics.median(ours), statistics.median(bare)
    print(f"\n{os.cpu_count()} cores, {args.tasks} 'sleep 0' tasks per round, median of {args.rounds} rounds")
    print(f"kubiya-tui worker: {o:.1f} tasks/s   bare temporalio Worker: {b:.1f} tasks/s   ratio {o / b:.2f} (goal >= 0.90)")
    print(f"logs: {work}  (at {datetime.now(timezone.utc):%H:%M:%S} UTC)")


if __name__ == "__main__":
    main()
