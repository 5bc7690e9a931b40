"""Every endpoint of the contract (docs/api-contract.md), scoped to the caller's organization."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse

from kubiya_tui import __version__
from kubiya_tui.client.temporal import TemporalReader, TemporalUnavailable
from kubiya_tui.controlplane import distribution, scripts
from kubiya_tui.controlplane.store import NotFound, Store, hash_key
from kubiya_tui.models import (
    AuditEntry,
    AutoscalePolicy,
    DisconnectRequest,
    Environment,
    EnvironmentCreate,
    EnvironmentUpdate,
    HeartbeatAnswer,
    HeartbeatRequest,
    LegacyRegisterRequest,
    Platform,
    ScaleRequest,
    ScaleResult,
    SimpleHeartbeatRequest,
    WorkerCommand,
    WorkerDetail,
    WorkerQueue,
    WorkerQueueCreate,
    WorkerQueueMetrics,
    WorkerQueueUpdate,
    WorkerRegistration,
    WorkerStartRequest,
    derive_health,
)

router = APIRouter()
V1 = "/api/v1"


# ---------------------------------------------------------------------------- auth


@dataclass(frozen=True)
class Caller:
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
    key = _key_from(request)
    if key is None:
        raise _unauthorized("missing or malformed API key")
    # Key owners are cached by hash: the hash of a key is all this process ever holds.
    cache: dict[str, Caller] = request.app.state.__dict__.setdefault("key_cache", {})
    digest = hash_key(key)
    found = cache.get(digest)
    if found is None:
        owner = _store(request).key_owner(key)
        if owner is None:
            raise _unauthorized("unknown API key")
        found = cache[digest] = Caller(org=owner[0], actor=owner[1])
    return found


def _store(request: Request) -> Store:
    return request.app.state.store


def _temporal(request: Request) -> TemporalReader:
    return request.app.state.temporal


def _public_url(request: Request) -> str:
    configured = request.app.state.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


Auth = Depends(caller)


# ---------------------------------------------------------------------------- service


@router.get("/api/health", tags=["service"])
async def health(request: Request) -> dict[str, Any]:
    reader = _temporal(request)
    return {
        "status": "ok",
        "version": __version__,
        "temporal": "unavailable" if reader.last_error else "ok",
        "temporal_address": reader.address,
        "uptime_seconds": round(time.time() - request.app.state.started_at, 1),
    }


# ---------------------------------------------------------------------------- environments


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat()


def _env_out(row: dict[str, Any]) -> Environment:
    return Environment(**{**row, "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"])})


@router.post(f"{V1}/environments", status_code=201, tags=["environments"])
async def create_environment(body: EnvironmentCreate, request: Request, who: Caller = Auth) -> Environment:
    store = _store(request)
    row = store.create_environment(who.org, body.model_dump())
    store.audit(who.org, who.actor, "environment.create", "environment", row["id"], {"name": row["name"]})
    return _env_out(row)


@router.get(f"{V1}/environments", tags=["environments"])
async def list_environments(request: Request, who: Caller = Auth) -> list[Environment]:
    return [_env_out(r) for r in _store(request).list_environments(who.org)]


@router.get(f"{V1}/environments/{{env_id}}", tags=["environments"])
async def get_environment(env_id: str, request: Request, who: Caller = Auth) -> Environment:
    return _env_out(_store(request).get_environment(who.org, env_id))


@router.patch(f"{V1}/environments/{{env_id}}", tags=["environments"])
async def update_environment(env_id: str, body: EnvironmentUpdate, request: Request, who: Caller = Auth) -> Environment:
    store = _store(request)
    changes = body.model_dump(exclude_unset=True)
    _refuse_nulls(changes, ("name", "tags", "settings", "status"))
    if "status" in changes:
        changes["status"] = changes["status"].value
    try:
        row = store.update_environment(who.org, env_id, changes)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    store.audit(who.org, who.actor, "environment.update", "environment", env_id, {"changes": sorted(changes)})
    return _env_out(row)


@router.delete(f"{V1}/environments/{{env_id}}", status_code=204, tags=["environments"])
async def delete_environment(env_id: str, request: Request, who: Caller = Auth) -> Response:
    store = _store(request)
    try:
        env = store.delete_environment(who.org, env_id)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    store.audit(who.org, who.actor, "environment.delete", "environment", env_id, {"name": env["name"]})
    return Response(status_code=204)


def _refuse_nulls(changes: dict[str, Any], fields: tuple[str, ...]) -> None:
    nulls = [f for f in fields if f in changes and changes[f] is None]
    if nulls:
        raise HTTPException(
            422,
            [{"loc": ["body", f], "msg": "may not be null", "type": "value_error"} for f in nulls],
        )


# ---------------------------------------------------------------------------- worker queues


def _queue_out(row: dict[str, Any], live: int) -> WorkerQueue:
    row = {k: v for k, v in row.items() if k != "seq"}
    return WorkerQueue(
        **{
            **row,
            "created_at": _iso(row["created_at"]),
            "updated_at": _iso(row["updated_at"]),
            "active_workers": live,
        }
    )


def _live_count(store: Store, org: str, queue: dict[str, Any]) -> int:
    return store.count_live_workers(org, queue["id"], time.time(), queue["heartbeat_interval"])


def _queues_out(store: Store, org: str, rows: list[dict[str, Any]]) -> list[WorkerQueue]:
    live = store.live_worker_counts(org, time.time())
    return [_queue_out(r, live.get(r["id"], 0)) for r in rows]


@router.post(f"{V1}/environments/{{env_id}}/worker-queues", status_code=201, tags=["worker queues"])
async def create_queue(env_id: str, body: WorkerQueueCreate, request: Request, who: Caller = Auth) -> WorkerQueue:
    store = _store(request)
    row = store.create_queue(who.org, env_id, body.model_dump(), who.actor)
    store.audit(
        who.org,
        who.actor,
        "queue.create",
        "worker_queue",
        row["id"],
        {"name": row["name"], "environment": row["environment_name"]},
    )
    return _queue_out(row, 0)


@router.get(f"{V1}/worker-queues", tags=["worker queues"])
async def list_queues(request: Request, who: Caller = Auth) -> list[WorkerQueue]:
    store = _store(request)
    return _queues_out(store, who.org, store.list_queues(who.org))


@router.get(f"{V1}/environments/{{env_id}}/worker-queues", tags=["worker queues"])
async def list_env_queues(env_id: str, request: Request, who: Caller = Auth) -> list[WorkerQueue]:
    store = _store(request)
    return _queues_out(store, who.org, store.list_queues(who.org, env_id))


@router.get(f"{V1}/worker-queues/{{queue_id}}", tags=["worker queues"])
async def get_queue(queue_id: str, request: Request, who: Caller = Auth) -> WorkerQueue:
    store = _store(request)
    row = store.get_queue(who.org, queue_id)
    return _queue_out(row, _live_count(store, who.org, row))


@router.patch(f"{V1}/worker-queues/{{queue_id}}", tags=["worker queues"])
async def update_queue(queue_id: str, body: WorkerQueueUpdate, request: Request, who: Caller = Auth) -> WorkerQueue:
    store = _store(request)
    changes = body.model_dump(exclude_unset=True)
    _refuse_nulls(changes, ("name", "tags", "settings", "status", "heartbeat_interval"))
    if "status" in changes:
        changes["status"] = changes["status"].value
    try:
        row = store.update_queue(who.org, queue_id, changes)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    _config_versions(request).pop(queue_id, None)
    store.audit(who.org, who.actor, "queue.update", "worker_queue", queue_id, {"changes": sorted(changes)})
    return _queue_out(row, _live_count(store, who.org, row))


@router.delete(f"{V1}/worker-queues/{{queue_id}}", status_code=204, tags=["worker queues"])
async def delete_queue(queue_id: str, request: Request, who: Caller = Auth) -> Response:
    store = _store(request)
    queue = store.get_queue(who.org, queue_id)
    try:
        store.delete_queue(who.org, queue_id, _live_count(store, who.org, queue))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    store.audit(who.org, who.actor, "queue.delete", "worker_queue", queue_id, {"name": queue["name"]})
    return Response(status_code=204)


@router.get(f"{V1}/worker-queues/{{queue_id}}/worker-command", tags=["worker queues"])
async def worker_command(queue_id: str, request: Request, who: Caller = Auth) -> WorkerCommand:
    store = _store(request)
    queue = store.get_queue(who.org, queue_id)
    live = _live_count(store, who.org, queue)
    url = _public_url(request)
    under_limit = queue["max_workers"] is None or live < queue["max_workers"]
    wheel, problem = await distribution.current(request)
    return WorkerCommand(
        queue_id=queue_id,
        command=scripts.worker_command(queue_id, url),
        package=scripts.package_source(wheel, problem),
        command_parts=scripts.worker_command_parts(queue_id, url),
        can_register=queue["status"] == "active" and under_limit,
        queue_status=queue["status"],
        active_workers=live,
        max_workers=queue["max_workers"],
    )


@router.get(f"{V1}/worker-queues/{{queue_id}}/install-script", tags=["worker queues"], response_class=PlainTextResponse)
async def install_script(
    queue_id: str,
    request: Request,
    platform: Platform | None = Query(default=None, description="local, docker or kubernetes"),
    deployment_type: Platform | None = Query(default=None, description="the upstream name of `platform`"),
    who: Caller = Auth,
) -> PlainTextResponse:
    queue = _store(request).get_queue(who.org, queue_id)
    chosen = platform or deployment_type or Platform.local
    wheel, problem = await distribution.current(request)
    return PlainTextResponse(scripts.install_script(chosen.value, queue, _public_url(request), wheel, problem))


@router.get(f"{V1}/worker-queues/{{queue_id}}/config", tags=["worker queues"])
async def queue_config(queue_id: str, request: Request, who: Caller = Auth) -> dict[str, Any]:
    queue = _store(request).get_queue(who.org, queue_id)
    config = {
        "queue_id": queue_id,
        "name": queue["name"],
        "status": queue["status"],
        "max_workers": queue["max_workers"],
        "heartbeat_interval": queue["heartbeat_interval"],
        "task_queue_name": queue["task_queue_name"],
        "settings": queue["settings"],
        "tags": queue["tags"],
    }
    config["config_version"] = _config_version(queue)
    return config


def _config_version(queue: dict[str, Any]) -> str:
    relevant = [queue["status"], queue["max_workers"], queue["heartbeat_interval"], queue["settings"], queue["tags"]]
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _config_versions(request: Request) -> dict[str, str]:
    return request.app.state.__dict__.setdefault("config_versions", {})


@router.post(f"{V1}/worker-queues/{{queue_id}}/scale", status_code=202, tags=["worker queues"])
async def scale_queue(queue_id: str, body: ScaleRequest, request: Request, who: Caller = Auth) -> ScaleResult:
    store = _store(request)
    queue = store.get_queue(who.org, queue_id)
    if queue["max_workers"] is not None and body.workers > queue["max_workers"]:
        raise HTTPException(
            409, f"{body.workers} workers is more than queue {queue['name']!r} allows (max_workers {queue['max_workers']})"
        )
    store.set_desired_workers(who.org, queue_id, body.workers)
    store.audit(
        who.org,
        who.actor,
        "queue.scale",
        "worker_queue",
        queue_id,
        {
            "name": queue["name"],
            "from": queue["desired_workers"],
            "to": body.workers,
            **({"reason": body.reason} if body.reason else {}),
        },
    )
    return ScaleResult(
        queue_id=queue_id,
        desired_workers=body.workers,
        active_workers=_live_count(store, who.org, queue),
        max_workers=queue["max_workers"],
    )


@router.put(f"{V1}/worker-queues/{{queue_id}}/autoscale", tags=["worker queues"])
async def set_autoscale(queue_id: str, body: AutoscalePolicy, request: Request, who: Caller = Auth) -> WorkerQueue:
    store = _store(request)
    queue = store.get_queue(who.org, queue_id)
    if queue["max_workers"] is not None and body.max_workers > queue["max_workers"]:
        raise HTTPException(
            409, f"autoscale max {body.max_workers} is more than queue {queue['name']!r} allows ({queue['max_workers']})"
        )
    row = store.set_autoscale(who.org, queue_id, body.model_dump())
    store.audit(who.org, who.actor, "queue.autoscale", "worker_queue", queue_id, {"policy": body.model_dump()})
    return _queue_out(row, _live_count(store, who.org, row))


@router.delete(f"{V1}/worker-queues/{{queue_id}}/autoscale", tags=["worker queues"])
async def clear_autoscale(queue_id: str, request: Request, who: Caller = Auth) -> WorkerQueue:
    store = _store(request)
    row = store.set_autoscale(who.org, queue_id, None)
    store.audit(who.org, who.actor, "queue.autoscale", "worker_queue", queue_id, {"policy": None})
    return _queue_out(row, _live_count(store, who.org, row))


# ---------------------------------------------------------------------------- metrics


@router.get(f"{V1}/worker-queues/{{queue_id}}/metrics", tags=["worker queues"])
async def queue_metrics(queue_id: str, request: Request, who: Caller = Auth) -> WorkerQueueMetrics:
    store = _store(request)
    queue = store.get_queue(who.org, queue_id)
    return await metrics_for(request, queue_id, queue["task_queue_name"], store.list_workers(who.org, queue_id))


async def metrics_for(request: Request, queue_id: str, task_queue: str, worker_rows: list[dict[str, Any]]) -> WorkerQueueMetrics:
    """The metrics document of one Temporal task queue and the workers registered on it."""
    now = time.time()
    workers = [_worker_out(w, now) for w in worker_rows]
    live = [w for w in workers if w.health in ("healthy", "draining")]
    metrics: dict[str, Any] = {
        "queue_id": queue_id,
        "active_workers": sum(1 for w in live if w.status in ("active", "busy", "idle")),
        "idle_workers": sum(1 for w in live if w.status == "idle"),
        "busy_workers": sum(1 for w in live if w.status == "busy"),
        "total_workers": len(live),
        "stale_workers": sum(1 for w in workers if w.health == "stale"),
        "draining_workers": sum(1 for w in workers if w.health == "draining"),
        "tasks_processed_24h": sum(w.tasks_processed for w in workers),
        "tasks_failed_24h": sum(w.tasks_failed for w in workers),
        "last_activity_at": max((w.last_heartbeat for w in workers if w.last_heartbeat), default=None),
        "updated_at": datetime.now(timezone.utc),
    }
    durations = [w.worker_metadata.get("task_duration_avg_ms") for w in live]
    durations = [d for d in durations if isinstance(d, (int, float))]
    if durations:
        metrics["avg_task_duration_ms"] = sum(durations) / len(durations)
    reader = _temporal(request)
    try:
        stats, outcomes = await asyncio.wait_for(
            asyncio.gather(
                reader.queue_stats(task_queue),
                reader.outcomes(task_queue, window_seconds=86400),
            ),
            timeout=5,
        )
    except (TemporalUnavailable, asyncio.TimeoutError) as exc:
        metrics["temporal_available"] = False
        metrics["temporal_error"] = str(exc) or f"Temporal at {reader.address} did not answer in time"
    else:
        metrics.update(
            temporal_available=True,
            task_queue_backlog=stats.backlog,
            tasks_pending=stats.backlog,
            task_queue_pollers=stats.pollers,
            task_queue_backlog_age_seconds=stats.backlog_age_seconds,
            tasks_add_rate_per_min=stats.add_rate_per_second * 60,
            tasks_dispatch_rate_per_min=stats.dispatch_rate_per_second * 60,
            tasks_processed_24h=outcomes.closed,
            tasks_failed_24h=outcomes.failed,
            error_rate_percent=round(outcomes.error_rate * 100, 2),
        )
    if not metrics.get("temporal_available") and metrics["tasks_processed_24h"]:
        metrics["error_rate_percent"] = round(100 * metrics["tasks_failed_24h"] / metrics["tasks_processed_24h"], 2)
    return WorkerQueueMetrics(**metrics)


# ---------------------------------------------------------------------------- workers


# Legacy workers belong to no worker queue, so no queue sets their heartbeat interval.
LEGACY_HEARTBEAT_INTERVAL = 15


def _worker_out(row: dict[str, Any], now: float) -> WorkerDetail:
    interval = row.get("heartbeat_interval") or LEGACY_HEARTBEAT_INTERVAL
    age = None if row["last_heartbeat"] is None else max(0.0, now - row["last_heartbeat"])
    return WorkerDetail(
        **{
            **row,
            "id": row["id"],
            "queue_name": row.get("queue_name") or row.get("legacy_queue_name"),
            "last_heartbeat": _iso(row["last_heartbeat"]),
            "registered_at": _iso(row["registered_at"]),
            "disconnected_at": _iso(row["disconnected_at"]),
            "heartbeat_age_seconds": None if age is None else round(age, 3),
            "heartbeat_interval": interval,
            "health": derive_health(row["status"], row["desired_state"], age, interval),
        }
    )


@router.post(f"{V1}/worker-queues/{{queue_id}}/start", tags=["workers"])
async def start_worker(queue_id: str, request: Request, body: WorkerStartRequest | None = None, who: Caller = Auth) -> WorkerRegistration:
    store = _store(request)
    body = body or WorkerStartRequest()
    queue = store.get_queue(who.org, queue_id)
    if queue["status"] != "active":
        raise HTTPException(400, f"worker queue {queue['name']!r} is {queue['status']}; only active queues accept workers")
    if queue["max_workers"] is not None and _live_count(store, who.org, queue) >= queue["max_workers"]:
        raise HTTPException(
            409, f"worker queue {queue['name']!r} already has its maximum of {queue['max_workers']} live workers"
        )
    worker_id = str(uuid.uuid4())
    system_info = body.system_info.model_dump(exclude_none=True) if body.system_info else None
    store.register_worker(
        who.org,
        worker_id,
        {
            "queue_id": queue_id,
            "environment_id": queue["environment_id"],
            "hostname": (system_info or {}).get("hostname"),
            "system_info": system_info,
            "worker_metadata": body.worker_metadata,
            "capabilities": body.capabilities,
            "sdk_version": body.worker_sdk_version,
        },
    )
    store.audit(who.org, who.actor, "worker.start", "worker", worker_id, {"queue": queue["name"]})
    settings = request.app.state.settings
    return WorkerRegistration(
        worker_id=worker_id,
        task_queue_name=queue["task_queue_name"],
        temporal_namespace=settings.namespace,
        temporal_host=settings.temporal_address,
        temporal_api_key=settings.temporal_api_key,
        organization_id=who.org,
        control_plane_url=body.control_plane_url or _public_url(request),
        heartbeat_interval=queue["heartbeat_interval"],
        queue_id=queue_id,
        queue_name=queue["name"],
        environment_name=queue["environment_name"],
    )


@router.post(f"{V1}/workers/register", tags=["workers"])
async def legacy_register(body: LegacyRegisterRequest, request: Request, who: Caller = Auth) -> WorkerRegistration:
    """The Work Queues page's registration: a worker names a Temporal task queue or an environment."""
    store = _store(request)
    settings = request.app.state.settings
    queue: dict[str, Any] | None = None
    if body.queue_name:
        queue = next((q for q in store.list_queues(who.org) if q["task_queue_name"] == body.queue_name), None)
        if queue is not None:
            env = store.get_environment(who.org, queue["environment_id"])
        else:
            # A legacy task queue is an environment, polled on `<org>.<environment>`; the org
            # prefix keeps another organization's queues out of reach.
            prefix, _, env_name = body.queue_name.partition(".")
            env = store.find_environment(who.org, env_name) if prefix == who.org else None
            if env is None:
                raise HTTPException(404, f"no worker queue or legacy task queue named {body.queue_name!r}")
        task_queue = body.queue_name
    else:
        env = store.find_environment(who.org, body.environment_name or "")
        if env is None:
            raise HTTPException(404, f"environment {body.environment_name!r} not found")
        task_queue = f"{who.org}.{env['name']}"
    worker_id = body.worker_id or str(uuid.uuid4())
    store.register_worker(
        who.org,
        worker_id,
        {
            "queue_id": queue["id"] if queue else None,
            "environment_id": env["id"] if env else None,
            "legacy_queue_name": None if queue else task_queue,
            "hostname": body.hostname,
            "system_info": {"hostname": body.hostname} if body.hostname else None,
            "worker_metadata": body.worker_metadata,
            "capabilities": body.capabilities,
        },
    )
    store.audit(who.org, who.actor, "worker.register", "worker", worker_id, {"task_queue": task_queue})
    return WorkerRegistration(
        worker_id=worker_id,
        task_queue_name=task_queue,
        temporal_namespace=settings.namespace,
        temporal_host=settings.temporal_address,
        temporal_api_key=settings.temporal_api_key,
        organization_id=who.org,
        control_plane_url=_public_url(request),
        heartbeat_interval=queue["heartbeat_interval"] if queue else LEGACY_HEARTBEAT_INTERVAL,
        queue_id=queue["id"] if queue else None,
        queue_name=queue["name"] if queue else task_queue,
        environment_name=env["name"] if env else None,
    )


