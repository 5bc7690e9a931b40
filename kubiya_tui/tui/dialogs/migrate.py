"""Migrate a legacy task queue: make the worker queue, show its command, drain legacy workers safely.

The dialog follows the migration live. Legacy workers are drained only once the new queue
has a healthy worker and nothing waits on the legacy path (the control plane refuses a
drain that would strand queued tasks, and the dialog says what it waits for).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.widgets import Input, Label, Select, Static

from kubiya_tui.client.api import ApiClient
from kubiya_tui.models import queue_name_problem
from kubiya_tui.tui.dialogs.base import ActionDialog
from kubiya_tui.tui.dialogs.fields import FieldInput
from kubiya_tui.tui.messages import OperationDone, OperationFailed

FOLLOW_EVERY_SECONDS = 2.0


def queue_safe(name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:50]
    return slug if len(slug) >= 2 else f"{slug or 'q'}-queue"


async def read_progress(api: ApiClient, legacy_id: str, queue_id: str) -> dict[str, Any]:
    """Where a migration stands: the new queue's healthy workers, the legacy backlog and workers."""
    legacy, metrics, workers = await asyncio.gather(
        api.get_task_queue(legacy_id), api.task_queue_metrics(legacy_id), api.queue_workers(queue_id)
    )
    return {
        "state": legacy.migration.state if legacy.migration else "legacy",
        "new_healthy": sum(1 for w in workers if w.health == "healthy"),
        "legacy_backlog": metrics.task_queue_backlog if metrics.temporal_available else None,
        "legacy_workers": metrics.total_workers,
    }


