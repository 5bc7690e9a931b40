"""The organization's audit log: ``GET /api/v1/audit``."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from kubiya_tui.controlplane.deps import V1, Auth, Caller, get_store
from kubiya_tui.controlplane.serializers import audit_out
from kubiya_tui.models import AuditEntry

router = APIRouter(tags=["audit"])


@router.get(f"{V1}/audit")
async def audit(
    request: Request,
    limit: int = Query(default=100, ge=1, le=1000),
    action: str | None = Query(default=None, min_length=1, max_length=100),
    who: Caller = Auth,
) -> list[AuditEntry]:
    return [audit_out(r) for r in await get_store(request).list_audit(who.org, limit, action)]
