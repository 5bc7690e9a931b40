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

import logging
from pathlib import Path
from typing import Sequence

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive, var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from kubiya_tui import __version__, locations
from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.config import resolve_settings
from kubiya_tui.connection import Connection, connect
from kubiya_tui.errors import UserError
from kubiya_tui.metrics.snapshot import Snapshot, SnapshotSource
from kubiya_tui.tui import persistence
from kubiya_tui.tui.actions import Actions, Operations
from kubiya_tui.tui.commands import ConsoleCommands
from kubiya_tui.tui.messages import SnapshotReady
from kubiya_tui.tui.polling import POLL_GROUP, HeartbeatHistory, SnapshotPoller
from kubiya_tui.tui.themes import ANSI_THEME, DEFAULT_THEME, project_themes, variable_defaults

log = logging.getLogger(__name__)


class KubiyaConsole(App[None]):
    """The k9s-like console for Kubiya worker queues."""

    CSS_PATH = "styles.tcss"
    TITLE = "kubiya-tui"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    # In footer order: the actions first, so a narrow terminal cuts the keys everyone knows (q, ?).
    BINDINGS = [
        Binding("w", "workers", "Workers", tooltip="Every worker, its health and heartbeat"),
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
    ]

    snapshot: var[Snapshot | None] = var(None)
    """The newest snapshot; screens and widgets watch it."""
    paused = reactive(False)
    poll_error: var[str | None] = var(None)
    """Why the last refresh failed, until one succeeds."""

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
        version: str = __version__,
        warnings: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.start_warnings = tuple(warnings)
        """Lines to show once the console is up (key files that other users may read)."""
        self.version = version
        """This console's own version, shown in help (recorded consoles pin it so snapshots don't move with releases)."""
        self.connection = connection
        """The connection that ``source`` and ``api`` belong to, closed with the console; None: they are closed one by one."""
        self.poller = SnapshotPoller(self, source)
        self.heartbeats = HeartbeatHistory()
        self.operations = Operations(
            self, api, profile=profile, read_only=read_only, read_only_reason=read_only_reason, api_key=api_key
        )
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

    def export_screenshot(self, *, title: str | None = None, simplify: bool = False) -> str:
        """An SVG screenshot (snapshot tests, screenshots/) that places every glyph at its cell in any viewer."""
        from kubiya_tui.tui.svg import tidy_svg

        return tidy_svg(super().export_screenshot(title=title, simplify=simplify))

    @property
    def source(self) -> SnapshotSource:
        """Where snapshots and history come from (the collector, or recorded data)."""
        return self.poller.source

    # ------------------------------------------------------------------ setup

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return variable_defaults()

    def get_default_screen(self) -> Screen:
        from kubiya_tui.tui.screens.overview import OverviewScreen

        return OverviewScreen()

    def on_mount(self) -> None:
        name = self.requested_theme or DEFAULT_THEME
        if name not in self.available_themes:
            self.notify(f"unknown theme {name!r}; using {DEFAULT_THEME}", title="Theme", severity="warning")
            name = DEFAULT_THEME
        self.theme = name
        self._theme_ready = True
        for line in self.start_warnings:
            self.notify(line, title="Permissions", severity="warning", timeout=20)
        latest = self.source.latest()
        if latest is not None:
            self.show_snapshot(latest)
        self.poller.poll()

    async def on_unmount(self) -> None:
        if self.connection is not None:
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

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Make ``snapshot`` the one every screen shows, noting the heartbeats that arrived with it."""
        self.heartbeats.record(snapshot, self.snapshot)
        self.snapshot = snapshot

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
        """Close every screen and dialog above the overview."""
        while len(self.screen_stack) > 1:
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

    def switch_profile(self, name: str) -> None:
        """Reconnect with another profile from config.toml."""
        try:
            settings = resolve_settings(name)
            connection = connect(settings)
            source = connection.source
        except (UserError, ApiError, ValueError) as exc:
            self.notify(str(exc), title=f"Profile {name}", severity="error")
            return
        old_connection, self.connection = self.connection, connection
        old = self.operations.reconnect(connection.api, profile=name, api_key=settings.api_key_value(), read_only=settings.read_only)
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
    if connection is None:
        connection = connect(resolve_settings(profile, api_url, api_key))
    settings = connection.settings
    source = connection.source
    chosen = theme or settings.theme or (ANSI_THEME if _terminal_has_16_colours() else None)
    return KubiyaConsole(
        source,
        api=connection.api,
        connection=connection,
        profile=settings.profile,
        read_only=read_only or settings.read_only,
        read_only_reason="--read-only" if read_only else f"profile {settings.profile!r}",
        theme=chosen,
        api_key=settings.api_key_value(),
        warnings=settings.warnings,
    )


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
