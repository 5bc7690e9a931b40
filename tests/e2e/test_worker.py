"""The worker runtime with real parts: Temporal dev server, control plane, worker processes."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from typing import Any, Callable

import httpx
import pytest

from tests.helpers import make_queue, outcomes, submit, wait_for

pytestmark = pytest.mark.slow


def live_workers(api: httpx.Client, queue_id: str) -> list[dict]:
    return [w for w in api.get(f"/api/v1/worker-queues/{queue_id}/workers").json() if w["health"] == "healthy"]


def task(api: httpx.Client, task_id: str) -> dict:
    answer = api.get(f"/api/v1/tasks/{task_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_200_tasks_over_two_workers_all_complete_and_counts_match(api, control_plane, start_worker, unique):
    queue = make_queue(api, unique("bulk"))
    workers = [start_worker(queue["id"]), start_worker(queue["id"])]
    wait_for(lambda: len(live_workers(api, queue["id"])) == 2, 30, "two workers registered")
    ids = submit(api, queue["id"], count=200, input={"seconds": 0})
    assert len(set(ids)) == 200
    done = wait_for(
        lambda: (o := outcomes(control_plane.temporal_address, queue["task_queue_name"])).get("Completed", 0) == 200 and o,
        180,  # a bound for a CPU-starved CI machine, not a speed goal (about 12 s on a quiet one)
        "200 completed tasks",
    )
    assert done == {"Completed": 200}
    for proc in workers:
        proc.proc.send_signal(signal.SIGTERM)
    for proc in workers:
        assert proc.proc.wait(30) == 0
    rows = api.get(f"/api/v1/worker-queues/{queue['id']}/workers").json()
    assert sorted(w["status"] for w in rows) == ["disconnected", "disconnected"]
    # The workers' own counts (sent in their last heartbeat) add up to what Temporal closed.
    assert sum(w["tasks_processed"] for w in rows) == 200
    assert sum(w["tasks_failed"] for w in rows) == 0
    assert all(w["tasks_processed"] > 0 for w in rows), "both workers took a share"


def test_sigterm_drains_running_tasks_without_loss(api, control_plane, start_worker, unique):
    queue = make_queue(api, unique("drain"))
    first = start_worker(queue["id"])
    wait_for(lambda: len(live_workers(api, queue["id"])) == 1, 30, "first worker registered")
    # Tasks of 8 s: one look reads the 20 tasks one by one, which on a loaded machine takes seconds;
    # with 2 s tasks a look could span a whole batch and never count ten running at once.
    ids = submit(api, queue["id"], count=20, input={"seconds": 8})
    # Let the first worker take its ten slots' worth, then bring a second one and drain the first.
    wait_for(lambda: sum(task(api, i)["status"] == "running" for i in ids) == 10, 60, "ten tasks running on the first worker")
    second = start_worker(queue["id"])
    wait_for(lambda: len(live_workers(api, queue["id"])) == 2, 30, "second worker registered")
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(30) == 0
    wait_for(
        lambda: outcomes(control_plane.temporal_address, queue["task_queue_name"]).get("Completed", 0) == 20,
        120,
        "all 20 tasks completed",
    )
    assert outcomes(control_plane.temporal_address, queue["task_queue_name"]) == {"Completed": 20}
    drained = next(w for w in api.get(f"/api/v1/worker-queues/{queue['id']}/workers").json() if w["status"] == "disconnected")
    assert drained["health"] == "gone"
    assert drained["exit_code"] == 0
    assert drained["tasks_processed"] >= 1, "the drained worker finished what it had started"
    assert {task(api, i)["status"] for i in ids} == {"completed"}
    second.stop(grace=30)


def test_drain_from_control_plane_reaches_the_worker(api, control_plane, start_worker, unique):
    queue = make_queue(api, unique("apidrain"))
    proc = start_worker(queue["id"])
    worker = wait_for(lambda: live_workers(api, queue["id"]), 30, "worker registered")[0]
    submitted = submit(api, queue["id"], count=10, input={"seconds": 2})
    assert api.post(f"/api/v1/workers/{worker['worker_id']}/drain").status_code == 202
    assert api.get(f"/api/v1/registered-workers/{worker['worker_id']}").json()["health"] == "draining"
    # Keep work arriving until the drain lands (at the next heartbeat, within 10 s).
    deadline = time.monotonic() + 25
    while proc.alive() and time.monotonic() < deadline:
        submitted += submit(api, queue["id"], count=2, input={"seconds": 2})
        time.sleep(1)
    assert proc.proc.wait(30) == 0
    row = api.get(f"/api/v1/registered-workers/{worker['worker_id']}").json()
    assert row["status"] == "disconnected" and row["health"] == "gone"
    # Whatever it did not take is still queued in Temporal, not lost.
    closed = outcomes(control_plane.temporal_address, queue["task_queue_name"])
    assert closed.get("Failed", 0) == 0
    open_tasks = api.get(f"/api/v1/worker-queues/{queue['id']}/tasks", params={"status": "open", "limit": 500}).json()
    assert closed.get("Completed", 0) + len(open_tasks) == len(submitted)
    # Tasks whose activity finished just before the drain wait for their closing workflow task
    # in the backlog (no other worker polls): done by the worker, still open in Temporal.
    assert closed.get("Completed", 0) <= row["tasks_processed"] <= closed.get("Completed", 0) + len(open_tasks)


def test_sigkill_mid_task_moves_the_task_and_the_worker_turns_stale(api, control_plane, start_worker, unique):
    queue = make_queue(api, unique("kill"))
    victim = start_worker(queue["id"])
    victim_row = wait_for(lambda: live_workers(api, queue["id"]), 30, "first worker registered")[0]
    # Two attempts: the lost worker spends one, the second runs the task elsewhere.
    [task_id] = submit(api, queue["id"], input={"seconds": 4}, max_attempts=2)
    [once] = submit(api, queue["id"], input={"seconds": 4}, max_attempts=1)
    wait_for(lambda: task(api, task_id)["status"] == "running" and task(api, once)["status"] == "running", 20, "tasks running on the first worker")
    assert task(api, task_id)["worker"] == victim_row["worker_id"]
    # Killed mid-task; the survivor starts after, while Temporal waits out the activity's
    # heartbeat timeout (started before the kill, it could take longer than the task on a loaded machine).
    os.killpg(victim.pid, signal.SIGKILL)
    victim.proc.wait(5)
    survivor = start_worker(queue["id"])
    done = wait_for(lambda: (t := task(api, task_id))["status"] == "completed" and t, 60, "task completed elsewhere")
    assert done["worker"] != victim_row["worker_id"]
    assert done["attempts"] == 2
    assert [(a["attempt"], a["outcome"]) for a in done["attempt_log"]] == [(1, "worker lost")]
    # max_attempts 1: the task that lost its worker is not run again; it fails and says why.
    failed = wait_for(lambda: (t := task(api, once))["status"] == "failed" and t, 60, "the one-attempt task failed")
    assert failed["attempts"] == 1
    assert "worker lost" in failed["error"] and "max_attempts is 1" in failed["error"]
    # No heartbeat for 2.5 intervals (25 s): the killed worker shows stale, not healthy.
    row = wait_for(
        lambda: (w := api.get(f"/api/v1/registered-workers/{victim_row['worker_id']}").json())["health"] == "stale" and w,
        40,
        "killed worker stale",
        every=1,
    )
    assert row["status"] != "disconnected"
    survivor.stop(grace=20)


def test_concurrency_limit_holds(api, control_plane, start_worker, unique, tmp_path):
    queue = make_queue(api, unique("conc"), settings={"allow_shell": True})
    # Each task notes when it starts and ends, on the worker: what runs at once is read from that.
    marks = tmp_path / "marks"
    command = f"echo S $(date +%s.%N) >> {marks}; sleep 1; echo E $(date +%s.%N) >> {marks}"
    submit(api, queue["id"], count=12, kind="shell", input={"command": command})
    start_worker(queue["id"], concurrency=3)
    wait_for(
        lambda: outcomes(control_plane.temporal_address, queue["task_queue_name"]).get("Completed", 0) == 12,
        60,
        "12 tasks completed",
    )
    events = sorted((float(at), 1 if mark == "S" else -1) for mark, at in (line.split() for line in marks.read_text().splitlines()))
    assert len(events) == 24
    running = peak = 0
    for _, delta in sorted(events, key=lambda x: (x[0], x[1])):
        running += delta
        peak = max(peak, running)
    assert peak <= 3
    assert peak == 3, "the worker used all its slots"


def test_high_priority_tasks_start_before_low_ones(api, control_plane, start_worker, unique):
    queue = make_queue(api, unique("prio"))
    start_worker(queue["id"], concurrency=1)
    # Occupy the worker's only slot, so that what comes next waits in the backlog.
    [blocker] = submit(api, queue["id"], input={"seconds": 3})
    wait_for(lambda: task(api, blocker)["status"] == "running", 30, "the blocking task running")
    low = submit(api, queue["id"], count=10, priority="low", input={"seconds": 0.05})
    high = submit(api, queue["id"], count=10, priority="high", input={"seconds": 0.05})
    wait_for(
        lambda: outcomes(control_plane.temporal_address, queue["task_queue_name"]).get("Completed", 0) == 21,
        60,
        "21 tasks completed",
    )
    started = {i: datetime.fromisoformat(task(api, i)["started_at"]) for i in low + high}
    order = ["high" if i in high else "low" for i in sorted(started, key=started.get)]
    assert order == ["high"] * 10 + ["low"] * 10


def test_misconfigured_worker_exits_with_one_clear_line(api, control_plane, start_worker, unique, tmp_path):
    import subprocess
    import sys

    queue = make_queue(api, unique("bad"), max_workers=1)

    def run(queue_id: str, key: str, url: str = control_plane.url) -> subprocess.CompletedProcess:
        env = {**os.environ, "KUBIYA_API_KEY": key}
        return subprocess.run(
            [sys.executable, "-m", "kubiya_tui", "worker", "start", "--queue-id", queue_id, "--control-plane-url", url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    cases = {
        "bad key": (run(queue["id"], "not-a-key"), "rejected the API key"),
        "unknown queue": (run("no-such-queue", control_plane.api_key), "not found"),
        "dead control plane": (run(queue["id"], control_plane.api_key, "http://127.0.0.1:9"), "127.0.0.1:9"),
    }
    api.patch(f"/api/v1/worker-queues/{queue['id']}", json={"status": "inactive"})
    cases["inactive queue"] = (run(queue["id"], control_plane.api_key), "inactive")
    api.patch(f"/api/v1/worker-queues/{queue['id']}", json={"status": "active"})
    start_worker(queue["id"])
    wait_for(lambda: live_workers(api, queue["id"]), 30, "first worker registered")
    cases["max_workers reached"] = (run(queue["id"], control_plane.api_key), "maximum of 1")
    for name, (result, needle) in cases.items():
        assert result.returncode != 0, name
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (name, result.stderr)
        assert needle in lines[0], (name, lines[0])
        assert "Traceback" not in result.stderr


def test_unreachable_temporal_is_named_after_bounded_retries(control_plane_factory, unique, tmp_path):
    import subprocess
    import sys

    from kubiya_tui.stack.processes import free_port

    dead = f"127.0.0.1:{free_port()}"
    cp = control_plane_factory(temporal_address=dead)
    with cp.client() as api:
        queue = make_queue(api, unique("notemporal"))
        env = {**os.environ, "KUBIYA_API_KEY": cp.api_key}
        result = subprocess.run(
            [sys.executable, "-m", "kubiya_tui", "worker", "start", "--queue-id", queue["id"],
             "--control-plane-url", cp.url, "--temporal-connect-timeout", "3"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode != 0
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("kubiya-tui: error: cannot reach Temporal at " + dead)
        assert "Traceback" not in result.stderr
        rows = api.get(f"/api/v1/worker-queues/{queue['id']}/workers").json()
        assert [w["status"] for w in rows] == ["disconnected"], "the worker said goodbye"
    cp.stop()


def test_sigterm_while_starting_up_stops_cleanly_and_says_goodbye(control_plane_factory, unique, tmp_path):
    """A supervisor's SIGTERM while the worker still waits for Temporal drains it: exit 0, disconnected."""
    import subprocess
    import sys

    from kubiya_tui.stack.processes import free_port

    dead = f"127.0.0.1:{free_port()}"
    cp = control_plane_factory(temporal_address=dead)
    with cp.client() as api:
        queue = make_queue(api, unique("startsig"))
        env = {**os.environ, "KUBIYA_API_KEY": cp.api_key}
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubiya_tui", "worker", "start", "--queue-id", queue["id"],
             "--control-plane-url", cp.url, "--temporal-connect-timeout", "120"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: api.get(f"/api/v1/worker-queues/{queue['id']}/workers").json(), 30, "the worker to register")
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        rows = api.get(f"/api/v1/worker-queues/{queue['id']}/workers").json()
        assert [w["status"] for w in rows] == ["disconnected"], "the worker said goodbye"
    cp.stop()