def _heartbeat_fields(body: HeartbeatRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": body.status.value,
        "tasks_processed": body.tasks_processed,
        "current_task_id": body.current_task_id,
    }
    if body.worker_metadata:
        fields["worker_metadata"] = body.worker_metadata
    if body.system_info is not None:
        info = body.system_info.model_dump(exclude_none=True)
        fields["system_info"] = info
        if info.get("hostname"):
            fields["hostname"] = info["hostname"]
    for name in ("tasks_failed", "slots_used", "slots_available", "capabilities"):
        value = getattr(body, name)
        if value is not None:
            fields[name] = value
    if body.current_task_ids is not None:
        fields["current_task_ids"] = body.current_task_ids
        if fields["current_task_id"] is None and body.current_task_ids:
            fields["current_task_id"] = body.current_task_ids[0]
    return fields


def _record_heartbeat(request: Request, who: Caller, worker_id: str, body: HeartbeatRequest) -> HeartbeatAnswer:
    store = _store(request)
    answer = store.heartbeat(who.org, worker_id, _heartbeat_fields(body))
    if answer is None:
        try:
            store.get_worker(who.org, worker_id)
        except NotFound:
            raise NotFound(f"worker {worker_id!r} not found; register it first") from None
        # A worker that said goodbye stays gone: it must register again to come back.
        raise HTTPException(409, f"worker {worker_id!r} has disconnected; register again to send heartbeats")
    desired, queue_id = answer
    version = None
    if queue_id is not None:
        versions = _config_versions(request)
        version = versions.get(queue_id)
        if version is None:
            try:
                version = versions[queue_id] = _config_version(store.get_queue(who.org, queue_id))
            except NotFound:
                version = None
    return HeartbeatAnswer(worker_id=worker_id, desired_state=desired, config_version=version)


