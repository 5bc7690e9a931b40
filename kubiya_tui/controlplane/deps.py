"""What every router shares: the API prefix, the caller behind an API key, and the app's state."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Header, HTTPException, Request

from kubiya_tui.client.temporal import TemporalReader
from kubiya_tui.controlplane.store import Store, hash_key

if TYPE_CHECKING:
    from kubiya_tui.controlplane.app import Settings
    from kubiya_tui.controlplane.intake import TaskIntake

V1 = "/api/v1"
KEY_CACHE_SECONDS = 30.0
KEY_CACHE_SIZE = 10_000

STORAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"description": "The control plane's disk is read-only or failing, or Temporal is unavailable: nothing was written"},
    507: {"description": "The control plane's disk is full: nothing was written; writes succeed again once space is freed"},
}
"""What any write may answer when the disk refuses it (added to every write route's OpenAPI by the app)."""

SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "A request with the same Idempotency-Key is still being served (retry in a moment), or the key"
        " was already used for a different request to this queue (use a new key)"
    },
    422: {"description": "A bad task, or a malformed Idempotency-Key"},
    503: {
        "description": "Temporal is unavailable (nothing was recorded or started), or did not accept every task:"
        " the detail's `started` lists exactly the tasks that started, the others never run"
    },
    507: STORAGE_RESPONSES[507],
}
"""What a task submission may answer besides 201."""

IDEMPOTENCY_HEADER = Header(
    default=None,
    alias="Idempotency-Key",
    description="A retry with the same key (per queue, kept 24 h) gets the first answer again and starts nothing.",
    json_schema_extra={"pattern": r"^[\x21-\x7e]{1,255}$"},  # the route words the refusal
)
"""The default of a submission's ``idempotency_key`` parameter: the ``Idempotency-Key`` header."""


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the organization that owns the API key, and the key's actor."""

    org: str
    actor: str


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status_code=401,
        detail={
            "error": "Unauthorized",
            "message": message,
            "hint": "send 'Authorization: Bearer <key>', 'Authorization: UserKey <key>' or a 'UserKey: <key>' header",
        },
    )


def _key_from(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("bearer", "userkey") and value.strip():
            return value.strip()
        return None
    user_key = request.headers.get("userkey")
    return user_key.strip() if user_key and user_key.strip() else None


async def caller(request: Request) -> Caller:
    """The caller of a request, from its API key; 401 when the key is missing, malformed or unknown."""
    key = _key_from(request)
    if key is None:
        raise _unauthorized("missing or malformed API key")
    # Key owners are cached by hash (the hash of a key is all this process ever holds) for a
    # short while: a key's owner never changes, and a key removed from the database stops
    # working on every replica within KEY_CACHE_SECONDS.
    cache: dict[str, tuple[Caller, float]] = request.app.state.__dict__.setdefault("key_cache", {})
    digest = hash_key(key)
    now = time.monotonic()
    found = cache.get(digest)
    if found is None or found[1] < now:
        owner = await get_store(request).key_owner(key)
        if owner is None:
            cache.pop(digest, None)
            raise _unauthorized("unknown API key")
        if len(cache) >= KEY_CACHE_SIZE:
            cache.clear()
        found = cache[digest] = (Caller(org=owner[0], actor=owner[1]), now + KEY_CACHE_SECONDS)
    return found[0]


Auth = Depends(caller)
"""The default of an endpoint's ``who: Caller`` parameter: authenticates the request."""


def get_store(request: Request) -> Store:
    """The app's registry."""
    return request.app.state.store


def get_temporal(request: Request) -> TemporalReader:
    """The app's Temporal reader."""
    return request.app.state.temporal


def get_intake(request: Request) -> TaskIntake:
    """The app's task intake (record-first submission and its reconciler)."""
    return request.app.state.intake


def get_settings(request: Request) -> Settings:
    """What this control-plane process serves (Temporal address, namespace, public URL)."""
    return request.app.state.settings


def get_public_url(request: Request) -> str:
    """The URL workers should use to reach this control plane, without a trailing slash."""
    configured = get_settings(request).public_url
    return (configured or str(request.base_url)).rstrip("/")


async def live_worker_count(store: Store, org: str, queue: dict[str, Any]) -> int:
    """Workers of a worker queue that heartbeat recently enough to count as live, now."""
    return await store.count_live_workers(org, queue["id"], time.time(), queue["heartbeat_interval"])
