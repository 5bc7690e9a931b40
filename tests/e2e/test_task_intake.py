"""Durable task intake: Idempotency-Key, record-first starts and the reconciler, against a real Temporal."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from kubiya_tui.client.temporal import TemporalReader
from kubiya_tui.controlplane.intake import TaskIntake
from kubiya_tui.controlplane.store import Store
from kubiya_tui.tasks import WORKFLOW_NAME
from tests.helpers import make_queue, wait_for


def workflows_on(temporal_address: str, task_queue: str, at_least: int) -> list[str]:
    """Ids of every workflow Temporal holds on a task queue, once visibility lists at least ``at_least``."""

    async def read() -> list[str]:
        client = await Client.connect(temporal_address)
        return [wf.id async for wf in client.list_workflows(f'TaskQueue="{task_queue}"')]

    def listed() -> list[str] | None:
        ids = asyncio.run(read())
        return ids if len(ids) >= at_least else None

    return wait_for(listed, 20, f"{at_least} workflows listed")


def post(api: Any, queue_id: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(f"/api/v1/worker-queues/{queue_id}/tasks", json={"kind": "sleep", **body}, headers=headers)


def test_a_retry_with_the_same_key_gets_the_first_answer_and_starts_nothing(api, control_plane, unique):
    queue = make_queue(api, unique("idem"))
    first = post(api, queue["id"], {"count": 3}, key="retry-1")
    assert first.status_code == 201, first.text
    again = post(api, queue["id"], {"count": 3}, key="retry-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    # The body field works like the header.
    by_field = post(api, queue["id"], {"count": 3, "idempotency_key": "retry-1"})
    assert by_field.json()["ids"] == first.json()["ids"]
    assert sorted(workflows_on(control_plane.temporal_address, queue["task_queue_name"], 3)) == sorted(first.json()["ids"])
    for task_id in first.json()["ids"]:
        assert api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "queued"


def test_a_key_is_scoped_to_its_queue_and_to_its_request(api, control_plane, unique):
    one, other = make_queue(api, unique("idem-a")), make_queue(api, unique("idem-b"))
    a = post(api, one["id"], {}, key="shared")
    b = post(api, other["id"], {}, key="shared")
    assert a.status_code == b.status_code == 201 and a.json()["ids"] != b.json()["ids"]
    reused = post(api, one["id"], {"input": {"seconds": 5}}, key="shared")
    assert reused.status_code == 409
    assert "different request" in reused.text
    both = post(api, one["id"], {"idempotency_key": "body-key"}, key="header-key")
    assert both.status_code == 400 and "differs from the Idempotency-Key header" in both.text
    bad = post(api, one["id"], {}, key="has space")
    assert bad.status_code == 422 and "printable ASCII" in bad.text
    assert workflows_on(control_plane.temporal_address, one["task_queue_name"], 1) == a.json()["ids"]


def test_concurrent_requests_with_one_key_start_one_set_of_workflows(api, control_plane, unique):
    queue = make_queue(api, unique("idem-race"))
    answers: list[Any] = []

    def send() -> None:
        with control_plane.client() as client:
            answers.append(post(client, queue["id"], {"count": 5}, key="race"))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [a for a in answers if a.status_code == 201]
    assert ok and all(a.status_code in (201, 409) for a in answers), [a.text for a in answers]
    assert len({tuple(a.json()["ids"]) for a in ok}) == 1
    assert all("still being served" in a.json()["detail"] for a in answers if a.status_code == 409)
    assert sorted(workflows_on(control_plane.temporal_address, queue["task_queue_name"], 5)) == sorted(ok[0].json()["ids"])


async def test_temporal_down_at_submission_records_nothing_and_keeps_no_answer(control_plane_factory, tmp_path, unique):
    from kubiya_tui.stack.processes import free_port

    cp = control_plane_factory(temporal_address=f"127.0.0.1:{free_port()}")
    with cp.client() as client:
        queue = make_queue(client, unique("down"))
        refused = post(client, queue["id"], {"count": 4}, key="k1")
        assert refused.status_code == 503
        assert "nothing was recorded or started" in refused.json()["detail"]
        # Nothing was kept for the key: the same key may try again (and is refused again, not replayed).
        again = post(client, queue["id"], {"count": 4}, key="k1")
        assert again.status_code == 503 and "idempotent-replayed" not in again.headers
    store = Store(cp.data_dir / "control-plane.sqlite")
    try:
        assert await store.pending_tasks() == [] and await store.find_request("local", queue["id"], "k1") is None
    finally:
        await store.close()


def test_openapi_declares_the_key_and_the_new_answers(api):
    spec = api.get("/api/openapi.json").json()
    submit = spec["paths"]["/api/v1/worker-queues/{queue_id}/tasks"]["post"]
    assert {"409", "422", "503", "507"} <= set(submit["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in submit["parameters"])
    legacy = spec["paths"]["/api/v1/task-queues/{task_queue_id}/tasks"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in legacy["parameters"])
    create = spec["paths"]["/api/v1/environments/{env_id}/worker-queues"]["post"]
    assert {"503", "507"} <= set(create["responses"])
    assert "507" not in spec["paths"]["/api/v1/worker-queues"]["get"]["responses"], "reads write nothing"


# ---------------------------------------------------------------------------- the reconciler, in process


@pytest.fixture
async def intake(tmp_path: Path, temporal_server: Any):
    store = Store(tmp_path / "registry.sqlite")
    reader = TemporalReader(temporal_server.address)
    client = await reader.client()
    yield TaskIntake(store, reader), store, client
    await reader.close()
    await store.close()


def _row(task_id: str, queue: str) -> dict[str, Any]:
    return {"id": task_id, "queue_id": queue, "kind": "sleep", "priority": 3, "timeout_seconds": 60, "max_attempts": 1}


async def _start(client: Client, task_id: str, task_queue: str, memo: dict[str, Any] | None = None) -> None:
    await client.start_workflow(WORKFLOW_NAME, {"kind": "sleep", "input": {}}, id=task_id, task_queue=task_queue, memo=memo or {})


async def test_pending_records_of_a_stopped_process_settle_from_what_temporal_holds(intake, unique):
    intake_, store, client = intake
    task_queue = unique("reconcile")
    reached, lost = f"task-{uuid.uuid4()}", f"task-{uuid.uuid4()}"
    # A previous process recorded two tasks under one key and died after starting only the first.
    await store.record_tasks("org", [_row(reached, "q1"), _row(lost, "q1")], "req-1", "dead-boot",
                       {"queue_id": "q1", "key": "k", "fingerprint": "f"})  # fmt: skip
    await _start(client, reached, task_queue)
    await intake_.reconcile()
    assert (await store.get_task("org", reached))["state"] == "started"
    missing = await store.get_task("org", lost)
    assert missing["state"] == "not_started" and "stopped before" in missing["start_error"]
    kept = await store.find_request("org", "q1", "k")
    assert kept["status_code"] == 503 and kept["answer"]["started"] == [reached]
    # The reconciler never starts a workflow: Temporal has only the one that reached it.
    with pytest.raises(Exception, match="not found"):
        await client.get_workflow_handle(lost).describe()


async def test_a_fully_started_request_keeps_its_201_and_one_that_started_nothing_frees_its_key(intake, unique):
    intake_, store, client = intake
    task_queue = unique("reconcile")
    done = f"task-{uuid.uuid4()}"
    await store.record_tasks("org", [_row(done, "q1")], "req-all", "dead-boot", {"queue_id": "q1", "key": "all", "fingerprint": "f"})
    await store.record_tasks("org", [_row(f"task-{uuid.uuid4()}", "q1")], "req-none", "dead-boot",
                       {"queue_id": "q1", "key": "none", "fingerprint": "f"})  # fmt: skip
    await _start(client, done, task_queue)
    await intake_.reconcile()
    kept = await store.find_request("org", "q1", "all")
    assert kept["status_code"] == 201 and kept["answer"]["ids"] == [done]
    assert await store.find_request("org", "q1", "none") is None


async def test_requests_in_flight_are_left_alone(intake):
    intake_, store, _ = intake
    task_id = f"task-{uuid.uuid4()}"
    await store.record_tasks("org", [_row(task_id, "q1")], "req-live", intake_.boot_id)
    intake_.in_flight.add("req-live")
    await intake_.reconcile()
    assert (await store.get_task("org", task_id))["state"] == "pending"


async def test_a_task_answered_as_not_started_never_runs_even_if_its_workflow_shows_up(intake, unique):
    intake_, store, client = intake
    task_queue = unique("reconcile")
    task_id = f"task-{uuid.uuid4()}"
    await store.record_tasks("org", [_row(task_id, "q1")], "req-x", intake_.boot_id)
    await store.settle_tasks([], [(task_id, "not started: no answer in time", True)])
    # The start that timed out did land after all.
    await _start(client, task_id, task_queue)
    store.sqlite_connection().execute("UPDATE tasks SET submitted_at = submitted_at - 60 WHERE id=?", (task_id,))
    await intake_.reconcile()
    desc = await client.get_workflow_handle(task_id).describe()
    assert desc.status.name == "TERMINATED"
    assert await store.tasks_to_verify(before=1e12) == []
    assert "terminated" in (await store.get_task("org", task_id))["start_error"]


async def test_workflows_of_this_control_plane_without_a_record_are_recorded(intake, unique):
    intake_, store, client = intake
    task_queue = unique("adopt")
    mine, foreign = f"task-{uuid.uuid4()}", f"task-{uuid.uuid4()}"
    memo = {"kind": "sleep", "queue_id": "q9", "priority": 2, "org": "org", "max_attempts": 2, "timeout_seconds": 30}
    await _start(client, mine, task_queue, {**memo, "control_plane": store.instance_id})
    await _start(client, foreign, task_queue, {**memo, "control_plane": "another-registry"})
    assert await intake_.adopt_unrecorded() == 1
    row = await store.get_task("org", mine)
    assert (row["state"], row["queue_id"], row["priority"], row["max_attempts"]) == ("started", "q9", 2, 2)
    assert await store.known_tasks([foreign]) == set(), "another control plane's workflow is not this one's to record"
    assert await intake_.adopt_unrecorded() == 0


async def test_a_second_start_of_the_same_id_is_a_no_op(intake, unique):
    """The start policy the intake uses: a retried start neither fails nor makes a second run."""
    from kubiya_tui.controlplane.intake import Submission
    from kubiya_tui.models import TaskSubmit

    intake_, store, client = intake
    task_queue = unique("twice")
    sub = Submission("org", "q1", task_queue, "sleep", 3, {"kind": "sleep", "input": {}}, TaskSubmit(kind="sleep"))
    task_id = f"task-{uuid.uuid4()}"
    first = await intake_._start_all(client, sub, [task_id])
    second = await intake_._start_all(client, sub, [task_id])
    assert first == second == {task_id: ("started", None)}
    runs = [wf async for wf in client.list_workflows(f'WorkflowId="{task_id}"')]
    assert len(runs) == 1



def test_an_expired_key_is_free_for_a_different_request(api, control_plane, unique):
    """After the window a key stands for nothing: a new request with it runs, even with another body."""
    import sqlite3

    queue = make_queue(api, unique("idem-old"))
    first = post(api, queue["id"], {}, key="yesterday")
    assert first.status_code == 201
    db = sqlite3.connect(control_plane.data_dir / "control-plane.sqlite")
    with db:
        db.execute("UPDATE task_requests SET created_at = created_at - 90000 WHERE queue_id = ?", (queue["id"],))
    db.close()
    again = post(api, queue["id"], {"input": {"seconds": 1}}, key="yesterday")
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers and again.json()["ids"] != first.json()["ids"]
