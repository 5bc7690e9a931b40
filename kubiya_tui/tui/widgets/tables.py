"""A DataTable that drops low-priority columns as the terminal narrows, sorts, filters, and updates in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Hashable, Sequence, TypeVar

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


class ResponsiveTable(DataTable, Generic[T]):
    """Rows of items keyed by id; set_items() updates changed cells in place and rebuilds only when rows change."""

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
        self._cells: dict[str, dict[str, Any]] = {}

    # -------------------------------------------------------------- for subclasses

    def item_key(self, item: T) -> str:
        raise NotImplementedError

    def cells(self, item: T) -> dict[str, Any]:
        """The rendered cell of every column for one item."""
        raise NotImplementedError

    def sort_value(self, item: T, key: str) -> Hashable:
        raise NotImplementedError

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
        if key in self._order:
            self.move_cursor(row=self._order.index(key))
            return True
        return False

    def set_items(self, items: Sequence[T]) -> None:
        self._items = items
        self._render_rows()

    def redraw(self) -> None:
        """Render every cell again (after a theme change)."""
        self._cells = {}
        self._render_rows(force=True)

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

    def _render_rows(self, force: bool = False) -> None:
        items = [i for i in self._items if not self.filter_text or self.filter_text in self.search_text(i).lower()]
        if self.sort_key:
            present = [i for i in items if self.sort_value(i, self.sort_key) is not None]
            absent = [i for i in items if self.sort_value(i, self.sort_key) is None]
            present.sort(key=lambda i: self.sort_value(i, self.sort_key), reverse=self.sort_reverse)  # type: ignore[arg-type,return-value]
            items = present + absent
        keys = [self.item_key(i) for i in items]
        visible = self._fit(self.size.width)
        rendered = {self.item_key(i): self._aligned(self.cells(i)) for i in items}
        if not force and visible == self._visible and keys == self._order:
            # Same rows and columns: touch only the cells whose content changed.
            for key in keys:
                old = self._cells.get(key, {})
                for column in visible:
                    value = rendered[key][column]
                    if old.get(column) != value:
                        self.update_cell(key, column, value)
            self._cells = rendered
            return
        selected = self.selected_key
        self.clear(columns=visible != self._visible or force)
        if not self.columns:
            for column in self.COLUMNS:
                if column.key in visible:
                    self.add_column(self._label(column), width=column.width + (2 if column.key == self.sort_key else 0), key=column.key)
        for key in keys:
            self.add_row(*(rendered[key][c] for c in visible), key=key)
        self._visible, self._order, self._cells = visible, keys, rendered
        if selected in keys:
            self.move_cursor(row=keys.index(selected), animate=False)
