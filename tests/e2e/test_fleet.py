"""Several profiles at once against two real control planes on one real Temporal dev server: the console, top, check, alerts.

The tests run in order (one xdist group): the last ones stop beta's control plane and show
that alpha stays live, in the console and headless.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubiya_tui import alertlog
from tests.helpers import make_queue, submit, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair(control_plane_factory, temporal_server, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Two control planes (alpha, beta), each with a queue of its own: alpha's has 3 tasks waiting and no worker."""
    alpha, beta = control_plane_factory(), control_plane_factory()
    queues = {}
    for name, cp in (("alpha", alpha), ("beta", beta)):
        with cp.client() as api:
            queues[name] = make_queue(api, f"{name}-{secrets.token_hex(3)}", max_workers=5)
            if name == "alpha":
                submit(api, queues[name]["id"], count=3, input={"seconds": 0})
    keys = tmp_path_factory.mktemp("keys")
    for name, cp in (("alpha", alpha), ("beta", beta)):
        (keys / name).write_text(cp.api_key)
        (keys / name).chmod(0o600)
    yield {"alpha": alpha, "beta": beta, "queues": queues, "keys": keys, "temporal": temporal_server.address}


@pytest.fixture
def profiles(pair, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """config.toml with both profiles (beta is production: danger, read-only); alpha alerts on depth and on no worker."""
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "kubiya-tui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    alpha_q = pair["queues"]["alpha"]["name"]
    config.write_text(f"""
default_profile = "alpha"

[profiles.alpha]
api_url = "{pair['alpha'].url}"
api_key_file = "{pair['keys'] / 'alpha'}"
temporal_address = "{pair['temporal']}"
refresh_interval = 0.5
color = "#4f8fe6"

[[profiles.alpha.alerts]]
queues = ["default/{alpha_q}"]
min_healthy_workers = 1
max_depth = 2

[profiles.beta]
api_url = "{pair['beta'].url}"
api_key_file = "{pair['keys'] / 'beta'}"
temporal_address = "{pair['temporal']}"
refresh_interval = 0.5
danger = true
read_only = true
""")
    config.chmod(0o600)
    return config


def kubiya(*args: str) -> subprocess.CompletedProcess:
    # No KUBIYA_API_KEY or TEMPORAL_ADDRESS: each profile of the fleet is what the file says.
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(KUBIYA_API_KEY="kty_wrong_key_for_every_profile", TEMPORAL_ADDRESS="127.0.0.1:1")
    return subprocess.run([sys.executable, "-m", "kubiya_tui", *args], capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def test_top_and_check_over_every_profile(pair, profiles) -> None:  # type: ignore[no-untyped-def]
    alpha_q, beta_q = pair["queues"]["alpha"]["name"], pair["queues"]["beta"]["name"]

    def depth_seen() -> dict | None:
        out = kubiya("top", "-o", "json", "--all-profiles")
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        by = {p["profile"]: p for p in data["profiles"]}
        alpha = next(q for q in by["alpha"]["queues"] if q["name"] == alpha_q)
        return by if alpha["depth"] == 3 else None

    by = wait_for(depth_seen, 60, "Temporal counting alpha's 3 waiting tasks")
    for name in ("alpha", "beta"):  # both answer (on a busy machine a read may be slow, never down)
        assert by[name]["state"] in ("ok", "degraded") and {s["status"] for s in by[name]["sources"].values()} <= {"ok", "slow"}
    assert [q["name"] for q in by["beta"]["queues"]] == [beta_q], "each profile lists its own control plane's queues"
    assert by["alpha"]["totals"]["depth"] == 3 and by["alpha"]["totals"]["queues"] == 1
    assert by["beta"]["danger"] and by["beta"]["read_only"]

    table = kubiya("top", "--profiles", "beta,alpha")
    assert table.returncode == 0, table.stderr
    heads = [line for line in table.stdout.splitlines() if line.startswith("== ")]
    assert heads[0].startswith("== beta [danger]: ") and ", 1 queues" in heads[0]
    assert heads[1].startswith("== alpha: ") and ", 1 queues, depth 3" in heads[1]

    check = kubiya("check", "--all-profiles")
    assert check.returncode == 2, check.stdout + check.stderr
    line = check.stdout.strip()
    assert line.startswith("QUEUES CRITICAL - [alpha] CRITICAL:") and "[beta] OK:" in line
    assert f"default/{alpha_q}: healthy workers 0 < 1 (alert rule)" in line and "depth 3 > 2" in line
    as_json = json.loads(kubiya("check", "--all-profiles", "-o", "json", "--no-stuck").stdout)
    assert as_json["profiles"]["beta"]["status"] == "OK" and as_json["profiles"]["alpha"]["status"] == "CRITICAL"

    bad = kubiya("check", "--profiles", "alpha,gamma")
    assert bad.returncode == 3 and "unknown profile 'gamma'; known profiles: alpha, beta" in bad.stdout


async def test_the_console_polls_each_profile_and_logs_alerts(pair, profiles) -> None:  # type: ignore[no-untyped-def]
    from kubiya_tui.fleet import open_fleet
    from kubiya_tui.tui.app import build_fleet_console
    from kubiya_tui.tui.screens.fleet import FleetHeader, FleetScreen

    app = build_fleet_console(open_fleet(None), theme="kubiya-dark")
    app.remember_theme = False
    async with app.run_test(size=(120, 36), notifications=True) as pilot:

        def drawn_rows() -> list[str]:
            table = app.screen.table
            return [table.render_line(y).text for y in range(1, table.row_count + 1)]

        # Profiles that answer close together are drawn in one coalesced pass: wait for what is drawn.
        for _ in range(400):
            await pilot.pause(0.05)
            if app.alerts.alerts("alpha") and all(m.snapshot for m in app.fleet or ()) and len(drawn_rows()) == 2:
                break
        assert isinstance(app.screen, FleetScreen)
        rows = drawn_rows()
        assert {r.split()[0].lstrip("▌") for r in rows} == {"alpha", "⚠beta"}
        assert {a.metric for a in app.alerts.alerts("alpha")} >= {"workers_healthy"}
        header = str(app.screen.query_one(FleetHeader).render())
        assert "alpha ✖" in header and "⚠beta" in header

        # An action goes to the row's own profile, named in the dialog; beta (read-only) refuses.
        from textual.widgets import Input

        from kubiya_tui.tui.dialogs.scale import ScaleDialog
        from kubiya_tui.tui.screens.fleet import row_key
        from tests.helpers import toasts

        alpha_q, beta_q = pair["queues"]["alpha"], pair["queues"]["beta"]
        assert app.screen.table.select_key(row_key("alpha", alpha_q["id"]))
        await pilot.press("s")
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, ScaleDialog):
                break
        dialog = app.screen
        assert isinstance(dialog, ScaleDialog)
        assert str(dialog.query_one("#dialog-title").render()) == "Scale queue · profile alpha"
        dialog.query_one("#count", Input).value = "2"
        await pilot.pause()
        await pilot.press("ctrl+s")
        for _ in range(200):
            await pilot.pause(0.05)
            if not isinstance(app.screen, ScaleDialog):
                break
        with pair["alpha"].client() as api:
            assert api.get(f"/api/v1/worker-queues/{alpha_q['id']}").json()["desired_workers"] == 2
        with pair["beta"].client() as api:
            assert api.get(f"/api/v1/worker-queues/{beta_q['id']}").json()["desired_workers"] in (None, 0)
        assert app.screen.table.select_key(row_key("beta", beta_q["id"]))
        await pilot.press("s")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ScaleDialog)
        assert any("read-only (profile 'beta')" in t for t in toasts(app))
        await pilot.pause(0.5)
    db = alertlog.database_path()
    fired = [e for e in alertlog.events_since(db, time.time() - 600) if e.change == "fired"]
    assert {e.profile for e in fired} == {"alpha"} and "workers_healthy" in {e.metric for e in fired}
    listed = kubiya("alerts", "--since", "10m")
    assert listed.returncode == 0 and "alpha" in listed.stdout and "healthy workers 0 < 1" in listed.stdout, listed.stdout
    line = kubiya("status-line", "--format", "plain")
    assert line.returncode == 0 and line.stdout.startswith("alpha ✖"), line.stdout
    assert "beta ok" in line.stdout


