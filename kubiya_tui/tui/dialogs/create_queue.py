"""Create a worker queue: environment, name validated as you type, and the queue's settings."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import Integer, Length, Regex
from textual.widgets import Input, Label, Select, Static

from kubiya_tui.models import QUEUE_NAME_PATTERN
from kubiya_tui.tui.dialogs.base import ActionDialog
from kubiya_tui.tui.dialogs.fields import FieldInput, mark_invalid
from kubiya_tui.tui.messages import OperationDone, OperationFailed

# Server field names and the input that shows their errors.
FIELDS = ("environment", "name", "display_name", "description", "max_workers", "heartbeat_interval", "tags")


class CreateQueueDialog(ActionDialog[str]):
    """Answers the new queue's id, or None when cancelled.

    A field is checked as it is typed, but an empty field only at submit (empty is fine for the
    optional ones); Enter in any field submits, and a refused submit focuses the first bad field.
    """

    TITLE = "Create worker queue"
    _env_names: dict[str, str] = {}
    """Environment id -> name, of the environments offered (replaced, never changed in place)."""
    CONFIRM_LABEL = "Create"
    AUTO_FOCUS = "#name"

    def dialog_classes(self) -> str:
        return "wide"

    def compose_body(self) -> ComposeResult:
        with Vertical(id="form"):
            yield from self._field("environment", "Environment", Select([], prompt="environment", id="environment", allow_blank=True))
            yield from self._field("name", "Name", FieldInput(
                placeholder="lowercase letters, digits, '-' (2-50)", id="name", max_length=50, valid_empty=True,
                validators=[Length(2, 50, failure_description="2 to 50 characters"),
                            Regex(QUEUE_NAME_PATTERN, failure_description="a-z, 0-9 and '-', starting with a letter or digit")],
                validate_on=["changed", "submitted"]))  # fmt: skip
            yield from self._field("display_name", "Display name", FieldInput(placeholder="optional", id="display_name", max_length=200))
            yield from self._field("description", "Description", FieldInput(placeholder="optional", id="description", max_length=2000))
            with Horizontal(classes="pair"):
                yield from self._field("max_workers", "Max workers", FieldInput(
                    placeholder="unlimited", id="max_workers", type="integer", valid_empty=True,
                    validators=[Integer(1, 10000, failure_description="1 to 10000")], validate_on=["changed"]))  # fmt: skip
                yield from self._field("heartbeat_interval", "Heartbeat (s)", FieldInput(
                    "60", id="heartbeat_interval", type="integer", valid_empty=True,
                    validators=[Integer(10, 300, failure_description="10 to 300 seconds")], validate_on=["changed"]))  # fmt: skip
            yield from self._field("tags", "Tags", FieldInput(placeholder="comma separated", id="tags"))

    def _field(self, key: str, label: str, widget: Any) -> ComposeResult:
        with Vertical(classes="field"):
            yield Label(label)
            yield widget
            yield Static(id=f"{key}-error", classes="field-error")

    def on_mount(self) -> None:
        super().on_mount()
        for key in FIELDS:
            self.field_error(key, None)
        self._set_environments(self._known_environments())
        self.operations.perform(self, "list-environments", "", lambda api: api.list_environments(), mutating=False)
        self.query_one("#name", Input).focus()

    def _known_environments(self) -> dict[str, str]:
        snapshot = self.console.snapshot
        return {q.environment_id: q.environment or q.environment_id for q in (snapshot.queues if snapshot else ()) if q.environment_id}

    def _set_environments(self, envs: dict[str, str]) -> None:
        self._env_names = envs
        select = self.query_one("#environment", Select)
        current = select.value
        select.set_options(sorted(((name, env_id) for env_id, name in envs.items()), key=lambda o: o[0]))
        if current in envs:
            select.value = current
        elif len(envs) >= 1:
            select.value = sorted(envs.items(), key=lambda kv: kv[1])[0][0]
        self._update_confirm()

    def field_error(self, key: str, message: str | None) -> None:
        widget = self.query_one(f"#{key}-error", Static)
        widget.update(message or "")
        widget.display = bool(message)

    @on(Input.Changed)
    def _validate_field(self, event: Input.Changed) -> None:
        key = event.input.id or ""
        if event.validation_result is not None and event.value:
            self.field_error(key, None if event.validation_result.is_valid else "; ".join(event.validation_result.failure_descriptions))
        else:
            self.field_error(key, None)
        self._update_confirm()

    @on(Select.Changed)
    def _environment_changed(self, event: Select.Changed) -> None:
        self.field_error("environment", None)
        self._update_confirm()

    def _target(self) -> str:
        select = self.query_one("#environment", Select)
        env = str(select.selection) if select.selection is not None else "?"
        name = self.query_one("#name", Input).value or "…"
        return f"{self._env_names.get(env, env)}/{name}"

    sending = False
    """A create request is in flight: field changes must not re-enable the button."""

    def _update_confirm(self) -> None:
        if self.sending:
            return
        self.set_busy(False, f"Create {self._target()}")

    def _body(self) -> dict[str, Any] | None:
        ok = True
        select = self.query_one("#environment", Select)
        if select.selection is None:
            self.field_error("environment", "choose an environment")
            ok = False
        name = self.query_one("#name", Input)
        result = name.validate(name.value)
        if not name.value:
            self.field_error("name", "a name is required: 2 to 50 characters")
            mark_invalid(name, True)
            ok = False
        elif result is not None and not result.is_valid:
            self.field_error("name", "; ".join(result.failure_descriptions))
            ok = False
        body: dict[str, Any] = {"name": name.value}
        for key in ("display_name", "description"):
            value = self.query_one(f"#{key}", Input).value.strip()
            if value:
                body[key] = value
        for key in ("max_workers", "heartbeat_interval"):
            box = self.query_one(f"#{key}", Input)
            if box.value.strip():
                check = box.validate(box.value)
                if check is not None and not check.is_valid:
                    self.field_error(key, "; ".join(check.failure_descriptions))
                    ok = False
                    continue
                body[key] = int(box.value)
        tags = [t.strip() for t in self.query_one("#tags", Input).value.split(",") if t.strip()]
        if tags:
            body["tags"] = tags
        return body if ok else None

    def _focus_first_error(self) -> None:
        """Bring the first field that has an error into view (the form scrolls on a short terminal)."""
        for key in FIELDS:
            if self.query_one(f"#{key}-error", Static).display:
                self.query_one(f"#{key}").focus()
                return

    def confirm(self) -> None:
        body = self._body()
        if body is None:
            self._focus_first_error()
            return
        env_id = str(self.query_one("#environment", Select).selection)
        self.show_error(None)
        self.sending = True
        self.set_busy(True, f"Creating {self._target()}…")
        self.send("create-queue", self._target(), lambda api: api.create_queue(env_id, body))

    def on_operation_done(self, message: OperationDone) -> None:
        if message.action == "list-environments":
            self._set_environments({e.id: e.name for e in message.result})
        elif message.action == "create-queue":
            self.app.notify(f"created queue {self._target()}", title="Queue created")
            self.dismiss(message.result.id)

    def operation_failed(self, message: OperationFailed) -> None:
        if message.action == "list-environments":
            return  # the environments known from the snapshot stay offered
        self.sending = False
        self.set_busy(False)
        placed = False
        if message.status == 409:
            self.field_error("name", message.error)
            placed = True
        elif message.status == 422 and isinstance(message.body, dict) and isinstance(message.body.get("detail"), list):
            for item in message.body["detail"]:
                loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
                if loc and loc[0] in FIELDS:
                    self.field_error(loc[0], str(item.get("msg", "invalid")))
                    placed = True
        if placed:
            self._focus_first_error()
        else:
            self.show_error(message.error)
        self._update_confirm()
