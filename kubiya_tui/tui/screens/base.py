"""What every full screen shares: the header, the source banner, a filter box, the footer, and live snapshots."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input

from kubiya_tui.metrics.snapshot import Snapshot
from kubiya_tui.tui.context import console_of
from kubiya_tui.tui.dialogs.fields import FieldInput
from kubiya_tui.tui.widgets.status import SourceBanner, StatusHeader
from kubiya_tui.tui.widgets.tables import ResponsiveTable

if TYPE_CHECKING:
    from kubiya_tui.tui.app import KubiyaConsole


class ConsoleScreen(Screen):
    """A screen that re-renders on every snapshot; subclasses compose the body and show snapshots."""

    BINDINGS = [Binding("escape", "back", "Back")]
    HAS_FILTER = False
    _behind = False
    """A snapshot came while another full screen covered this one: show the newest when it comes back."""

    @property
    def console(self) -> KubiyaConsole:
        """The console this screen runs in, typed."""
        return console_of(self)

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        yield SourceBanner(id="banner")
        if self.HAS_FILTER:
            yield FieldInput(placeholder="filter: name, environment, host, status… (Enter keeps, Esc clears)", id="filter")
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        for box in self.query(Input):
            box.cursor_blink = self.console.cursor_blink
        self.watch(self.console, "snapshot", self._on_snapshot)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._on_theme())

    def _on_snapshot(self, snapshot: Snapshot | None) -> None:
        if snapshot is None:
            return
        if not self._shown():
            # Covered by another full screen: nothing to draw now; catch up when it comes back.
            self._behind = True
            return
        self._behind = False
        self.show_snapshot(snapshot)

    def _shown(self) -> bool:
        """Whether the operator sees this screen: the top one, or under dialogs only."""
        for screen in reversed(self.app.screen_stack):
            if screen is self:
                return True
            if not isinstance(screen, ModalScreen):
                return False
        return True

    def on_screen_resume(self) -> None:
        snapshot = self.console.snapshot
        if self._behind and snapshot is not None:
            self._behind = False
            self.show_snapshot(snapshot)

    def _on_theme(self) -> None:
        for table in self.query(ResponsiveTable):
            table.redraw()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Render ``snapshot``; called on mount and after every refresh."""

    @property
    def current_queue_id(self) -> str | None:
        """The queue the operator is looking at, for actions such as scale and worker command."""
        return None

    @property
    def current_worker_id(self) -> str | None:
        """The worker the operator is looking at, for drain."""
        return None

    # -------------------------------------------------------------- filter and back

    def action_filter(self) -> None:
        if not self.HAS_FILTER:
            return
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            snapshot = self.console.snapshot
            for table in self.query(ResponsiveTable):
                table.set_filter(event.value, apply=snapshot is None)
            if snapshot is not None:
                # One pass: show_snapshot applies the filter to the tables, and totals and charts follow.
                self.show_snapshot(snapshot)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not event.value:
                event.input.display = False
            self.query(ResponsiveTable).first().focus()

    def action_back(self) -> None:
        if self.HAS_FILTER:
            box = self.query_one("#filter", Input)
            if box.display and (box.value or box.has_focus):
                box.value = ""
                box.display = False
                self.query(ResponsiveTable).first().focus()
                return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
