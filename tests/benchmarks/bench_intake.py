"""Task intake: submissions through the control plane against raw temporalio start_workflow, in one run.

Run from the repository root:

    python -m tests.benchmarks.bench_intake            # 600 tasks per way
    python -m tests.benchmarks.bench_intake --quick    # 150

What it does:

* starts Temporal's dev server and `kubiya-tui serve` on 127.0.0.1 (free ports, a temporary
  data dir) and makes one queue; no worker runs, so every task stays queued;
* **raw**: ``Client.start_workflow`` of the task workflow on the queue's task queue, as the
  control plane starts it (same workflow name, memo, priority, id policies), 32 in flight
  (the control plane's START_CONCURRENCY): the anchor;
* **single**: ``POST /api/v1/worker-queues/{id}/tasks`` with ``count`` 1, 32 requests in
  flight over kept-alive connections;
* **single, by wrk**: the same submissions made by ``wrk`` (a load generator in C, when it is
  installed: ``apt-get install wrk``) for 4 s: httpx costs this process ~2.3 ms of CPU per
  request, which a 2-core machine takes from the servers; wrk ~0.1 ms, like the raw way's client;
* **batched**: the same with ``count`` 50, 4 requests in flight;
* **raw, in memory**: the raw way against a second dev server without its SQLite file
  (``start-dev`` without ``--db-filename``): whether the store is the limit;
* each way is run ``--rounds`` times, alternating, so a busy machine hurts them alike; prints
  tasks/s (median of the rounds), the ratio to raw, and the CPU milliseconds Temporal, the
  control plane and this process spent per task (psutil), which says which of them is the
  limit; with the core count and the load average. Goal: >= 0.8x of raw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

GOAL_RATIO = 0.8
RAW_CONCURRENCY = 32
SINGLE_CONCURRENCY = 32
BATCH = 50
BATCH_CONCURRENCY = 4


async def _pool(n: int, size: int, one: Callable[[int], Awaitable[None]]) -> None:
    feed = iter(range(n))

    async def runner() -> None:
        for k in feed:
            await one(k)

    await asyncio.gather(*(runner() for _ in range(size)))


async def run_raw(address: str, queue: dict, n: int) -> None:
    from temporalio.client import Client
    from temporalio.common import Priority, WorkflowIDConflictPolicy, WorkflowIDReusePolicy

    from kubiya_tui.tasks import WORKFLOW_NAME

    client = await Client.connect(address)
    memo = {"kind": "sleep", "queue_id": queue["id"], "priority": 3, "org": "bench", "control_plane": "raw",
            "max_attempts": 3, "timeout_seconds": 600}  # fmt: skip

    async def one(k: int) -> None:
        task_id = f"task-raw-{uuid.uuid4()}"
        await client.start_workflow(WORKFLOW_NAME, {"kind": "sleep", "input": {"seconds": 0}, "task_id": task_id},
                                    id=task_id, task_queue=queue["task_queue_name"], priority=Priority(priority_key=3),
                                    memo=memo, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)  # fmt: skip

    await _pool(n, RAW_CONCURRENCY, one)


async def run_api(url: str, key: str, queue: dict, n: int, count: int, concurrency: int) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as http:

        async def one(k: int) -> None:
            r = await http.post(f"/api/v1/worker-queues/{queue['id']}/tasks",
                                json={"kind": "sleep", "count": count, "input": {"seconds": 0}})  # fmt: skip
            if r.status_code != 201:
                raise RuntimeError(f"submission answered {r.status_code}: {r.text[:300]}")

        await _pool(n // count, concurrency, one)


WRK_SECONDS = 4
"""How long wrk submits for, a round: about as many tasks as the other ways make at this machine's rates."""


def run_wrk(url: str, key: str, queue: dict, count: int, concurrency: int, work: Path) -> int:
    """Submissions by wrk (a load generator in C: its CPU per request is a fraction of httpx's), ``concurrency``
    connections for WRK_SECONDS; answers the tasks submitted. Every answer must be a 201."""
    import re
    import subprocess

    script = work / "submit.lua"
    body = json.dumps({"kind": "sleep", "count": count, "input": {"seconds": 0}})
    # The key goes in a file only this user reads (never on a command line, never printed).
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"wrk.method = 'POST'\nwrk.body = {json.dumps(body)}\n"
                f"wrk.headers['Content-Type'] = 'application/json'\nwrk.headers['Authorization'] = {json.dumps(f'Bearer {key}')}\n")  # fmt: skip
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{WRK_SECONDS}s", "--timeout", "30s", "-s", str(script),
         f"{url}/api/v1/worker-queues/{queue['id']}/tasks"],
        capture_output=True, text=True, timeout=WRK_SECONDS + 60, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out or re.search(r"Socket errors: .*[1-9]", out):
        raise RuntimeError(f"wrk saw failed submissions: {out[-400:]}")
    done = re.search(r"(\d+) requests in", out)
    if done is None:
        raise RuntimeError(f"wrk printed no count: {out[-400:]}")
    return int(done.group(1)) * count


def measure(work: Callable[[], Awaitable[None]] | Callable[[], int], tasks: int, procs: dict[str, Any]) -> dict[str, float]:
    """tasks/s of ``work`` and the CPU milliseconds per task of each process in ``procs`` and of the submitter.

    ``work`` answers a coroutine (``tasks`` tasks, submitted by this process), or runs a child process and
    answers the tasks it submitted (the child's CPU is the submitter's then).
    """
    import resource

    before = {name: (p.cpu_times().user + p.cpu_times().system) for name, p in procs.items()}
    me0 = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    started = work()
    if asyncio.iscoroutine(started):
        asyncio.run(started)
        submitter = time.process_time() - me0
    else:
        tasks = started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        submitter = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    wall = time.perf_counter() - t0
    out = {"rate": tasks / wall, "wall": wall, "cpu_this": submitter * 1000 / tasks}  # ms per task
    for name, p in procs.items():
        times = p.cpu_times()
        out[f"cpu_{name}"] = (times.user + times.system - before[name]) * 1000 / tasks
    return out


