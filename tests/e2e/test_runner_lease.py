"""Exactly one runner acts, across replicas: two `kubiya-tui runner` processes, each on its own
replica of one PostgreSQL-backed control plane, share the `runner` and `autoscaler` leases. The
holder is SIGKILLed right after its autoscale decision lands; the other takes over within the
lease's time, and the queue is not scaled a second time for that one decision (the cool-down
starts from the queue's `last_scaled_at`, not from the dead runner's memory)."""

from __future__ import annotations

import os
import secrets
import signal
import sys
from pathlib import Path

import httpx
import pytest

from kubiya_tui.stack.processes import ManagedProcess, spawn, start_control_plane
from tests.helpers import make_queue, outcomes, submit, wait_for

pytestmark = pytest.mark.postgres
V1 = "/api/v1"
LEASE_TTL = 5


def autoscale_entries(api: httpx.Client, queue_id: str) -> list[dict]:
    entries = api.get(f"{V1}/audit", params={"limit": 1000, "action": "queue.scale"}).json()
    return [e for e in entries if e["target_id"] == queue_id and str(e["details"].get("reason", "")).startswith("autoscale")]


def test_one_runner_acts_and_a_standby_takes_over_without_a_second_decision(temporal_server, postgres_databases, tmp_path: Path):
    database_url = postgres_databases.new()
    key = "kty_test_" + secrets.token_urlsafe(16)
    replicas = [
        start_control_plane(tmp_path / f"replica-{i}", temporal_server.address, api_key=key, extra_env={"KUBIYA_TUI_DATABASE_URL": database_url})
        for i in range(2)
    ]
    runners: dict[int, ManagedProcess] = {}
    try:
        with httpx.Client(base_url=replicas[1][1], headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
            queue = make_queue(api, "leased")
            policy = {"min_workers": 0, "max_workers": 3, "target_backlog_age_seconds": 1, "cooldown_seconds": 600}
            assert api.put(f"{V1}/worker-queues/{queue['id']}/autoscale", json=policy).status_code == 200
            for i, (_, url) in enumerate(replicas):
                argv = [sys.executable, "-m", "kubiya_tui", "--api-url", url, "runner", "--data-dir", str(tmp_path / f"runner-{i}"),
                        "--interval", "0.5", "--lease-ttl", str(LEASE_TTL), "--grace", "10"]  # fmt: skip
                proc = spawn(f"runner-{i}", argv, tmp_path / f"runner-{i}.log", {**os.environ, "KUBIYA_API_KEY": key})
                runners[proc.pid] = proc
            first = wait_for(lambda: (r := api.get(f"{V1}/leases/runner")).status_code == 200 and r.json(), 60, "a runner to take the lease")
            holder_pid = int(first["holder"].split(":")[1])
            assert holder_pid in runners, first
            ids = submit(api, queue["id"], count=30, input={"seconds": 1})
            decision = wait_for(lambda: autoscale_entries(api, queue["id"]), 60, "the holder's autoscale decision", every=0.1)
            # The holder dies right after its decision landed: before it could start its worker, or as it did.
            os.killpg(holder_pid, signal.SIGKILL)
            assert decision[0]["details"]["to"] == 1 and decision[0]["details"]["lease"]["token"] == first["token"]

            second = wait_for(
                lambda: (r := api.get(f"{V1}/leases/runner").json())["holder"] != first["holder"] and r,
                LEASE_TTL + 30,
                "the standby runner to take the lease over",
                every=0.2,
            )
            assert int(second["holder"].split(":")[1]) in set(runners) - {holder_pid}
            assert second["token"] == first["token"] + 1
            # The standby starts the worker the decision asked for, and the tasks complete.
            wait_for(lambda: outcomes(temporal_server.address, queue["task_queue_name"]).get("Completed", 0) >= len(ids), 120,
                     "every task completed by the new holder's worker")  # fmt: skip
            # Still one decision: the cool-down (600 s) started when the dead runner scaled.
            entries = autoscale_entries(api, queue["id"])
            assert [e["id"] for e in entries] == [decision[0]["id"]], entries
            assert api.get(f"{V1}/worker-queues/{queue['id']}").json()["desired_workers"] == 1
            takes = [e["details"]["holder"] for e in api.get(f"{V1}/audit", params={"limit": 1000, "action": "lease.acquire"}).json()
                     if e["target_id"] == "runner"]  # fmt: skip
            assert takes == [second["holder"], first["holder"]], takes
    finally:
        for proc in runners.values():
            proc.stop(grace=20)
        for proc, _ in replicas:
            proc.stop()
