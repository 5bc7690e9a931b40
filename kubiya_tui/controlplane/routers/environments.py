"""Environments: ``/api/v1/environments``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from kubiya_tui.controlplane.deps import V1, Auth, Caller, get_store
from kubiya_tui.controlplane.openapi import errors
from kubiya_tui.controlplane.serializers import env_out
from kubiya_tui.models import Environment, EnvironmentCreate, EnvironmentUpdate

router = APIRouter(tags=["environments"])


@router.post(f"{V1}/environments", status_code=201, responses=errors(409))
async def create_environment(body: EnvironmentCreate, request: Request, who: Caller = Auth) -> Environment:
    store = get_store(request)
    row = await store.create_environment(who.org, body.model_dump())
    await store.audit(who.org, who.actor, "environment.create", "environment", row["id"], {"name": row["name"]})
    return env_out(row)


@router.get(f"{V1}/environments")
async def list_environments(request: Request, who: Caller = Auth) -> list[Environment]:
    return [env_out(r) for r in await get_store(request).list_environments(who.org)]


@router.get(f"{V1}/environments/{{env_id}}")
async def get_environment(env_id: str, request: Request, who: Caller = Auth) -> Environment:
    return env_out(await get_store(request).get_environment(who.org, env_id))


@router.patch(f"{V1}/environments/{{env_id}}", responses=errors(400, 409))
async def update_environment(env_id: str, body: EnvironmentUpdate, request: Request, who: Caller = Auth) -> Environment:
    store = get_store(request)
    changes = body.model_dump(exclude_unset=True)
    if "status" in changes:
        changes["status"] = changes["status"].value
    try:
        row = await store.update_environment(who.org, env_id, changes)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    await store.audit(who.org, who.actor, "environment.update", "environment", env_id, {"changes": sorted(changes)})
    return env_out(row)


@router.delete(f"{V1}/environments/{{env_id}}", status_code=204, responses=errors(400))
async def delete_environment(env_id: str, request: Request, who: Caller = Auth) -> Response:
    store = get_store(request)
    try:
        env = await store.delete_environment(who.org, env_id)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    await store.audit(who.org, who.actor, "environment.delete", "environment", env_id, {"name": env["name"]})
    return Response(status_code=204)
