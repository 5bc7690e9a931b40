"""The API client against a real local control plane; MockTransport only to count retries and fake upstream's 204."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.models import (
    AutoscalePolicy,
    Environment,
    HeartbeatAnswer,
    Platform,
    WorkerQueue,
    WorkerQueueCreate,
)
from kubiya_tui.stack.processes import free_port


def client(cp, key: str | None = None, **kw) -> ApiClient:
    return ApiClient(cp.url, key or cp.api_key, **kw)


async def default_env(api: ApiClient) -> Environment:
    return next(e for e in await api.list_environments() if e.name == "default")


# ---------------------------------------------------------------------------- against the real server


async def test_health_and_environment_lifecycle(control_plane, unique):
    async with client(control_plane) as api:
        assert (await api.health()).status == "ok"
        name = unique("env")
        env = await api.create_environment(name, description="for a test", tags=["t1"])
        assert env.name == name and env.tags == ["t1"]
        assert name in [e.name for e in await api.list_environments()]
        assert (await api.get_environment(env.id)).description == "for a test"
        changed = await api.update_environment(env.id, display_name="Shown")
        assert changed.display_name == "Shown"
        assert (await api.resolve_environment(name)).id == env.id
        assert (await api.resolve_environment(env.id)).name == name
        await api.delete_environment(env.id)
        with pytest.raises(ApiError) as err:
            await api.get_environment(env.id)
        assert err.value.status == 404
        assert str(err.value) == f"404 Not Found: environment {env.id!r} not found"


async def test_queue_lifecycle_and_operations(control_plane, unique):
    async with client(control_plane) as api:
        env = await default_env(api)
        name = unique("q")
        queue = await api.create_queue(
            env.id, WorkerQueueCreate(name=name, max_workers=3, heartbeat_interval=30, tags=["a"], settings={"k": 1})
        )
        assert isinstance(queue, WorkerQueue)
        assert (queue.name, queue.max_workers, queue.heartbeat_interval, queue.settings) == (name, 3, 30, {"k": 1})
        assert queue.id in [q.id for q in await api.list_queues()]
        assert queue.id in [q.id for q in await api.list_queues(env.id)]
        assert (await api.get_queue(queue.id)).task_queue_name == queue.task_queue_name

        updated = await api.update_queue(queue.id, description="changed", max_workers=None)
        assert updated.description == "changed" and updated.max_workers is None

        command = await api.worker_command(queue.id)
        assert command.queue_id == queue.id and queue.id in command.command and command.can_register
        for platform in Platform:
            script = await api.install_script(queue.id, platform)
            assert queue.id in script, platform
        config = await api.queue_config(queue.id)
        assert config["queue_id"] == queue.id and config["config_version"]
        metrics = await api.queue_metrics(queue.id)
        assert metrics.queue_id == queue.id and metrics.total_workers == 0
        assert await api.queue_workers(queue.id) == []

        scaled = await api.scale_queue(queue.id, 2)
        assert scaled.desired_workers == 2
        assert (await api.get_queue(queue.id)).desired_workers == 2
        policy = AutoscalePolicy(min_workers=1, max_workers=2, target_backlog_age_seconds=5)
        assert (await api.set_autoscale(queue.id, policy)).autoscale["max_workers"] == 2
        assert (await api.clear_autoscale(queue.id)).autoscale is None

        created = await api.audit(limit=50, action="queue.create")
        assert queue.id in [a.target_id for a in created]
        assert {a.action for a in created} == {"queue.create"}

        await api.delete_queue(queue.id)
        with pytest.raises(ApiError) as err:
            await api.get_queue(queue.id)
        assert err.value.status == 404


async def test_worker_registration_heartbeat_drain_disconnect(control_plane, unique):
    async with client(control_plane) as api:
        env = await default_env(api)
        queue = await api.create_queue(env.id, {"name": unique("q"), "heartbeat_interval": 10})
        reg = await api.start_worker(queue.id, {"worker_sdk_version": "test", "system_info": {"hostname": "box"}})
        assert reg.queue_id == queue.id and reg.task_queue_name == queue.task_queue_name

        answer = await api.heartbeat(reg.worker_id, {"status": "idle", "tasks_processed": 4})
        assert answer.desired_state == "running"
        worker = await api.get_worker(reg.worker_id)
        assert (worker.status, worker.tasks_processed, worker.health.value) == ("idle", 4, "healthy")
        assert reg.worker_id in [w.worker_id for w in await api.list_workers()]
        assert [w.worker_id for w in await api.queue_workers(queue.id)] == [reg.worker_id]

        drained = await api.drain_worker(reg.worker_id)
        assert drained.desired_state == "draining"
        # The drain reaches the worker in its next heartbeat answer, in either form.
        assert (await api.heartbeat(reg.worker_id, {"status": "busy"})).desired_state == "draining"
        simple = await api.simple_heartbeat({"worker_id": reg.worker_id, "status": "draining"})
        assert simple.desired_state == "draining"

        await api.disconnect(reg.worker_id, reason="test over", exit_code=0)
        assert (await api.get_worker(reg.worker_id)).status == "disconnected"

        legacy = await api.legacy_register({"queue_name": queue.task_queue_name, "capabilities": {"python": True}})
        assert legacy.queue_id == queue.id
        await api.disconnect(legacy.worker_id)


async def test_tasks_submit_get_list(control_plane, unique):
    async with client(control_plane) as api:
        env = await default_env(api)
        queue = await api.create_queue(env.id, {"name": unique("q")})
        task = await api.submit_task(queue.id, {"kind": "sleep", "input": {}})
        assert task["queue_id"] == queue.id and task["status"] == "queued"
        got = await api.get_task(task["id"])
        assert got["id"] == task["id"] and got["queue_id"] == queue.id
        # Temporal's visibility store lags a moment behind a workflow start.
        for _ in range(50):
            listed = await api.list_tasks(queue.id, limit=10)
            if task["id"] in [t["id"] for t in listed]:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"task {task['id']} never appeared in its queue's task list")
        with pytest.raises(ApiError) as err:
            await api.get_task("task-does-not-exist")
        assert err.value.status == 404


async def test_error_statuses_and_messages(control_plane, unique):
    async with client(control_plane) as api:
        env = await default_env(api)
        name = unique("q")
        await api.create_queue(env.id, {"name": name})

        with pytest.raises(ApiError) as err:
            await api.create_queue(env.id, {"name": name})
        assert err.value.status == 409
        assert str(err.value) == f"409 Conflict: a worker queue named {name!r} already exists in environment 'default'"

        with pytest.raises(ApiError) as err:
            await api.create_queue(env.id, {"name": "Bad Name!"})
        assert err.value.status == 422
        assert err.value.detail.startswith("name: String should match pattern")
        assert "\n" not in str(err.value) and str(err.value).startswith("422 ")

        with pytest.raises(ApiError) as err:
            await api.get_queue("no-such-queue")
        assert (err.value.status, err.value.detail) == (404, "worker queue 'no-such-queue' not found")

        with pytest.raises(ApiError) as err:
            await api.delete_environment(env.id)
        assert err.value.status == 400 and "default environment" in err.value.detail

        queue = next(q for q in await api.list_queues(env.id) if q.name == name)
        with pytest.raises(ApiError) as err:
            await api.install_script(queue.id, "openshift")
        assert err.value.status == 422
        # The same complaint about both query names is said once.
        assert err.value.detail == "platform, deployment_type: Input should be 'local', 'docker' or 'kubernetes'"

    async with client(control_plane, key="kty_not_a_real_key") as bad:
        with pytest.raises(ApiError) as err:
            await bad.list_queues()
        assert err.value.status == 401
        assert str(err.value) == "401 Unauthorized: unknown API key"
        assert "kty_not_a_real_key" not in str(err.value)


async def test_resolve_queue_by_id_name_env_and_ambiguity(control_plane, unique):
    async with client(control_plane) as api:
        default = await default_env(api)
        other = await api.create_environment(unique("env"))
        try:
            await check_resolution(api, default, other, unique)
        finally:  # the control plane is shared: leave no extra environment behind
            for q in await api.list_queues(other.id):
                await api.delete_queue(q.id)
            await api.delete_environment(other.id)


async def check_resolution(api: ApiClient, default: Environment, other: Environment, unique) -> None:
    """Same-named queues in two environments: by id, by name, as env/name, by short id."""
    name = unique("q")
    q1 = await api.create_queue(default.id, {"name": name})
    q2 = await api.create_queue(other.id, {"name": name})
    only = await api.create_queue(other.id, {"name": unique("q")})

    assert (await api.resolve_queue(q1.id)).id == q1.id
    assert (await api.resolve_queue(only.name)).id == only.id
    assert (await api.resolve_queue(f"{other.name}/{name}")).id == q2.id
    assert (await api.resolve_queue(f"default/{name}")).id == q1.id
    assert (await api.resolve_queue(only.id[:8])).id == only.id  # the short id that tables show

    with pytest.raises(ApiError) as err:
        await api.resolve_queue(name)
    message = str(err.value)
    assert f"default/{name} ({q1.id})" in message and f"{other.name}/{name} ({q2.id})" in message

    with pytest.raises(ApiError) as err:
        await api.resolve_queue("nothing-by-this-name")
    assert err.value.status == 404 and "'nothing-by-this-name'" in str(err.value)


async def test_other_organization_sees_nothing(control_plane, unique):
    async with client(control_plane) as api:
        queue = await api.create_queue((await default_env(api)).id, {"name": unique("q")})
    async with client(control_plane, key=control_plane.key_for("other-org")) as other:
        with pytest.raises(ApiError) as err:
            await other.get_queue(queue.id)
        assert err.value.status == 404
        with pytest.raises(ApiError):
            await other.resolve_queue(queue.name)


async def test_connection_refused_is_status_zero_with_clear_message():
    port = free_port()
    async with ApiClient(f"http://127.0.0.1:{port}", "k", retries=1, backoff=0.01) as api:
        with pytest.raises(ApiError) as err:
            await api.list_queues()
    assert err.value.status == 0
    assert str(err.value) == f"cannot reach control plane at http://127.0.0.1:{port}: connection refused"


def test_bad_url_is_an_api_error():
    with pytest.raises(ApiError) as err:
        ApiClient("control-plane.example.com", "k")
    assert err.value.status == 0 and "http://" in str(err.value)


# ---------------------------------------------------------------------------- transport-level behaviour


def counting_transport(answers):
    """A MockTransport that answers from ``answers`` in turn and records every request."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen) - 1, len(answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


