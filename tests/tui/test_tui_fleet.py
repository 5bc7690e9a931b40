"""The fleet overview and alerts in the console, over the recorded fleet (prod danger, staging, dev with its control plane down)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot

from kubiya_tui import alertlog
from kubiya_tui.config import AlertRule
from kubiya_tui.fleet import FleetMember
from kubiya_tui.metrics.snapshot import Snapshot
from kubiya_tui.tui.app import KubiyaConsole
from kubiya_tui.tui.dialogs.scale import ScaleDialog
from kubiya_tui.tui.recorded import FIXED_NOW, RecordedProfileSource, recorded_fleet_snapshots
from kubiya_tui.tui.screens.alerts import AlertsScreen, AlertTable
from kubiya_tui.tui.screens.fleet import FleetHeader, FleetScreen, FleetTable, FleetTotals
from kubiya_tui.tui.screens.queue_detail import QueueDetailScreen
from kubiya_tui.tui.screenshots import recorded_fleet_console
from tests.helpers import toasts


def lines(table: FleetTable | AlertTable) -> list[str]:
    return [table.render_line(y).text for y in range(1, table.row_count + 1)]


async def _ready(pilot: Pilot) -> None:
    for _ in range(100):
        await pilot.pause(0.05)
        if isinstance(pilot.app.screen, FleetScreen) and pilot.app.screen.table.row_count:
            return
    raise AssertionError("the fleet overview never listed a row")


async def test_every_profile_in_one_table_with_its_totals_and_state() -> None:
    app = recorded_fleet_console()
    async with app.run_test(size=(160, 48)) as pilot:
        await _ready(pilot)
        rows = lines(app.screen.table)
        assert [r.split()[0].lstrip("▌") for r in rows] == ["⚠prod", "⚠prod", "staging", "staging", "dev"]
        assert "✖ reports" in rows[1] and "✖ webhooks" in rows[3], "a breaching row is marked"
        header = str(app.screen.query_one(FleetHeader).render())
        assert "⚠prod ✖3" in header and "staging ✖1 ▲1" in header and "dev" in header and "48s" in header
        totals = str(app.screen.query_one(FleetTotals).render()).splitlines()
        assert [t.split()[0].lstrip("▌") for t in totals] == ["⚠prod", "staging", "dev"]
        assert "control plane: cannot reach http://127.0.0.1:8797" in totals[2], "dev says why it is degraded"


async def test_enter_drills_into_the_rows_own_profile_and_actions_follow_it() -> None:
    app = recorded_fleet_console()
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await _ready(pilot)
        await pilot.press("j", "j", "enter")  # staging/etl-nightly
        await pilot.pause()
        assert isinstance(app.screen, QueueDetailScreen) and app.screen.queue_id == "q-etl-nightly-c27b19"
        assert app.operations.profile == "staging" and app.snapshot is app.poller.members["staging"].snapshot
        await pilot.press("escape", "k", "s")  # prod/reports: a danger profile
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ScaleDialog)
        title = str(dialog.query_one("#dialog-title").render())
        assert title == "Scale queue · profile prod ⚠ DANGER"
        assert dialog.query_one("#dialog").styles.border.top[1].hex.lower() == "#e0393e"
        await pilot.press("escape")
        await pilot.press("G", "s")  # dev/sandbox: dev is read-only
        await pilot.pause()
        assert not isinstance(app.screen, ScaleDialog)
        assert any("read-only (profile 'dev')" in t for t in toasts(app))


async def test_alerts_list_acknowledges_and_logs(tmp_path: Path) -> None:
    app = recorded_fleet_console()
    app.alert_log = tmp_path / "history.sqlite"
    async with app.run_test(size=(160, 48)) as pilot:
        await _ready(pilot)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AlertsScreen)
        rows = lines(app.screen.table)
        assert len(rows) == 5 and rows[0].split()[:3] == ["✖", "crit", "staging"]
        assert "23:30:00 30m00s" in rows[0], "since when (UTC in the recorded console) and how long ago"
        assert rows[-1].split()[:2] == ["▲", "warn"] and rows[-1].rstrip().endswith("ack")
        await pilot.press("space")
        await pilot.pause(0.3)
        assert all(a.acknowledged for a in app.alerts.alerts("staging"))
        for _ in range(50):
            events = alertlog.events_since(app.alert_log, 0)
            if events:
                break
            await pilot.pause(0.05)
        assert [(e.profile, e.change, e.metric) for e in events] == [("staging", "acknowledged", "stuck")]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, QueueDetailScreen) and app.screen.queue_id == "q-webhooks-5a60f3"
        assert app.operations.profile == "staging"


class SwappableSource(RecordedProfileSource):
    """A recorded profile whose next snapshot the test sets."""

    def set(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot


async def test_a_new_alert_toasts_what_crossed_and_rings_the_bell_once() -> None:
    snap = recorded_fleet_snapshots()["staging"]
    calm = replace(snap, queues=tuple(replace(q, depth=5, stuck=False) for q in snap.queues))
    source = SwappableSource(calm, interval=0.2)
    member = FleetMember(name="staging", source=source, rules=[AlertRule(max_depth=100, stuck_after=False)])
    other = FleetMember(name="dev", source=RecordedProfileSource(recorded_fleet_snapshots()["dev"], interval=0.2))
    app = KubiyaConsole(source, fleet=[member, other], remember_theme=False, cursor_blink=False,
                        clock=lambda: FIXED_NOW, local_time=__import__("time").gmtime)  # fmt: skip
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await _ready(pilot)
        assert rings == [] and not app.alerts.firing
        source.set(replace(calm, queues=tuple(replace(q, depth=400) for q in calm.queues)))
        for _ in range(60):
            await pilot.pause(0.05)
            if app.alerts.firing:
                break
        await pilot.pause(0.5)  # more refreshes: still firing, no more bells
        assert len(app.alerts.alerts("staging")) == 2 and rings == [1]
        shown = toasts(app)
        assert any("CRITICAL fired · staging · 00:00:00" in t and "staging/webhooks: depth 400 > 100" in t for t in shown)
        await pilot.press("B")  # bell off
        source.set(replace(calm, queues=tuple(replace(q, depth=90) for q in calm.queues)))  # eased to warnings
        source.set(replace(calm, queues=()))
        await pilot.pause(0.5)
        assert not app.alerts.firing and rings == [1]
        assert not app.bell_on


async def test_one_profile_whose_poll_hangs_does_not_hold_up_the_others() -> None:
    class Hanging(RecordedProfileSource):
        async def refresh(self, *, force: bool = False) -> Snapshot:
            await asyncio.sleep(3600)
            raise AssertionError

    snaps = recorded_fleet_snapshots()
    stuck = FleetMember(name="prod", source=Hanging(snaps["prod"], interval=0.2))
    live = FleetMember(name="staging", source=RecordedProfileSource(snaps["staging"], interval=0.2))
    app = KubiyaConsole(stuck.source, fleet=[stuck, live], remember_theme=False, cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await _ready(pilot)
        assert {r.split()[0].lstrip("▌") for r in lines(app.screen.table)} == {"staging"}
        assert "prod …" in str(app.screen.query_one(FleetHeader).render())


async def test_the_palette_opens_every_profile_and_a_danger_profile_frames_one_profile_consoles(tmp_path: Path) -> None:
    import os

    from kubiya_tui.tui.screenshots import recorded_console

    config = Path(os.environ["XDG_CONFIG_HOME"]) / "kubiya-tui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    # Two profiles whose control planes are not running: the overview opens anyway and says they are down.
    config.write_text('[profiles.one]\napi_url = "http://127.0.0.1:9"\napi_key = "k1"\n'
                      '[profiles.two]\napi_url = "http://127.0.0.1:9"\napi_key = "k2"\ndanger = true\n')  # fmt: skip
    config.chmod(0o600)
    app = recorded_console()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.open_fleet()
        for _ in range(200):
            await pilot.pause(0.05)
            header = str(app.screen.query_one(FleetHeader).render()) if isinstance(app.screen, FleetScreen) else ""
            if "one down" in header and "⚠two down" in header:
                break
        assert "one down" in header and "⚠two down" in header, header
        assert [m.name for m in app.fleet or ()] == ["one", "two"]

    single = recorded_console()
    single._own = FleetMember(name="demo", source=single.source, danger=True)
    async with single.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("j", "s")
        await pilot.pause()
        assert str(single.screen.query_one("#dialog-title").render()) == "Scale queue · profile demo ⚠ DANGER"