@router.post(f"{V1}/workers/heartbeat", tags=["workers"])
async def simple_heartbeat(body: SimpleHeartbeatRequest, request: Request, who: Caller = Auth) -> HeartbeatAnswer:
    return _record_heartbeat(request, who, body.worker_id, body)


@router.post(f"{V1}/workers/{{worker_id}}/heartbeat", tags=["workers"])
async def heartbeat(worker_id: str, body: HeartbeatRequest, request: Request, who: Caller = Auth) -> HeartbeatAnswer:
    return _record_heartbeat(request, who, worker_id, body)


@router.post(f"{V1}/workers/{{worker_id}}/disconnect", status_code=204, tags=["workers"])
async def disconnect(worker_id: str, request: Request, body: DisconnectRequest | None = None, who: Caller = Auth) -> Response:
    body = body or DisconnectRequest()
    store = _store(request)
    if not store.disconnect_worker(who.org, worker_id, body.reason, body.exit_code, body.error_message):
        raise NotFound(f"worker {worker_id!r} not found")
    store.audit(who.org, who.actor, "worker.disconnect", "worker", worker_id, {"reason": body.reason})
    return Response(status_code=204)


@router.post(f"{V1}/workers/{{worker_id}}/drain", status_code=202, tags=["workers"])
async def drain(worker_id: str, request: Request, who: Caller = Auth) -> WorkerDetail:
    store = _store(request)
    before = store.get_worker(who.org, worker_id)
    if before["status"] == "disconnected":
        # Nothing to drain: the worker is already gone.
        return _worker_out(before, time.time())
    row = store.set_desired_state(who.org, worker_id, "draining")
    if before["desired_state"] != "draining":
        store.audit(who.org, who.actor, "worker.drain", "worker", worker_id, {"queue": row.get("queue_name")})
    return _worker_out(row, time.time())


