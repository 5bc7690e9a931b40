"""The console: a Textual app that shows snapshots and opens the operator's actions; it keeps navigation and wiring.

What it wires together, each in its own module: ``polling`` (the snapshot poll and heartbeat
history), ``actions`` (control-plane calls for screens and dialogs, and the dialogs of each
action), ``persistence`` (the audit copy and the remembered theme), ``themes`` and the
``commands`` of the palette. Screens and dialogs reach all of it through ``context.console_of``.

All I/O runs in async workers that only post messages; widgets change in message handlers. A
worker that raises lands in one ``Worker.StateChanged`` handler, so a failing backend shows a
banner instead of ending the app.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive, var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from kubiya_tui import locations
from kubiya_tui.errors import UserError
from kubiya_tui.fleet import FleetMember
from kubiya_tui.metrics.alerts import AlertBook, AlertChange
from kubiya_tui.metrics.snapshot import Snapshot, SnapshotSource
from kubiya_tui.tui import persistence
from kubiya_tui.tui.actions import Actions, Operations
from kubiya_tui.tui.commands import ConsoleCommands
from kubiya_tui.tui.connecting import Connecting
from kubiya_tui.tui.fleet_poller import FleetPoller
from kubiya_tui.tui.gc_policy import CollectAfterPaint
from kubiya_tui.tui.messages import FleetPolled, SnapshotReady
from kubiya_tui.tui.polling import POLL_GROUP, HeartbeatHistory, SnapshotPoller
from kubiya_tui.tui.themes import ANSI_THEME, DEFAULT_THEME, project_themes, variable_defaults

if TYPE_CHECKING:
    # Loaded where a console is built from a profile (build_console) or switches profile: a console
    # given its source paints its first frame without the API client, httpx, pydantic or temporalio.
    from kubiya_tui.client.api import ApiClient
    from kubiya_tui.connection import Connection

log = logging.getLogger(__name__)


class KubiyaConsole(App[None]):
    """The k9s-like console for Kubiya worker queues."""

    CSS_PATH = "styles.tcss"
    TITLE = "kubiya-tui"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    # In footer order: the actions first, so a narrow terminal cuts the keys everyone knows (q, ?).
    BINDINGS = [
        Binding("w", "workers", "Workers", tooltip="Every worker, its health and heartbeat"),
        Binding("a", "alerts", "Alerts", show=False, tooltip="What is firing and since when; acknowledge alerts"),
        Binding("s", "scale", "Scale", tooltip="Scale the selected queue's workers, or set its autoscale policy"),
        Binding("d", "drain", "Drain", tooltip="Drain the selected worker: it finishes its tasks and exits"),
        Binding("c", "create_queue", "Create", tooltip="Create a worker queue in an environment"),
        Binding("i", "worker_command", "Command", tooltip="The selected queue's worker start command and install scripts"),
        Binding("question_mark", "help", "Help", tooltip="This list of keys"),
        Binding("q", "quit", "Quit"),
        # Ctrl+C quits, as in every terminal tool an operator knows (Textual would copy instead).
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("L", "legacy", "Legacy queues", show=False, tooltip="Legacy task queues, and their migration to worker queues"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="Refresh now, skipping any back-off"),
        Binding("p", "pause", "Pause", show=False, tooltip="Pause or resume the live refresh"),
        Binding("t", "next_theme", "Next theme", show=False, tooltip="Next theme (remembered in the config)"),
        Binding("B", "toggle_bell", "Bell on/off", show=False, tooltip="Ring the terminal bell when an alert fires, or not"),
    ]

    snapshot: var[Snapshot | None] = var(None)
    """The newest snapshot; screens and widgets watch it."""
    paused = reactive(False)
    poll_error: var[str | None] = var(None)
    """Why the last refresh failed, until one succeeds."""
    fleet_version: var[int] = var(0)
    """Bumped when any profile of the fleet has polled (the fleet screen watches it)."""
    alerts_version: var[int] = var(0)
    """Bumped when an alert fires, changes, resolves or is acknowledged."""
    ALERT_WATCH_SECONDS = 30.0
    """How often the firing set of each profile is written even when nothing changed (the status line's 'watched')."""
    ALERT_TOASTS = 3
    """New alerts of one refresh shown one toast each; more are summed up in one."""

    def __init__(
        self,
        source: SnapshotSource,
        *,
        api: ApiClient | None = None,
        profile: str | None = None,
        read_only: bool = False,
        read_only_reason: str = "--read-only",
        theme: str | None = None,
        api_key: str | None = None,
        remember_theme: bool = True,
        cursor_blink: bool = True,
        connection: Connection | None = None,
        version: str | None = None,
        warnings: Sequence[str] = (),
        fleet: Sequence[FleetMember] | None = None,
        alert_rules: Sequence[Any] = (),
        alert_bell: bool = True,
        alert_log: Path | None = None,
        clock: Callable[[], float] = time.time,
        local_time: Callable[[float], time.struct_time] = time.localtime,
        color: str | None = None,
        danger: bool = False,
        connect_later: Callable[[], Connection] | None = None,
    ) -> None:
        super().__init__()
        self._connect_later = connect_later
        """Makes the connection once the first frame is on screen (``source`` is then ``Connecting``); None: given."""
        self.connect_failure: UserError | None = None
        """Why the connection made after the first frame could not be made (the console exits with it)."""
        self._own = FleetMember(name=profile or "default", source=source, color=color, danger=danger) if color or danger else None
        """One profile with a colour or a ``danger`` mark: its header and dialogs are framed like a fleet member's."""
        self.fleet: list[FleetMember] | None = list(fleet) if fleet else None
        """The profiles of ``--all-profiles`` / ``--profiles``, each polled on its own; None: one profile."""
        self.alerts = AlertBook()
        """The firing alerts of every profile shown."""
        self.alert_rules = tuple(alert_rules)
        self.alert_bell = alert_bell
        self.bell_on = True
        """``B`` turns the bell off (and on) for this console."""
        self.alert_log = alert_log
        """The history database that alert changes are written to; None: not written."""
        self._alert_written: dict[str, float] = {}
        self._alert_states: dict[str, str] = {}
        self.clock = clock
        """Wall-clock seconds (the recorded console pins it)."""
        self.local_time = local_time
        self.start_warnings = tuple(warnings)
        """Lines to show once the console is up (key files that other users may read)."""
        self._version = version
        self.connection = connection
        """The connection that ``source`` and ``api`` belong to, closed with the console; None: they are closed one by one."""
        self.poller: SnapshotPoller | FleetPoller = SnapshotPoller(self, source)
        self.heartbeats = HeartbeatHistory()
        self.gc_policy = CollectAfterPaint()
        self._replaced_snapshots: list[Snapshot | None] = []
        """Snapshots replaced on screen, held until the new one is painted (see show_snapshot)."""
        self.operations = Operations(
            self, api, profile=profile, read_only=read_only, read_only_reason=read_only_reason, api_key=api_key
        )
        self.member_operations: dict[str, Operations] = {}
        if self.fleet:
            self._adopt_fleet(self.fleet)
        self.actions = Actions(self)
        self.requested_theme = theme
        self.remember_theme = remember_theme
        self.cursor_blink = cursor_blink
        """Off in snapshot tests so a text cursor is always drawn the same."""
        self.pending_select: str | None = None
        """A queue to select in the overview as soon as a snapshot lists it (one just created)."""
        themes = project_themes()
        self.project_themes = [t.name for t in themes]
        self._theme_ready = False
        for theme_obj in themes:
            self.register_theme(theme_obj)
        # The theme is set before the stylesheet is first parsed: set in on_mount, it had every rule
        # parsed again with its colours (and every widget restyled) before the first frame.
        name = theme or DEFAULT_THEME
        self._unknown_theme = name if name not in self.available_themes else None
        self.theme = DEFAULT_THEME if self._unknown_theme else name

    def export_screenshot(self, *, title: str | None = None, simplify: bool = False) -> str:
        """An SVG screenshot (snapshot tests, screenshots/) that places every glyph at its cell in any viewer."""
        from kubiya_tui.tui.svg import tidy_svg

        return tidy_svg(super().export_screenshot(title=title, simplify=simplify))

    @property
    def version(self) -> str:
        """This console's own version, shown in help (recorded consoles pin it so snapshots don't move with releases).

        Read from the package's metadata when first shown (importlib.metadata: not before the first frame).
        """
        if self._version is None:
            from kubiya_tui import __version__

            self._version = __version__
        return self._version

    @property
    def source(self) -> SnapshotSource:
        """Where snapshots and history come from (the collector, or recorded data)."""
        return self.poller.source

    # ------------------------------------------------------------------ setup

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return variable_defaults()

    def get_default_screen(self) -> Screen:
        if self.fleet:
            from kubiya_tui.tui.screens.fleet import FleetScreen

            return FleetScreen()
        from kubiya_tui.tui.screens.overview import OverviewScreen

        return OverviewScreen()

    def _adopt_fleet(self, members: Sequence[FleetMember]) -> None:
        """Poll ``members`` from now on, each with operations of its own (its API, read-only setting, name in the audit)."""
        self.fleet = list(members)
        self.poller = FleetPoller(self, self.fleet)
        self.member_operations = {
            m.name: Operations(self, m.api, profile=m.name, read_only=m.read_only, read_only_reason=m.read_only_reason or f"profile {m.name!r}",
                               api_key=m.api_key)
            for m in self.fleet
        }  # fmt: skip
        self.operations = self.member_operations[self.fleet[0].name]

    @property
    def member(self) -> FleetMember | None:
        """The profile of the fleet the operator is on; with one profile, it when it has a colour or a danger mark; else None."""
        return self.poller.member if isinstance(self.poller, FleetPoller) else self._own

    def activate(self, profile: str) -> None:
        """Make ``profile`` the one that actions, detail screens and the header's sources are about."""
        poller = self.poller
        if not isinstance(poller, FleetPoller) or profile not in poller.members or profile == poller.active:
            return
        poller.active = profile
        self.operations = self.member_operations[profile]
        self.heartbeats.clear()
        member = poller.member
        self.poll_error = member.error
        self.snapshot = member.snapshot

    def on_mount(self) -> None:
        if self._unknown_theme:
            self.notify(f"unknown theme {self._unknown_theme!r}; using {DEFAULT_THEME}", title="Theme", severity="warning")
        self._theme_ready = True
        for line in self.start_warnings:
            self.notify(line, title="Permissions", severity="warning", timeout=20)
        for member in self.fleet or ():
            for line in member.warnings:
                self.notify(line, title=f"Permissions · {member.name}", severity="warning", timeout=20)
        latest = self.source.latest()
        if latest is not None:
            self.show_snapshot(latest)
        if self._connect_later is not None:
            # Drawn first, connected right after (tui/connecting.py); the first poll follows the connection.
            self.call_after_refresh(self._connect_after_first_frame)
            return
        if self.connection is not None:
            # What the control plane offers decides which actions the keys open: learned at once.
            self.connection.capabilities.learn_soon()
        # The first poll starts once the first frame is on screen: a source whose refresh does work
        # before its first await (building 1,000 queues' snapshot) would otherwise hold that frame back.
        self.call_after_refresh(self.poller.poll)

    def _connect_after_first_frame(self) -> None:
        self.run_worker(self._open_connection(), group="connect", exit_on_error=False)

    async def _open_connection(self) -> None:
        make, self._connect_later = self._connect_later, None
        if make is None:
            return
        placeholder = self.poller.source
        try:
            # The modules a connection needs load in a thread, so the drawn console keeps answering keys.
            await asyncio.to_thread(_load_connection_modules)
            connection = make()
        except Exception as exc:
            self.connect_failure = exc if isinstance(exc, UserError) else UserError(f"cannot connect: {exc}")
            self.exit(return_code=2)
            return
        if self.poller.source is not placeholder:  # another profile was chosen meanwhile: it stays
            self.run_worker(connection.aclose(), group="close", exit_on_error=False)
            return
        self.connection = connection
        self.operations.api = connection.api
        if self._own is not None:
            self._own.source = connection.source
        self.poller.replace_source(connection.source)
        if isinstance(placeholder, Connecting):
            placeholder.connected(connection.source)
        connection.capabilities.learn_soon()
        self.poller.poll()

    async def on_unmount(self) -> None:
        if isinstance(self.poller, FleetPoller):
            await self.poller.aclose()  # every profile's connection: its source, then its clients
        elif self.connection is not None:
            self.poller.stop()
            await self.connection.aclose()  # its source, then its clients
        else:
            await self.poller.aclose()
            await self.operations.aclose()

    def watch_theme(self, name: str) -> None:
        # Remember a theme the operator picked (not the one the console started with).
        if self._theme_ready and self.remember_theme:
            try:
                persistence.remember_theme(name)
            except UserError as exc:
                self.notify(str(exc), title="Theme not saved", severity="warning")

    # ------------------------------------------------------------------ snapshots

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.poller.succeeded()
        self.show_snapshot(message.snapshot)
        self.check_alerts(self.operations.profile or "default", message.snapshot, self.alert_rules, self.alert_bell)

    def on_fleet_polled(self, message: FleetPolled) -> None:
        poller = self.poller
        if not isinstance(poller, FleetPoller):
            return
        member = poller.members[message.profile]
        from kubiya_tui.fleet import state_of

        state = state_of(member)
        if member.snapshot is not None and member.error is None:
            self.check_alerts(member.name, member.snapshot, member.rules, member.bell, state=state)
        else:
            self.log_alerts(member.name, [], state=state)
        if member.name == poller.active:
            self.poll_error = member.error
            if member.snapshot is not None:
                self.show_snapshot(member.snapshot)
        self.fleet_version += 1

    # ------------------------------------------------------------------ alerts

    def check_alerts(self, profile: str, snapshot: Snapshot, rules: Sequence[Any], bell: bool, *, state: str | None = None) -> None:
        """Check ``snapshot`` against the profile's alert rules: toast and bell for what is new, the history database for every change."""
        now = self.clock()
        if rules or any(k[0] == profile for k in self.alerts.firing):
            changes = self.alerts.update(profile, snapshot, rules, now=now)
        else:
            changes = []  # nothing to check; still "watched" for the status line
        new = [c for c in changes if c.new]
        if new:
            self._toast(profile, new)
            if bell and self.bell_on:
                self.bell()
        if changes:
            self.alerts_version += 1
        if state is None:
            live = [s.status.value for s in snapshot.sources.values() if s.status.value != "off"]
            state = "down" if live and all(v == "down" for v in live) else "ok"
        self.log_alerts(profile, changes, state=state)

    def _toast(self, profile: str, new: Sequence[AlertChange]) -> None:
        when = time.strftime("%H:%M:%S", self.local_time(new[0].at))
        shown = new if len(new) <= self.ALERT_TOASTS else new[: self.ALERT_TOASTS - 1]
        for change in shown:
            a = change.alert
            verb = "fired" if change.change == "fired" else "now critical"
            self.notify(f"{a.message}", title=f"{a.level.upper()} {verb} · {profile} · {when}",
                        severity="error" if a.level == "critical" else "warning", timeout=10)  # fmt: skip
        rest = len(new) - len(shown)
        if rest:
            self.notify(f"and {rest} more alerts in {profile} (a lists them)", title=f"Alerts · {profile} · {when}", severity="error", timeout=10)

    def acknowledge(self, keys: Sequence[tuple[str, str, str]]) -> int:
        """Acknowledge firing alerts (written to the history database); answers how many were not acknowledged yet."""
        changes = self.alerts.acknowledge(keys, now=self.clock())
        for profile in {c.alert.profile for c in changes}:
            self.log_alerts(profile, [c for c in changes if c.alert.profile == profile])
        if changes:
            self.alerts_version += 1
        return len(changes)

    def log_alerts(self, profile: str, changes: Sequence[AlertChange], *, state: str | None = None) -> None:
        """Write the changes, the firing set and how the profile answers to the history database, in a thread (never on the refresh path)."""
        if self.alert_log is None:
            return
        now = self.clock()
        state = state or self._alert_states.get(profile, "ok")
        quiet = now - self._alert_written.get(profile, 0.0) < self.ALERT_WATCH_SECONDS
        if not changes and quiet and state == self._alert_states.get(profile):
            return
        self._alert_written[profile] = now
        self._alert_states[profile] = state
        from kubiya_tui import alertlog

        changed = [c.event() for c in changes]
        rows = {profile: self.alerts.firing_rows(profile)}
        path = self.alert_log

        async def write() -> None:
            try:
                await asyncio.to_thread(alertlog.write, path, changed, rows, now, {profile: state})
            except Exception as exc:  # a full disk must not end the console
                log.warning("cannot write alerts to %s: %s", path, exc)

        self.run_worker(write, group="alert-log", exit_on_error=False)

    def action_alerts(self) -> None:
        from kubiya_tui.tui.screens.alerts import AlertsScreen

        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

    def action_toggle_bell(self) -> None:
        self.bell_on = not self.bell_on
        self.notify("alert bell on" if self.bell_on else "alert bell off (B turns it on)", timeout=3)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Make ``snapshot`` the one every screen shows, noting the heartbeats that arrived with it."""
        self.heartbeats.record(snapshot, self.snapshot)
        # The snapshot shown until now is freed once this one is painted: releasing 5,000 workers'
        # objects takes ~2.5 ms that the operator need not wait for.
        self._replaced_snapshots.append(self.snapshot)
        self.snapshot = snapshot
        # Garbage is collected once this snapshot is painted, never inside a refresh (gc_policy.py).
        self.call_after_refresh(self._after_paint)

    def _after_paint(self) -> None:
        self._replaced_snapshots.clear()
        self.gc_policy.after_paint()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)):
            self.gc_policy.input_seen()
        await super().on_event(event)

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where a failed background job is reported."""
        worker = event.worker
        if event.state is not WorkerState.ERROR:
            return
        error = worker.error
        log.error("background job %s failed: %r", worker.name, error, exc_info=error)
        if worker.group == POLL_GROUP:
            self.poller.failed(error)
        else:
            self.notify(f"{worker.name}: {error}", title="Failed", severity="error")

    # ------------------------------------------------------------------ navigation

    def open_queue(self, queue_id: str) -> None:
        from kubiya_tui.tui.screens.queue_detail import QueueDetailScreen

        self.push_screen(QueueDetailScreen(queue_id))

    def open_worker(self, worker_id: str) -> None:
        from kubiya_tui.tui.screens.workers import WorkerDetailScreen

        self.push_screen(WorkerDetailScreen(worker_id))

    def back_to_overview(self) -> None:
        """Close every screen and dialog above the overview (the fleet overview, with several profiles)."""
        from kubiya_tui.tui.screens.fleet import FleetScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, FleetScreen):
            self.pop_screen()

    def select_when_listed(self, queue_id: str) -> None:
        """Back to the overview, refreshed, with ``queue_id`` selected as soon as a snapshot lists it."""
        self.pending_select = queue_id
        self.back_to_overview()
        self.poller.refresh_now()

    def action_workers(self) -> None:
        from kubiya_tui.tui.screens.workers import WorkersScreen

        if not isinstance(self.screen, WorkersScreen):
            self.push_screen(WorkersScreen())

    def action_legacy(self) -> None:
        from kubiya_tui.tui.screens.legacy import LegacyScreen

        if self.actions.refuse_unavailable("legacy"):
            return
        if not isinstance(self.screen, LegacyScreen):
            self.push_screen(LegacyScreen())

    def action_help(self) -> None:
        from kubiya_tui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        self.poller.refresh_now()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.notify("refresh paused (p resumes)" if self.paused else "refresh resumed", timeout=2)
        if not self.paused:
            self.poller.refresh_now()

    def action_next_theme(self) -> None:
        names = self.project_themes or [DEFAULT_THEME]
        nxt = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0]
        self.switch_theme(nxt)

    def switch_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"unknown theme {name!r}", severity="warning")
            return
        self.theme = name
        self.notify(f"theme: {name}", timeout=2)

    def open_fleet(self, names: str | None = None) -> None:
        """Every profile at once (the palette's "All profiles"): one overview, each profile on its own connection."""
        if self.fleet:
            self.back_to_overview()
            return
        from kubiya_tui.client.api import ApiError
        from kubiya_tui.fleet import open_fleet
        from kubiya_tui.tui.screens.fleet import FleetScreen

        try:
            members = open_fleet(names, read_only=self.operations.read_only and self.operations.read_only_reason == "--read-only")
        except (UserError, ApiError, ValueError) as exc:
            self.notify(str(exc), title="All profiles", severity="error")
            return
        self.poller.stop()
        old_connection, self.connection = self.connection, None
        old_source = self.poller.source
        self._adopt_fleet(members)
        self.heartbeats.clear()
        self.snapshot = None
        self.back_to_overview()
        # On top of the one-profile overview, which stays under it unseen (back_to_overview stops at the fleet).
        self.push_screen(FleetScreen())
        if old_connection is not None:
            self.run_worker(old_connection.aclose(), group="close", exit_on_error=False)
        else:
            self.run_worker(old_source.aclose(), group="close", exit_on_error=False)  # type: ignore[attr-defined]
        self.notify(f"all profiles: {', '.join(m.name for m in members)}")
        self.poller.poll()

    def switch_profile(self, name: str) -> None:
        """Reconnect with another profile from config.toml (in the fleet: act on that profile)."""
        if isinstance(self.poller, FleetPoller):
            if name in self.poller.members:
                self.activate(name)
                self.notify(f"actions now go to profile {name}")
            else:
                self.notify(f"profile {name} is not in this overview", severity="warning")
            return
        from kubiya_tui.client.api import ApiError
        from kubiya_tui.config import resolve_settings
        from kubiya_tui.connection import connect

        try:
            settings = resolve_settings(name)
            connection = connect(settings)
            source = connection.source
        except (UserError, ApiError, ValueError) as exc:
            self.notify(str(exc), title=f"Profile {name}", severity="error")
            return
        old_connection, self.connection = self.connection, connection
        old = self.operations.reconnect(connection.api, profile=name, api_key=settings.api_key_value(), read_only=settings.read_only)
        self._own = FleetMember(name=name, source=source, color=settings.color, danger=settings.danger) if settings.color or settings.danger else None
        self.alert_rules, self.alert_bell = tuple(settings.alerts), settings.alert_bell
        self.poller.replace_source(source)
        self.heartbeats.clear()
        self.snapshot = None
        self.back_to_overview()
        if old_connection is not None:
            self.run_worker(old_connection.aclose(), group="close", exit_on_error=False)
        elif old is not None:
            self.run_worker(old.aclose(), group="close", exit_on_error=False)
        reached = settings.api_url if connection.api is not None else f"Temporal only: {settings.temporal_address}/{settings.temporal_namespace}"
        self.notify(f"profile: {name} ({reached})")
        for line in settings.warnings:
            self.notify(line, title="Permissions", severity="warning", timeout=20)
        self.poller.refresh_now()

    # ------------------------------------------------------------------ the action keys (see actions.py)

    def action_create_queue(self) -> None:
        self.actions.create_queue()

    def action_worker_command(self) -> None:
        self.actions.worker_command_for_selected()

    def action_scale(self) -> None:
        self.actions.scale_selected()

    def action_drain(self) -> None:
        self.actions.drain_selected()


