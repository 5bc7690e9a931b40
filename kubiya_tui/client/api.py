"""An async client for the control-plane API contract (docs/api-contract.md).

Every method returns the shared pydantic models of :mod:`kubiya_tui.models`; those tolerate
extra fields, so the client works against Kubiya's own control plane as well as the local
one. Every failure is an :class:`ApiError` whose ``str()`` is one line a person can act on.

Idempotent calls (GET, PUT, DELETE, heartbeats, drain, scale, disconnect) are retried with
exponential backoff and jitter on connection errors, timeouts and 502/503/504. Calls that
create something (queues, environments, worker registrations, tasks) are sent once.
:meth:`ApiClient.with_policy` gives another retry policy over the same connections: the
collector's polls are never retried (a poller backs off on its own) and time out sooner.
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
import ssl
import time
from typing import TYPE_CHECKING, Any, Iterable, TypeVar
from urllib.parse import quote

import httpx

from kubiya_tui import __version__
from kubiya_tui.client.urls import base_urls, url_problem
from kubiya_tui.vocabulary import Platform, derive_health, effective_interval

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from kubiya_tui import models
else:

    class _Models:
        """kubiya_tui.models, imported at the first use of a model: the collector's polls read raw JSON,
        so a one-shot ``check`` or ``top`` never builds the API's pydantic models (~25 ms of its start)."""

        def __getattr__(self, name: str) -> Any:
            from kubiya_tui import models as loaded

            value = getattr(loaded, name)
            setattr(self, name, value)
            return value

    models = _Models()

V1 = "/api/v1"
RETRY_STATUSES = frozenset({502, 503, 504})
MIN_ID_PREFIX = 8
M = TypeVar("M", bound="BaseModel")


class ApiError(Exception):
    """A failed call to the control plane.

    ``status`` is the HTTP status, or 0 when the control plane could not be reached.
    ``detail`` is the server's message (for a 422, a one-line summary of the field errors).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        method: str | None = None,
        url: str | None = None,
        body: Any = None,
        message: str | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.method = method
        self.url = url
        self.body = body
        self._message = message
        super().__init__(str(self))

    @property
    def reason(self) -> str:
        """The status phrase: ``Not Found``, ``Conflict``..."""
        if not self.status:
            return "Connection failed"
        try:
            return httpx.codes(self.status).phrase
        except ValueError:
            return "Error"

    def __str__(self) -> str:
        if self._message:
            return self._message
        return f"{self.status} {self.reason}: {self.detail}"


def summarize_detail(detail: Any) -> str:
    """The server's ``detail`` as one line: a string as is, validation errors as ``field: msg; ...``."""
    if detail is None:
        return ""
    if isinstance(detail, str):
        return _one_line(detail)
    if isinstance(detail, dict):
        # Kubiya's 401 form: {"error", "message", "hint"}.
        for key in ("message", "detail", "error"):
            if isinstance(detail.get(key), str):
                return _one_line(detail[key])
        return _one_line(str(detail))
    if isinstance(detail, list):
        # FastAPI validation errors; the same message on several fields is said once.
        grouped: dict[str, list[str]] = {}
        for item in detail:
            if not isinstance(item, dict):
                grouped.setdefault(_one_line(str(item)), [])
                continue
            loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path", "header")]
            msg = _one_line(str(item.get("msg", "invalid")))
            grouped.setdefault(msg, [])
            if loc:
                field = ".".join(loc)
                if field not in grouped[msg]:
                    grouped[msg].append(field)
        parts = [f"{', '.join(fields)}: {msg}" if fields else msg for msg, fields in grouped.items()]
        return "; ".join(parts) or "invalid request"
    return _one_line(str(detail))


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _connection_reason(exc: Exception, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g}s ({type(exc).__name__})"
    # The root cause is deepest in the chain: "All connection attempts failed" <- ConnectionRefusedError.
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, ConnectionRefusedError) for c in chain):
        return "connection refused"
    text = str(chain[-1]) or str(exc) or type(exc).__name__
    lower = " ".join(str(c) for c in chain).lower()
    if "refused" in lower:
        return "connection refused"
    if "name or service not known" in lower or "nodename nor servname" in lower or "name resolution" in lower:
        return "host name not found"
    if "certificate" in lower or "ssl" in lower:
        return f"TLS error: {_one_line(text, 200)}"
    # "[Errno 101] Network is unreachable" -> "network is unreachable"
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", _one_line(text, 200))
    return text[:1].lower() + text[1:]


