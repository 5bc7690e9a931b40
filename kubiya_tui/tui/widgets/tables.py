"""A DataTable that drops low-priority columns as the terminal narrows, sorts, filters, and updates in place.

Refreshing 1,000 queues or 5,000 workers every 2 s costs only what changed and what is shown:
each cell handed to DataTable is a small lazy object (``_Cell``) that renders its row's item when
DataTable draws it, so a refresh only swaps the items (and re-orders rows with ``DataTable.sort``
when the order changed); rows scrolled out of view are never rendered. Rows are rebuilt only
when the set of rows or the columns change (filter, resize, a queue created or gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Hashable, Sequence, TypeVar

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.color import Color, ColorParseError
from textual.events import Resize
from textual.widgets import DataTable

T = TypeVar("T")


@dataclass(frozen=True)
class Column:
    """One column: ``priority`` 1 is kept at any width, higher numbers go first when space runs out."""

    key: str
    label: str
    width: int
    priority: int = 1
    numeric: bool = False


def theme_style(app: Any, variable: str, *, bold: bool = False, dim: bool = False) -> Style:
    """A Rich style in the colour of a theme variable (``status-healthy``...), for table cells."""
    if variable == "foreground":
        # Plain text keeps the widget's own colour, so a row cursor can recolour it.
        return Style(bold=bold, dim=dim)
    value = app.theme_variables.get(variable) or app.get_theme_variable_defaults().get(variable)
    try:
        color = Color.parse(value).rich_color if value else None
    except ColorParseError:
        color = None
    return Style(color=color, bold=bold, dim=dim)


class _Row:
    """One shown item, its render token, and its cells once rendered (None: render when drawn)."""

    __slots__ = ("key", "item", "token", "cells")

    def __init__(self, key: str, item: Any, token: Any) -> None:
        self.key, self.item, self.token = key, item, token
        self.cells: dict[str, Any] | None = None


class _Cell:
    """What DataTable stores for a cell: renders the row's current item only when DataTable draws it."""

    __slots__ = ("table", "row", "column", "width")

    def __init__(self, table: "ResponsiveTable[Any]", row: _Row, column: str, width: int) -> None:
        self.table, self.row, self.column, self.width = table, row, column, width

    @property
    def value(self) -> Any:
        return self.table._cell_value(self.row, self.column)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.value

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        # Columns have fixed widths: DataTable measures every new row's cells, which must not render them.
        return Measurement(self.width, self.width)

    def __str__(self) -> str:
        value = self.value
        return value.plain if isinstance(value, Text) else str(value)


