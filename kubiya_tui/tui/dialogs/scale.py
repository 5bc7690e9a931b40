"""Scale a queue: the wanted worker count with a preview, and the autoscale policy in the same dialog."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import Integer
from textual.widgets import Input, Label, Static, Switch

from kubiya_tui.client.api import ApiClient
from kubiya_tui.metrics.snapshot import WorkerHealth, QueueSnapshot, WorkerSnapshot
from kubiya_tui.tui.dialogs.base import ActionDialog
from kubiya_tui.tui.dialogs.fields import FieldInput, mark_invalid
from kubiya_tui.tui.messages import OperationDone, OperationFailed

AUTOSCALE_STATE = {
    False: "Autoscale: off — the count stays where you set it",
    True: "Autoscale: on — workers follow the backlog (min–max)",
}


def live_workers(workers: tuple[WorkerSnapshot, ...]) -> list[WorkerSnapshot]:
    """Workers that count toward the queue's size (not gone, not already draining), newest first."""
    live = [w for w in workers if w.health in (WorkerHealth.healthy, WorkerHealth.stale) and not w.polling_not_registered]
    return sorted(live, key=lambda w: w.registered_at or 0, reverse=True)


def scale_preview(queue: QueueSnapshot, workers: tuple[WorkerSnapshot, ...], wanted: int) -> str:
    """What setting ``wanted`` does: start N workers, drain which (the newest), or nothing."""
    live = live_workers(workers)
    if wanted > len(live):
        n = wanted - len(live)
        return f"start {n} worker{'s' if n != 1 else ''} ({len(live)} → {wanted})"
    if wanted < len(live):
        names = ", ".join(w.worker_id for w in live[: len(live) - wanted])
        return f"drain the newest {len(live) - wanted}: {names}"
    return f"no change: {len(live)} running"


