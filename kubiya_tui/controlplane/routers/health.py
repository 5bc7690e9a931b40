"""``GET /api/health``: the service's own health; needs no key."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from kubiya_tui import __version__
from kubiya_tui.controlplane.deps import get_store, get_temporal

router = APIRouter(tags=["service"])


@router.get("/api/health")
async def health(request: Request) -> dict[str, Any]:
    """The control plane answers; whether Temporal does (a health check at most 2 s old) and whether the disk takes writes."""
    reader = get_temporal(request)
    up = await reader.available()
    answer: dict[str, Any] = {
        "status": "ok",
        # Tells the client which control plane it talks to (Kubiya's says "agent-control-plane").
        "service": "kubiya-tui",
        "version": __version__,
        "temporal": "ok" if up else "unavailable",
        "temporal_address": reader.address,
        "storage": get_store(request).storage_problem or "ok",
        "uptime_seconds": round(time.time() - request.app.state.started_at, 1),
    }
    if not up:
        answer["temporal_error"] = reader.last_error or f"Temporal at {reader.address} did not answer"
    return answer