class ResponsiveTable(DataTable, Generic[T]):
    """Rows of items keyed by id; set_items() swaps the items and repaints once; rows are rebuilt only when they change."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
        Binding("o", "cycle_sort", "Sort"),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True, cursor_foreground_priority="renderable")
        self.sort_key: str | None = None
        self.sort_reverse = False
        self.filter_text = ""
        self._items: Sequence[T] = ()
        self._visible: tuple[str, ...] = ()
        self._order: list[str] = []
        self._rows: dict[str, _Row] = {}

    # -------------------------------------------------------------- for subclasses

    def item_key(self, item: T) -> str:
        raise NotImplementedError

    def cells(self, item: T) -> dict[str, Any]:
        """The rendered cell of every column for one item (called only for rows that are drawn)."""
        raise NotImplementedError

    def sort_value(self, item: T, key: str) -> Hashable:
        raise NotImplementedError

    def render_token(self, item: T) -> Any:
        """Everything cells() depends on besides the theme: a row whose token is unchanged is not rendered again."""
        return item

    def search_text(self, item: T) -> str:
        raise NotImplementedError

    # -------------------------------------------------------------- public

    @property
    def selected_key(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row of ``key``; False when that row is not shown."""
        if key in self._rows:
            self.move_cursor(row=self.get_row_index(key))
            return True
        return False

    def rendered(self, key: str) -> dict[str, Any] | None:
        """The rendered cells of the row of ``key`` (rendering it now if needed); None when not shown."""
        row = self._rows.get(key)
        return None if row is None else self._row_cells(row)

    def set_items(self, items: Sequence[T]) -> None:
        self._items = items
        self._render_rows()

    def redraw(self) -> None:
        """Render every cell again (after a theme change)."""
        for row in self._rows.values():
            row.cells = None
        self._invalidate()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        self._render_rows()

    def sort_by(self, key: str) -> None:
        if self.sort_key == key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, self._default_reverse(key)
        self._render_rows(force=True)

    # -------------------------------------------------------------- actions and events

    def action_cycle_sort(self) -> None:
        keys = list(self._visible)
        if not keys:
            return
        nxt = keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key in keys else keys[0]
        self.sort_key, self.sort_reverse = nxt, self._default_reverse(nxt)
        self._render_rows(force=True)

    def action_reverse_sort(self) -> None:
        if self.sort_key:
            self.sort_reverse = not self.sort_reverse
            self._render_rows(force=True)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    def on_resize(self, event: Resize) -> None:
        if self._fit(event.size.width) != self._visible:
            self._render_rows(force=True)

    # -------------------------------------------------------------- internals

    def _default_reverse(self, key: str) -> bool:
        column = next((c for c in self.COLUMNS if c.key == key), None)
        return bool(column and column.numeric)

    def _fit(self, width: int) -> tuple[str, ...]:
        """The columns that fit ``width``, by priority, in their declared order."""
        if width <= 0:
            width = self.app.size.width
        budget = width - 2
        keep: set[str] = set()
        for column in sorted(self.COLUMNS, key=lambda c: c.priority):
            cost = column.width + 2 + (2 if column.key == self.sort_key else 0)
            if column.priority > 1 and cost > budget:
                continue
            keep.add(column.key)
            budget -= cost
        return tuple(c.key for c in self.COLUMNS if c.key in keep)

    def _label(self, column: Column) -> Text:
        arrow = (" ▼" if self.sort_reverse else " ▲") if column.key == self.sort_key else ""
        label = Text(column.label + arrow)
        if column.numeric:
            label.align("right", column.width + len(arrow))
        return label

    def _aligned(self, cells: dict[str, Any]) -> dict[str, Any]:
        """Numbers right-aligned to their column width (DataTable draws cells left-aligned)."""
        for column in self.COLUMNS:
            value = cells.get(column.key)
            if column.numeric and isinstance(value, Text) and value.cell_len < column.width:
                value.align("right", column.width)
        return cells

    def _row_cells(self, row: _Row) -> dict[str, Any]:
        cells = row.cells
        if cells is None:
            cells = row.cells = self._aligned(self.cells(row.item))
        return cells

    def _cell_value(self, row: _Row, column: str) -> Any:
        return self._row_cells(row)[column]

    def _invalidate(self) -> None:
        """Make DataTable draw its cells again, once.

        DataTable caches rendered cells by an update counter that its public update methods
        bump; rewriting one cell with the object it already holds does that (and one refresh)
        without touching DataTable's private state.
        """
        if self._order and self._visible:
            key, column = self._order[0], self._visible[0]
            self.update_cell(key, column, self.get_cell(key, column))
        else:
            self.refresh()

    def _sorted(self, items: list[T]) -> list[T]:
        key = self.sort_key
        if not key:
            return items
        present: list[tuple[Any, T]] = []
        absent: list[T] = []
        value = self.sort_value
        for item in items:
            v = value(item, key)
            if v is None:
                absent.append(item)
            else:
                present.append((v, item))
        present.sort(key=lambda pair: pair[0], reverse=self.sort_reverse)
        return [item for _, item in present] + absent

    def _render_rows(self, force: bool = False) -> None:
        text = self.filter_text
        items = [i for i in self._items if text in self.search_text(i).lower()] if text else list(self._items)
        items = self._sorted(items)
        item_key, token_of = self.item_key, self.render_token
        keys = [item_key(i) for i in items]
        visible = self._fit(self.size.width)
        rows = self._rows
        if not force and visible == self._visible and len(keys) == len(rows) and all(k in rows for k in keys):
            # Same rows and columns: swap the items; cells render again only when drawn.
            changed = False
            for key, item in zip(keys, items):
                row = rows[key]
                token = token_of(item)
                row.item = item
                if row.cells is None or not (token is row.token or token == row.token):
                    row.token, row.cells = token, None
                    changed = True
            if keys != self._order:
                selected = self.selected_key
                rank = {key: index for index, key in enumerate(keys)}
                # DataTable re-orders its rows without rebuilding them (and repaints).
                self.sort(key=lambda cells: rank[cells[0].row.key])
                self._order = keys
                if selected is not None and self.cursor_row != rank[selected]:
                    self.move_cursor(row=rank[selected], animate=False)
            elif changed:
                self._invalidate()
            return
        selected = self.selected_key
        self.clear(columns=visible != self._visible or force)
        if not self.columns:
            for column in self.COLUMNS:
                if column.key in visible:
                    self.add_column(self._label(column), width=column.width + (2 if column.key == self.sort_key else 0), key=column.key)
        widths = {c.key: c.width for c in self.COLUMNS}
        old, rows = rows, {}
        for key, item in zip(keys, items):
            token = token_of(item)
            row = old.get(key)
            if row is None or not (token is row.token or token == row.token) or force:
                row = _Row(key, item, token)
            else:
                row.item = item
            rows[key] = row
            self.add_row(*(_Cell(self, row, c, widths[c]) for c in visible), key=key)
        self._visible, self._order, self._rows = visible, keys, rows
        if selected in rows:
            self.move_cursor(row=keys.index(selected), animate=False)