class ScaleDialog(ActionDialog[int]):
    """Answers the new wanted count, or None when cancelled.

    Problems are shown at the fields as they are typed, except for an empty field, which is
    only an error once you confirm (Enter in any field, Ctrl+S or the button).
    """

    TITLE = "Scale queue"
    AUTO_FOCUS = "#count"

    def __init__(self, queue: QueueSnapshot, workers: tuple[WorkerSnapshot, ...]) -> None:
        super().__init__()
        self.queue = queue
        self.queue_workers = workers
        self.current = queue.desired_workers if queue.desired_workers is not None else queue.workers.healthy
        self.label = f"{queue.environment or '-'}/{queue.name}"
        self.sending = False

    def compose_body(self) -> ComposeResult:
        q = self.queue
        limit = f"at most {q.max_workers}" if q.max_workers else "no maximum"
        yield Static(f"[b]{self.label}[/]: {q.workers.healthy} healthy of {q.workers.total}, wanted {self.current} ({limit})", id="scale-target")
        with Horizontal(classes="field-row"):
            yield Label("Workers", classes="inline")
            yield FieldInput(str(self.current), id="count", type="integer", valid_empty=True,
                             validators=[Integer(minimum=0, maximum=q.max_workers)])  # fmt: skip
        yield Static(id="count-error", classes="field-error")
        yield Static(id="scale-preview")
        policy = q.autoscale or {}
        with Vertical(id="autoscale"):
            with Horizontal(classes="field-row"):
                yield Switch(value=bool(q.autoscale), id="autoscale-on")
                yield Label(AUTOSCALE_STATE[bool(q.autoscale)], id="autoscale-state")
            with Horizontal(classes="field-row", id="autoscale-fields"):
                yield Label("min", classes="inline short")
                yield FieldInput(str(policy.get("min_workers", 1)), id="min", type="integer", valid_empty=True)
                yield Label("max", classes="inline short")
                yield FieldInput(str(policy.get("max_workers", q.max_workers or 10)), id="max", type="integer", valid_empty=True)
                yield Label("backlog ≤ s", classes="inline")
                yield FieldInput(str(int(policy.get("target_backlog_age_seconds", 60))), id="target", type="integer", valid_empty=True)
            yield Static(id="autoscale-error", classes="field-error")

    def on_mount(self) -> None:
        super().on_mount()
        self._refresh_preview()
        count = self.query_one("#count", Input)
        count.focus()
        count.action_select_all()

    def wanted(self) -> int | None:
        try:
            return int(self.query_one("#count", Input).value)
        except ValueError:
            return None

    def _count_problem(self, wanted: int | None) -> str | None:
        if wanted is None or wanted < 0:
            return "a whole number of workers, 0 or more"
        if self.queue.max_workers is not None and wanted > self.queue.max_workers:
            return f"more than this queue's max_workers ({self.queue.max_workers}); raise it with `kubiya-tui queue update`"
        return None

    def _policy(self) -> tuple[dict[str, Any] | None, str | None]:
        if not self.query_one("#autoscale-on", Switch).value:
            return None, None
        try:
            low, high, target = (int(self.query_one(f"#{k}", Input).value) for k in ("min", "max", "target"))
        except ValueError:
            return None, "min, max and backlog age must be whole numbers"
        if low < 0 or high < 1 or low > high:
            return None, "need 0 ≤ min ≤ max and max ≥ 1"
        if self.queue.max_workers is not None and high > self.queue.max_workers:
            return None, f"max is more than the queue's max_workers ({self.queue.max_workers})"
        if target <= 0:
            return None, "the backlog age target must be positive"
        return {"min_workers": low, "max_workers": high, "target_backlog_age_seconds": target}, None

    @on(Input.Changed)
    @on(Switch.Changed)
    def _refresh_preview(self, *_: object) -> None:
        self._check(submitting=False)

    def _check(self, submitting: bool) -> bool:
        """Show the preview and the problems (an empty field's only when submitting); True when it can be sent."""
        count = self.query_one("#count", Input)
        wanted = self.wanted()
        problem = self._count_problem(wanted)
        shown = problem if (submitting or count.value.strip()) else None
        error = self.query_one("#count-error", Static)
        error.update(shown or "")
        error.display = bool(shown)
        on = self.query_one("#autoscale-on", Switch).value
        self.query_one("#autoscale-state", Label).update(AUTOSCALE_STATE[on])
        self.query_one("#autoscale-fields").display = on
        _, policy_problem = self._policy()
        policy_boxes = [self.query_one(f"#{k}", Input) for k in ("min", "max", "target")] if on else []
        typing = not submitting and any(not box.value.strip() for box in policy_boxes)
        auto_shown = None if typing else policy_problem
        auto_error = self.query_one("#autoscale-error", Static)
        auto_error.update(auto_shown or "")
        auto_error.display = bool(auto_shown)
        if submitting:
            if problem:
                mark_invalid(count, True)
                count.focus()
            elif policy_problem:
                for box in policy_boxes:
                    if not box.value.strip():
                        mark_invalid(box, True)
                next((box for box in policy_boxes if not box.value.strip()), policy_boxes[0]).focus()
        preview = scale_preview(self.queue, self.queue_workers, wanted) if problem is None and wanted is not None else ""
        if on and not policy_problem:
            preview += ("; " if preview else "") + "then autoscale keeps it within min–max"
        elif not on and self.queue.autoscale:
            preview += ("; " if preview else "") + "and turn autoscale off"
        self.query_one("#scale-preview", Static).update(f"→ {preview}" if preview else "")
        button_label = f"Scale {self.label} to {wanted}" if wanted is not None else "Scale"
        if not self.sending:
            self.set_busy(bool(problem or policy_problem), button_label)
        return not (problem or policy_problem)

    def confirm_refused(self) -> None:
        if not self.sending:
            self._check(submitting=True)

    def confirm(self) -> None:
        if not self._check(submitting=True):
            return
        wanted = self.wanted()
        policy, policy_problem = self._policy()
        if self._count_problem(wanted) or policy_problem or wanted is None:
            return
        queue_id, had_policy = self.queue.id, bool(self.queue.autoscale)
        count_changed = wanted != self.current

        async def apply(api: ApiClient) -> int:
            if count_changed or not policy:
                await api.scale_queue(queue_id, wanted)
            if policy is not None and policy != {k: (self.queue.autoscale or {}).get(k) for k in policy}:
                await api.set_autoscale(queue_id, policy)
            elif policy is None and had_policy:
                await api.clear_autoscale(queue_id)
            return wanted

        self.sending = True
        self.set_busy(True, f"Scaling {self.label}…")
        self.send("scale-queue", f"{self.label} to {wanted}", apply)

    def on_operation_done(self, message: OperationDone) -> None:
        self.app.notify(f"{self.label}: wanted workers {message.result}", title="Scaled")
        self.dismiss(message.result)

    def operation_failed(self, message: OperationFailed) -> None:
        self.sending = False
        super().operation_failed(message)
        self._check(submitting=False)
