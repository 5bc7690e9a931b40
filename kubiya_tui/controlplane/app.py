"""The local control plane: a FastAPI app speaking Kubiya's worker-queue API contract."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.routing import APIRoute
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from kubiya_tui import __version__
from kubiya_tui.client.temporal import TemporalReader
from kubiya_tui.controlplane.store import Conflict, NotFound, StorageUnavailable, Store
from kubiya_tui.controlplane.temporal_relay import TemporalRelay

log = logging.getLogger("kubiya_tui.controlplane")

MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Settings:
    """What one control-plane process serves."""

    data_dir: Path
    temporal_address: str = "127.0.0.1:7233"
    namespace: str = "default"
    temporal_api_key: str | None = None
    public_url: str | None = None
    """The URL workers should use to reach this control plane; default: the URL of the request."""
    database_url: str | None = None
    """Where the registry lives (``database.py``); default: the SQLite file in the data dir."""
    access_log: bool = False
    """Log every request (``serve --access-log``): one line each to the ``kubiya_tui.access`` logger."""

    def registry_url(self) -> str:
        """The database URL this process uses."""
        from kubiya_tui.controlplane.database import default_url

        return self.database_url or default_url(self.data_dir)


class BodyLimit:
    """Pure ASGI middleware: a request body over the limit gets 413 before any handler reads it."""

    def __init__(self, app: Callable, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _too_large(send, self.limit)
                    return
        received = 0
        started = False

        async def counting_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, self.limit)


access_log = logging.getLogger("kubiya_tui.access")

_SECRET_PARAM = re.compile(r"(?i)(key|token|secret|password|auth)")


def _redacted_query(query: bytes) -> str:
    """A query string with the values of key-like parameters replaced: a key never reaches the log."""
    if not query:
        return ""
    parts = []
    for pair in query.decode("latin-1").split("&"):
        name, eq, _value = pair.partition("=")
        parts.append(f"{name}=***" if eq and _SECRET_PARAM.search(name) else pair)
    return "?" + "&".join(parts)


class AccessLog:
    """Pure ASGI middleware: one line per request (client, method, path, status, milliseconds).

    Never a header (keys travel in ``Authorization``/``UserKey``) and never a key-like query value.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0

        async def tracking_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            client = scope.get("client")
            who = f"{client[0]}:{client[1]}" if client else "-"
            path = scope.get("path", "") + _redacted_query(scope.get("query_string", b""))
            access_log.info(
                '%s "%s %s" %s %.1fms', who, scope.get("method", "-"), path, status or 500, (time.monotonic() - started) * 1000
            )


class _BodyTooLarge(HTTPException):
    """Raised from inside the app's body read: an HTTPException, so FastAPI answers 413, not 400."""

    def __init__(self, limit: int = MAX_BODY_BYTES) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