def test_submission_refuses_bad_tasks_with_422(api, unique):
    queue = make_queue(api, unique("refuse"))
    url = f"/api/v1/worker-queues/{queue['id']}/tasks"
    bad = [
        {"kind": "nope"},
        {"kind": "sleep", "input": {"seconds": -1}},
        {"kind": "sleep", "input": {"bogus": 1}},
        {"kind": "sleep", "priority": "urgent"},
        {"kind": "sleep", "priority": 9},
        {"kind": "sleep", "timeout_seconds": 0},
        {"kind": "sleep", "max_attempts": 0},
        {"kind": "http", "input": {"url": "not a url"}},
    ]
    for body in bad:
        answer = api.post(url, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert isinstance(answer.json()["detail"], list)
    # A valid shell task that this queue, as it is set up, does not take: its state refuses it.
    refused = api.post(url, json={"kind": "shell", "input": {"command": "true"}})
    assert refused.status_code == 400 and "allow_shell" in refused.json()["detail"], refused.text
    listed = api.get(url).json()
    assert listed == []


def test_shell_task_runs_only_where_allowed(api, control_plane, start_worker, unique):
    queue = make_queue(api, unique("shell"), settings={"allow_shell": True})
    start_worker(queue["id"])
    [ok] = submit(api, queue["id"], kind="shell", input={"command": "echo hello; echo oops >&2"})
    [bad] = submit(api, queue["id"], kind="shell", input={"command": "echo nope >&2; exit 3"})
    done = wait_for(lambda: (t := task(api, ok))["status"] == "completed" and t, 40, "shell task completed")
    assert done["result"]["exit_code"] == 0
    assert done["result"]["stdout_tail"] == "hello\n"
    assert done["result"]["stderr_tail"] == "oops\n"
    failed = wait_for(lambda: (t := task(api, bad))["status"] == "failed" and t, 40, "shell task failed")
    assert "exited with 3" in failed["error"] and "nope" in failed["error"]


def test_timeout_and_retries_are_honoured(api, control_plane, start_worker, unique):
    queue = make_queue(api, unique("retry"))
    start_worker(queue["id"])
    [slow] = submit(api, queue["id"], input={"seconds": 5}, timeout_seconds=1)
    [flaky] = submit(api, queue["id"], input={"seconds": 0, "fail_ratio": 1}, max_attempts=3)
    timed_out = wait_for(lambda: (t := task(api, slow))["status"] == "failed" and t, 40, "slow task failed")
    assert "timed out after 1 s" in timed_out["error"]
    failed = wait_for(lambda: (t := task(api, flaky))["status"] == "failed" and t, 60, "flaky task failed")
    assert failed["attempts"] == 3
    assert "simulated failure" in failed["error"]


def test_second_interrupt_exits_at_once_and_the_task_runs_elsewhere(api, control_plane, start_worker, unique):
    queue = make_queue(api, unique("sigint"))
    first = start_worker(queue["id"])
    first_row = wait_for(lambda: live_workers(api, queue["id"]), 30, "worker registered")[0]
    [task_id] = submit(api, queue["id"], input={"seconds": 20}, max_attempts=2)
    wait_for(lambda: task(api, task_id)["status"] == "running", 20, "task running")
    first.proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    first.proc.send_signal(signal.SIGINT)
    assert first.proc.wait(5) == 130, "the second Ctrl+C does not wait for the 20 s task"
    start_worker(queue["id"])
    done = wait_for(lambda: (t := task(api, task_id))["status"] == "completed" and t, 60, "task completed elsewhere")
    assert done["worker"] != first_row["worker_id"]


async def test_a_task_handed_out_that_never_reached_a_worker_runs_once_even_with_one_attempt(
    api, control_plane, temporal_server, start_worker, unique
):
    """Temporal hands an attempt to a poll whose answer never reaches a worker (a starved
    machine): the attempt times out without a start recorded, so it is handed out again and
    runs, rather than failing as "worker lost" (it never ran, so max_attempts 1 still holds)."""
    import asyncio

    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import PollActivityTaskQueueRequest
    from temporalio.client import Client
    from temporalio.worker import Worker

    from kubiya_tui.worker.workflow import KubiyaTaskWorkflow

    queue = make_queue(api, unique("lost-poll"))
    tq = queue["task_queue_name"]
    client = await Client.connect(temporal_server.address, namespace=temporal_server.namespace)
    # Workflow tasks only, so that the attempt's activity task waits for the poll below.
    async with Worker(client, task_queue=tq, workflows=[KubiyaTaskWorkflow]):
        [task_id] = await asyncio.to_thread(submit, api, queue["id"], input={"seconds": 0}, max_attempts=1)
        # A poll that takes the attempt and drops it: what a poll answer lost on its way looks like.
        lost = await client.workflow_service.poll_activity_task_queue(
            PollActivityTaskQueueRequest(
                namespace=temporal_server.namespace, task_queue=TaskQueue(name=tq), identity="poll-answer-lost"
            )
        )
        assert lost.activity_id == "attempt-1" and lost.workflow_execution.workflow_id
    worker = start_worker(queue["id"])
    done = await asyncio.to_thread(
        wait_for, lambda: (t := task(api, task_id))["status"] in ("completed", "failed") and t, 90, "the task ended"
    )
    assert done["status"] == "completed", done.get("error")
    assert not any(a["outcome"] == "worker lost" for a in done.get("attempt_log") or []), done
    row = wait_for(lambda: live_workers(api, queue["id"]), 10, "the worker")[0]
    assert done["worker"] == row["worker_id"], "it ran on the real worker, once"
    worker.stop(grace=20)
