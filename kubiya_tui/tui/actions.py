"""What the console does to the control plane, and the dialogs that ask for it.

``Operations`` runs the calls screens and dialogs make: each in a background worker, a change
refused in read-only mode and written to the audit copy. ``Actions`` opens the dialog of each
operator action (create queue, scale, drain, worker command, migrate) from a key, the command
palette or a screen, after checking that it applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

from textual.app import App
from textual.message_pump import MessagePump

from kubiya_tui.metrics.snapshot import WorkerHealth
from kubiya_tui.tui.messages import OperationDone, OperationFailed
from kubiya_tui.tui.persistence import append_audit
from kubiya_tui.tui.screens.base import ConsoleScreen

if TYPE_CHECKING:
    from kubiya_tui.client.api import ApiClient
    from kubiya_tui.tui.app import KubiyaConsole

ApiCall = Callable[["ApiClient"], Awaitable[Any]]
"""One operation: what to ask the control plane, given its client."""


class Operations:
    """The console's calls to the control plane for its screens and dialogs, and whether changes are allowed."""

    def __init__(
        self,
        app: App[Any],
        api: ApiClient | None,
        *,
        profile: str | None,
        read_only: bool,
        read_only_reason: str,
        api_key: str | None,
    ) -> None:
        self._app = app
        self.api = api
        self.profile = profile
        """The profile the console is connected with (shown in the header, written in the audit copy)."""
        self.read_only = read_only
        self.read_only_reason = read_only_reason
        """Why changes are refused: ``--read-only`` or the profile's setting."""
        self.api_key = api_key
        """The key the console uses, for the worker command dialog (never shown unless revealed)."""

    def perform(self, requester: MessagePump, action: str, target: str, call: ApiCall, *, mutating: bool = True) -> None:
        """Run ``call(api)`` in a worker; the requester gets OperationDone or OperationFailed."""
        if mutating and self.read_only:
            requester.post_message(OperationFailed(action, self.refusal(action, target)))
            return
        self._app.run_worker(self._perform(requester, action, target, call, mutating), name=action, group=f"op-{action}", exit_on_error=False)

    async def _perform(self, requester: MessagePump, action: str, target: str, call: ApiCall, mutating: bool) -> None:
        if self.api is None:
            requester.post_message(OperationFailed(action, "no control plane is configured for this console"))
            return
        from kubiya_tui.client.api import ApiError  # loaded with the client; a console given only a source starts without it

        try:
            result = await call(self.api)
        except ApiError as exc:
            if mutating:
                append_audit(self.profile, action, target, "failed", str(exc))
            requester.post_message(OperationFailed(action, str(exc), exc.status, exc.body))
            return
        if mutating:
            append_audit(self.profile, action, target, "ok")
        requester.post_message(OperationDone(action, result))

    def refusal(self, action: str, target: str) -> str:
        """The one line that says a change is refused in read-only mode, and why."""
        return f"read-only ({self.read_only_reason}): refusing to {action.replace('-', ' ')} {target}"

    def refuse(self, action: str, target: str) -> bool:
        """True (and a notification saying why) when read-only mode refuses ``action``."""
        if self.read_only:
            self._app.notify(self.refusal(action, target), title="Read-only", severity="error")
            return True
        return False

    def reconnect(self, api: ApiClient | None, *, profile: str, api_key: str | None, read_only: bool) -> ApiClient | None:
        """Call through another profile's client from now on; answers the old client for the caller to close.

        A read-only profile makes the console read-only; leaving it does not lift read-only mode.
        """
        old, self.api, self.profile, self.api_key = self.api, api, profile, api_key
        if read_only:
            self.read_only, self.read_only_reason = True, f"profile {profile!r}"
        return old

    async def aclose(self) -> None:
        """Close the control-plane client."""
        if self.api is not None:
            await self.api.aclose()