def start_memory_temporal(work: Path) -> tuple[Any, str]:
    """A dev server with its store in memory (no --db-filename), otherwise as start_temporal starts it."""
    from kubiya_tui.stack.processes import LOOPBACK, free_port, spawn, temporal_binary, wait_for_port

    port = free_port()
    argv = [str(temporal_binary()), "server", "start-dev", "--headless", "--ip", LOOPBACK, "--port", str(port),
            "--ui-port", str(free_port()), "--log-level", "warn",
            "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
            "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1"]  # fmt: skip
    proc = spawn("temporal (in memory)", argv, work / "temporal-memory.log")
    try:
        wait_for_port(LOOPBACK, port, 30.0, proc.proc)
    except BaseException:
        proc.stop()
        raise
    return proc, f"{LOOPBACK}:{port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_intake", description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=600, help="tasks per way and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="150 tasks, 2 rounds")
    args = parser.parse_args(argv)
    tasks, rounds = (150, 2) if args.quick else (args.tasks, args.rounds)
    tasks -= tasks % BATCH

    import psutil

    from tests.benchmarks.livestack import LiveStack

    work = Path(tempfile.mkdtemp(prefix="kubiya-bench-intake-"))
    results: dict[str, list[dict[str, float]]] = {"raw": [], "single": [], "batched": [], "memory": [], "wrk": []}
    wrk = shutil.which("wrk")
    memory: Any = None
    print(f"intake benchmark: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, {tasks} tasks per way, {rounds} rounds",
          flush=True)  # fmt: skip
    try:
        with LiveStack(work) as stack:
            [queue] = stack.environment("intake", 1, waiting=0, closed=0)
            procs = {"temporal": psutil.Process(stack.started[0].pid), "control_plane": psutil.Process(stack.started[1].pid)}
            memory, memory_address = start_memory_temporal(work)
            memory_procs = {"temporal": psutil.Process(memory.pid), "control_plane": procs["control_plane"]}
            asyncio.run(run_raw(memory_address, queue, 32))
            # Warm-up: connections, caches, the first workflow of the task queue.
            asyncio.run(run_api(stack.url, stack.key, queue, 32, 1, 8))
            asyncio.run(run_raw(stack.address, queue, 32))
            for k in range(rounds):
                ways: list[tuple[str, Any]] = [
                    ("raw", lambda: run_raw(stack.address, queue, tasks)),
                    ("memory", lambda: run_raw(memory_address, queue, tasks)),
                    ("single", lambda: run_api(stack.url, stack.key, queue, tasks, 1, SINGLE_CONCURRENCY)),
                    ("batched", lambda: run_api(stack.url, stack.key, queue, tasks, BATCH, BATCH_CONCURRENCY))]  # fmt: skip
                if wrk:
                    ways.append(("wrk", lambda: run_wrk(stack.url, stack.key, queue, 1, SINGLE_CONCURRENCY, work)))
                for name, way in ways if k % 2 == 0 else reversed(ways):
                    r = measure(way, tasks, memory_procs if name == "memory" else procs)
                    results[name].append(r)
                    print(f"  round {k + 1} {name:<8} {r['rate']:7.0f} tasks/s  (Temporal {r['cpu_temporal']:.1f} ms, "
                          f"control plane {r['cpu_control_plane']:.1f} ms, this process {r['cpu_this']:.1f} ms CPU per task)",
                          flush=True)  # fmt: skip
    except KeyboardInterrupt:
        print("\ninterrupted; the processes this benchmark started are stopped", file=sys.stderr)
        return 130
    finally:
        if memory is not None:
            memory.stop()
        shutil.rmtree(work, ignore_errors=True)

    raw = statistics.median(r["rate"] for r in results["raw"])
    print()
    print(f"{'way':<44} {'tasks/s':>8} {'x raw':>6}  {'CPU ms per task: Temporal / control plane / submitter':<40}")
    for name, label in (("raw", "raw temporalio start_workflow, 32 in flight"),
                        ("memory", "  the same, dev server store in memory"),
                        ("single", "control plane, count=1, 32 requests in flight"),
                        ("wrk", "  the same, submitted by wrk (C) not httpx"),
                        ("batched", f"control plane, count={BATCH}, {BATCH_CONCURRENCY} in flight")):  # fmt: skip
        rs = results[name]
        if not rs:
            print(f"{label:<44} {'-':>8}  wrk is not installed (apt-get install wrk)")
            continue
        rate = statistics.median(r["rate"] for r in rs)
        cpu = " / ".join(f"{statistics.median(r[k] for r in rs):.1f}" for k in ("cpu_temporal", "cpu_control_plane", "cpu_this"))
        if name == "memory":
            cpu = f"{statistics.median(r['cpu_temporal'] for r in rs):.1f} / - / {statistics.median(r['cpu_this'] for r in rs):.1f}"
        verdict = "" if name in ("raw", "memory") else ("  met" if rate >= GOAL_RATIO * raw else "  MISSED")
        print(f"{label:<44} {rate:>8.0f} {rate / raw:>6.2f}  {cpu:<40}{verdict}")
    print(f"goal: >= {GOAL_RATIO}x raw. cores: {os.cpu_count()}, load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
