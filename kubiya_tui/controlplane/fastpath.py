"""A fast path for the two requests that come by the thousand: a worker's heartbeat and a task submission.

``POST /api/v1/workers/{worker_id}/heartbeat`` and ``POST /api/v1/worker-queues/{queue_id}/tasks``
are served here, in a pure ASGI middleware, without FastAPI's route matching, dependency
solving and response machinery (about half of the CPU a heartbeat costs on the normal path,
a fifth of a submission's). It calls the same code as the route: the ``caller`` dependency for
the key, the route's own endpoint function for the work (``routers/workers.py``,
``routers/tasks.py``), and answers the same bytes.

Only a request the route would accept up to its endpoint is served here: a known key, a JSON
body that validates. Anything else (no or unknown key, another content type, a body that does
not parse or validate, a trailing slash, ...) goes to the normal app with the body replayed, so
every such error answer is exactly the one the route gives. Once the endpoint has run, its
answer is final: what it raises is answered by the app's own exception handlers, as FastAPI
would, and never run again by the normal path (a submission that started some tasks and then
failed must not start them twice).
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

from fastapi import HTTPException
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from kubiya_tui.controlplane.deps import V1, caller
from kubiya_tui.controlplane.routers.tasks import submit_task
from kubiya_tui.controlplane.routers.workers import heartbeat
from kubiya_tui.models import HeartbeatRequest, TaskSubmit

log = logging.getLogger("kubiya_tui.controlplane")


@dataclass(frozen=True)
class HotRoute:
    """One route the fast path serves: ``POST {prefix}{id}{suffix}`` answered by ``endpoint``."""

    prefix: str
    suffix: str
    endpoint: Callable[..., Any]
    params: tuple[str, ...]
    """The endpoint's parameters this path fills in; another signature turns the route off here."""
    body: type[BaseModel]
    status: int
    """The route's status code when the endpoint does not set one."""

    def matches(self, path: str) -> str | None:
        """The id the path names, or None when it is not this route's path."""
        if not (path.startswith(self.prefix) and path.endswith(self.suffix)):
            return None
        path_id = path[len(self.prefix) : len(path) - len(self.suffix)]
        return path_id if path_id and "/" not in path_id else None


HOT_ROUTES = (
    HotRoute(V1 + "/workers/", "/heartbeat", heartbeat, ("worker_id", "body", "request", "who"), HeartbeatRequest, 200),
    HotRoute(
        V1 + "/worker-queues/",
        "/tasks",
        submit_task,
        ("queue_id", "body", "request", "response", "idempotency_key", "who"),
        TaskSubmit,
        201,
    ),
)


def _json_content_type(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json"
    return False


class FastPath:
    """Pure ASGI middleware; install it inside the body limit so that limit still applies."""

    def __init__(self, app: Callable, routes: tuple[HotRoute, ...] = HOT_ROUTES) -> None:
        self.app = app
        self.routes = []
        for route in routes:
            params = tuple(inspect.signature(route.endpoint).parameters)
            if params == route.params:
                self.routes.append(route)
            else:
                log.warning("fast path off for %s...%s: the endpoint's parameters are now %s", route.prefix, route.suffix, params)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        route, path_id = None, None
        if scope["type"] == "http" and scope.get("method") == "POST" and not scope.get("root_path"):
            path = scope.get("path", "")
            for candidate in self.routes:
                path_id = candidate.matches(path)
                if path_id is not None:
                    route = candidate
                    break
        if route is None or path_id is None or not _json_content_type(scope["headers"]):
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

        request = Request(scope)
        arguments = await self._arguments(route, request, path_id, raw)
        if arguments is None:
            await self.app(scope, _replay(raw, receive), send)
            return
        try:
            response = await self._answer(route, arguments)
        except Exception as exc:
            handler = _handler_for(scope["app"], exc)
            if handler is None:
                raise  # to the app's ServerErrorMiddleware: a 500, as on the normal path
            response = await handler(request, exc)
        await response(scope, receive, send)

    async def _arguments(self, route: HotRoute, request: Request, path_id: str, raw: bytes) -> dict[str, Any] | None:
        """The endpoint's arguments, or None when the normal path should answer (it words every refusal)."""
        if not raw:
            return None
        try:
            who = await caller(request)
            body = route.body.model_validate(json.loads(raw))
        except (HTTPException, ValueError, RecursionError, ValidationError):
            return None
        given = {
            "body": body,
            "request": request,
            "who": who,
            "idempotency_key": request.headers.get("idempotency-key"),
            route.params[0]: path_id,
        }
        return {name: given.get(name) for name in route.params}

    async def _answer(self, route: HotRoute, arguments: dict[str, Any]) -> Response:
        """Run the endpoint and build its response as FastAPI does: the model's JSON, the route's status
        unless the endpoint set one on its ``response``, and the headers it set there."""
        sub = Response()
        del sub.headers["content-length"]
        sub.status_code = None  # type: ignore[assignment]
        if "response" in arguments:
            arguments["response"] = sub
        result = await route.endpoint(**arguments)
        response = Response(result.model_dump_json(by_alias=True).encode(), status_code=sub.status_code or route.status,
                            media_type="application/json")  # fmt: skip
        response.raw_headers.extend(sub.raw_headers)
        return response


def _handler_for(app: Any, exc: Exception) -> Callable | None:
    """The app's handler for ``exc``, as FastAPI's ExceptionMiddleware finds it (by the exception's
    classes, most specific first); None for an error only the catch-all 500 handler answers."""
    handlers = app.exception_handlers
    if isinstance(exc, HTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


def _replay(raw: bytes, receive: Callable) -> Callable:
    """A receive that hands over the body already read, then defers to the real one."""
    pending = [{"type": "http.request", "body": raw, "more_body": False}]

    async def replayed() -> dict[str, Any]:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
