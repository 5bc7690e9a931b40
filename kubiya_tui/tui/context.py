"""Typed access to the console from its screens, dialogs, widgets and palette, in place of Textual's plain ``self.app``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from textual.app import App

if TYPE_CHECKING:
    from kubiya_tui.tui.app import KubiyaConsole


class InApp(Protocol):
    """Anything Textual runs inside an app: a widget, a screen, a command provider."""

    @property
    def app(self) -> App[Any]: ...


def console_of(node: InApp) -> KubiyaConsole:
    """The console ``node`` runs in: its snapshot, operations, actions, poller and navigation, typed."""
    return cast("KubiyaConsole", node.app)