class Actions:
    """The operator's actions that open a dialog; each checks that it applies (and read-only mode) first."""

    def __init__(self, console: KubiyaConsole) -> None:
        self._console = console

    # -------------------------------------------------------------- what the control plane can do

    def unavailable(self, feature: str) -> str | None:
        """Why the connected control plane cannot do ``feature`` (client/capabilities.py), None when it can
        or is not known yet (then the server's own answer is shown)."""
        connection = getattr(self._console, "connection", None)
        known = connection.capabilities.known if connection is not None else None
        return known.refusal(feature) if known is not None else None

    def refuse_unavailable(self, feature: str) -> bool:
        """True (and a notification with the reason and what to do instead) when ``feature`` is unavailable."""
        reason = self.unavailable(feature)
        if reason:
            self._console.notify(reason, title="Unavailable", severity="warning", timeout=10)
            return True
        return False

    # -------------------------------------------------------------- on what the operator selected

    def _selected_queue(self) -> str | None:
        screen = self._console.screen
        return screen.current_queue_id if isinstance(screen, ConsoleScreen) else None

    def _selected_worker(self) -> str | None:
        screen = self._console.screen
        return screen.current_worker_id if isinstance(screen, ConsoleScreen) else None

    def worker_command_for_selected(self) -> None:
        """The worker command of the queue on screen (``i``)."""
        queue_id = self._selected_queue()
        if queue_id is None:
            self._console.notify("select a queue first", severity="warning")
            return
        self.worker_command(queue_id)

    def scale_selected(self) -> None:
        """Scale the queue on screen (``s``)."""
        if self.refuse_unavailable("scale"):
            return
        queue_id = self._selected_queue()
        if queue_id is None:
            self._console.notify("select a queue first", severity="warning")
            return
        self.scale(queue_id)

    def drain_selected(self) -> None:
        """Drain the worker on screen (``d``)."""
        if self.refuse_unavailable("drain"):
            return
        worker_id = self._selected_worker()
        if worker_id is None:
            self._console.notify("select a worker (w lists them) or use Ctrl+P › Drain worker", severity="warning")
            return
        self.drain(worker_id)

    # -------------------------------------------------------------- the dialogs

    def _queue_label(self, queue_id: str) -> str:
        snapshot = self._console.snapshot
        queue = snapshot.queue(queue_id) if snapshot else None
        return f"{queue.environment or '-'}/{queue.name}" if queue else queue_id

    def create_queue(self) -> None:
        """The create-queue dialog; the new queue is selected in the overview once it is listed."""
        from kubiya_tui.tui.dialogs.create_queue import CreateQueueDialog

        console = self._console
        if console.operations.refuse("create-queue", "a queue"):
            return

        def created(queue_id: str | None) -> None:
            if queue_id:
                console.select_when_listed(queue_id)

        console.push_screen(CreateQueueDialog(), created)

    def worker_command(self, queue_id: str) -> None:
        """The worker start command and install scripts of a queue."""
        from kubiya_tui.tui.dialogs.worker_command import WorkerCommandDialog

        self._console.push_screen(WorkerCommandDialog(queue_id, self._queue_label(queue_id)))

    def scale(self, queue_id: str) -> None:
        """The scale dialog of a queue; the console refreshes when it closes."""
        from kubiya_tui.tui.dialogs.scale import ScaleDialog

        console = self._console
        snapshot = console.snapshot
        queue = snapshot.queue(queue_id) if snapshot else None
        if self.refuse_unavailable("scale"):
            return
        if snapshot is None or queue is None or console.operations.refuse("scale-queue", self._queue_label(queue_id)):
            return
        console.push_screen(ScaleDialog(queue, snapshot.workers_of(queue_id)), lambda _: console.poller.refresh_now())

    def drain(self, worker_id: str) -> None:
        """The drain dialog of a worker (not of one already gone); the console refreshes when it closes."""
        from kubiya_tui.tui.dialogs.drain import DrainDialog

        console = self._console
        snapshot = console.snapshot
        worker = next((w for w in snapshot.workers if w.worker_id == worker_id), None) if snapshot else None
        if self.refuse_unavailable("drain"):
            return
        if snapshot is None or worker is None or console.operations.refuse("drain-worker", worker_id):
            return
        if worker.health is WorkerHealth.gone:
            console.notify(f"worker {worker_id} is already gone", severity="warning")
            return
        queue = snapshot.queue(worker.queue_id) if worker.queue_id else None
        peers = snapshot.workers_of(worker.queue_id) if worker.queue_id else ()
        console.push_screen(DrainDialog(worker, queue, peers), lambda _: console.poller.refresh_now())

    def migrate(self, task_queue: Any, then: Callable[[], None]) -> None:
        """The migrate dialog of a legacy task queue; ``then`` runs when it closes."""
        from kubiya_tui.tui.dialogs.migrate import MigrateDialog

        console = self._console
        operations = console.operations
        if self.refuse_unavailable("legacy"):
            return
        if operations.read_only:
            console.notify(operations.refusal("migrate", task_queue.name), severity="error")
            return
        console.push_screen(MigrateDialog(task_queue), lambda _: then())
