"""`kubiya-tui serve --access-log`: one line per request in the log file, never a key; without it, none."""

from __future__ import annotations

import httpx

from kubiya_tui.stack.processes import LOOPBACK, free_port, start_control_plane
from tests.helpers import wait_for

KEY = "kty_test_access_log_key_never_logged_0001"


def _serve(tmp_path, *extra: str):
    data_dir = tmp_path / "cp"
    # No Temporal here (a closed port): the control plane serves its registry without it.
    return start_control_plane(data_dir, f"{LOOPBACK}:{free_port()}", api_key=KEY, extra_args=extra), data_dir


def _requests(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.get("/api/v1/environments", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert c.get("/api/v1/worker-queues", headers={"UserKey": KEY}).status_code == 200
        # A key in a query string (nobody should, but someone will) is not logged either.
        assert c.get("/api/v1/environments", params={"api_key": KEY, "x": "1"}).status_code == 401


def test_access_log_lines_without_keys(tmp_path) -> None:
    (proc, url), data_dir = _serve(tmp_path, "--access-log")
    try:
        _requests(url)
        log = data_dir / "control-plane.log"
        wait_for(lambda: log.exists() and log.read_text().count("kubiya_tui.access") >= 3, 10, "three access log lines")
        text = log.read_text()
        lines = [x for x in text.splitlines() if "kubiya_tui.access" in x]
        assert any('"GET /api/v1/environments" 200' in x for x in lines), lines
        assert any('"GET /api/v1/worker-queues" 200' in x for x in lines), lines
        assert any('"GET /api/v1/environments?api_key=***&x=1" 401' in x for x in lines), lines
        assert KEY not in text
    finally:
        proc.stop()


def test_no_access_log_without_the_option(tmp_path) -> None:
    (proc, url), data_dir = _serve(tmp_path)
    try:
        _requests(url)
    finally:
        proc.stop()
    log = data_dir / "control-plane.log"
    assert not log.exists() or "kubiya_tui.access" not in log.read_text()
