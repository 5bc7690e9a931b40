"""Task queue names cannot collide: worker queues poll their id, legacy task queues `<org>.<environment>`,
and a data dir from before keeps the names its workers poll (real control plane, real Temporal)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from kubiya_tui.controlplane.store import Store
from tests.conftest import ControlPlane
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

V1 = "/api/v1"


def tasks_of(api, path: str) -> set[str]:
    answer = api.get(path)
    assert answer.status_code == 200, answer.text
    return {t["id"] for t in answer.json()}


def test_a_legacy_queue_and_a_worker_queue_of_the_same_dotted_name_stay_apart(api, unique):
    """Legacy `xx.yy` (polled on `<org>.xx.yy`) and queue `yy` in environment `xx` shared a task queue once."""
    xx = unique("xx")
    env = api.post(f"{V1}/environments", json={"name": xx}).json()
    queue = api.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": "yy"}).json()
    legacy = api.post(f"{V1}/task-queues", json={"name": f"{xx}.yy"})
    assert legacy.status_code == 201, legacy.text
    legacy = legacy.json()
    assert queue["task_queue_name"] == queue["id"]
    assert legacy["task_queue_name"] == f"local.{xx}.yy" != queue["task_queue_name"]
    on_queue = set(api.post(f"{V1}/worker-queues/{queue['id']}/tasks", json={"kind": "sleep", "count": 2}).json()["ids"])
    on_legacy = set(api.post(f"{V1}/task-queues/{legacy['id']}/tasks", json={"kind": "sleep"}).json()["ids"])
    wait_for(lambda: tasks_of(api, f"{V1}/worker-queues/{queue['id']}/tasks") == on_queue, 15, "the queue's own tasks")
    wait_for(lambda: tasks_of(api, f"{V1}/task-queues/{legacy['id']}/tasks") == on_legacy, 15, "the legacy queue's own tasks")
    # Workers stay apart too: each registration names its own task queue.
    started = api.post(f"{V1}/worker-queues/{queue['id']}/start", json={}).json()
    registered = api.post(f"{V1}/workers/register", json={"queue_name": legacy["task_queue_name"]}).json()
    assert started["task_queue_name"] == queue["id"] and registered["task_queue_name"] == legacy["task_queue_name"]
    assert [w["worker_id"] for w in api.get(f"{V1}/task-queues/{legacy['id']}/workers").json()] == [registered["worker_id"]]
    assert [w["worker_id"] for w in api.get(f"{V1}/worker-queues/{queue['id']}/workers").json()] == [started["worker_id"]]
    for worker in (started, registered):
        assert api.post(f"{V1}/workers/{worker['worker_id']}/disconnect", json={}).status_code == 204


def test_renames_keep_a_queues_task_queue(api, unique):
    env = api.post(f"{V1}/environments", json={"name": unique("env")}).json()
    queue = api.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": unique()}).json()
    api.patch(f"{V1}/environments/{env['id']}", json={"name": unique("env")})
    renamed = api.patch(f"{V1}/worker-queues/{queue['id']}", json={"name": unique()}).json()
    assert renamed["task_queue_name"] == queue["task_queue_name"] == queue["id"]


def _old_scheme_registry(target: str | Path) -> dict:
    """A registry as the control plane left it before queues polled their id: `<org>.<env>.<queue>`."""
    from sqlalchemy import update

    from kubiya_tui.controlplane.database import run_coroutine
    from kubiya_tui.controlplane.schema import worker_queues

    async def make() -> dict:
        store = Store(target)
        try:
            await store.ensure_org("local")
            await store.add_key("local", "kty_old_scheme_key_0123456789abcdef", "admin")
            env = await store.create_environment("local", {"name": "xx"})
            queue = await store.create_queue("local", env["id"], {"name": "yy", "heartbeat_interval": 10}, "admin")
            await store.transaction(
                lambda tx: tx.run(update(worker_queues).where(worker_queues.c.id == queue["id"]).values(task_queue_name="local.xx.yy"))
            )
            return await store.get_queue("local", queue["id"])
        finally:
            await store.close()

    return run_coroutine(make)


def test_an_existing_data_dir_keeps_its_task_queue_names(
    control_plane_factory: Callable[..., ControlPlane], tmp_path, db_backend, request
):
    database_url = request.getfixturevalue("postgres_databases").new() if db_backend == "postgresql" else None
    (tmp_path / "cp").mkdir(parents=True)
    old = _old_scheme_registry(database_url or tmp_path / "cp" / "control-plane.sqlite")
    cp = control_plane_factory(data_dir=tmp_path / "cp", api_key="kty_old_scheme_key_0123456789abcdef", database_url=database_url)
    try:
        with cp.client() as api:
            assert api.get(f"{V1}/worker-queues/{old['id']}").json()["task_queue_name"] == "local.xx.yy"
            assert api.get(f"{V1}/worker-queues/{old['id']}/config").json()["task_queue_name"] == "local.xx.yy"
            worker = api.post(f"{V1}/worker-queues/{old['id']}/start", json={}).json()
            assert worker["task_queue_name"] == "local.xx.yy", "its workers keep polling the task queue they poll"
            ids = set(api.post(f"{V1}/worker-queues/{old['id']}/tasks", json={"kind": "sleep"}).json()["ids"])
            wait_for(lambda: tasks_of(api, f"{V1}/worker-queues/{old['id']}/tasks") == ids, 15, "its tasks on its task queue")
            # A legacy task queue `xx.yy` would be polled on the same task queue: refused, nothing made.
            before = api.get(f"{V1}/environments").json()
            for method, path in (("POST", f"{V1}/environments"), ("POST", f"{V1}/task-queues")):
                answer = api.request(method, path, json={"name": "xx.yy"})
                assert answer.status_code == 409 and "local.xx.yy" in answer.json()["detail"], answer.text
            other = api.post(f"{V1}/environments", json={"name": "zz"}).json()
            renamed = api.patch(f"{V1}/environments/{other['id']}", json={"name": "xx.yy"})
            assert renamed.status_code == 409, renamed.text
            assert api.get(f"{V1}/environments/{other['id']}").json()["name"] == "zz"
            assert len(api.get(f"{V1}/environments").json()) == len(before) + 1
            # A new queue in the same environment polls its own id.
            new = api.post(f"{V1}/environments/{old['environment_id']}/worker-queues", json={"name": "zz"}).json()
            assert new["task_queue_name"] == new["id"]
            api.post(f"{V1}/workers/{worker['worker_id']}/disconnect", json={})
    finally:
        cp.stop()
