"""The frame every operation dialog shares: a title, a body, an error line and confirm/cancel buttons.

The title and the footer (error line and buttons) stay in view; the body between them scrolls
when the terminal is too short for it, so the buttons are never pushed off screen.

Textual calls a message handler of every class along the MRO, so a subclass must not define
``on_button_pressed``, ``on_input_submitted`` or ``on_operation_failed`` again (the base's would
run too, and an action could be sent twice): it overrides ``confirm``, ``confirm_refused`` and
``operation_failed`` instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from kubiya_tui.tui.actions import ApiCall, Operations
from kubiya_tui.tui.context import console_of
from kubiya_tui.tui.messages import OperationFailed

if TYPE_CHECKING:
    from kubiya_tui.tui.app import KubiyaConsole

T = TypeVar("T")


class ActionDialog(ModalScreen[T], Generic[T]):
    """A keyboard-first dialog: Tab between fields, Enter in a field, Ctrl+S or the button confirms, Esc cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "confirm", "Confirm"),
    ]
    TITLE = ""
    CONFIRM_LABEL = "Confirm"
    CONFIRM_VARIANT = "primary"
    # A body of fields is reached field by field; a body of text only gets focus to scroll it.
    BODY_FOCUSABLE = False
    # Subclasses name their first field in AUTO_FOCUS: it is focused as soon as the dialog is
    # composed, so a key typed right after the one that opened the dialog lands there.
    _laid_out = False

    @property
    def console(self) -> KubiyaConsole:
        """The console this dialog runs in, typed."""
        return console_of(self)

    @property
    def operations(self) -> Operations:
        """How this dialog calls the control plane."""
        return self.console.operations

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes=self.dialog_classes()) as frame:
            member = self.console.member
            title = self.TITLE
            if member is not None:
                # Several profiles on screen: the dialog names the one it acts on, in that profile's colour.
                title = f"{self.TITLE} · profile {member.name}" + (" ⚠ DANGER" if member.danger else "")
            label = Label(title, id="dialog-title")
            if member is not None and member.frame_color:
                frame.styles.border = ("thick", member.frame_color)
                label.styles.color = member.frame_color
            yield label
            body = VerticalScroll(id="dialog-body")
            body.can_focus = self.BODY_FOCUSABLE
            with body:
                yield from self.compose_body()
            with Vertical(id="dialog-footer"):
                yield Static(id="dialog-error")
                with Horizontal(id="dialog-buttons"):
                    yield Button(self.CONFIRM_LABEL, variant=self.CONFIRM_VARIANT, id="confirm")  # type: ignore[arg-type]
                    yield Button("Cancel (Esc)", id="cancel")

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
            box.cursor_blink = self.console.cursor_blink
        self.call_after_refresh(setattr, self, "_laid_out", True)

    def set_focus(self, widget: Widget | None, scroll_visible: bool = True, from_app_focus: bool = False) -> None:
        # Before the first layout Textual cannot tell that a widget is in view and scrolls the body
        # to centre it, which hid the top of the form: a focus before then never scrolls.
        super().set_focus(widget, scroll_visible and self._laid_out, from_app_focus)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.action_confirm()
        elif event.button.id == "cancel":
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a single-line field does what the confirm button does."""
        event.stop()
        self.action_confirm()

    sent = False
    """A change was sent (and has not failed): closing now is not a cancel."""

    def send(self, action: str, target: str, call: ApiCall) -> None:
        """Send the dialog's change through the console's operations (it answers OperationDone or OperationFailed)."""
        self.sent = True
        self.operations.perform(self, action, target, call)

    def note_cancelled(self) -> None:
        """Say that the action was cancelled and nothing changed, unless a change was sent."""
        if not self.sent:
            self.app.notify(f"{self.TITLE}: cancelled, nothing was changed", title="Cancelled", timeout=4)

    def action_cancel(self) -> None:
        self.note_cancelled()
        self.dismiss(None)

    def action_confirm(self) -> None:
        """Ctrl+S, Enter in a field or the button: confirm, unless the button is disabled (invalid or already sent)."""
        if self.query_one("#confirm", Button).disabled:
            self.confirm_refused()
            return
        self.confirm()

    def confirm(self) -> None:
        """Validate and start the operation; subclasses implement it."""

    def confirm_refused(self) -> None:
        """Confirming while the button is disabled: by default nothing; a subclass may say why at the fields."""

    def set_busy(self, busy: bool, label: str | None = None) -> None:
        button = self.query_one("#confirm", Button)
        button.disabled = busy
        if label:
            button.label = label

    def on_operation_failed(self, message: OperationFailed) -> None:
        self.operation_failed(message)

    def operation_failed(self, message: OperationFailed) -> None:
        self.sent = False
        self.set_busy(False)
        self.show_error(message.error)
