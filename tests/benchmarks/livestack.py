"""A local stack for the benchmarks: Temporal's dev server and `kubiya-tui serve`, queues made through the API.

``python -m tests.benchmarks.livestack up DIR N...`` starts both (free ports on 127.0.0.1),
creates an environment ``live-N`` of N queues for each N (so ``--env live-20`` watches 20
queues) with a few waiting and closed executions per queue, writes ``DIR/stack.json``
(url, key, Temporal address, pids) and exits, leaving the two processes running;
``python -m tests.benchmarks.livestack down DIR`` stops them by their pids. The benchmarks
use :class:`LiveStack` as a context manager instead (started and stopped in one run).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

HEARTBEAT_INTERVAL = 60


async def make_queues(url: str, key: str, env_name: str, n: int, *, waiting: int = 0, closed: int = 0,
                      temporal_address: str | None = None) -> list[dict]:  # fmt: skip
    """An environment of n queues; ``waiting`` tasks per queue (submitted, never run) and ``closed`` executions that time out."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        env = (await http.post("/api/v1/environments", json={"name": env_name})).raise_for_status().json()

        async def make(i: int) -> dict:
            async with sem:
                r = await http.post(
                    f"/api/v1/environments/{env['id']}/worker-queues",
                    json={"name": f"{env_name}-q{i:04d}", "heartbeat_interval": HEARTBEAT_INTERVAL},
                )
                return r.raise_for_status().json()

        queues = list(await asyncio.gather(*(make(i) for i in range(n))))
        if waiting:

            async def submit(q: dict) -> None:
                async with sem:
                    r = await http.post(f"/api/v1/worker-queues/{q['id']}/tasks",
                                        json={"kind": "sleep", "count": waiting, "input": {"seconds": 0}})  # fmt: skip
                    r.raise_for_status()

            await asyncio.gather(*(submit(q) for q in queues))
    if closed and temporal_address:
        from temporalio.client import Client

        client = await Client.connect(temporal_address)

        async def timing_out(q: dict, k: int) -> None:
            async with sem:
                await client.start_workflow("BenchNobodyRunsThis", id=f"bench-timeout-{q['id']}-{k}",
                                            task_queue=q["task_queue_name"], execution_timeout=timedelta(seconds=1))  # fmt: skip

        await asyncio.gather(*(timing_out(q, k) for q in queues for k in range(closed)))
    return queues


class LiveStack:
    """Temporal and a control plane on 127.0.0.1 in ``work``; stopped (by pid) on exit."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.started: list[Any] = []
        self.url = self.key = self.address = ""

    def __enter__(self) -> "LiveStack":
        from kubiya_tui.stack.processes import start_control_plane, start_temporal

        _, self.address = start_temporal(self.work / "temporal", record=self.started.append)
        self.key = "kty_bench_" + secrets.token_urlsafe(16)
        cp, self.url = start_control_plane(self.work / "control-plane", self.address, api_key=self.key)
        self.started.append(cp)
        return self

    def environment(self, name: str, n: int, *, waiting: int = 2, closed: int = 2) -> list[dict]:
        return asyncio.run(make_queues(self.url, self.key, name, n, waiting=waiting, closed=closed,
                                       temporal_address=self.address))  # fmt: skip

    def settle(self, pids: list[int] | None = None, below: float = 10.0, longest: float = 60.0) -> float:
        """Wait until the stack's processes use under ``below`` % of a core over a second (the closed
        executions time out and are recorded just after setup); answers the seconds waited."""
        return settle(pids or [p.pid for p in self.started], below, longest)

    def env(self) -> dict[str, str]:
        """Environment variables that point `kubiya-tui` at this stack (and at no profile of the user's)."""
        return {
            **os.environ,
            "KUBIYA_API_KEY": self.key,
            "KUBIYA_CONTROL_PLANE_BASE_URL": self.url,
            "TEMPORAL_ADDRESS": self.address,
            "XDG_CONFIG_HOME": str(self.work / "config"),
        }

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.started):
            try:
                proc.stop()
            except Exception as error:  # noqa: BLE001 - keep stopping the others
                print(f"could not stop {proc.name} (pid {proc.pid}): {error}", file=sys.stderr)


def settle(pids: list[int], below: float = 10.0, longest: float = 60.0) -> float:
    """Seconds waited until these processes together use under ``below`` % of a core over one second."""
    import psutil

    began = time.perf_counter()
    procs = [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)]
    while time.perf_counter() - began < longest:
        before = sum(sum(p.cpu_times()[:2]) for p in procs)
        time.sleep(1.0)
        if 100.0 * (sum(sum(p.cpu_times()[:2]) for p in procs) - before) < below:
            break
    return time.perf_counter() - began


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "up":
        work = Path(argv[1]).resolve()
        if (work / "stack.json").exists() or (work / "control-plane").exists():
            # Its database holds another stack's key: the new one would be refused (401) on every call.
            print(f"livestack: {work} already holds a stack; run `down {argv[1]}` and remove it, or pick another DIR", file=sys.stderr)
            return 2
        stack = LiveStack(work)
        try:
            stack.__enter__()
            for n in map(int, argv[2:]):
                t0 = time.time()
                stack.environment(f"live-{n}", n)
                print(f"live-{n}: {n} queues in {time.time() - t0:.1f} s", flush=True)
            (work / "stack.json").write_text(json.dumps({
                "url": stack.url, "key": stack.key, "address": stack.address, "pids": [p.pid for p in stack.started]}))  # fmt: skip
        except BaseException:
            stack.__exit__()  # a stack that could not be set up is not left running
            raise
        print(json.dumps({"url": stack.url, "address": stack.address}))
        return 0
    if len(argv) == 2 and argv[0] == "down":
        config = json.loads((Path(argv[1]) / "stack.json").read_text())
        for pid in reversed(config["pids"]):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return 0
    print("usage: python -m tests.benchmarks.livestack up DIR N... | down DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
