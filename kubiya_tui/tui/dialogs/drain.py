"""Drain a worker: what it is running, a warning when it is the last healthy one, then its state live."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from kubiya_tui import formatting as fmt
from kubiya_tui.metrics.snapshot import WorkerHealth, QueueSnapshot, WorkerSnapshot
from kubiya_tui.tui.dialogs.base import ActionDialog
from kubiya_tui.tui.messages import OperationDone, OperationFailed

FOLLOW_EVERY_SECONDS = 1.0


def last_healthy_warning(worker: WorkerSnapshot, queue: QueueSnapshot | None, peers: tuple[WorkerSnapshot, ...]) -> str | None:
    """A warning when draining ``worker`` leaves its queue's backlog with no healthy worker."""
    others = [w for w in peers if w.worker_id != worker.worker_id and w.health is WorkerHealth.healthy and not w.polling_not_registered]
    if worker.health is WorkerHealth.healthy and not others and queue is not None and (queue.depth or 0) > 0:
        return (f"{worker.worker_id} is the last healthy worker of {queue.environment or '-'}/{queue.name}, "
                f"which has {queue.depth:,} tasks waiting: they will wait until another worker starts.")  # fmt: skip
    return None


def replacement_note(queue: QueueSnapshot | None) -> str:
    """Whether, and when, something starts a worker in the drained one's place."""
    if queue is None:
        return ""
    label = f"{queue.environment + '/' if queue.environment else ''}{queue.name}"
    if queue.autoscale:
        return f"{label} is autoscaled: a runner starts a replacement once this worker has exited, if its policy still wants one."
    if queue.desired_workers is not None:
        return (f"{label} wants {queue.desired_workers} worker{'s' if queue.desired_workers != 1 else ''}: a runner "
                "(kubiya-tui runner, or the demo's) starts a replacement once this worker has finished and exited.")  # fmt: skip
    return f"{label} has no wanted worker count: nothing starts a replacement (scale the queue to keep its workers)."


class DrainDialog(ActionDialog[bool]):
    """Confirm, then follow the worker from draining to gone (answers True once the drain was accepted).

    The Drain button has the focus, so Enter drains, as its label and the hint say; Esc (or
    Tab to Cancel, then Enter) closes it saying that nothing was changed.
    """

    TITLE = "Drain worker"
    CONFIRM_LABEL = "Drain (Enter)"
    CONFIRM_VARIANT = "error"
    BODY_FOCUSABLE = True  # only text: focus lets the keys scroll it on a short terminal
    AUTO_FOCUS = "#confirm"

    def __init__(self, worker: WorkerSnapshot, queue: QueueSnapshot | None, peers: tuple[WorkerSnapshot, ...]) -> None:
        super().__init__()
        self.worker = worker
        self.queue = queue
        self.peers = peers
        self.accepted = False

    def compose_body(self) -> ComposeResult:
        w = self.worker
        running = ", ".join(w.current_task_ids) if w.current_task_ids else "nothing (idle)"
        yield Static(
            f"[b]{w.worker_id}[/] on [b]{w.hostname or '-'}[/], queue [b]{self.queue.environment + '/' if self.queue and self.queue.environment else ''}{w.queue_name or '-'}[/]\n"
            f"running: {running}\n"
            "It finishes what it holds, takes nothing new and exits; unfinished work stays in Temporal.",
            id="drain-target",
        )
        warning = last_healthy_warning(w, self.queue, self.peers)
        yield Static(f"⚠ {warning}" if warning else "", id="drain-warning", classes="warning")
        yield Static(Text(replacement_note(self.queue)), id="drain-replacement")
        yield Static(Text.assemble(("Enter", "bold"), " drains it · ", ("Esc", "bold"), " closes, nothing changed"), id="drain-hint")
        yield Static(id="drain-state")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#drain-warning").display = bool(last_healthy_warning(self.worker, self.queue, self.peers))
        self.query_one("#drain-replacement").display = self.queue is not None
        self.query_one("#drain-state").display = False
        self.query_one("#confirm").focus()

    def confirm(self) -> None:
        if self.accepted:
            self.dismiss(True)
            return
        worker_id = self.worker.worker_id
        self.set_busy(True, "Draining…")
        self.send("drain-worker", worker_id, lambda api: api.drain_worker(worker_id))

    def action_cancel(self) -> None:
        if not self.accepted:
            self.note_cancelled()
        self.dismiss(self.accepted or None)

    def on_operation_done(self, message: OperationDone) -> None:
        if message.action == "drain-worker":
            self.accepted = True
            self.app.notify(f"draining {self.worker.worker_id}", title="Drain")
            self.set_busy(False, "Close (Enter)")
            self.query_one("#cancel").display = False
            self.query_one("#drain-hint").display = False
        detail = message.result
        self._show_state(detail)
        if getattr(detail, "health", None) != "gone" and self.is_mounted:
            self.set_timer(FOLLOW_EVERY_SECONDS, self._follow)

    def _follow(self) -> None:
        worker_id = self.worker.worker_id
        self.operations.perform(self, "follow-worker", worker_id, lambda api: api.get_worker(worker_id), mutating=False)

    def _show_state(self, detail: object) -> None:
        state = self.query_one("#drain-state", Static)
        health = getattr(getattr(detail, "health", None), "value", None) or getattr(detail, "health", None) or "?"
        tasks = getattr(detail, "current_task_ids", None) or []
        line = Text.assemble(
            ("state: ", "dim"), (str(health), "bold"),
            ("   wanted: ", "dim"), str(getattr(detail, "desired_state", None) or "-"),
            ("   heartbeat: ", "dim"), fmt.age(getattr(detail, "heartbeat_age_seconds", None)),
            ("   holding: ", "dim"), ", ".join(tasks) or "nothing",
        )  # fmt: skip
        if health == "gone":
            line.append("   ✓ gone", style="bold")
        state.update(line)
        state.display = True

    def operation_failed(self, message: OperationFailed) -> None:
        if message.action == "follow-worker":
            # Keep following through a blip; the state line says what failed.
            self.query_one("#drain-state", Static).update(Text(f"cannot read the worker: {message.error}", style="dim"))
            self.set_timer(FOLLOW_EVERY_SECONDS * 3, self._follow)
            return
        super().operation_failed(message)
        self.set_busy(False, self.CONFIRM_LABEL)
