"""Every key of the console, generated from the bindings of the app, its screens and its tables."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from kubiya_tui.tui.context import console_of


def _bindings(source: list[BindingType]) -> list[Binding]:
    return [b for b in Binding.make_bindings(source) if b.description]


class HelpScreen(ModalScreen[None]):
    """A scrollable list of keys grouped by where they apply; Esc or ? closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            snapshot = console_of(self).snapshot
            control_plane = snapshot.control_plane_version if snapshot is not None else None
            # Plain text, not markup: the control plane's version is whatever it says.
            body.border_title = Content(f"kubiya-tui {console_of(self).version}" + (f" · control plane {control_plane}" if control_plane else ""))
            # The list is longer than a 24-line terminal: say so where the eye ends.
            body.border_subtitle = "↓ PgDn / scroll for more · Esc closes"
            yield Static(self._keys(), id="help-keys")

    def _keys(self) -> Table:
        from kubiya_tui.tui.screens.legacy import LegacyScreen
        from kubiya_tui.tui.screens.overview import OverviewScreen
        from kubiya_tui.tui.screens.queue_detail import QueueDetailScreen
        from kubiya_tui.tui.screens.workers import WorkerDetailScreen, WorkersScreen
        from kubiya_tui.tui.widgets.tables import ResponsiveTable

        groups = [
            ("Everywhere", _bindings(type(self.app).BINDINGS) + [Binding("ctrl+p", "command_palette", "Command palette: go to queue, drain, theme, profile")]),
            ("Tables", _bindings(ResponsiveTable.BINDINGS) + [Binding("tab", "focus_next", "Next pane")]),
            ("Overview", _bindings(OverviewScreen.BINDINGS)),
            ("Queue detail", _bindings(QueueDetailScreen.BINDINGS)),
            ("Workers", _bindings(WorkersScreen.BINDINGS)),
            ("Worker detail", _bindings(WorkerDetailScreen.BINDINGS)),
            ("Legacy task queues (L)", _bindings(LegacyScreen.BINDINGS)),
        ]
        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="bold", no_wrap=True)
        table.add_column()
        # Titles sit in the description column, so the key column stays as narrow as its keys.
        table.add_row("", Text("Keys", style="bold underline"))
        for title, bindings in groups:
            table.add_row("", "")
            table.add_row("", Text(title, style="bold"))
            # One line per action, listing all of its keys.
            keys_of: dict[tuple[str, str], list[str]] = {}
            for binding in bindings:
                shown = keys_of.setdefault((binding.action, binding.tooltip or binding.description), [])
                for key in binding.key.split(","):
                    display = self.app.get_key_display(Binding(key, binding.action))
                    if display not in shown:
                        shown.append(display)
            for (_, description), keys in keys_of.items():
                table.add_row(" ".join(keys), description)
        from kubiya_tui.tui.widgets.queue_table import QueueTable

        dropped = [c.label for c in sorted(QueueTable.COLUMNS, key=lambda c: -c.priority) if c.priority > 1]
        table.add_row("", "")
        table.add_row("", Text.assemble(("Queue columns", "bold"), (f"  (a narrow terminal drops {', '.join(dropped)}, in that order)", "dim")))
        for column in QueueTable.COLUMNS:
            table.add_row(column.label, column.meaning)
        table.add_row("", "")
        table.add_row("", Text("The mouse works too: click a row to highlight it and again to open it, a column header to sort, a key in the footer.", style="dim"))
        return table