# ---------------------------------------------------------------------- entry


def _log_to_file() -> Path:
    """Send every log record to a file under state_dir(): nothing may print while the console runs."""
    folder = locations.state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "console.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path


def _terminal_has_16_colours() -> bool:
    from rich.console import Console

    return Console().color_system == "standard"


def build_console(
    profile: str | None = None,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    read_only: bool = False,
    theme: str | None = None,
    connection: Connection | None = None,
) -> KubiyaConsole:
    """The console over a connection (by default, that of a profile and flag overrides), not yet running."""
    connect_later: Callable[[], Connection] | None = None
    if connection is None:
        from kubiya_tui.client.urls import url_problem
        from kubiya_tui.config import resolve_settings

        settings = resolve_settings(profile, api_url, api_key)
        # The one check connect() makes that can fail, made here so a bad URL is still one line, not a console.
        problem = url_problem(settings.api_url) if settings.api_key_value() else None
        if problem is not None:
            raise UserError(problem)

        def connect_profile() -> Connection:
            from kubiya_tui.connection import connect

            return connect(settings)

        connect_later = connect_profile
        source: SnapshotSource = Connecting(settings.refresh_interval)
        api = None
    else:
        settings, source, api = connection.settings, connection.source, connection.api
    chosen = theme or settings.theme or (ANSI_THEME if _terminal_has_16_colours() else None)
    return KubiyaConsole(
        source,
        api=api,
        connection=connection,
        connect_later=connect_later,
        profile=settings.profile,
        read_only=read_only or settings.read_only,
        read_only_reason="--read-only" if read_only else f"profile {settings.profile!r}",
        theme=chosen,
        api_key=settings.api_key_value(),
        warnings=settings.warnings,
        alert_rules=settings.alerts,
        alert_bell=settings.alert_bell,
        alert_log=default_alert_log(),
        color=settings.color,
        danger=settings.danger,
    )


