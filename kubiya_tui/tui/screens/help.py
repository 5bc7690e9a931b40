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

STUCK_LEGEND = (
    "in the depth column: tasks wait (the oldest 30 s or more), Temporal hands out none, and the queue's workers "
    "have free slots; the queue's detail says why when it is known"
)


FEATURE_OF_ACTION = {"scale": "scale", "drain": "drain", "legacy": "legacy"}
"""The console's actions that need a capability of the control plane (client/capabilities.py)."""


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
            yield Static(self._keys(), id="help-keys")

    def on_mount(self) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        self.watch(body, "scroll_y", self._hint, init=False)
        self.watch(body, "virtual_size", self._hint, init=False)
        self.call_after_refresh(self._hint)
        # However it scrolls (keys, wheel, an animation that ends between frames): look again now and then.
        self.set_interval(0.5, self._hint)

    def on_resize(self) -> None:
        self.call_after_refresh(self._hint)

    def _hint(self, *_: object) -> None:
        """The list is longer than a 24-line terminal: say so where the eye ends, until the end is in view."""
        body = self.query_one("#help-body", VerticalScroll)
        more = body.max_scroll_y - body.scroll_y >= 1
        hint = "↓ PgDn / scroll for more · Esc closes" if more else "Esc closes"
        if body.border_subtitle != hint:
            body.border_subtitle = hint

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
            for (action, description), keys in keys_of.items():
                # What the connected control plane cannot do is shown as unavailable, with the reason.
                reason = console_of(self).actions.unavailable(FEATURE_OF_ACTION[action]) if action in FEATURE_OF_ACTION else None
                if reason:
                    table.add_row(Text(" ".join(keys), style="dim"), Text(f"{description} (unavailable: {reason})", style="dim"))
                else:
                    table.add_row(" ".join(keys), description)
        from kubiya_tui.tui.widgets.queue_table import SPARK_LEGEND, QueueTable
        from kubiya_tui.tui.widgets.status import HEADER_LEGEND
        from kubiya_tui.tui.widgets.worker_table import WORKER_LEGEND

        table.add_row("", "")
        table.add_row("", Text("The header", style="bold"))
        table.add_row("● 3ms · 0s", HEADER_LEGEND)
        dropped = [c.label for c in sorted(QueueTable.COLUMNS, key=lambda c: -c.priority) if c.priority > 1]
        table.add_row("", "")
        table.add_row("", Text.assemble(("Queue columns", "bold"), (f"  (a narrow terminal drops {', '.join(dropped)}, in that order)", "dim")))
        for column in QueueTable.COLUMNS:
            table.add_row(column.label, column.meaning)
        table.add_row("▁▃▅█", SPARK_LEGEND)
        table.add_row("STUCK", Text(STUCK_LEGEND))
        table.add_row("", "")
        table.add_row("", Text("Workers", style="bold"))
        for key, meaning in WORKER_LEGEND:
            table.add_row(key, meaning)
        table.add_row("", "")
        table.add_row("", Text("The mouse works too: click a row to highlight it and again to open it, a column header to sort, a key in the footer.", style="dim"))
        return table
