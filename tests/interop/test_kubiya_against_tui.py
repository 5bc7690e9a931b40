"""Kubiya's own worker and SDK against ``kubiya-tui serve``.

The tests of the section "fixed by issue 11" were strict xfails of the breakages that issue
lists; they pass now. The others pin what Kubiya's worker does (docs/api.md relies on them).
"""

from __future__ import annotations

import json
import secrets
import signal
import socket
import time
from datetime import datetime

import pytest

from tests.helpers import make_queue, wait_for
from tests.interop.support import temporal_pollers
from tests.e2e.test_cli import cli, ok

pytestmark = pytest.mark.timeout(300)

# The interval of the queues here; Kubiya's worker keeps its own (HEARTBEAT_INTERVAL, default 60).
QUEUE_INTERVAL = 10
SLOW_INTERVAL = 30  # longer than 2.5 x QUEUE_INTERVAL: the 2.5 x rule calls such a worker stale between beats


def registered_row(api, queue_id: str, pid: int) -> dict | None:
    rows = api.get(f"/api/v1/worker-queues/{queue_id}/workers").json()
    return next((r for r in rows if (r.get("system_info") or {}).get("pid") == pid), None)


def start_registered(api, start_kubiya_worker, control_plane, unique, interval: int) -> tuple[dict, object]:
    queue = make_queue(api, unique("kw"), heartbeat_interval=QUEUE_INTERVAL)
    worker = start_kubiya_worker(control_plane.url, control_plane.api_key, queue["id"], heartbeat_interval=interval)
    return queue, worker


def wait_registered(api, queue: dict, worker) -> dict:
    row = wait_for(lambda: registered_row(api, queue["id"], worker.pid), 90, f"Kubiya's worker to register (log: {worker.log_path})")
    return row


@pytest.fixture(scope="module")
def workers(start_kubiya_worker, control_plane) -> dict:
    """Two Kubiya workers on two queues (interval 10 s) of kubiya-tui serve, started together:
    ``steady`` beats every 10 s, ``slow`` every 30 s."""
    def unique(prefix: str) -> str:
        return f"{prefix}-{secrets.token_hex(4)}"

    api = control_plane.client()
    steady = start_registered(api, start_kubiya_worker, control_plane, unique, QUEUE_INTERVAL)
    slow = start_registered(api, start_kubiya_worker, control_plane, unique, SLOW_INTERVAL)
    out = {}
    for name, (queue, worker) in (("steady", steady), ("slow", slow)):
        row = wait_registered(api, queue, worker)
        out[name] = {"queue": queue, "worker": worker, "worker_id": row["worker_id"]}
    api.close()
    return out


def beats_of(api, queue_id: str, pid: int, until: float) -> list[datetime]:
    """The distinct last_heartbeat values seen by polling the API until the monotonic deadline."""
    seen: list[datetime] = []
    while time.monotonic() < until:
        row = registered_row(api, queue_id, pid)
        if row and row["last_heartbeat"]:
            at = datetime.fromisoformat(row["last_heartbeat"])
            if not seen or at != seen[-1]:
                seen.append(at)
        time.sleep(1)
    return seen


# ---------------------------------------------------------------------------- what works today, and what Kubiya's worker does


def test_kubiya_worker_registers_and_heartbeats(api, workers) -> None:
    w = workers["steady"]
    row = registered_row(api, w["queue"]["id"], w["worker"].pid)
    assert row["health"] == "healthy" and row["status"] == "active" and row["queue_id"] == w["queue"]["id"]
    assert row["system_info"]["hostname"] == socket.gethostname()
    assert row["system_info"]["sdk_version"] == "0.6.0"  # the peer's version.txt, not 1.0.2
    first = row["last_heartbeat"]
    later = wait_for(
        lambda: (r := registered_row(api, w["queue"]["id"], w["worker"].pid)) and r["last_heartbeat"] != first and r,
        QUEUE_INTERVAL * 2 + 5,
        "a later heartbeat",
    )
    assert later["health"] == "healthy"


def test_kubiya_worker_polls_temporal_as_pid_at_hostname(workers, temporal_server) -> None:
    w = workers["steady"]
    pollers = wait_for(
        lambda: temporal_pollers(temporal_server.address, w["queue"]["task_queue_name"]), 30, "a poller on the task queue"
    )
    assert pollers == {w["worker"].temporal_identity}  # not the worker id the control plane gave it
    assert w["worker_id"] not in pollers


def test_kubiya_worker_keeps_its_own_heartbeat_interval(api, workers) -> None:
    """The queue says 10 s (and /start returns 10); the worker beats at its own HEARTBEAT_INTERVAL."""
    w = workers["slow"]
    row = registered_row(api, w["queue"]["id"], w["worker"].pid)
    registered = datetime.fromisoformat(row["registered_at"])
    beats = beats_of(api, w["queue"]["id"], w["worker"].pid, time.monotonic() + SLOW_INTERVAL + 8)
    gaps = [(b - a).total_seconds() for a, b in zip([registered, *beats], beats)]
    later_gaps = [g for g in gaps if g > 2]  # the first beat follows registration within a second or two
    assert later_gaps and all(g >= SLOW_INTERVAL - 3 for g in later_gaps), gaps


def test_sdk_health_on_kubiya_tui_serve(kubiya_sdk, control_plane) -> None:
    answer = kubiya_sdk(control_plane.url, control_plane.api_key, "health", "check")
    assert answer.ok and answer.result["status"] == "ok"


# ---------------------------------------------------------------------------- fixed by issue 11


