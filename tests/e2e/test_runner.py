"""The runner (local scaler), autoscaling, the load generator, and the scale/drain/autoscale/load commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from kubiya_tui.client.api import ApiClient
from kubiya_tui.stack.background import BackgroundLoop
from kubiya_tui.stack.runner import Runner, autoscale_decision, backoff_delay, worker_argv
from tests.helpers import make_queue, outcomes, submit, wait_for

V1 = "/api/v1"


# ---------------------------------------------------------------------------- helpers





def workers_of(api: httpx.Client, queue_id: str, health: str | None = "healthy") -> list[dict]:
    rows = api.get(f"{V1}/worker-queues/{queue_id}/workers").json()
    return [w for w in rows if health is None or w["health"] == health]


def cli(cp, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBIYA_API_KEY": cp.api_key, "KUBIYA_CONTROL_PLANE_BASE_URL": cp.url}
    return subprocess.run(
        [sys.executable, "-m", "kubiya_tui", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


class RunnerThread:
    """A Runner on a background event loop, as the demo runs it; stopped (workers drained) at the end."""

    def __init__(self, cp, data_dir: Path, **options: Any) -> None:
        import asyncio

        self.bg = BackgroundLoop()
        self.events: list[str] = []

        async def make() -> ApiClient:
            return ApiClient(cp.url, cp.api_key)

        self.api = self.bg.run(make())
        self.runner = Runner(self.api, cp.api_key, data_dir, on_event=self.events.append, **options)

        async def run() -> None:
            self.stop_event = asyncio.Event()
            await self.runner.run(self.stop_event)

        self.future = self.bg.submit(run())

    def running(self, queue_name: str) -> int:
        return self.runner.counts().get(queue_name, {}).get("running", 0)

    def stop(self) -> None:
        self.bg.call(self.stop_event.set)
        self.future.result(timeout=60)
        self.bg.run(self.api.aclose())
        self.bg.close()
        assert not any(p.alive() for p in self.runner.processes())


# ---------------------------------------------------------------------------- pure rules


def test_backoff_is_exponential_and_capped():
    assert [backoff_delay(n, 1.0, 60.0) for n in range(0, 9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_worker_command_runs_with_this_interpreter():
    parts = ["kubiya-tui", "worker", "start", "--queue-id", "q1", "--control-plane-url", "http://x"]
    assert worker_argv(parts, "/py") == ["/py", "-m", "kubiya_tui", "worker", "start", "--queue-id", "q1", "--control-plane-url", "http://x"]
    assert worker_argv(["kubiya", "worker", "start"], "/py") == ["kubiya", "worker", "start"]


def test_autoscale_rules():
    policy = {"min_workers": 1, "max_workers": 4, "target_backlog_age_seconds": 5, "cooldown_seconds": 10}

    def decide(current: int, **kw: Any):
        args = dict(queue_max=None, backlog=0, backlog_age=0.0, empty_for=None, slots_used=0, slots_per_worker=10, since_last_scale=999)
        return autoscale_decision(policy, current, **{**args, **kw})

    # Bounds first, cool-down or not.
    assert decide(0, since_last_scale=0).workers == 1
    assert decide(6, since_last_scale=0).workers == 4
    assert decide(3, queue_max=2).workers == 2
    # Up in proportion to how late the backlog is, at least +1, at most double, at most max.
    assert decide(1, backlog=50, backlog_age=6).workers == 2
    assert decide(2, backlog=50, backlog_age=12).workers == 4
    assert decide(3, backlog=50, backlog_age=100).workers == 4
    assert decide(4, backlog=50, backlog_age=100) is None
    assert "backlog age 6.0s over target 5s" in decide(1, backlog=50, backlog_age=6).reason
    # Young backlog: nothing; within the cool-down: nothing.
    assert decide(2, backlog=50, backlog_age=3) is None
    assert decide(1, backlog=50, backlog_age=60, since_last_scale=5) is None
    # Down once empty for a cool-down, to what the busy slots need.
    assert decide(4, empty_for=5) is None
    assert decide(4, empty_for=12).workers == 1
    assert decide(4, empty_for=12, slots_used=12).workers == 2
    assert decide(2, empty_for=12, slots_used=10) is None
    assert "queue empty for 12s" in decide(4, empty_for=12).reason


# ---------------------------------------------------------------------------- the runner with real workers

@pytest.mark.slow
def test_runner_restarts_a_crashed_worker_and_stays_under_max_workers(api, control_plane, start_worker, unique, tmp_path):
    queue = make_queue(api, unique("crash"), max_workers=2)
    # A worker started elsewhere holds one of the two places.
    start_worker(queue["id"], concurrency=2)
    outsider = wait_for(lambda: workers_of(api, queue["id"]), 30, "outside worker registered")[0]
    assert api.post(f"{V1}/worker-queues/{queue['id']}/scale", json={"workers": 2}).status_code == 202
    rt = RunnerThread(control_plane, tmp_path, interval=0.5, queues=[queue["name"]], backoff_base=0.5, worker_args=["--concurrency", "2"])
    try:
        mine = wait_for(
            lambda: [w for w in workers_of(api, queue["id"]) if w["worker_id"] != outsider["worker_id"]], 30, "runner's worker"
        )
        assert len(mine) == 1
        time.sleep(2)  # several passes: still one, the queue allows no more
        assert rt.running(queue["name"]) == 1
        assert any("allows 2" in e for e in rt.events), rt.events
        log_file = tmp_path / "workers" / queue["name"] / f"{mine[0]['worker_id']}.log"
        assert wait_for(log_file.exists, 10, "the worker's log named after it")
        # Kill it: the runner reports it gone and starts another after a short backoff.
        victim_pid = rt.runner.processes()[0].pid
        os.killpg(victim_pid, signal.SIGKILL)
        replacement = wait_for(
            lambda: [
                w
                for w in workers_of(api, queue["id"])
                if w["worker_id"] not in (outsider["worker_id"], mine[0]["worker_id"])
            ],
            40,
            "a replacement worker",
        )
        assert len(replacement) == 1
        assert any("died with exit code -9" in e and "restarting in" in e for e in rt.events), rt.events
        killed = api.get(f"{V1}/registered-workers/{mine[0]['worker_id']}").json()
        assert killed["health"] == "gone" and killed["status"] == "disconnected"
        assert rt.running(queue["name"]) == 1
    finally:
        rt.stop()
    # The runner drained its own worker at exit, and left the outside one alone.
    rows = {w["worker_id"]: w for w in workers_of(api, queue["id"], None)}
    assert rows[replacement[0]["worker_id"]]["status"] == "disconnected"
    assert rows[replacement[0]["worker_id"]].get("exit_code") == 0
    assert rows[outsider["worker_id"]]["health"] == "healthy"


@pytest.mark.slow
def test_autoscale_adds_workers_up_to_max_and_returns_to_min(api, control_plane, unique, tmp_path):
    queue = make_queue(api, unique("auto"), max_workers=5)
    policy = {"min_workers": 1, "max_workers": 3, "target_backlog_age_seconds": 1.5, "cooldown_seconds": 2}
    assert api.put(f"{V1}/worker-queues/{queue['id']}/autoscale", json=policy).status_code == 200
    rt = RunnerThread(control_plane, tmp_path, interval=0.5, queues=[queue["id"]], worker_args=["--concurrency", "2"])
    seen: list[int] = []

    def desired() -> int | None:
        value = api.get(f"{V1}/worker-queues/{queue['id']}").json()["desired_workers"]
        if value is not None and (not seen or seen[-1] != value):
            seen.append(value)
        return value

    try:
        # The policy's minimum first.
        wait_for(lambda: desired() == 1 and len(workers_of(api, queue["id"])) == 1, 30, "one worker at the minimum")
        ids = submit(api, queue["id"], 40, input={"seconds": 1.5})
        # A backlog that ages past its target: more workers, up to the maximum and no further.
        wait_for(lambda: desired() == 3 and rt.running(queue["name"]) == 3, 45, "three workers at the maximum")
        assert max(seen) == 3
        wait_for(
            lambda: outcomes(control_plane.temporal_address, queue["task_queue_name"]).get("Completed", 0) == len(ids),
            60,
            "every task completed",
        )
        # Empty queue: back to the minimum, through drains.
        wait_for(lambda: desired() == 1 and rt.running(queue["name"]) == 1, 45, "back to one worker", every=1)
        assert seen[0] == 1 and seen[-1] == 1 and max(seen) == 3
        assert outcomes(control_plane.temporal_address, queue["task_queue_name"]) == {"Completed": 40}
    finally:
        rt.stop()
    audit = [
        a
        for a in api.get(f"{V1}/audit", params={"action": "queue.scale", "limit": 1000}).json()
        if a["target_id"] == queue["id"]
    ]
    reasons = [a["details"].get("reason", "") for a in audit]
    assert all(r.startswith("autoscale ") for r in reasons), reasons
    assert any("autoscale up" in r and "backlog age" in r for r in reasons), reasons
    assert any("autoscale down" in r and "queue empty" in r for r in reasons), reasons
    assert any("below the policy's minimum" in r for r in reasons), reasons
    ups = [a["details"]["to"] for a in audit if "autoscale up" in a["details"]["reason"]]
    assert max(ups) == 3


# ---------------------------------------------------------------------------- commands


def test_scale_drain_autoscale_commands(api, control_plane, unique):
    queue = make_queue(api, unique("cmds"), max_workers=4)
    name = queue["name"]
    # No terminal, no --yes: refused, naming the target; nothing changed.
    refused = cli(control_plane, "scale", name, "3")
    assert refused.returncode == 1 and f"refusing to scale queue default/{name}" in refused.stderr
    assert api.get(f"{V1}/worker-queues/{queue['id']}").json()["desired_workers"] is None
    done = cli(control_plane, "scale", name, "3", "--yes", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["desired_workers"] == 3
    table = cli(control_plane, "scale", name, "2", "--yes")
    assert table.stdout.strip().startswith(f"queue default/{name}: wanted workers 3 -> 2")
    over = cli(control_plane, "scale", name, "5", "--yes")
    assert over.returncode == 1 and "at most 4" in over.stderr
    # Autoscale on and off.
    assert cli(control_plane, "autoscale", name, "--min", "1").returncode != 0
    on = cli(control_plane, "autoscale", name, "--min", "1", "--max", "3", "--target-backlog-age", "4", "--cooldown", "5", "--yes", "-o", "json")
    assert on.returncode == 0, on.stderr
    assert json.loads(on.stdout)["autoscale"] == {
        "min_workers": 1, "max_workers": 3, "target_backlog_age_seconds": 4.0, "cooldown_seconds": 5.0,
    }  # fmt: skip
    off = cli(control_plane, "autoscale", name, "--off", "--yes", "-o", "json")
    assert off.returncode == 0 and json.loads(off.stdout)["autoscale"] is None
    # Drain by short id, with confirmation named.
    wid = api.post(f"{V1}/worker-queues/{queue['id']}/start", json={}).json()["worker_id"]
    refused = cli(control_plane, "drain", wid[:8])
    assert refused.returncode == 1 and f"refusing to drain worker {wid}" in refused.stderr
    drained = cli(control_plane, "drain", wid[:8], "--yes", "-o", "json")
    assert drained.returncode == 0, drained.stderr
    assert json.loads(drained.stdout)["desired_state"] == "draining"
    # The reason a scale gives lands in its audit entry.
    api.post(f"{V1}/worker-queues/{queue['id']}/scale", json={"workers": 1, "reason": "because"})
    entries = [a for a in api.get(f"{V1}/audit", params={"action": "queue.scale"}).json() if a["target_id"] == queue["id"]]
    assert entries[0]["details"] == {"name": name, "from": 2, "to": 1, "reason": "because"}


def test_load_command_paces_submissions(api, control_plane, unique):
    queue = make_queue(api, unique("load"))
    result = cli(control_plane, "load", queue["name"], "--rate", "10", "--duration", "2", "--fail-ratio", "0.5", "-o", "json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert 17 <= stats["submitted"] <= 21 and stats["refused"] == 0, stats
    listed = api.get(f"{V1}/worker-queues/{queue['id']}/tasks", params={"limit": 100}).json()
    assert len(listed) == stats["submitted"]
    line = cli(control_plane, "load", queue["name"], "--rate", "4", "--duration", "1")
    assert line.returncode == 0, line.stderr
    [summary] = line.stdout.splitlines()
    assert summary.startswith(f"load on {queue['name']}: submitted ") and ", refused 0 in " in summary


@pytest.mark.slow
def test_runner_command_keeps_a_queue_scaled_and_drains_at_ctrl_c(api, control_plane, unique, tmp_path):
    queue = make_queue(api, unique("cmd"))
    env = {**os.environ, "KUBIYA_API_KEY": control_plane.api_key, "KUBIYA_CONTROL_PLANE_BASE_URL": control_plane.url}
    argv = [sys.executable, "-m", "kubiya_tui", "runner", "--queue", queue["name"], "--interval", "0.5", "--data-dir", str(tmp_path)]
    runner = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Never scaled: left alone.
        time.sleep(2)
        assert workers_of(api, queue["id"], None) == []
        # One runner per data dir.
        second = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        assert second.returncode == 1 and f"a runner is already running (pid {runner.pid})" in second.stderr
        assert cli(control_plane, "scale", queue["name"], "1", "--yes").returncode == 0
        [worker] = wait_for(lambda: workers_of(api, queue["id"]), 30, "the runner's worker")
        assert (tmp_path / "workers" / queue["name"]).is_dir()
        runner.send_signal(signal.SIGINT)
        _, err = runner.communicate(timeout=40)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, err
    assert "draining the workers this runner started" in err and "runner stopped" in err
    row = api.get(f"{V1}/registered-workers/{worker['worker_id']}").json()
    assert row["status"] == "disconnected" and row["exit_code"] == 0