def _path(*parts: str) -> str:
    return "/".join(quote(p, safe="") for p in parts)


def _body(value: BaseModel | dict[str, Any] | None, *, exclude_none: bool = True) -> Any:
    if value is None:
        return None
    from pydantic import BaseModel  # a body to send: pydantic writes it (dates, enums) as JSON
    from pydantic_core import to_jsonable_python

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=exclude_none)
    return to_jsonable_python(value)


def _as_list(data: Any, *keys: str) -> list[Any]:
    """A JSON list, also when a server wraps it as ``{"items": [...]}``."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in (*keys, "items", "data", "results"):
            if isinstance(data.get(key), list):
                return data[key]
    raise TypeError(f"expected a list, got {type(data).__name__}")


class ApiClient:
    """The whole control-plane API contract over httpx, async.

    ``retries`` is the number of extra attempts for an idempotent call; ``backoff`` the
    first delay in seconds, doubled on each retry (with full jitter, at most ``max_backoff``).

    ``base_url`` may name several replicas of one control plane, comma-separated: calls go
    to one of them; when it cannot be connected to, the next is tried at once (nothing was
    sent, so any call may move), and an idempotent call that failed later moves on its retry.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
    ) -> None:
        self.base_urls = base_urls(base_url)
        problem = url_problem(base_url)
        if problem is not None:
            raise ApiError(0, "bad URL", url=base_url, message=problem)
        self._active = 0
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        headers = {"User-Agent": f"kubiya-tui/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # With no https:// URL (and redirects never followed) no TLS is spoken to the control
        # plane: skip loading the CA bundle, ~30 ms of every command's start. The context has
        # no CAs but still verifies, so an https proxy from the environment fails closed.
        tls = any(url.startswith("https://") for url in self.base_urls)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout), transport=transport,
            verify=True if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
        )  # fmt: skip
        self._owns_http = True

    @property
    def base_url(self) -> str:
        """The control plane's URL that calls go to now (one of ``base_urls``)."""
        return self.base_urls[self._active]

    def __repr__(self) -> str:  # never shows the key
        return f"ApiClient({','.join(self.base_urls)!r})"

    def with_policy(self, *, retries: int, timeout: float) -> "ApiClient":
        """This client with another retry policy and timeout, over the same connections.

        Closing the answer closes nothing: the connections belong to this client.
        """
        other = copy.copy(self)
        other.retries = max(0, retries)
        other.timeout = timeout
        other._owns_http = False
        return other

    async def __aenter__(self) -> "ApiClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # ------------------------------------------------------------------ transport

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        retry: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call; raises ApiError for a failure, retries only when ``retry`` (default: not POST)."""
        if retry is None:
            retry = method != "POST"
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        attempts = 1 + (self.retries if retry else 0)
        # Each call keeps its own view of which replicas it could not reach (calls run at once).
        unreachable: set[int] = set()
        index = self._active
        attempt = 0
        while attempt < attempts:
            last = attempt == attempts - 1
            url = f"{self.base_urls[index]}{path}"
            try:
                response = await self._http.request(
                    method, url, json=json, params=params or None, headers=headers, timeout=httpx.Timeout(self.timeout)
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                    # Nothing reached that replica: another may take the very same call now.
                    unreachable.add(index)
                    untried = [i for i in range(len(self.base_urls)) if i not in unreachable]
                    if untried:
                        index = untried[0]
                        continue
                    unreachable.clear()
                if len(self.base_urls) > 1 and not last:
                    index = (index + 1) % len(self.base_urls)  # the retry goes to the next replica
                if not last:
                    await self._sleep(attempt)
                    attempt += 1
                    continue
                reason = _connection_reason(exc, self.timeout)
                where = self.base_urls[0] if len(self.base_urls) == 1 else " or ".join(self.base_urls)
                raise ApiError(
                    0,
                    reason,
                    method=method,
                    url=url,
                    message=f"cannot reach control plane at {where}: {reason}",
                ) from None
            except httpx.HTTPError as exc:
                raise ApiError(
                    0,
                    _one_line(str(exc)),
                    method=method,
                    url=url,
                    message=f"cannot call control plane at {self.base_url}: {_one_line(str(exc), 200)}",
                ) from None
            self._active = index  # answered: later calls start here
            if response.status_code in RETRY_STATUSES and not last:
                await response.aclose()
                await self._sleep(attempt)
                attempt += 1
                continue
            if response.status_code >= 400:
                raise self._error(response, method, url)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _sleep(self, attempt: int) -> None:
        await asyncio.sleep(random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt)))

    def _error(self, response: httpx.Response, method: str, url: str) -> ApiError:
        body: Any = None
        try:
            body = response.json()
        except ValueError:
            pass
        if isinstance(body, dict) and "detail" in body:
            detail = summarize_detail(body["detail"])
        elif isinstance(body, dict) and ("message" in body or "error" in body):
            detail = summarize_detail(body)
        else:
            text = _one_line(response.text or "", 200)
            detail = text if text and not text.lstrip().startswith("<") else response.reason_phrase or "error"
        return ApiError(response.status_code, detail or response.reason_phrase, method=method, url=url, body=body)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._unexpected(response, "the answer is not JSON") from None

    def _unexpected(self, response: httpx.Response, why: str) -> ApiError:
        return ApiError(
            response.status_code,
            why,
            method=response.request.method,
            url=str(response.request.url),
            message=f"unexpected answer from control plane at {self.base_url} "
            f"({response.request.method} {response.request.url.path}): {why}",
        )

    def _model(self, response: httpx.Response, model: type[M]) -> M:
        from pydantic import ValidationError  # loaded with the model

        try:
            return model.model_validate(self._json(response))
        except ValidationError as exc:
            raise self._unexpected(response, _validation_summary(exc, model.__name__)) from None

    def _models(self, response: httpx.Response, model: type[M], *keys: str) -> list[M]:
        from pydantic import ValidationError

        try:
            return [model.model_validate(item) for item in _as_list(self._json(response), *keys)]
        except ValidationError as exc:
            raise self._unexpected(response, _validation_summary(exc, model.__name__)) from None
        except TypeError as exc:
            raise self._unexpected(response, str(exc)) from None

    async def _get(self, path: str, model: type[M], params: dict[str, Any] | None = None) -> M:
        return self._model(await self._send("GET", path, params=params), model)

    async def get_raw(self, path: str) -> bytes:
        """The body of ``GET path`` as bytes, unparsed: for lists too big to validate as models at once.

        ``path`` is the full path (``/api/v1/workers``), quoted by the caller. A failure is an ApiError.
        """
        return (await self._send("GET", path)).content

    async def post_read_raw(self, path: str, body: Any) -> bytes:
        """The body of a ``POST path`` that only reads (its query too long for a URL), as bytes; retried like a GET."""
        return (await self._send("POST", path, json=body, retry=True)).content

    # ------------------------------------------------------------------ service

    async def health(self) -> models.ServiceHealth:
        """``GET /api/health``."""
        return await self._get("/api/health", models.ServiceHealth)

    # ------------------------------------------------------------------ environments

    async def list_environments(self) -> list[models.Environment]:
        return self._models(await self._send("GET", f"{V1}/environments"), models.Environment, "environments")

    async def get_environment(self, env_id: str) -> models.Environment:
        return await self._get(f"{V1}/environments/{_path(env_id)}", models.Environment)

    async def create_environment(self, name: str, **fields: Any) -> models.Environment:
        response = await self._send("POST", f"{V1}/environments", json=_body({"name": name, **fields}))
        return self._model(response, models.Environment)

    async def update_environment(self, env_id: str, **changes: Any) -> models.Environment:
        response = await self._send("PATCH", f"{V1}/environments/{_path(env_id)}", json=_body(changes), retry=True)
        return self._model(response, models.Environment)

    async def delete_environment(self, env_id: str) -> None:
        await self._send("DELETE", f"{V1}/environments/{_path(env_id)}")

    # ------------------------------------------------------------------ worker queues

    async def list_queues(self, environment_id: str | None = None) -> list[models.WorkerQueue]:
        if environment_id is None:
            path = f"{V1}/worker-queues"
        else:
            path = f"{V1}/environments/{_path(environment_id)}/worker-queues"
        return self._models(await self._send("GET", path), models.WorkerQueue, "worker_queues", "queues")

    async def get_queue(self, queue_id: str) -> models.WorkerQueue:
        return await self._get(f"{V1}/worker-queues/{_path(queue_id)}", models.WorkerQueue)

    async def create_queue(self, environment_id: str, body: models.WorkerQueueCreate | dict[str, Any]) -> models.WorkerQueue:
        response = await self._send(
            "POST", f"{V1}/environments/{_path(environment_id)}/worker-queues", json=_body(body)
        )
        return self._model(response, models.WorkerQueue)

    async def update_queue(self, queue_id: str, **changes: Any) -> models.WorkerQueue:
        """PATCH the given fields; an explicit ``None`` is sent (``max_workers=None``: unlimited)."""
        response = await self._send("PATCH", f"{V1}/worker-queues/{_path(queue_id)}", json=_body(changes), retry=True)
        return self._model(response, models.WorkerQueue)

    async def delete_queue(self, queue_id: str) -> None:
        await self._send("DELETE", f"{V1}/worker-queues/{_path(queue_id)}")

    async def worker_command(self, queue_id: str) -> models.WorkerCommand:
        return await self._get(f"{V1}/worker-queues/{_path(queue_id)}/worker-command", models.WorkerCommand)

    async def install_script(self, queue_id: str, platform: Platform | str = Platform.local) -> str:
        """The install script as text; sent as both ``platform`` and upstream's ``deployment_type``."""
        value = platform.value if isinstance(platform, Platform) else str(platform)
        response = await self._send(
            "GET",
            f"{V1}/worker-queues/{_path(queue_id)}/install-script",
            params={"platform": value, "deployment_type": value},
        )
        return response.text

    async def queue_config(self, queue_id: str) -> dict[str, Any]:
        data = self._json(await self._send("GET", f"{V1}/worker-queues/{_path(queue_id)}/config"))
        if not isinstance(data, dict):
            raise ApiError(200, "config is not an object", message="unexpected answer: queue config is not an object")
        return data

    async def queue_metrics(self, queue_id: str) -> models.WorkerQueueMetrics:
        return await self._get(f"{V1}/worker-queues/{_path(queue_id)}/metrics", models.WorkerQueueMetrics)

    async def queue_workers(
        self, queue_id: str, *, stale_after: float | None = None, heartbeat_interval: float | None = None
    ) -> list[models.WorkerDetail]:
        """The workers of one queue, each with its queue, heartbeat age and health filled in when the
        server left them out (Kubiya's does: docs/api.md §4.6). ``stale_after`` is the server's own
        liveness rule in seconds (Kubiya: 150); without it, 2.5 x ``heartbeat_interval``."""
        response = await self._send("GET", f"{V1}/worker-queues/{_path(queue_id)}/workers")
        now = time.time()
        return [
            complete_worker(w, queue_id, now, stale_after=stale_after, heartbeat_interval=heartbeat_interval)
            for w in self._models(response, models.WorkerDetail, "workers")
        ]

    async def scale_queue(
        self, queue_id: str, workers: int, reason: str | None = None, lease: models.Lease | None = None
    ) -> models.ScaleResult:
        """Set the wanted worker count (the reason goes into the audit entry); idempotent, so retried.

        With ``lease`` the change is made only while that lease is still held (409 otherwise).
        """
        body: dict[str, Any] = {"workers": workers}
        if reason:
            body["reason"] = reason[:500]
        if lease is not None:
            body["lease"] = {"name": lease.name, "holder": lease.holder, "token": lease.token}
        response = await self._send("POST", f"{V1}/worker-queues/{_path(queue_id)}/scale", json=body, retry=True)
        return self._model(response, models.ScaleResult)

    async def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> models.Lease | None:
        """Take or renew a lease; None while another holder has it (an extension of this control plane)."""
        try:
            response = await self._send(
                "POST", f"{V1}/leases/{_path(name)}", json={"holder": holder, "ttl_seconds": ttl_seconds}, retry=True
            )
        except ApiError as exc:
            if exc.status == 409:
                return None
            raise
        return self._model(response, models.Lease)

    async def release_lease(self, name: str, holder: str) -> bool:
        """Give a lease up at once if ``holder`` holds it; False when another holds it or it was never taken."""
        try:
            await self._send("DELETE", f"{V1}/leases/{_path(name)}", params={"holder": holder})
        except ApiError as exc:
            if exc.status in (404, 409):
                return False
            raise
        return True

    async def set_autoscale(self, queue_id: str, policy: models.AutoscalePolicy | dict[str, Any]) -> models.WorkerQueue:
        response = await self._send("PUT", f"{V1}/worker-queues/{_path(queue_id)}/autoscale", json=_body(policy))
        return self._model(response, models.WorkerQueue)

    async def clear_autoscale(self, queue_id: str) -> models.WorkerQueue:
        response = await self._send("DELETE", f"{V1}/worker-queues/{_path(queue_id)}/autoscale")
        return self._model(response, models.WorkerQueue)

    # ------------------------------------------------------------------ workers

    async def list_workers(self) -> list[models.WorkerDetail]:
        """Every registered worker of the organization (kubiya-tui's ``GET /registered-workers``).

        Not on Kubiya's control plane, whose ``GET /workers`` lists runners: there, read the
        workers per queue (:meth:`queue_workers`; ``Capabilities.org_workers_list`` says which).
        """
        return self._models(await self._send("GET", f"{V1}/registered-workers"), models.WorkerDetail, "workers")

    async def get_worker(self, worker_id: str) -> models.WorkerDetail:
        """One registered worker by id (kubiya-tui's ``GET /registered-workers/{id}``)."""
        return await self._get(f"{V1}/registered-workers/{_path(worker_id)}", models.WorkerDetail)

    async def list_runners(self) -> list[models.TaskQueueInfo]:
        """``GET /workers``: the runners' Temporal task queues and their pollers (Kubiya's meaning, on both servers)."""
        return self._models(await self._send("GET", f"{V1}/workers"), models.TaskQueueInfo)

    async def get_runner(self, runner_name: str) -> models.TaskQueueInfo:
        """``GET /workers/{runner_name}``: one runner's Temporal task queue and its pollers."""
        return await self._get(f"{V1}/workers/{_path(runner_name)}", models.TaskQueueInfo)

    async def start_worker(
        self, queue_id: str, body: models.WorkerStartRequest | dict[str, Any] | None = None
    ) -> models.WorkerRegistration:
        """Register a worker with a queue (creates a registration: never retried)."""
        response = await self._send("POST", f"{V1}/worker-queues/{_path(queue_id)}/start", json=_body(body) or {})
        return self._model(response, models.WorkerRegistration)

    async def legacy_register(self, body: dict[str, Any] | BaseModel) -> models.WorkerRegistration:
        response = await self._send("POST", f"{V1}/workers/register", json=_body(body))
        return self._model(response, models.WorkerRegistration)

    def _heartbeat_answer(self, response: httpx.Response, worker_id: str | None) -> models.HeartbeatAnswer:
        # Upstream answers 204 and never asks a worker to drain.
        if response.status_code == 204 or not response.content.strip():
            return models.HeartbeatAnswer(worker_id=worker_id, desired_state="running")
        return self._model(response, models.HeartbeatAnswer)

    async def heartbeat(self, worker_id: str, body: models.HeartbeatRequest | dict[str, Any]) -> models.HeartbeatAnswer:
        response = await self._send(
            "POST", f"{V1}/workers/{_path(worker_id)}/heartbeat", json=_body(body), retry=True
        )
        return self._heartbeat_answer(response, worker_id)

    async def simple_heartbeat(self, body: BaseModel | dict[str, Any]) -> models.HeartbeatAnswer:
        """The Work Queues page's form: ``worker_id`` inside the body."""
        payload = _body(body)
        response = await self._send("POST", f"{V1}/workers/heartbeat", json=payload, retry=True)
        return self._heartbeat_answer(response, payload.get("worker_id") if isinstance(payload, dict) else None)

    async def disconnect(
        self,
        worker_id: str,
        reason: str = "shutdown",
        exit_code: int | None = None,
        error_message: str | None = None,
    ) -> None:
        body = {"reason": reason, "exit_code": exit_code, "error_message": error_message}
        await self._send(
            "POST",
            f"{V1}/workers/{_path(worker_id)}/disconnect",
            json={k: v for k, v in body.items() if v is not None},
            retry=True,
        )

    async def drain_worker(self, worker_id: str) -> models.WorkerDetail:
        """Ask a worker to finish what it holds and exit (idempotent: retried)."""
        response = await self._send("POST", f"{V1}/workers/{_path(worker_id)}/drain", retry=True)
        return self._model(response, models.WorkerDetail)

    # ------------------------------------------------------------------ audit and tasks

    async def audit(self, limit: int = 100, action: str | None = None) -> list[models.AuditEntry]:
        response = await self._send("GET", f"{V1}/audit", params={"limit": limit, "action": action})
        return self._models(response, models.AuditEntry, "entries")

    async def submit_task(self, queue_id: str, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Submit tasks; with an ``idempotency_key`` the call is retried like a read (a retry starts nothing twice)."""
        response = await self._send(
            "POST",
            f"{V1}/worker-queues/{_path(queue_id)}/tasks",
            json=_body(body),
            retry=idempotency_key is not None,
            headers={"Idempotency-Key": idempotency_key} if idempotency_key else None,
        )
        return self._object(response)

    async def get_task(self, task_id: str) -> dict[str, Any]:
        return self._object(await self._send("GET", f"{V1}/tasks/{_path(task_id)}"))

    async def list_tasks(self, queue_id: str, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        response = await self._send(
            "GET", f"{V1}/worker-queues/{_path(queue_id)}/tasks", params={"status": status, "limit": limit}
        )
        try:
            return [dict(t) for t in _as_list(self._json(response), "tasks")]
        except (TypeError, ValueError) as exc:
            raise self._unexpected(response, str(exc)) from None

    # ------------------------------------------------------------------ legacy task queues

    async def list_task_queues(self) -> list[models.LegacyTaskQueue]:
        return self._models(await self._send("GET", f"{V1}/task-queues"), models.LegacyTaskQueue, "task_queues")

    async def get_task_queue(self, queue_id: str) -> models.LegacyTaskQueue:
        return await self._get(f"{V1}/task-queues/{_path(queue_id)}", models.LegacyTaskQueue)

    async def create_task_queue(self, name: str, **fields: Any) -> models.LegacyTaskQueue:
        response = await self._send("POST", f"{V1}/task-queues", json={"name": name, **fields})
        return self._model(response, models.LegacyTaskQueue)

    async def update_task_queue(self, queue_id: str, **changes: Any) -> models.LegacyTaskQueue:
        response = await self._send("PATCH", f"{V1}/task-queues/{_path(queue_id)}", json=changes, retry=True)
        return self._model(response, models.LegacyTaskQueue)

    async def delete_task_queue(self, queue_id: str) -> None:
        await self._send("DELETE", f"{V1}/task-queues/{_path(queue_id)}", retry=True)

    async def task_queue_worker_command(self, queue_id: str) -> models.LegacyWorkerCommand:
        return await self._get(f"{V1}/task-queues/{_path(queue_id)}/worker-command", models.LegacyWorkerCommand)

    async def task_queue_workers(self, queue_id: str) -> list[models.WorkerDetail]:
        return self._models(await self._send("GET", f"{V1}/task-queues/{_path(queue_id)}/workers"), models.WorkerDetail, "workers")

    async def task_queue_metrics(self, queue_id: str) -> models.WorkerQueueMetrics:
        return await self._get(f"{V1}/task-queues/{_path(queue_id)}/metrics", models.WorkerQueueMetrics)

    async def submit_legacy_task(self, queue_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._send("POST", f"{V1}/task-queues/{_path(queue_id)}/tasks", json=_body(body))
        return self._object(response)

    async def migrate_task_queue(
        self, queue_id: str, environment: str, name: str | None = None, **fields: Any
    ) -> models.MigrationResult:
        body = {"environment_id": environment, "name": name, **fields}
        response = await self._send("POST", f"{V1}/task-queues/{_path(queue_id)}/migrate", json=_body(body))
        return self._model(response, models.MigrationResult)

    async def drain_task_queue_workers(self, queue_id: str, force: bool = False) -> list[models.WorkerDetail]:
        response = await self._send(
            "POST", f"{V1}/task-queues/{_path(queue_id)}/drain-workers", params={"force": str(force).lower()}, retry=True
        )
        return self._models(response, models.WorkerDetail, "workers")

    async def resolve_task_queue(self, id_or_name: str) -> models.LegacyTaskQueue:
        """A legacy task queue by id, by name, or by its Temporal task queue name."""
        queues = await self.list_task_queues()
        return _pick(
            id_or_name,
            [q for q in queues if q.id == id_or_name],
            [q for q in queues if id_or_name in (q.name, q.task_queue_name)],
            what="legacy task queue",
            describe=lambda q: f"{q.name} ({q.id})",
        )

    def _object(self, response: httpx.Response) -> dict[str, Any]:
        data = self._json(response)
        if not isinstance(data, dict):
            raise self._unexpected(response, f"expected an object, got {type(data).__name__}")
        return data

    # ------------------------------------------------------------------ names

    async def resolve_environment(self, id_or_name: str) -> models.Environment:
        """An environment by id (exact match wins) or by name."""
        envs = await self.list_environments()
        return _pick(
            id_or_name,
            [e for e in envs if e.id == id_or_name],
            [e for e in envs if e.name == id_or_name],
            what="environment",
            describe=lambda e: f"{e.name} ({e.id})",
        )

    async def resolve_queue(self, id_or_name: str) -> models.WorkerQueue:
        """A queue by id (exact match wins), by name, or as ``environment/name``.

        Failing those, a unique id prefix of at least 8 characters (the short id of a table).
        Several queues of that name (in different environments) is an error listing them.
        """
        queues, envs = await asyncio.gather(self.list_queues(), self.list_environments())
        env_names = {e.id: e.name for e in envs}

        def env_of(q: models.WorkerQueue) -> str:
            return q.environment_name or env_names.get(q.environment_id) or q.environment_id

        by_id = [q for q in queues if q.id == id_or_name]
        if by_id:
            return by_id[0]
        by_name = [q for q in queues if q.name == id_or_name]
        if not by_name and "/" in id_or_name:
            env, _, name = id_or_name.rpartition("/")
            by_name = [q for q in queues if q.name == name and env in (env_of(q), q.environment_id)]
        if not by_name and len(id_or_name) >= MIN_ID_PREFIX:
            # The short ids that tables show (like docker's), when nothing has that name.
            by_name = [q for q in queues if q.id.startswith(id_or_name)]
        return _pick(id_or_name, [], by_name, what="worker queue", describe=lambda q: f"{env_of(q)}/{q.name} ({q.id})")


def _pick(key: str, by_id: list[M], by_name: list[M], *, what: str, describe: Any) -> M:
    if by_id:
        return by_id[0]
    if len(by_name) == 1:
        return by_name[0]
    if not by_name:
        raise ApiError(404, f"{what} {key!r} not found", message=f"no {what} with id or name {key!r}")
    choices = ", ".join(describe(m) for m in by_name)
    raise ApiError(
        409,
        f"{what} name {key!r} is ambiguous",
        message=f"{len(by_name)} {what}s are named {key!r}; name one by id or as environment/name: {choices}",
    )


def complete_worker(
    w: models.WorkerDetail,
    queue_id: str,
    now: float,
    *,
    stale_after: float | None = None,
    heartbeat_interval: float | None = None,
) -> models.WorkerDetail:
    """A worker of ``GET /worker-queues/{queue_id}/workers`` with what Kubiya's server leaves out:
    the queue (the one asked about), the heartbeat age (from ``last_heartbeat``) and the health
    (by the server's rule when it has one: Kubiya's 150 s)."""
    changes: dict[str, Any] = {}
    if w.queue_id is None:
        changes["queue_id"] = queue_id
    age = w.heartbeat_age_seconds
    if age is None and w.last_heartbeat is not None:
        age = changes["heartbeat_age_seconds"] = round(max(0.0, now - w.last_heartbeat.timestamp()), 3)
    if w.health is None:
        interval = effective_interval(w.heartbeat_interval or heartbeat_interval, w.observed_heartbeat_interval)
        changes["health"] = derive_health(
            w.status, w.desired_state, age, interval, stale_after=stale_after, drain_ignored=w.drain_ignored
        )
    return w.model_copy(update=changes) if changes else w


def _validation_summary(exc: "ValidationError", model: str) -> str:
    errors: Iterable[dict[str, Any]] = exc.errors(include_input=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or model}: {e['msg']}" for e in errors]
    return f"{model} does not match the contract ({'; '.join(parts[:3])})"
