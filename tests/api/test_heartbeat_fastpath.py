"""The heartbeat fast path answers exactly as the route does, and persists the same row."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest
import httpx

from kubiya_tui.controlplane import fastpath
from kubiya_tui.controlplane.app import MAX_BODY_BYTES, Settings, create_app
from kubiya_tui.controlplane.server import bootstrap
from kubiya_tui.controlplane.store import Store

KEY = "kty_fastpath-test-key"


@pytest.fixture
async def apps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, list[int], Store]]:
    """The same store behind two apps: one with the fast path, one without (on each backend)."""
    if db_backend == "postgresql":
        store = Store(request.getfixturevalue("postgres_databases").new())
    else:
        store = Store(tmp_path / "control-plane.sqlite")
    await bootstrap(store, tmp_path, env_key=KEY)
    settings = Settings(data_dir=tmp_path, temporal_address="127.0.0.1:1")
    served: list[int] = []
    real_serve = fastpath.HeartbeatFastPath._serve

    async def counting_serve(self, scope, worker_id, raw):  # type: ignore[no-untyped-def]
        answer = await real_serve(self, scope, worker_id, raw)
        if answer is not None:
            served.append(1)
        return answer

    monkeypatch.setattr(fastpath.HeartbeatFastPath, "_serve", counting_serve)
    fast = create_app(settings, store)
    fast.middleware_stack = fast.build_middleware_stack()
    monkeypatch.setattr(fastpath, "_ENDPOINT_PARAMS", ["no fast path"])
    slow = create_app(settings, store)
    slow.middleware_stack = slow.build_middleware_stack()
    headers = {"Authorization": f"Bearer {KEY}"}
    base = "http://127.0.0.1"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(fast), base_url=base, headers=headers) as f:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(slow), base_url=base, headers=headers) as s:
            yield f, s, served, store
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
    for other in ("/api/v1/workers/no-such-worker/heartbeat", f"/api/v1/workers/{worker}/heartbeat/"):
        await _same(fast, slow, other, json=BODY)
    assert not served, "the fast path answered a request it should have left to the route"

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

    middleware = fastpath.HeartbeatFastPath(inner)
    for scope in ({"type": "lifespan"}, {"type": "websocket", "path": "/api/v1/workers/w/heartbeat", "headers": []}):
        await middleware(scope, None, None)
    assert seen == ["lifespan", "websocket"]