async def _too_large(send: Callable, limit: int) -> None:
    body = json.dumps({"detail": f"request body is larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The reconciler settles what a stopped process left between the registry and Temporal.
    reconciling = asyncio.create_task(app.state.intake.run(), name="task reconciler")
    try:
        yield
    finally:
        reconciling.cancel()
        try:
            await reconciling
        except asyncio.CancelledError:
            pass
        if app.state.owns_store:  # a store handed in belongs to the caller, who closes it
            await app.state.store.close()


def _named(loc: list) -> list:
    """Where a field error is, as the API says it: a query parameter by its name alone."""
    return loc[:2] if loc[:1] == ["query"] else loc


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    from kubiya_tui.controlplane import distribution
    from kubiya_tui.controlplane.deps import STORAGE_RESPONSES
    from kubiya_tui.controlplane import openapi
    from kubiya_tui.controlplane.fastpath import FastPath
    from kubiya_tui.controlplane.intake import TaskIntake
    from kubiya_tui.controlplane.routers import audit, environments, health, leases, legacy, tasks, temporal_reads, worker_queues, workers

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    owned = store is None
    store = store or Store(settings.registry_url(), migrate=False)

    app = FastAPI(
        title="kubiya-tui local control plane",
        version=__version__,
        description="Kubiya's worker-queue API, served locally for kubiya-tui, its tests and its demo.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.owns_store = owned
    app.state.temporal = TemporalReader(
        settings.temporal_address, settings.namespace, api_key=settings.temporal_api_key
    )
    app.state.intake = TaskIntake(app.state.store, app.state.temporal)
    app.state.temporal_relay = TemporalRelay(app.state.temporal, app.state.store)
    app.state.started_at = time.time()
    # Added first, so it runs inside the body limit: heartbeats and submissions skip FastAPI's routing (fastpath.py).
    app.add_middleware(FastPath)
    app.add_middleware(BodyLimit)
    if settings.access_log:
        app.add_middleware(AccessLog)  # outermost: requests the fast path serves are logged too
    _install_error_handlers(app)
    # In matching order: the first router with a route for a path and method serves it.
    for resource in (health, environments, worker_queues, workers, audit, tasks, legacy, leases, temporal_reads, distribution):
        # Every write can meet a disk that refuses it; the OpenAPI says so on each write route.
        for route in resource.router.routes:
            # (POST /temporal-reads is a read whose query is in its body: it writes nothing.)
            is_write = route.methods & {"POST", "PUT", "PATCH", "DELETE"} and route.endpoint is not temporal_reads.temporal_reads_of
            if isinstance(route, APIRoute) and is_write:
                for status, response in STORAGE_RESPONSES.items():
                    route.responses.setdefault(status, response)
        app.include_router(resource.router)
    openapi.install(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(StorageUnavailable)
    async def storage_unavailable(_: Request, exc: StorageUnavailable) -> JSONResponse:
        # The store has logged the condition once; each refused write answers it in one line.
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        # FastAPI answers 400 "error parsing the body" when JSON decoding fails other than with a
        # JSONDecodeError (bytes that are not UTF-8, nesting deeper than the parser's recursion limit).
        # Those are bodies that are not usable JSON: 422 with a field error, like any other bad JSON.
        if exc.status_code == 400 and exc.__cause__ is not None and exc.detail == "There was an error parsing the body":
            cause = exc.__cause__
            msg = (
                "JSON is nested too deeply"
                if isinstance(cause, RecursionError)
                else "body is not valid JSON" + (" (not UTF-8 text)" if isinstance(cause, UnicodeDecodeError) else "")
            )
            return JSONResponse({"detail": [{"loc": ["body"], "msg": msg, "type": "json_invalid"}]}, status_code=422)
        if exc.status_code == 405:
            # Starlette names only the methods of the first route that matched the path; each
            # method of a path is a route of its own here, so name them all, as documented.
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(request.app, request.url.path))}
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Field errors without echoing the input back: a 10 kB name need not come back twice.
        # A query error names its parameter (["query", "task_queue"]), not the position of a repeated value in it.
        errors = [
            {"loc": _named(list(e.get("loc", ()))), "msg": e.get("msg", "invalid"), "type": e.get("type", "value_error")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the server log, never into a response body.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; see the control plane's log"}, status_code=500)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the published OpenAPI documents for a request path (and HEAD with GET, as served).

    Where templates overlap (``/workers/heartbeat`` and ``/workers/{worker_id}``), the path is the
    resource of the template with the fewest parameters.
    """
    patterns = app.state.__dict__.get("path_patterns")
    if patterns is None:
        patterns = app.state.path_patterns = [
            (
                re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"),
                template.count("{"),
                {m.upper() for m in ops},
            )
            for template, ops in app.openapi()["paths"].items()
        ]
    matches = [(params, documented) for pattern, params, documented in patterns if pattern.match(path)]
    fewest = min((params for params, _ in matches), default=0)
    methods = {m for params, documented in matches if params == fewest for m in documented}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


Handler = Callable[..., Awaitable[Any]]
