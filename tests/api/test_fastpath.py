"""The fast path answers heartbeats and task submissions exactly as the routes do, and writes the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest
import httpx

from kubiya_tui.controlplane import fastpath
from kubiya_tui.controlplane.app import MAX_BODY_BYTES, Settings, create_app
from kubiya_tui.controlplane.intake import IntakeAnswer, TaskIntake
from kubiya_tui.controlplane.server import bootstrap
from kubiya_tui.controlplane.store import Store

KEY = "kty_fastpath-test-key"


@pytest.fixture
async def apps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_backend: str, request: pytest.FixtureRequest, temporal_server
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, list[str], Store]]:
    """The same store and Temporal behind two apps: one with the fast path, one without (on each backend).
    The list holds the paths the fast path answered itself."""
    if db_backend == "postgresql":
        store = Store(request.getfixturevalue("postgres_databases").new())
    else:
        store = Store(tmp_path / "control-plane.sqlite")
    await bootstrap(store, tmp_path, env_key=KEY)
    settings = Settings(data_dir=tmp_path, temporal_address=temporal_server.address)
    served: list[str] = []
    real_answer = fastpath.FastPath._answer

    async def counting_answer(self, route, arguments):  # type: ignore[no-untyped-def]
        served.append(arguments["request"].url.path)
        return await real_answer(self, route, arguments)

    monkeypatch.setattr(fastpath.FastPath, "_answer", counting_answer)
    fast = create_app(settings, store)
    fast.middleware_stack = fast.build_middleware_stack()
    slow = create_app(settings, store)
    slow.user_middleware = [m for m in slow.user_middleware if m.cls is not fastpath.FastPath]
    slow.middleware_stack = slow.build_middleware_stack()
    headers = {"Authorization": f"Bearer {KEY}"}
    base = "http://127.0.0.1"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(fast), base_url=base, headers=headers) as f:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(slow), base_url=base, headers=headers) as s:
            yield f, s, served, store
    for app in (fast, slow):
        await app.state.temporal.close()
    await store.close()


async def _same(fast: httpx.AsyncClient, slow: httpx.AsyncClient, path: str, **kwargs) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    a = await fast.post(path, **kwargs)
    b = await slow.post(path, **kwargs)
    assert (a.status_code, a.content, a.headers.get("content-type"), a.headers.get("content-length")) == (
        b.status_code,
        b.content,
        b.headers.get("content-type"),
        b.headers.get("content-length"),
    ), path
    return a.status_code, a.content


BODY = {
    "status": "busy",
    "tasks_processed": 12,
    "tasks_failed": 1,
    "current_task_ids": ["t-1", "t-2", "t-3"],
    "slots_used": 3,
    "slots_available": 7,
    "system_info": {"hostname": "h1", "cpu_percent": 12.5, "memory_percent": 40.0},
    "worker_metadata": {"task_duration_avg_ms": 120.0},
}


async def test_fast_path_answers_like_the_route(apps) -> None:  # type: ignore[no-untyped-def]
    fast, slow, served, store = apps
    env = (await fast.get("/api/v1/environments")).json()[0]["id"]
    queue = (await fast.post(f"/api/v1/environments/{env}/worker-queues", json={"name": "q1"})).json()["id"]
    worker = (await fast.post(f"/api/v1/worker-queues/{queue}/start", json={})).json()["worker_id"]
    path = f"/api/v1/workers/{worker}/heartbeat"

    status, content = await _same(fast, slow, path, json=BODY)
    assert status == 200 and b'"desired_state":"running"' in content
    assert served, "the fast path did not serve an ordinary heartbeat"

    row = await store.get_worker("local", worker)
    assert row["status"] == "busy" and row["tasks_processed"] == 12 and row["current_task_id"] == "t-1"
    assert row["hostname"] == "h1" and row["slots_used"] == 3 and row["worker_metadata"]["task_duration_avg_ms"] == 120.0

    served.clear()
    cases = [
        dict(json=BODY, headers={"Authorization": "Bearer kty_unknown"}),
        dict(json=BODY, headers={"Authorization": ""}),
        dict(content=b'{"status": "busy"}'),  # no content type
        dict(content=b'{"status": "busy"}', headers={"Content-Type": "text/plain"}),
        dict(content=b"{not json", headers={"Content-Type": "application/json"}),
        dict(content=b"\xff\xfe{}", headers={"Content-Type": "application/json"}),
        dict(content=b"[" * 100000 + b"]" * 100000, headers={"Content-Type": "application/json"}),
        dict(content=b"", headers={"Content-Type": "application/json"}),
        dict(content=b"null", headers={"Content-Type": "application/json"}),
        dict(content=b"[1, 2]", headers={"Content-Type": "application/json"}),
        dict(json={"status": "sleepy"}),
        dict(json={"tasks_processed": -1}),
        dict(content=b"x" * (MAX_BODY_BYTES + 1), headers={"Content-Type": "application/json"}),
    ]
    for kwargs in cases:
        status, _ = await _same(fast, slow, path, **kwargs)
        assert status >= 400, kwargs
    await _same(fast, slow, f"/api/v1/workers/{worker}/heartbeat/", json=BODY)
    assert not served, "the fast path answered a request it should have left to the route"

    # An unknown worker is refused by the endpoint, answered by the app's own handler on both paths.
    status, _ = await _same(fast, slow, "/api/v1/workers/no-such-worker/heartbeat", json=BODY)
    assert status == 404 and served == ["/api/v1/workers/no-such-worker/heartbeat"]

    # The media type is matched without its parameters and case, like FastAPI does.
    await _same(fast, slow, path, content=b'{"status": "idle"}', headers={"Content-Type": "Application/JSON; charset=utf-8"})

    # A draining worker is told so, on both paths.
    assert (await fast.post(f"/api/v1/workers/{worker}/drain")).status_code == 202
    status, content = await _same(fast, slow, path, json=BODY)
    assert status == 200 and b'"desired_state":"draining"' in content

    # A disconnected worker's heartbeat is refused the same way on both paths.
    assert (await fast.post(f"/api/v1/workers/{worker}/disconnect", json={})).status_code == 204
    status, _ = await _same(fast, slow, path, json=BODY)
    assert status >= 400


async def test_fast_path_passes_other_scopes_through() -> None:
    seen: list[str] = []

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(scope["type"])

    middleware = fastpath.FastPath(inner)
    for scope in ({"type": "lifespan"}, {"type": "websocket", "path": "/api/v1/workers/w/heartbeat", "headers": []}):
        await middleware(scope, None, None)
    assert seen == ["lifespan", "websocket"]


SUBMISSION = {"kind": "sleep", "input": {"seconds": 0}}


def _without_ids(content: bytes) -> dict:
    """A 201's body with the task ids (new for each request) taken out."""
    import json

    body = json.loads(content)
    assert body["id"] == body["ids"][0]
    return {k: v for k, v in body.items() if k not in ("id", "ids")} | {"count": len(body["ids"])}


