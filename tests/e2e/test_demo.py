"""`kubiya-tui demo` end to end: a subprocess with its own XDG dirs, real Temporal, workers and load."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import psutil
import pytest
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

V1 = "/api/v1"



def kubiya(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kubiya_tui", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_kubiya(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kubiya_tui", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def by_status(temporal_address: str, task_queue: str) -> dict[str, int]:
    """Every workflow of a task queue, open or closed, counted per status by Temporal."""
    from temporalio.api.workflowservice.v1 import CountWorkflowExecutionsRequest
    from temporalio.client import Client

    async def read() -> dict[str, int]:
        client = await Client.connect(temporal_address)
        answer = await client.workflow_service.count_workflow_executions(
            CountWorkflowExecutionsRequest(namespace="default", query=f'TaskQueue="{task_queue}" GROUP BY ExecutionStatus')
        )
        out: dict[str, int] = {}
        for group in answer.groups:
            out[group.group_values[0].data.decode().strip('"')] = group.count
        return out

    return asyncio.run(read())


class Demo:
    """The demo process, its output, and every process it started (seen while it ran)."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBIYA_", "TEMPORAL_"))}
        # A demo that hangs is asked (SIGABRT) for every thread's stack, for the failure to show.
        self.env["PYTHONFAULTHANDLER"] = "1"
        self.env.update(env or {})
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.out_path = tmp_path / "demo.out"
        self.err_path = tmp_path / "demo.err"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubiya_tui", "demo", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=open(self.out_path, "w"),
            stderr=open(self.err_path, "w"),
        )
        self.seen: dict[int, float] = {}

    def output(self) -> str:
        return self.out_path.read_text()

    def line(self, pattern: str) -> re.Match | None:
        self.watch()
        return re.search(pattern, self.output(), re.MULTILINE)

    def watch(self) -> None:
        """Remember every descendant process, to check that none outlives the demo."""
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                try:
                    self.seen.setdefault(child.pid, child.create_time())
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass

    def wait(self, timeout: float) -> int:
        """The demo's exit code; if it has not exited in time, fails with its threads' stacks and its processes."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self.watch()
        tree = []
        for pid in [self.proc.pid, *self.seen]:
            try:
                p = psutil.Process(pid)
                tree.append(f"{pid} {p.status()} {' '.join(p.cmdline())[:160]}")
            except psutil.Error:
                pass
        self.proc.send_signal(signal.SIGABRT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        pytest.fail(
            f"the demo did not exit within {timeout:.0f} s\nprocesses:\n" + "\n".join(tree)
            + f"\nstdout:\n{self.output()}\nstderr (stacks):\n{self.err_path.read_text()}"
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def leftovers(seen: dict[int, float], data_dir: Path) -> list[str]:
    found = []
    for pid, created in seen.items():
        try:
            p = psutil.Process(pid)
            if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{pid} {' '.join(p.cmdline())}")
        except psutil.NoSuchProcess:
            pass
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if str(data_dir) in cmdline and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(f"{p.info['pid']} {cmdline}")
    return found


def test_demo_headless_under_load_scales_down_without_loss_and_leaves_nothing(tmp_path):
    started = time.monotonic()
    # 12 s of load; the demo runs until the checks below are done and stops it (SIGTERM), with
    # --seconds as a backstop (its own timer is tested by the ephemeral demo's test).
    demo = Demo(tmp_path, "--no-ui", "--seconds", "240", "--load-seconds", "12")
    try:
        ready = wait_for(lambda: demo.line(r"^kubiya-tui demo ready in ([\d.]+)s"), 30, "the demo ready")
        ready_after = time.monotonic() - started
        out = demo.output()
        url = re.search(r"^export KUBIYA_CONTROL_PLANE_BASE_URL=(\S+)$", out, re.M).group(1)
        temporal = re.search(r"^export TEMPORAL_ADDRESS=(\S+)$", out, re.M).group(1)
        key_file = Path(re.search(r'^export KUBIYA_API_KEY="\$\(cat (\S+)\)"$', out, re.M).group(1))
        assert "export TEMPORAL_NAMESPACE=default" in out
        data_dir = Path(os.environ["XDG_DATA_HOME"]) / "kubiya-tui" / "demo"
        assert key_file == data_dir / "control-plane" / "admin.key"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        key = key_file.read_text().strip()
        assert key not in out, "the key itself is never printed"
        # The demo profile, for other terminals: the key file, not the key.
        config = (Path(os.environ["XDG_CONFIG_HOME"]) / "kubiya-tui" / "config.toml").read_text()
        assert "[profiles.demo]" in config and str(key_file) in config and key not in config
        assert f'api_url = "{url}"' in config and f'temporal_address = "{temporal}"' in config

        # Scale team-data to 3 (through the demo profile) and, meanwhile, start a second demo on
        # the same data dir: it is refused while this one runs.
        up = start_kubiya("--profile", "demo", "scale", "team-data", "3", "--yes", "-o", "json", env=demo.env)
        second = start_kubiya("demo", "--no-ui", "--seconds", "5", env=demo.env)
        out_up, err_up = up.communicate(timeout=60)
        assert up.returncode == 0, err_up
        assert json.loads(out_up)["desired_workers"] == 3
        _, err_second = second.communicate(timeout=60)
        assert second.returncode != 0
        assert f"a demo is already running (pid {demo.proc.pid})" in err_second

        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        queues = {q["name"]: q for q in api.get(f"{V1}/worker-queues").json()}
        assert set(queues) == {"default", "high-priority", "low-priority", "team-data"}
        assert all(q["description"] and q["heartbeat_interval"] == 10 for q in queues.values())
        team = queues["team-data"]

        def healthy(queue_id: str | None = None) -> list[dict]:
            demo.watch()
            path = f"{V1}/worker-queues/{queue_id}/workers" if queue_id else f"{V1}/registered-workers"
            return [w for w in api.get(path).json() if w["health"] == "healthy"]

        # From 3 workers back to 1: two workers drain, nothing is lost.
        three = wait_for(lambda: len(w := healthy(team["id"])) == 3 and w, 30, "three team-data workers")
        down = kubiya("--profile", "demo", "scale", "team-data", "1", "--yes", env=demo.env)
        assert down.returncode == 0, down.stderr
        assert "wanted workers 3 -> 1" in down.stdout

        def drained() -> list[dict]:
            demo.watch()
            ids = {w["worker_id"] for w in three}
            rows = [w for w in api.get(f"{V1}/worker-queues/{team['id']}/workers").json() if w["worker_id"] in ids]
            gone = [w for w in rows if w["status"] == "disconnected"]
            return gone if len(gone) == 2 else []

        gone = wait_for(drained, 30, "two team-data workers drained")
        assert all(w["exit_code"] == 0 for w in gone), gone
        assert len(healthy(team["id"])) == 1
        # The other queues have their two workers each.
        per_queue = {"default": 2, "high-priority": 2, "low-priority": 2, "team-data": 1}

        def registered() -> bool:
            names = {q["id"]: n for n, q in queues.items()}
            counts: dict[str, int] = {}
            for w in healthy():
                counts[names[w["queue_id"]]] = counts.get(names[w["queue_id"]], 0) + 1
            return counts == per_queue

        wait_for(registered, 20, "two workers on each of the other queues")

        # Once the load has stopped: every task it submitted is in Temporal, done or still queued.
        finished = wait_for(lambda: demo.line(r"^  load on team-data: submitted (\d+), refused (\d+)"), 25, "the load finished")
        submitted, refused = int(finished.group(1)), int(finished.group(2))
        assert submitted > 20 and refused == 0
        counts = by_status(temporal, team["task_queue_name"])
        assert set(counts) <= {"Completed", "Failed", "Running"}, counts
        assert sum(counts.values()) == submitted, (counts, submitted)
        # Temporal's visibility lags its closes by a moment: completions show up soon after.
        counts = wait_for(lambda: (c := by_status(temporal, team["task_queue_name"])).get("Completed") and c, 15, "completions")
        assert set(counts) <= {"Completed", "Failed", "Running"}, counts
        assert sum(counts.values()) == submitted, (counts, submitted)
        # Failures are the load's deliberate ones, not tasks cut short by a drain.
        failed = api.get(f"{V1}/worker-queues/{team['id']}/tasks", params={"status": "failed", "limit": 500}).json()
        for t in failed[:10]:
            assert "simulated failure" in api.get(f"{V1}/tasks/{t['id']}").json()["error"]
        # The other queues got work done too.
        for name in ("default", "high-priority", "low-priority"):
            wait_for(lambda: by_status(temporal, queues[name]["task_queue_name"]).get("Completed"), 10, f"{name} completions")
        api.close()

        demo.watch()
        demo.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 40
        while demo.proc.poll() is None and time.monotonic() < deadline:
            demo.watch()
            time.sleep(0.25)
        assert demo.wait(5) == 0, demo.err_path.read_text()
    finally:
        demo.kill()
    out = demo.output()
    assert "kubiya-tui demo: stopped; nothing left running" in out
    assert demo.err_path.read_text() == ""
    assert len(demo.seen) >= 11, demo.seen  # Temporal, control plane, 8 workers, and the one scaled up
    assert leftovers(demo.seen, data_dir) == []
    print(f"demo ready after {float(ready.group(1)):.1f}s (command to ready: {ready_after:.1f}s)")


def _is_temporal(pid: int) -> bool:
    try:
        return "start-dev" in psutil.Process(pid).cmdline()
    except psutil.Error:
        return False


def test_demo_interrupted_during_start_up_stops_what_it_started(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    demo = Demo(tmp_path, "--no-ui", "--ephemeral", env={"TMPDIR": str(scratch)})
    try:
        # Interrupt as soon as the Temporal server process exists, before anything listens.
        wait_for(lambda: demo.watch() or any(_is_temporal(p) for p in demo.seen), 20, "Temporal started", every=0.02)
        demo.proc.send_signal(signal.SIGINT)
        code = demo.wait(30)
    finally:
        demo.kill()
    assert code == 130, demo.err_path.read_text()
    assert "interrupted during start-up" in demo.output()
    assert list(scratch.iterdir()) == [], "the ephemeral data dir is removed"
    assert leftovers(demo.seen, scratch) == []


def healthy_workers(api: httpx.Client) -> list[dict]:
    return [w for w in api.get(f"{V1}/registered-workers").json() if w["health"] == "healthy"]


def test_demo_killed_leaves_nothing_and_a_rerun_takes_over_then_sigterm_stops_it(tmp_path):
    data_dir = tmp_path / "data"
    args = ("--no-ui", "--no-load", "--workers", "1", "--data-dir", str(data_dir))
    first = Demo(tmp_path / "first", *args)
    try:
        wait_for(lambda: first.line(r"^running until Ctrl\+C"), 30, "the first demo ready")
        url = re.search(r"^export KUBIYA_CONTROL_PLANE_BASE_URL=(\S+)$", first.output(), re.M).group(1)
        key = (data_dir / "control-plane" / "admin.key").read_text().strip()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as api:
            old = wait_for(lambda: first.watch() or (len(w := healthy_workers(api)) == 4 and w), 30, "four workers")
        first.watch()
        # SIGKILL: no handler runs; the kernel's parent-death signal takes everything along.
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        wait_for(lambda: leftovers(first.seen, data_dir) == [], 15, "every process of the killed demo gone")
    finally:
        first.kill()

    # The lock died with it: a second run on the same data dir starts, keeps the queues, and
    # marks the killed run's workers gone.
    second = Demo(tmp_path / "second", *args)
    try:
        wait_for(lambda: second.line(r"^running until Ctrl\+C"), 30, "the second demo ready")
        url = re.search(r"^export KUBIYA_CONTROL_PLANE_BASE_URL=(\S+)$", second.output(), re.M).group(1)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as api:
            assert len(api.get(f"{V1}/worker-queues").json()) == 4
            rows = {w["worker_id"]: w for w in api.get(f"{V1}/registered-workers").json()}
            for w in old:
                assert rows[w["worker_id"]]["health"] == "gone"
                assert rows[w["worker_id"]]["disconnect_reason"] == "left over from an earlier demo run"
            wait_for(lambda: second.watch() or len(healthy_workers(api)) == 4, 30, "four new workers")
        second.watch()
        second.proc.send_signal(signal.SIGTERM)
        assert second.wait(40) == 0, second.err_path.read_text()
    finally:
        second.kill()
    assert "kubiya-tui demo: stopped; nothing left running" in second.output()
    assert leftovers(second.seen, data_dir) == []


def test_an_ephemeral_demo_leaves_no_profile_pointing_at_its_removed_key_file(tmp_path):
    from kubiya_tui.config import load_config

    demo = Demo(tmp_path, "--no-ui", "--ephemeral", "--workers", "0", "--no-load", "--seconds", "6")
    try:
        wait_for(lambda: demo.line(r"^running until"), 60, "the demo ready")
        during = load_config().profiles.get("demo")
        assert during is not None and Path(during.api_key_file).exists(), "while it runs, other terminals reach it"
        code = demo.wait(60)
    finally:
        demo.kill()
    assert code == 0, demo.err_path.read_text()
    assert not Path(during.api_key_file).exists(), "the ephemeral data dir is gone"
    config = load_config()
    assert "demo" not in config.profiles and config.default_profile is None, "and so is the profile that named it"