def test_kubiya_worker_is_one_row(control_plane, workers, temporal_server, temporal_env) -> None:
    w = workers["steady"]
    wait_for(lambda: w["worker"].temporal_identity in temporal_pollers(temporal_server.address, w["queue"]["task_queue_name"]), 30, "its poller")
    snapshot = json.loads(ok(cli(control_plane, "top", "-o", "json", "--queue", w["queue"]["id"])))
    (queue,) = snapshot["queues"]
    assert (queue["workers"]["healthy"], queue["workers"]["unregistered"], queue["workers"]["not_polling"]) == (1, 0, 0)
    (row,) = [r for r in snapshot["workers"] if r["queue_id"] == w["queue"]["id"]]
    assert row["worker_id"] == w["worker_id"] and row["health"] == "healthy"
    assert not row["polling_not_registered"] and not row["registered_not_polling"]


def test_health_does_not_flap_for_a_worker_with_its_own_interval(control_plane, api, workers) -> None:
    """Looked at between 2.5 x the queue's interval and the worker's next beat, where the 2.5 x rule says stale."""
    w = workers["slow"]
    row = registered_row(api, w["queue"]["id"], w["worker"].pid)
    registered = datetime.fromisoformat(row["registered_at"])

    def last_beat() -> datetime:
        return datetime.fromisoformat(registered_row(api, w["queue"]["id"], w["worker"].pid)["last_heartbeat"])

    def second_or_later_beat() -> datetime | None:
        beat = last_beat()
        return beat if (beat - registered).total_seconds() > SLOW_INTERVAL / 2 else None

    # From its second beat on, so the interval it keeps has been seen once.
    beat = wait_for(second_or_later_beat, SLOW_INTERVAL + 10, "its second beat")
    time.sleep(max(0.0, beat.timestamp() + 2.5 * QUEUE_INTERVAL + 1 - time.time()))
    seen = []
    # Only what the CLI showed of this very beat, older than 2.5 x the queue's interval, counts.
    while time.time() < beat.timestamp() + SLOW_INTERVAL + 10 and len(seen) < 3:
        (listed,) = json.loads(ok(cli(control_plane, "workers", "list", "--queue", w["queue"]["id"], "-o", "json")))
        if datetime.fromisoformat(listed["last_heartbeat"]) != beat:
            break  # its next beat came: the window is over
        if listed["heartbeat_age_seconds"] > 2.5 * QUEUE_INTERVAL:
            seen.append(listed["health"])
    assert seen, "the CLI never answered between 2.5 x the queue's interval and the worker's next beat"
    assert set(seen) == {"healthy"}, seen


def test_sdk_workers_get_runner(kubiya_sdk, control_plane) -> None:
    answer = kubiya_sdk(control_plane.url, control_plane.api_key, "workers", "get", "default")
    assert answer.ok, answer.message
    info = answer.result
    assert info["runner_name"] == "default" and info["task_queue"].endswith(".default")
    assert isinstance(info["workers"], list) and info["worker_count"] == len(info["workers"])


def test_sdk_workers_list_is_task_queues(kubiya_sdk, control_plane, workers) -> None:
    answer = kubiya_sdk(control_plane.url, control_plane.api_key, "workers", "list")
    assert answer.ok, answer.message
    assert isinstance(answer.result, list)
    for item in answer.result:
        assert {"task_queue", "organization_id", "runner_name", "workers", "worker_count"} <= set(item), item
        assert "worker_id" not in item


def test_drain_of_kubiya_worker_is_reported_not_honoured(control_plane, api, start_kubiya_worker, unique) -> None:
    queue, worker = start_registered(api, start_kubiya_worker, control_plane, unique, QUEUE_INTERVAL)
    row = wait_registered(api, queue, worker)
    ok(cli(control_plane, "drain", row["worker_id"], "--yes"))

    def reported() -> str | None:
        table = ok(cli(control_plane, "workers", "list", "--queue", queue["id"]))
        line = next((x for x in table.splitlines() if x.startswith(row["worker_id"][:8])), "")
        return line if "ignor" in line.lower() else None

    try:
        line = wait_for(reported, QUEUE_INTERVAL * 3, "the drain to be reported as not honoured", every=2)
        assert "drain requested" in line and "ago, worker ignores it" in line, line
        (listed,) = json.loads(ok(cli(control_plane, "workers", "list", "--queue", queue["id"], "-o", "json")))
        assert listed["drain_ignored"] is True and listed["health"] == "healthy" and listed["desired_state"] == "draining"
        snapshot = json.loads(ok(cli(control_plane, "top", "-o", "json", "--queue", queue["id"])))
        (shown,) = [r for r in snapshot["workers"] if r["worker_id"] == row["worker_id"]]
        assert shown["drain_ignored"] is True and shown["health"] == "healthy"
    finally:
        assert worker.process.alive(), "Kubiya's worker never drains: it must still be running"
        worker.stop()
    assert "draining" not in line.split()


# ---------------------------------------------------------------------------- last: stops the steady worker


def test_kubiya_worker_dies_on_sigterm_without_a_disconnect(api, workers) -> None:
    w = workers["steady"]
    w["worker"].process.proc.send_signal(signal.SIGTERM)
    code = w["worker"].process.proc.wait(5)  # no graceful drain: the interpreter's default SIGTERM action
    assert code == -signal.SIGTERM
    time.sleep(2)
    row = registered_row(api, w["queue"]["id"], w["worker"].pid)
    assert row["status"] == "active" and row["disconnected_at"] is None  # no /disconnect was sent
