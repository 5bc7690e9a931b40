"""Legacy task queues with real parts: a legacy worker with queued tasks, migrated without loss."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from kubiya_tui.models import LegacyWorkerCommand
from kubiya_tui.stack.processes import spawn
from tests.helpers import make_queue, submit, wait_for
from tests.e2e.test_worker import live_workers, outcomes

pytestmark = pytest.mark.slow


def test_legacy_endpoints_speak_the_upstream_shape(api, unique):
    name = unique("legacy")
    created = api.post("/api/v1/task-queues", json={"name": name, "description": "old", "tags": ["x"], "priority": 3})
    assert created.status_code == 201, created.text
    tq = created.json()
    assert tq["legacy"] is True and tq["task_queue_name"] == f"local.{name}" and tq["priority"] == 3
    assert api.post("/api/v1/task-queues", json={"name": name}).status_code == 409
    assert any(q["id"] == tq["id"] for q in api.get("/api/v1/task-queues").json())
    command = api.get(f"/api/v1/task-queues/{tq['id']}/worker-command").json()
    # Kubiya's object shape, as upstream's legacy worker-command answers it.
    assert LegacyWorkerCommand.model_validate(command).argv[:5] == ["kubiya-tui", "worker", "start", "--task-queue", f"local.{name}"]
    assert command["command_parts"]["binary"] == "kubiya-tui" and command["command_parts"]["subcommand"] == "worker start"
    assert command["can_register"] is True and command["worker_token"] is None
    patched = api.patch(f"/api/v1/task-queues/{tq['id']}", json={"description": "older"}).json()
    assert patched["description"] == "older"
    # Both registration forms of the Work Queues page and upstream land on the same queue.
    page = api.post("/api/v1/workers/register", json={"worker_id": f"w-{name}", "queue_name": f"local.{name}", "capabilities": {"runtime": "x"}})
    upstream = api.post("/api/v1/workers/register", json={"environment_name": name, "hostname": "h1"})
    assert page.status_code == upstream.status_code == 200
    assert page.json()["task_queue_name"] == upstream.json()["task_queue_name"] == f"local.{name}"
    assert len(api.get(f"/api/v1/task-queues/{tq['id']}/workers").json()) == 2
    assert api.post("/api/v1/workers/register", json={"queue_name": "local.no-such-env"}).status_code == 404
    assert api.delete(f"/api/v1/task-queues/{tq['id']}").status_code == 400, "live workers block delete"
    for worker in api.get(f"/api/v1/task-queues/{tq['id']}/workers").json():
        api.post(f"/api/v1/workers/{worker['worker_id']}/disconnect", json={"reason": "test"})
    assert api.delete(f"/api/v1/task-queues/{tq['id']}").status_code == 204


def test_migration_loses_no_legacy_task(api, control_plane, start_worker, unique, tmp_path):
    name = unique("legacy")
    tq = api.post("/api/v1/task-queues", json={"name": name, "description": "nightly jobs", "tags": ["batch"], "settings": {"team": "data"}}).json()
    env = {**os.environ, "KUBIYA_API_KEY": control_plane.api_key, "KUBIYA_CONTROL_PLANE_BASE_URL": control_plane.url}
    legacy_worker = spawn(
        "legacy-worker",
        [sys.executable, "-m", "kubiya_tui", "worker", "start", "--task-queue", tq["task_queue_name"],
         "--control-plane-url", control_plane.url, "--concurrency", "2"],
        tmp_path / "legacy-worker.log",
        env,
    )  # fmt: skip
    try:
        wait_for(lambda: api.get(f"/api/v1/task-queues/{tq['id']}").json()["active_workers"] == 1, 30, "legacy worker live")
        legacy_ids = api.post(f"/api/v1/task-queues/{tq['id']}/tasks", json={"kind": "sleep", "input": {"seconds": 1}, "count": 16}).json()["ids"]
        migrate = subprocess.Popen(
            [sys.executable, "-m", "kubiya_tui", "migrate", name, "--env", "default", "--yes", "-o", "json", "--timeout", "150"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        migration = wait_for(lambda: api.get(f"/api/v1/task-queues/{tq['id']}").json()["migration"], 30, "migration started")
        queue = api.get(f"/api/v1/worker-queues/{migration['worker_queue_id']}").json()
        assert (queue["name"], queue["description"], queue["tags"]) == (name, "nightly jobs", ["batch"])
        assert queue["settings"]["team"] == "data"
        start_worker(queue["id"])
        wait_for(lambda: live_workers(api, queue["id"]), 30, "new queue's worker healthy")
        new_ids = submit(api, queue["id"], count=5, input={"seconds": 0.1})
        out, err = migrate.communicate(timeout=180)
        assert migrate.returncode == 0, err
        result = json.loads(out)
        assert result["task_queue"]["migration"]["state"] == "migrated"
        assert "waiting for" in err and "is migrated" in err
        # Every legacy task completed on the legacy path; the new queue served the new ones.
        assert outcomes(control_plane.temporal_address, tq["task_queue_name"]) == {"Completed": len(legacy_ids)}
        wait_for(lambda: outcomes(control_plane.temporal_address, queue["task_queue_name"]).get("Completed") == len(new_ids), 30, "new tasks done")
        assert legacy_worker.proc.wait(30) == 0
        [gone] = api.get(f"/api/v1/task-queues/{tq['id']}/workers").json()
        assert gone["status"] == "disconnected"
        refused = api.post(f"/api/v1/task-queues/{tq['id']}/tasks", json={"kind": "sleep"})
        assert refused.status_code == 400 and queue["name"] in refused.json()["detail"]
        listing = subprocess.run([sys.executable, "-m", "kubiya_tui", "task-queues", "list", "-o", "json"], env=env, capture_output=True, text=True, timeout=60)
        row = next(q for q in json.loads(listing.stdout) if q["id"] == tq["id"])
        assert row["migration"]["state"] == "migrated" and row["metrics"]["task_queue_backlog"] == 0
    finally:
        legacy_worker.stop(grace=5)


def test_drain_is_refused_while_legacy_tasks_wait(api, unique):
    tq = api.post("/api/v1/task-queues", json={"name": unique("legacy")}).json()
    api.post(f"/api/v1/task-queues/{tq['id']}/tasks", json={"kind": "sleep", "count": 3})
    wait_for(lambda: api.get(f"/api/v1/task-queues/{tq['id']}/metrics").json()["task_queue_backlog"] >= 3, 20, "backlog seen")
    answer = api.post(f"/api/v1/task-queues/{tq['id']}/drain-workers")
    assert answer.status_code == 409 and "still queued" in answer.json()["detail"]
