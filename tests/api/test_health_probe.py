"""Health that tells the truth: /api/health, the metrics endpoint and `check` follow Temporal going and coming back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubiya_tui.stack.processes import free_port, start_temporal
from tests.helpers import make_queue, wait_for


def _check(cp: Any, tmp_path: Path) -> dict:
    """`kubiya-tui check -o json` against the control plane only (no Temporal address of its own)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "KUBIYA_API_KEY": cp.api_key,
        "KUBIYA_CONTROL_PLANE_BASE_URL": cp.url,
    }
    out = subprocess.run([sys.executable, "-m", "kubiya_tui", "check", "-o", "json"], capture_output=True, text=True, env=env, timeout=60)
    return json.loads(out.stdout)


def test_health_metrics_and_check_follow_temporal(control_plane_factory, tmp_path: Path, unique):
    port = free_port()
    cp = control_plane_factory(temporal_address=f"127.0.0.1:{port}")
    with cp.client() as api:
        queue = make_queue(api, unique("health"))
        down = api.get("/api/health").json()
        assert down["temporal"] == "unavailable" and f"127.0.0.1:{port}" in down["temporal_error"]
        assert down["status"] == "ok" and down["storage"] == "ok"
        metrics = api.get(f"/api/v1/worker-queues/{queue['id']}/metrics").json()
        assert metrics["temporal_available"] is False and metrics["temporal_error"]
        result = _check(cp, tmp_path)
        assert result["status"] == "UNKNOWN" and "Temporal (via the control plane) down" in result["summary"]

        temporal, _ = start_temporal(tmp_path / "temporal", port=port)
        try:
            up = wait_for(lambda: (h := api.get("/api/health").json())["temporal"] == "ok" and h, 30, "Temporal reported up")
            assert "temporal_error" not in up
            assert api.get(f"/api/v1/worker-queues/{queue['id']}/metrics").json()["temporal_available"] is True
            assert _check(cp, tmp_path)["status"] == "OK"
        finally:
            temporal.stop()
        gone = wait_for(lambda: (h := api.get("/api/health").json())["temporal"] == "unavailable" and h, 30, "Temporal reported down")
        assert gone["temporal_error"]