async def test_one_profile_down_leaves_the_others_live(pair, profiles) -> None:  # type: ignore[no-untyped-def]
    """Beta's control plane stopped: alpha keeps refreshing in the console and headless; beta says it is down."""
    from kubiya_tui.fleet import open_fleet
    from kubiya_tui.tui.app import build_fleet_console
    from kubiya_tui.tui.screens.fleet import FleetHeader, FleetTotals

    pair["beta"].stop()
    app = build_fleet_console(open_fleet(None), theme="kubiya-dark")
    app.remember_theme = False
    async with app.run_test(size=(120, 36)) as pilot:
        alpha = app.poller.members["alpha"]
        polls: list[float] = []
        for _ in range(400):
            await pilot.pause(0.05)
            if alpha.polled_at and (not polls or polls[-1] != alpha.polled_at):
                polls.append(alpha.polled_at)
            if len(polls) >= 3 and "⚠beta cp down" in str(app.screen.query_one(FleetHeader).render()):
                break
        assert len(polls) >= 3, "alpha refreshed again and again while beta was down"
        rows = [app.screen.table.render_line(y).text for y in range(1, app.screen.table.row_count + 1)]
        assert any(r.strip().lstrip("▌").startswith("alpha") for r in rows), (rows, str(app.screen.query_one(FleetHeader).render()))
        header = str(app.screen.query_one(FleetHeader).render())
        assert "⚠beta cp down" in header, header
        totals = str(app.screen.query_one(FleetTotals).render())
        assert "control plane: " in totals.splitlines()[1] and "alpha" in totals.splitlines()[0], totals

    out = kubiya("top", "-o", "json", "--all-profiles")
    assert out.returncode == 0, out.stderr
    by = {p["profile"]: p for p in json.loads(out.stdout)["profiles"]}
    assert by["alpha"]["state"] in ("ok", "degraded") and by["alpha"]["queues"]
    assert by["beta"]["state"] in ("down", "degraded") and by["beta"]["sources"]["api"]["status"] == "down"
    check = kubiya("check", "--all-profiles", "--no-stuck", "--timeout", "20")
    assert "[beta] UNKNOWN" in check.stdout and "[alpha] CRITICAL" in check.stdout and check.returncode == 2
