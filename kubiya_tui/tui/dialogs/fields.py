"""The text field the dialogs use: an Input that applies keys in the order they were typed."""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FieldInput(Input):
    """An Input whose own bound keys (Backspace, Delete, arrows, Enter...) run inline, in order with typed characters.

    Textual inserts a printable character as soon as the Input sees its key, but sends a bound
    key (Backspace is the binding ``delete_left``) up to the app before its action runs. When
    keys arrive together, as over SSH, Backspace followed by a digit then ran the other way
    round: the digit was inserted and immediately deleted (reproduced with a bare Textual
    8.2.8 Input in tmux). Priority bindings are checked before the key reaches the widget,
    so only the widget's own non-priority bindings run here.
    """

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable:
            return  # Input._on_key (dispatched after this handler) inserts it
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()  # handled: neither Input's nor Widget's key handler runs
                return


def mark_invalid(box: Input, invalid: bool) -> None:
    """Show a field as invalid (or not), as its validators would, for checks that run at submit."""
    box.set_class(invalid, "-invalid")
    box.set_class(not invalid, "-valid")
