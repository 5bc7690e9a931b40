"""A fast path for the one request that comes by the thousand: a worker's heartbeat.

``POST /api/v1/workers/{worker_id}/heartbeat`` is served here, in a pure ASGI middleware,
without FastAPI's route matching, dependency solving and response-model machinery (about
half of the CPU a heartbeat costs on the normal path). It calls the same code as the
route: the ``caller`` dependency for the key, the route's own endpoint function for the
work (``routers/workers.py``), and answers the same bytes.

Only the ordinary case is served here: a known key, a JSON body that validates and a
known worker. Anything else (no or unknown key, another content type, a body that does
not parse or validate, an unknown worker, a disk that refuses the write, a trailing
slash, ...) goes to the normal app with the body replayed, so every error answer is
exactly the one the route gives.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any, Callable

from fastapi import HTTPException
from pydantic import ValidationError
from starlette.requests import Request

from kubiya_tui.controlplane.deps import V1, caller
from kubiya_tui.controlplane.routers.workers import heartbeat
from kubiya_tui.controlplane.store import NotFound, StorageUnavailable
from kubiya_tui.models import HeartbeatRequest

log = logging.getLogger("kubiya_tui.controlplane")

PREFIX = V1 + "/workers/"
SUFFIX = "/heartbeat"
_ENDPOINT_PARAMS = ["worker_id", "body", "request", "who"]


def _json_content_type(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json"
    return False


class HeartbeatFastPath:
    """Pure ASGI middleware; install it inside the body limit so that limit still applies."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        params = list(inspect.signature(heartbeat).parameters)
        self.enabled = params == _ENDPOINT_PARAMS
        if not self.enabled:
            log.warning("heartbeat fast path off: the endpoint's parameters are now %s", params)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        path = scope.get("path", "")
        if not (
            self.enabled
            and scope["type"] == "http"
            and scope.get("method") == "POST"
            and path.startswith(PREFIX)
            and path.endswith(SUFFIX)
            and not scope.get("root_path")
            and _json_content_type(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        worker_id = path[len(PREFIX) : -len(SUFFIX)]
        if not worker_id or "/" in worker_id:
            await self.app(scope, receive, send)
            return

        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away mid-body: no one to answer
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)

        answer = await self._serve(scope, worker_id, raw)
        if answer is None:
            await self.app(scope, _replay(raw, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(answer)).encode()), (b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    async def _serve(self, scope: dict, worker_id: str, raw: bytes) -> bytes | None:
        """The answer's bytes, or None when the normal path should answer."""
        if not raw:
            return None
        request = Request(scope)
        try:
            who = await caller(request)
            body = HeartbeatRequest.model_validate(json.loads(raw))
        except (HTTPException, ValueError, RecursionError, ValidationError):
            return None
        try:
            result = await heartbeat(worker_id=worker_id, body=body, request=request, who=who)
        except (HTTPException, NotFound, StorageUnavailable):
            # Raised before anything was written (an unknown worker updates no row, a full
            # disk refuses the update): the normal path runs it again and answers exactly as
            # the route does.
            return None
        return result.model_dump_json(by_alias=True).encode()


def _replay(raw: bytes, receive: Callable) -> Callable:
    """A receive that hands over the body already read, then defers to the real one."""
    pending = [{"type": "http.request", "body": raw, "more_body": False}]

    async def replayed() -> dict[str, Any]:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
