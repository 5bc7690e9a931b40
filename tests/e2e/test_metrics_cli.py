"""`kubiya-tui top` and `kubiya-tui check` as a script or a monitoring system runs them."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys

import pytest

from kubiya_tui.stack.processes import free_port
from tests.helpers import queue_with_waiting_tasks

pytestmark = pytest.mark.slow

QUEUE_FIELDS = {
    "name", "environment", "task_queue_name", "depth", "backlog_age_seconds", "add_rate_per_min",
    "dispatch_rate_per_min", "processed_per_min", "duration_p95_seconds", "error_rate", "workers",
}  # fmt: skip


def run_all(cp, temporal_address: str, *calls: tuple[str, ...], env: dict | None = None) -> list[subprocess.CompletedProcess]:
    """Several commands at once, each a fresh process, with the key, URL and Temporal from the environment."""
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    environ.update(KUBIYA_API_KEY=cp.api_key, KUBIYA_CONTROL_PLANE_BASE_URL=cp.url, TEMPORAL_ADDRESS=temporal_address)
    environ.update(env or {})
    procs = [
        subprocess.Popen([sys.executable, "-m", "kubiya_tui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True, env=environ)
        for args in calls
    ]  # fmt: skip
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=90)
        out.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return out


@pytest.fixture(scope="module")
def waiting_queue(control_plane, temporal_server) -> dict:
    """A queue with 4 tasks waiting (no worker), as Temporal counts them; the tests only read it."""
    import secrets

    with control_plane.client() as api:
        return queue_with_waiting_tasks(api, temporal_server.address, f"cli-{secrets.token_hex(4)}", 4)


def test_top_prints_a_snapshot_as_json_and_as_a_table(control_plane, temporal_server, waiting_queue):
    qid = waiting_queue["id"]
    as_json, as_table, watching = run_all(
        control_plane,
        temporal_server.address,
        ("top", "-o", "json", "-q", qid),
        ("top", "-q", qid),
        ("top", "-o", "json", "--watch", "--count", "2", "--interval", "0.5", "-q", qid, "--no-workers"),
    )
    assert as_json.returncode == 0 and as_json.stderr == "", as_json.stderr
    data = json.loads(as_json.stdout)
    [q] = data["queues"]
    assert QUEUE_FIELDS <= set(q)
    assert set(q["workers"]) >= {"healthy", "stale", "draining", "total"}
    assert (q["name"], q["environment"], q["depth"]) == (waiting_queue["name"], "default", 4)
    assert q["task_queue_name"] == waiting_queue["task_queue_name"]
    # Both up; "slow" is what a loaded machine (the whole suite in parallel) may make of an answer.
    assert {k: v["status"] for k, v in data["sources"].items()} in (
        {"api": a, "temporal": t} for a in ("ok", "slow") for t in ("ok", "slow")
    ), data["sources"]
    assert data["mode"] == "api+temporal"

    assert as_table.returncode == 0 and as_table.stderr == ""
    lines = as_table.stdout.splitlines()
    assert any(line.startswith(f"default/{waiting_queue['name']}") and " 4 " in line for line in lines), as_table.stdout
    assert re.search(r"control plane: (ok|slow)", as_table.stdout) and re.search(r"Temporal: (ok|slow)", as_table.stdout)

    assert watching.returncode == 0 and watching.stderr == ""
    rows = [json.loads(line) for line in watching.stdout.splitlines()]
    assert len(rows) == 2 and rows[1]["taken_at"] > rows[0]["taken_at"]
    assert "workers" not in rows[0] and rows[0]["queues"][0]["depth"] == 4


def test_top_watch_ends_quietly_on_ctrl_c(control_plane, temporal_server, waiting_queue):
    import signal

    environ = {**os.environ, "KUBIYA_API_KEY": control_plane.api_key, "KUBIYA_CONTROL_PLANE_BASE_URL": control_plane.url,
               "TEMPORAL_ADDRESS": temporal_server.address}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubiya_tui", "top", "-o", "json", "--watch", "--interval", "0.5", "-q", waiting_queue["id"]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=environ,
    )  # fmt: skip
    try:
        first = json.loads(proc.stdout.readline())
        assert first["queues"][0]["depth"] == 4
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert err == "", err
    assert all(json.loads(line) for line in out.splitlines()), "every line a whole JSON document"


def test_check_exit_codes_follow_the_monitoring_plugin_convention(control_plane, temporal_server, waiting_queue):
    name = waiting_queue["name"]
    dead = f"127.0.0.1:{free_port()}"
    ok, warning, critical, unknown_queue, json_out = run_all(
        control_plane,
        temporal_server.address,
        ("check", "-q", name, "--max-depth", "100", "--max-error-rate", "10%", "--max-backlog-age", "1h"),
        ("check", "-q", name, "--max-depth", "4.5"),  # 4 is above 80 % of 4.5
        ("check", "-q", name, "--max-depth", "3"),
        ("check", "-q", "no-such-queue", "--max-depth", "3"),
        ("check", "-q", name, "--max-depth", "3", "-o", "json"),
    )
    [temporal_down] = run_all(control_plane, dead, ("check", "-q", name, "--max-depth", "100"))
    [no_key] = run_all(control_plane, temporal_server.address, ("check", "--max-depth", "1"), env={"KUBIYA_API_KEY": "", "TEMPORAL_ADDRESS": ""})
    expected = [(ok, 0, "OK"), (warning, 1, "WARNING"), (critical, 2, "CRITICAL"), (unknown_queue, 3, "UNKNOWN"),
                (temporal_down, 3, "UNKNOWN"), (no_key, 3, "UNKNOWN")]  # fmt: skip
    for result, code, word in expected:
        assert result.returncode == code, (result.args, result.stdout, result.stderr)
        assert result.stderr == "", result.stderr
        [line] = result.stdout.splitlines()
        assert line.startswith(f"QUEUES {word} - "), line
    assert "depth 4 > 3" in critical.stdout and "'default/" in critical.stdout, "perfdata after |"
    assert "no-such-queue: no such queue" in unknown_queue.stdout
    assert f"Temporal unreachable at {dead}" in temporal_down.stdout or dead in temporal_down.stdout
    data = json.loads(json_out.stdout)
    assert json_out.returncode == 2 and data["status"] == "CRITICAL" and data["findings"][0]["value"] == 4


def test_top_watch_redraws_in_place_on_a_terminal_and_appends_when_piped(control_plane, temporal_server, waiting_queue):
    import pty
    import select

    qid = waiting_queue["id"]
    args = ("top", "--watch", "--count", "3", "--interval", "0.5", "-q", qid)
    [piped] = run_all(control_plane, temporal_server.address, args)
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout, "no cursor moves into a pipe"
    assert piped.stdout.count("QUEUE ") == 3, "piped: one table after another"

    environ = {k: v for k, v in os.environ.items() if k not in ("LINES",)}
    environ.update(KUBIYA_API_KEY=control_plane.api_key, KUBIYA_CONTROL_PLANE_BASE_URL=control_plane.url,
                   TEMPORAL_ADDRESS=temporal_server.address, COLUMNS="80", TERM="xterm")  # fmt: skip
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "kubiya_tui", *args], stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=subprocess.PIPE, env=environ)  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
        proc.wait(30)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    text = seen.decode("utf-8", "replace")
    assert proc.returncode == 0, proc.stderr.read()
    assert text.count("QUEUE ") >= 3, "three refreshes drawn (and the last one again as it stops)"
    assert "\x1b[1A" in text and "\x1b[2K" in text, "each refresh goes back up over the last one and erases it"
    rows = [line for line in text.replace("\r", "").split("\n") if f"default/{waiting_queue['name']}" in line]
    assert all(len(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line)) <= 80 for line in rows), rows
