"""``GET /api/health``: the service's own health; needs no key."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from kubiya_tui import __version__
from kubiya_tui.controlplane.deps import get_temporal

router = APIRouter(tags=["service"])


@router.get("/api/health")
async def health(request: Request) -> dict[str, Any]:
    reader = get_temporal(request)
    return {
        "status": "ok",
        "version": __version__,
        "temporal": "unavailable" if reader.last_error else "ok",
        "temporal_address": reader.address,
        "uptime_seconds": round(time.time() - request.app.state.started_at, 1),
    }