async def test_retries_idempotent_calls_but_never_creating_posts():
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    transport, seen = counting_transport([refused])
    async with ApiClient("http://cp.test", "k", retries=3, backoff=0.001, transport=transport) as api:
        with pytest.raises(ApiError) as err:
            await api.list_queues()
        assert err.value.status == 0 and "connection refused" in str(err.value)
        assert len(seen) == 4  # one try and three retries
        seen.clear()
        with pytest.raises(ApiError):
            await api.create_queue("env", {"name": "qq"})
        assert len(seen) == 1
        seen.clear()
        with pytest.raises(ApiError):
            await api.start_worker("queue")
        assert len(seen) == 1


async def test_retries_on_503_then_succeeds_and_posts_are_not_retried_on_503():
    env = {"id": "e1", "organization_id": "acme", "name": "default", "extra_upstream_field": 1}
    html = httpx.Response(503, text="<html>busy</html>")
    transport, seen = counting_transport([html, httpx.Response(200, json=[env])])
    async with ApiClient("http://cp.test/api/v1/", "k", backoff=0.001, transport=transport) as api:
        envs = await api.list_environments()
    assert [e.name for e in envs] == ["default"] and len(seen) == 2
    assert str(seen[0].url) == "http://cp.test/api/v1/environments"
    assert seen[0].headers["authorization"] == "Bearer k"

    transport, seen = counting_transport([html])
    async with ApiClient("http://cp.test", "k", backoff=0.001, transport=transport) as api:
        with pytest.raises(ApiError) as err:
            await api.create_environment("new")
    assert len(seen) == 1
    assert str(err.value) == "503 Service Unavailable: Service Unavailable"


async def test_upstream_204_heartbeat_means_keep_running():
    transport, seen = counting_transport([httpx.Response(204)])
    async with ApiClient("http://cp.test", "k", transport=transport) as api:
        answer = await api.heartbeat("w-1", {"status": "active", "tasks_processed": 0})
        simple = await api.simple_heartbeat({"worker_id": "w-2", "status": "idle"})
    assert answer == HeartbeatAnswer(worker_id="w-1", desired_state="running")
    assert simple.desired_state == "running" and simple.worker_id == "w-2"
    assert [r.url.path for r in seen] == ["/api/v1/workers/w-1/heartbeat", "/api/v1/workers/heartbeat"]
