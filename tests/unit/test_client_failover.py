"""The API client with several control-plane URLs: a replica that cannot be connected to is
skipped at once for any call; a call that may have reached a replica is moved only if retryable."""

from __future__ import annotations

import httpx
import pytest

from kubiya_tui.client.api import ApiClient, ApiError

A, B = "http://127.0.0.1:1", "http://127.0.0.1:2"


def transport(seen: list[str], fail: dict[str, type[Exception]]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        where = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        seen.append(f"{request.method} {where}")
        if where in fail:
            raise fail[where]("down", request=request)
        return httpx.Response(200, json=[])

    return httpx.MockTransport(handle)


async def test_an_unreachable_replica_is_skipped_for_any_call() -> None:
    seen: list[str] = []
    api = ApiClient(f"{A}, {B}/api/v1", "k", transport=transport(seen, {A: httpx.ConnectError}), retries=0)
    assert api.base_urls == [A, B]
    assert await api.list_environments() == []
    # a POST too: nothing reached A, so B may take it
    with pytest.raises(ApiError):
        await api.submit_task("q", {"kind": "sleep"})  # [] is not a submission answer; what matters is where it went
    assert seen == [f"GET {A}", f"GET {B}", f"POST {B}"]
    assert api.base_url == B  # and it stays there
    await api.aclose()


async def test_a_post_that_may_have_reached_a_replica_is_not_sent_again_elsewhere() -> None:
    seen: list[str] = []
    api = ApiClient(f"{A},{B}", "k", transport=transport(seen, {A: httpx.ReadError}), retries=3, backoff=0)
    with pytest.raises(ApiError, match="cannot reach"):
        await api.submit_task("q", {"kind": "sleep"})
    assert seen == [f"POST {A}"]
    # an idempotent call retries on the next replica
    assert await api.list_environments() == []
    assert seen[1:] == [f"GET {A}", f"GET {B}"]
    await api.aclose()


async def test_every_replica_down_is_one_error_naming_them_all() -> None:
    api = ApiClient(f"{A},{B}", "k", transport=transport([], {A: httpx.ConnectError, B: httpx.ConnectError}), retries=1, backoff=0)
    with pytest.raises(ApiError) as failed:
        await api.list_environments()
    assert A in str(failed.value) and B in str(failed.value)
    await api.aclose()


async def test_calls_at_once_each_give_up_when_every_replica_is_down() -> None:
    import asyncio

    seen: list[str] = []
    api = ApiClient(f"{A},{B}", "k", transport=transport(seen, {A: httpx.ConnectError, B: httpx.ConnectError}), retries=2, backoff=0)
    results = await asyncio.wait_for(
        asyncio.gather(*(api.list_environments() for _ in range(5)), return_exceptions=True), 10
    )
    assert all(isinstance(r, ApiError) for r in results)
    assert len(seen) == 5 * 3 * 2  # each call: every replica, once per attempt
    await api.aclose()


def test_a_bad_url_among_several_is_refused() -> None:
    with pytest.raises(ApiError, match="not an http"):
        ApiClient(f"{A},ftp://x", "k")