async def test_fast_path_submits_like_the_route(apps) -> None:  # type: ignore[no-untyped-def]
    fast, slow, served, store = apps
    env = (await fast.get("/api/v1/environments")).json()[0]["id"]
    queue = (await fast.post(f"/api/v1/environments/{env}/worker-queues", json={"name": "intake"})).json()["id"]
    path = f"/api/v1/worker-queues/{queue}/tasks"

    a = await fast.post(path, json={**SUBMISSION, "count": 3, "priority": "high"})
    b = await slow.post(path, json={**SUBMISSION, "count": 3, "priority": "high"})
    assert served == [path], "the fast path did not serve an ordinary submission"
    assert a.status_code == b.status_code == 201
    assert list(a.headers.items()) == list(b.headers.items())
    assert _without_ids(a.content) == _without_ids(b.content)
    for task_id in a.json()["ids"]:
        row = await store.get_task("local", task_id)
        assert row["state"] == "started" and row["queue_id"] == queue, row

    # A retry under the same key gets the first answer again, byte for byte, on either path.
    keyed = {"headers": {"Idempotency-Key": "retry-1"}, "json": {**SUBMISSION, "count": 2}}
    first = await fast.post(path, **keyed)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    status, content = await _same(fast, slow, path, **keyed)
    assert status == 201 and content == first.content
    assert (await fast.post(path, **keyed)).headers["idempotent-replayed"] == "true"

    served.clear()
    # Refused before the endpoint runs: the normal path answers, so every refusal is the route's own.
    before = [
        dict(json=SUBMISSION, headers={"Authorization": "Bearer kty_unknown"}),
        dict(content=b'{"kind": "sleep"}'),  # no content type
        dict(content=b"{not json", headers={"Content-Type": "application/json"}),
        dict(content=b"", headers={"Content-Type": "application/json"}),
        dict(json={**SUBMISSION, "count": 0}),
        dict(json={**SUBMISSION, "priority": "urgent"}),
        dict(json=[SUBMISSION]),
    ]
    for kwargs in before:
        status, _ = await _same(fast, slow, path, **kwargs)
        assert status == 422 or status == 401, (kwargs, status)
    assert not served, "the fast path answered a request it should have left to the route"

    # Refused by the endpoint: answered by the app's own handlers, the same bytes on both paths.
    by_endpoint = [
        ("/api/v1/worker-queues/no-such-queue/tasks", dict(json=SUBMISSION), 404),
        (path, dict(json={**SUBMISSION, "kind": "no-such-kind"}), 422),
        (path, dict(json={**SUBMISSION, "input": {"seconds": -1}}), 422),
        (path, dict(json=SUBMISSION, headers={"Idempotency-Key": "has space"}), 422),
        (path, dict(json={**SUBMISSION, "idempotency_key": "a"}, headers={"Idempotency-Key": "b"}), 400),
        (path, dict(json={**SUBMISSION, "count": 5}, headers={"Idempotency-Key": "retry-1"}), 409),
    ]
    for where, kwargs, expected in by_endpoint:
        status, _ = await _same(fast, slow, where, **kwargs)
        assert status == expected, (where, kwargs, status)
    assert len(served) == len(by_endpoint)


async def test_a_submission_that_failed_in_the_endpoint_is_not_run_again(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Some tasks started, then Temporal refused the rest: the 503 says which started, and nothing
    submits the request a second time (the normal path must not run what the fast path ran)."""
    fast, slow, served, store = apps
    env = (await fast.get("/api/v1/environments")).json()[0]["id"]
    queue = (await fast.post(f"/api/v1/environments/{env}/worker-queues", json={"name": "partial"})).json()["id"]
    path = f"/api/v1/worker-queues/{queue}/tasks"
    calls: list[int] = []
    partial = {"error": "Temporal did not accept every task", "message": "1 of 2 task(s) started",
               "started": ["task-a"], "not_started": ["task-b"]}  # fmt: skip

    async def half_started(self, sub, key):  # type: ignore[no-untyped-def]
        calls.append(sub.body.count)
        return IntakeAnswer(503, partial)

    monkeypatch.setattr(TaskIntake, "submit", half_started)
    status, content = await _same(fast, slow, path, json={**SUBMISSION, "count": 2})
    assert status == 503 and b'"started":["task-a"]' in content
    assert calls == [2, 2], "one run of the endpoint per request, on each path"
    assert served == [path]
