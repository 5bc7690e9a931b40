"""The console: a Textual app that renders snapshots and runs operations against the control plane.

All I/O runs in async workers (``poll`` for snapshots, ``perform`` for operations) that only
post messages; widgets change in message handlers. A worker that raises lands in one
``Worker.StateChanged`` handler, so a failing backend shows a banner instead of ending the app.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.message_pump import MessagePump
from textual.reactive import reactive, var
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from kubiya_tui import locations
from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.config import load_config, resolve_settings, write_config
from kubiya_tui.errors import UserError
from kubiya_tui.metrics.collector import Collector
from kubiya_tui.metrics.snapshot import Health, Snapshot, SnapshotSource
from kubiya_tui.tui.commands import ConsoleCommands
from kubiya_tui.tui.messages import OperationDone, OperationFailed, SnapshotReady
from kubiya_tui.tui.themes import ANSI_THEME, DEFAULT_THEME, VARIABLE_DEFAULTS, load_themes

log = logging.getLogger(__name__)

HEARTBEAT_RING = 20
HEARTBEAT_SAME_SECONDS = 1.0
"""Two refreshes whose heartbeat times are closer than this saw the same heartbeat (ages are rounded)."""
MAX_BACKOFF_SECONDS = 30.0


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
        warnings: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.start_warnings = tuple(warnings)
        """Lines to show once the console is up (key files that other users may read)."""
        self.source = source
        self.api = api
        self.profile_name = profile
        self.read_only = read_only
        self.read_only_reason = read_only_reason
        self.api_key = api_key
        self.requested_theme = theme
        self.remember_theme = remember_theme
        self.cursor_blink = cursor_blink
        """Off in snapshot tests so a text cursor is always drawn the same."""
        self.pending_select: str | None = None
        self.heartbeats: dict[str, deque[float]] = {}
        """Each worker's recent heartbeat arrival times (newest last), for its detail screen."""
        self.project_themes = [t.name for t in load_themes()]
        self._poll_timer: Timer | None = None
        self._failures = 0
        self._theme_ready = False
        for theme_obj in load_themes():
            self.register_theme(theme_obj)

    # ------------------------------------------------------------------ setup

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

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
            self._apply(latest)
        self.poll()

    async def on_unmount(self) -> None:
        closer = getattr(self.source, "aclose", None)
        if closer is not None:
            try:
                await closer()
            except Exception:
                log.exception("closing the snapshot source")
        if self.api is not None:
            await self.api.aclose()

    def watch_theme(self, name: str) -> None:
        # Remember a theme the operator picked (not the one the console started with).
        if self._theme_ready and self.remember_theme:
            try:
                config = load_config()
                if config.theme != name:
                    config.theme = name
                    write_config(config)
            except UserError as exc:
                self.notify(str(exc), title="Theme not saved", severity="warning")

    # ------------------------------------------------------------------ refresh

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def poll(self, force: bool = False) -> None:
        """Ask the source for a new snapshot; the next one is scheduled when this one is in.

        ``force`` (the ``r`` key) asks a collector to skip its back-off and poll every source now.
        """
        refresh = self.source.refresh
        if force and "force" in inspect.signature(refresh).parameters:
            snapshot = await refresh(force=True)  # type: ignore[call-arg]
        else:
            snapshot = await refresh()
        self.post_message(SnapshotReady(snapshot))

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self._failures = 0
        self.poll_error = None
        self._apply(message.snapshot)
        self._schedule_poll(self.source.interval)

    def _apply(self, snapshot: Snapshot) -> None:
        previous = self.snapshot
        if previous is None or snapshot.taken_at != previous.taken_at:
            # A heartbeat is recorded when it arrives (its time moves), not at every refresh.
            heartbeats, taken_at = self.heartbeats, snapshot.taken_at
            for worker in snapshot.workers:
                age = worker.heartbeat_age_seconds
                if age is None:
                    continue
                arrived = taken_at - age
                ring = heartbeats.get(worker.worker_id)
                if ring is None:
                    ring = heartbeats[worker.worker_id] = deque(maxlen=HEARTBEAT_RING)
                    ring.append(arrived)
                elif arrived - ring[-1] > HEARTBEAT_SAME_SECONDS:
                    ring.append(arrived)
        self.snapshot = snapshot

    def _schedule_poll(self, delay: float) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
        self._poll_timer = self.set_timer(delay, self._poll_due)

    def _poll_due(self) -> None:
        self._poll_timer = None
        if self.paused or not self.is_running or not self.screen_stack:
            # Nothing to refresh while paused, or while the app is closing.
            return
        if isinstance(self.screen, ModalScreen):
            # Refresh waits while a dialog is open, so what it shows does not move under the operator.
            self._schedule_poll(0.5)
            return
        self.poll()

    @on(Worker.StateChanged)
    def _worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where a failed background job is reported."""
        worker = event.worker
        if event.state is not WorkerState.ERROR:
            return
        error = worker.error
        log.error("background job %s failed: %r", worker.name, error, exc_info=error)
        if worker.group == "poll":
            self._failures += 1
            self.poll_error = str(error) or type(error).__name__
            self._schedule_poll(min(MAX_BACKOFF_SECONDS, self.source.interval * 2 ** min(self._failures, 5)))
        else:
            self.notify(f"{worker.name}: {error}", title="Failed", severity="error")

    # ------------------------------------------------------------------ operations

    def perform(
        self,
        requester: MessagePump,
        action: str,
        target: str,
        call: Callable[[ApiClient], Awaitable[Any]],
        *,
        mutating: bool = True,
    ) -> None:
        """Run ``call(api)`` in a worker; the requester gets OperationDone or OperationFailed."""
        if mutating and self.read_only:
            requester.post_message(OperationFailed(action, self.refusal(action, target)))
            return
        self.run_worker(self._perform(requester, action, target, call, mutating), name=action, group=f"op-{action}", exit_on_error=False)

    async def _perform(
        self, requester: MessagePump, action: str, target: str, call: Callable[[ApiClient], Awaitable[Any]], mutating: bool
    ) -> None:
        if self.api is None:
            requester.post_message(OperationFailed(action, "no control plane is configured for this console"))
            return
        try:
            result = await call(self.api)
        except ApiError as exc:
            if mutating:
                self.audit(action, target, "failed", str(exc))
            requester.post_message(OperationFailed(action, str(exc), exc.status, exc.body))
            return
        if mutating:
            self.audit(action, target, "ok")
        requester.post_message(OperationDone(action, result))

    def refusal(self, action: str, target: str) -> str:
        return f"read-only ({self.read_only_reason}): refusing to {action.replace('-', ' ')} {target}"

    def audit(self, action: str, target: str, outcome: str, detail: str | None = None) -> None:
        """Append one line to the console's own audit copy (the control plane keeps the authoritative log)."""
        entry = {"time": time.time(), "profile": self.profile_name, "action": action, "target": target, "outcome": outcome}
        if detail:
            entry["detail"] = detail
        try:
            folder = locations.state_dir()
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "audit.log", "a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
        except OSError:
            log.exception("cannot write the audit copy")

    # ------------------------------------------------------------------ navigation

    def open_queue(self, queue_id: str) -> None:
        from kubiya_tui.tui.screens.queue_detail import QueueDetailScreen

        self.push_screen(QueueDetailScreen(queue_id))

    def open_worker(self, worker_id: str) -> None:
        from kubiya_tui.tui.screens.workers import WorkerDetailScreen

        self.push_screen(WorkerDetailScreen(worker_id))

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
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        self.poll(force=True)

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.notify("refresh paused (p resumes)" if self.paused else "refresh resumed", timeout=2)
        if not self.paused:
            self.action_refresh()

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
            api = ApiClient(settings.api_url, settings.api_key_value())
            source = Collector.from_settings(settings)
        except (UserError, ApiError, ValueError) as exc:
            self.notify(str(exc), title=f"Profile {name}", severity="error")
            return
        old = self.api
        self.api, self.source, self.profile_name = api, source, name
        self.api_key = settings.api_key_value()
        if settings.read_only:
            self.read_only, self.read_only_reason = True, f"profile {name!r}"
        self.heartbeats.clear()
        self.snapshot = None
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if old is not None:
            self.run_worker(old.aclose(), group="close", exit_on_error=False)
        self.notify(f"profile: {name} ({settings.api_url})")
        for line in settings.warnings:
            self.notify(line, title="Permissions", severity="warning", timeout=20)
        self.action_refresh()

    # ------------------------------------------------------------------ actions

    def _current(self, attribute: str) -> str | None:
        return getattr(self.screen, attribute, None)

    def _queue_label(self, queue_id: str) -> str:
        queue = self.snapshot.queue(queue_id) if self.snapshot else None
        return f"{queue.environment or '-'}/{queue.name}" if queue else queue_id

    def _refuse(self, action: str, target: str) -> bool:
        if self.read_only:
            self.notify(self.refusal(action, target), title="Read-only", severity="error")
            return True
        return False

    def action_create_queue(self) -> None:
        from kubiya_tui.tui.dialogs.create_queue import CreateQueueDialog

        if self._refuse("create-queue", "a queue"):
            return

        def created(queue_id: str | None) -> None:
            if queue_id:
                self.pending_select = queue_id
                while len(self.screen_stack) > 1:
                    self.pop_screen()
                self.action_refresh()

        self.push_screen(CreateQueueDialog(), created)

    def action_worker_command(self) -> None:
        queue_id = self._current("current_queue_id")
        if queue_id is None:
            self.notify("select a queue first", severity="warning")
            return
        self.show_worker_command(queue_id)

    def show_worker_command(self, queue_id: str) -> None:
        from kubiya_tui.tui.dialogs.worker_command import WorkerCommandDialog

        self.push_screen(WorkerCommandDialog(queue_id, self._queue_label(queue_id)))

    def action_scale(self) -> None:
        queue_id = self._current("current_queue_id")
        if queue_id is None:
            self.notify("select a queue first", severity="warning")
            return
        self.scale_queue(queue_id)

    def scale_queue(self, queue_id: str) -> None:
        from kubiya_tui.tui.dialogs.scale import ScaleDialog

        queue = self.snapshot.queue(queue_id) if self.snapshot else None
        if queue is None or self._refuse("scale-queue", self._queue_label(queue_id)):
            return
        self.push_screen(ScaleDialog(queue, self.snapshot.workers_of(queue_id)), lambda _: self.action_refresh())

    def action_drain(self) -> None:
        worker_id = self._current("current_worker_id")
        if worker_id is None:
            self.notify("select a worker (w lists them) or use Ctrl+P › Drain worker", severity="warning")
            return
        self.drain_worker(worker_id)

    def drain_worker(self, worker_id: str) -> None:
        from kubiya_tui.tui.dialogs.drain import DrainDialog

        snapshot = self.snapshot
        worker = next((w for w in snapshot.workers if w.worker_id == worker_id), None) if snapshot else None
        if worker is None or self._refuse("drain-worker", worker_id):
            return
        if worker.health is Health.gone:
            self.notify(f"worker {worker_id} is already gone", severity="warning")
            return
        queue = snapshot.queue(worker.queue_id) if worker.queue_id else None
        peers = snapshot.workers_of(worker.queue_id) if worker.queue_id else ()
        self.push_screen(DrainDialog(worker, queue, peers), lambda _: self.action_refresh())


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
) -> KubiyaConsole:
    """The console for a profile (and flag overrides), connected but not yet running."""
    settings = resolve_settings(profile, api_url, api_key)
    try:
        api = ApiClient(settings.api_url, settings.api_key_value())
    except ApiError as exc:
        raise UserError(str(exc)) from None
    source = Collector.from_settings(settings)
    chosen = theme or settings.theme or (ANSI_THEME if _terminal_has_16_colours() else None)
    return KubiyaConsole(
        source,
        api=api,
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
) -> None:
    """Open the console until the operator quits; configuration errors are UserErrors."""
    _log_to_file()
    app = build_console(profile, api_url=api_url, api_key=api_key, read_only=read_only, theme=theme)
    app.run()
