"""Tenant isolation in the shared Temporal namespace: names an organization chooses never widen a query.

Real Temporal dev server, real control plane on 127.0.0.1, two organizations: the victim
submits tasks to its own queue; the attacker names its environments, queues and legacy
task queues with visibility-query fragments and reads everything it may. None of the
victim's task ids may appear in any answer the attacker gets.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ControlPlane
from tests.helpers import make_queue, submit

pytestmark = pytest.mark.slow

# An environment name that closes the quoted task queue and opens a clause of its own.
INJECTION = 'x" OR TaskQueue!="zzz'


@pytest.fixture(scope="module")
def victim(control_plane: ControlPlane) -> dict:
    """The first organization's queue with three queued tasks (no worker: they stay in Temporal)."""
    with control_plane.client() as api:
        queue = make_queue(api, "victim-q")
        ids = submit(api, queue["id"], count=3)
    return {"queue": queue, "task_ids": ids}


@pytest.fixture(scope="module")
def attacker(control_plane: ControlPlane) -> httpx.Client:
    with control_plane.client(control_plane.key_for("attacker-org")) as api:
        yield api


def test_an_environment_name_with_a_query_fragment_does_not_list_another_orgs_tasks(victim, attacker):
    env = attacker.post("/api/v1/environments", json={"name": INJECTION})
    if env.status_code == 422:
        return  # refused outright: nothing reaches Temporal
    assert env.status_code == 201, env.text
    queue = attacker.post(f"/api/v1/environments/{env.json()['id']}/worker-queues", json={"name": "inj"})
    assert queue.status_code == 201, queue.text
    answer = attacker.get(f"/api/v1/worker-queues/{queue.json()['id']}/tasks")
    assert answer.status_code == 200, answer.text
    leaked = {t["id"] for t in answer.json()} & set(victim["task_ids"])
    assert not leaked, f"another organization's tasks leaked: {sorted(leaked)}"
    legacy = attacker.get(f"/api/v1/task-queues/{env.json()['id']}/tasks")
    assert legacy.status_code == 200, legacy.text
    assert not {t["id"] for t in legacy.json()} & set(victim["task_ids"])
