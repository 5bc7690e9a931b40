"""The frame every operation dialog shares: a title, a body, an error line and confirm/cancel buttons."""

from __future__ import annotations

from typing import Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from kubiya_tui.tui.messages import OperationFailed

T = TypeVar("T")


class ActionDialog(ModalScreen[T], Generic[T]):
    """A keyboard-first dialog: Tab between fields, Ctrl+S or the button confirms, Esc cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "confirm", "Confirm"),
    ]
    TITLE = ""
    CONFIRM_LABEL = "Confirm"
    CONFIRM_VARIANT = "primary"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes=self.dialog_classes()):
            yield Label(self.TITLE, id="dialog-title")
            yield from self.compose_body()
            yield Static(id="dialog-error")
            with Horizontal(id="dialog-buttons"):
                yield Button(self.CONFIRM_LABEL, variant=self.CONFIRM_VARIANT, id="confirm")  # type: ignore[arg-type]
                yield Button("Cancel", id="cancel")

    def dialog_classes(self) -> str:
        return ""

    def compose_body(self) -> ComposeResult:
        yield from ()

    def show_error(self, message: str | None) -> None:
        error = self.query_one("#dialog-error", Static)
        error.update(f"✗ {message}" if message else "")
        error.display = bool(message)

    def on_mount(self) -> None:
        self.show_error(None)
        for box in self.query(Input):
            box.cursor_blink = getattr(self.app, "cursor_blink", True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.action_confirm()
        elif event.button.id == "cancel":
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_confirm(self) -> None:
        """Validate and start the operation; subclasses implement it."""

    def set_busy(self, busy: bool, label: str | None = None) -> None:
        button = self.query_one("#confirm", Button)
        button.disabled = busy
        if label:
            button.label = label

    def on_operation_failed(self, message: OperationFailed) -> None:
        self.set_busy(False)
        self.show_error(message.error)