class MigrateDialog(ActionDialog[bool]):
    """Choose the environment and name, confirm, then follow the migration to its end."""

    TITLE = "Migrate legacy task queue"
    CONFIRM_LABEL = "Migrate"
    AUTO_FOCUS = "#migrate-name"

    def __init__(self, task_queue: Any) -> None:
        super().__init__()
        self.task_queue = task_queue
        self.queue_id: str | None = task_queue.migration.worker_queue_id if task_queue.migration else None
        self.progress: dict[str, Any] | None = None
        self.command: str | None = None

    def compose_body(self) -> ComposeResult:
        tq = self.task_queue
        yield Static(
            f"[b]{tq.name}[/] ({tq.task_queue_name}), a legacy task queue.\n"
            "A worker queue takes its place: name, description, tags and settings are carried over. "
            "Legacy workers keep serving what is queued on the legacy path until it is empty; nothing is lost.",
            id="migrate-target",
        )
        yield Label("environment for the new worker queue")
        yield Select([], id="migrate-env", prompt="loading environments…", allow_blank=True)
        yield Label("worker queue name")
        yield FieldInput(value=queue_safe(tq.name), id="migrate-name")
        yield Label("start the new queue's workers with:", id="migrate-command-label")
        with ScrollableContainer(id="migrate-command-box"):
            # One line, never soft-wrapped (a copied command must stay runnable): it scrolls sideways.
            yield Static(id="migrate-command", classes="command")
        yield Static(id="migrate-progress")

    def on_mount(self) -> None:
        super().on_mount()
        for widget_id in ("#migrate-command-label", "#migrate-command-box", "#migrate-progress"):
            self.query_one(widget_id).display = False
        if self.queue_id:
            # Already migrating: resume following it (the fields are disabled, so focus the way out).
            self._started()
            self.query_one("#cancel").focus()
        else:
            self.operations.perform(self, "list-environments", "environments", lambda api: api.list_environments(), mutating=False)
            self.query_one("#migrate-name", Input).focus()

    def confirm(self) -> None:
        """Migrate (Enter in the name does it too), then drain the legacy workers once it is safe, then close."""
        if self.progress and self.progress.get("state") == "migrated":
            self.dismiss(True)
            return
        if self.queue_id:
            self._drain_legacy()
            return
        env = self.query_one("#migrate-env", Select).value
        name = self.query_one("#migrate-name", Input).value.strip()
        if not isinstance(env, str):
            self.show_error("choose the environment for the new worker queue")
            return
        problem = queue_name_problem(name)
        if problem:
            self.show_error(problem)
            return
        self.show_error(None)
        self.set_busy(True, "Migrating…")
        tq = self.task_queue
        self.send("migrate-task-queue", tq.name, lambda api: api.migrate_task_queue(tq.id, env, name))

    draining = False
    """The drain was sent (or is in flight): progress updates must not offer it again."""

    def _drain_legacy(self) -> None:
        tq = self.task_queue
        self.draining = True
        self.set_busy(True, "Draining…")
        self.send("drain-legacy-workers", tq.name, lambda api: api.drain_task_queue_workers(tq.id))

    def on_operation_done(self, message: OperationDone) -> None:
        if message.action == "list-environments":
            select = self.query_one("#migrate-env", Select)
            select.prompt = "choose an environment"
            select.set_options([(e.name, e.id) for e in message.result])
            default = next((e.id for e in message.result if e.name == "default"), None)
            if default:
                select.value = default
        elif message.action == "migrate-task-queue":
            result = message.result
            self.queue_id = result.worker_queue.id
            self.command = result.worker_command.command
            self.app.notify(f"worker queue {result.worker_queue.name} created", title="Migrate")
            self._started()
        elif message.action == "drain-legacy-workers":
            self.app.notify(f"draining {len(message.result)} legacy worker(s)", title="Migrate")
            self.set_busy(True, "Draining…")
        elif message.action == "follow-migration":
            self.progress = message.result
            self._show_progress()
            if self.progress["state"] != "migrated" and self.is_mounted:
                self.set_timer(FOLLOW_EVERY_SECONDS, self._follow)
        elif message.action == "worker-command" and self.command is None:
            self.command = message.result.command
            self._show_command()

    def _started(self) -> None:
        for widget_id in ("#migrate-env", "#migrate-name"):
            self.query_one(widget_id).disabled = True
        if self.command is None and self.queue_id:
            queue_id = self.queue_id
            self.operations.perform(self, "worker-command", queue_id, lambda api: api.worker_command(queue_id), mutating=False)
        self._show_command()
        self.set_busy(True, "Drain legacy workers")
        self._follow()

    def _show_command(self) -> None:
        if self.command:
            self.query_one("#migrate-command", Static).update(Text(self.command, style="bold"))
            for widget_id in ("#migrate-command-label", "#migrate-command-box"):
                self.query_one(widget_id).display = True

    def _follow(self) -> None:
        legacy_id, queue_id = self.task_queue.id, self.queue_id
        if queue_id is None:
            return
        self.operations.perform(
            self, "follow-migration", self.task_queue.name, lambda api: read_progress(api, legacy_id, queue_id), mutating=False
        )

    def _show_progress(self) -> None:
        p = self.progress or {}
        backlog = p.get("legacy_backlog")
        lines = Text()
        lines.append(f"{'✓' if p.get('new_healthy') else '…'} new queue: {p.get('new_healthy', 0)} healthy worker(s)\n")
        waiting = "unknown (Temporal unavailable)" if backlog is None else f"{backlog} task(s)"
        lines.append(f"{'✓' if backlog == 0 else '…'} legacy backlog: {waiting}\n")
        lines.append(f"{'✓' if not p.get('legacy_workers') else '…'} legacy workers: {p.get('legacy_workers', 0)} live\n")
        state = p.get("state", "migrating")
        lines.append(f"state: {state}", style="bold")
        box = self.query_one("#migrate-progress", Static)
        box.update(lines)
        if not box.display:
            box.display = True
            # On a short terminal the body scrolls: bring the progress into view once, when it first shows.
            self.call_after_refresh(box.scroll_visible, animate=False)
        ready = bool(p.get("new_healthy")) and backlog == 0 and bool(p.get("legacy_workers")) and state == "migrating"
        if state == "migrated":
            self.set_busy(False, "Close")
            self.query_one("#cancel").display = False
        elif state == "migrating" and not self.draining:
            self.set_busy(not ready, "Drain legacy workers")
            if not p.get("new_healthy"):
                self.show_error(None)
            elif backlog:
                self.show_error(f"waiting for {backlog} legacy task(s) to finish before draining the legacy workers")
            else:
                self.show_error(None)

    def action_cancel(self) -> None:
        if self.queue_id is None:
            self.note_cancelled()
        self.dismiss(self.queue_id is not None or None)

    def operation_failed(self, message: OperationFailed) -> None:
        if message.action == "follow-migration":
            self.query_one("#migrate-progress", Static).update(Text(f"cannot read progress: {message.error}", style="dim"))
            self.set_timer(FOLLOW_EVERY_SECONDS * 2, self._follow)
            return
        if message.action == "drain-legacy-workers":
            self.draining = False
        if message.action == "drain-legacy-workers" and message.status == 409:
            self.show_error(message.error)
            self.set_busy(True, "Drain legacy workers")
            return
        if message.action == "worker-command":
            # The command is shown when it can be read; the drain button follows the progress, not this.
            self.show_error(f"cannot read the worker command: {message.error}")
            return
        super().operation_failed(message)
        if message.action == "migrate-task-queue":
            self.set_busy(False, self.CONFIRM_LABEL)
        elif message.action == "drain-legacy-workers":
            self.set_busy(False, "Drain legacy workers")