def _load_connection_modules() -> None:
    """Import what connect() and its first Temporal read need (the API client, the collector, the Temporal SDK)."""
    import kubiya_tui.client.temporal  # noqa: F401
    import kubiya_tui.connection  # noqa: F401


def default_alert_log() -> Path | None:
    """The history database, unless KUBIYA_TUI_HISTORY turns history off (or keeps it in memory)."""
    from kubiya_tui.alertlog import database_path

    if os.environ.get("KUBIYA_TUI_HISTORY", "").strip().lower() in ("0", "off", "false", "no", "memory"):
        return None
    return database_path()


def build_fleet_console(members: Sequence[FleetMember], *, theme: str | None = None, **kwargs: Any) -> KubiyaConsole:
    """The console over several profiles at once (not yet running)."""
    first = members[0]
    chosen = theme or (first.settings.theme if first.settings else None) or (ANSI_THEME if _terminal_has_16_colours() else None)
    kwargs.setdefault("alert_log", default_alert_log())
    return KubiyaConsole(first.source, fleet=members, theme=chosen, **kwargs)


def run_fleet_console(names: str | None = None, *, read_only: bool = False, theme: str | None = None) -> None:
    """``--all-profiles`` (``names`` None) or ``--profiles a,b,c``: open the fleet overview until the operator quits."""
    from kubiya_tui.fleet import open_fleet

    _log_to_file()
    members = open_fleet(names, read_only=read_only)
    build_fleet_console(members, theme=theme).run()


def run_console(
    profile: str | None = None,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    read_only: bool = False,
    theme: str | None = None,
    connection: Connection | None = None,
) -> None:
    """Open the console until the operator quits; configuration errors are UserErrors.

    ``connection``: an open connection to show (the demo's); else one is made from the profile.
    """
    _log_to_file()
    app = build_console(profile, api_url=api_url, api_key=api_key, read_only=read_only, theme=theme, connection=connection)
    app.run()
    if app.connect_failure is not None:
        raise app.connect_failure