@router.get(f"{V1}/workers", tags=["workers"])
async def list_all_workers(request: Request, who: Caller = Auth) -> list[WorkerDetail]:
    now = time.time()
    return [_worker_out(r, now) for r in _store(request).list_workers(who.org)]


@router.get(f"{V1}/workers/{{worker_id}}", tags=["workers"])
async def get_worker(worker_id: str, request: Request, who: Caller = Auth) -> WorkerDetail:
    return _worker_out(_store(request).get_worker(who.org, worker_id), time.time())


@router.get(f"{V1}/worker-queues/{{queue_id}}/workers", tags=["workers"])
async def list_queue_workers(queue_id: str, request: Request, who: Caller = Auth) -> list[WorkerDetail]:
    store = _store(request)
    store.get_queue(who.org, queue_id)
    now = time.time()
    return [_worker_out(r, now) for r in store.list_workers(who.org, queue_id)]


# ---------------------------------------------------------------------------- audit


@router.get(f"{V1}/audit", tags=["audit"])
async def audit(
    request: Request,
    limit: int = Query(default=100, ge=1, le=1000),
    action: str | None = Query(default=None, max_length=100),
    who: Caller = Auth,
) -> list[AuditEntry]:
    rows = _store(request).list_audit(who.org, limit, action)
    return [AuditEntry(**{**r, "created_at": _iso(r["created_at"])}) for r in rows]
