"""A table for thousands of live rows: drops low-priority columns as the terminal narrows, sorts, filters.

It is a Line API widget (``ScrollView``): each line on screen is drawn as one strip from the
row's cells, so a refresh of 1,000 queues or 5,000 workers costs only the rows that changed
*and* are on screen. A refresh swaps the items; a row is compared with what it last drew
only when it is drawn again, and keeps its strip when its render token is unchanged. Nothing is rebuilt per
refresh, whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any, ClassVar, Generic, Hashable, Sequence, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import App
from textual.binding import Binding
from textual.color import Color, ColorParseError
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kubiya_tui.columns import CELL_PADDING, Column, fit

__all__ = ["CELL_PADDING", "Column", "ResponsiveTable", "theme_style"]

T = TypeVar("T")
_first = itemgetter(0)

_style_memo: tuple[dict[str, str], dict[tuple[str, bool, bool], Style]] = ({}, {})
"""The theme variables the memo was made for, and the styles made from them."""


def theme_style(app: App[Any], variable: str, *, bold: bool = False, dim: bool = False) -> Style:
    """A Rich style in the colour of a theme variable (``status-healthy``...), for table cells.

    Memoised per set of theme variables (a new set comes with every theme change): a refresh
    asks for a dozen of them for each row drawn.
    """
    global _style_memo
    variables, memo = _style_memo
    if app.theme_variables is not variables:
        _style_memo = variables, memo = app.theme_variables, {}
    key = (variable, bold, dim)
    style = memo.get(key)
    if style is None:
        style = memo[key] = _theme_style(app, variable, bold=bold, dim=dim)
    return style


def _theme_style(app: App[Any], variable: str, *, bold: bool, dim: bool) -> Style:
    if variable == "foreground":
        # Plain text keeps the widget's own colour, so a row cursor can recolour it.
        return Style(bold=bold, dim=dim)
    value = app.theme_variables.get(variable) or app.get_theme_variable_defaults().get(variable)
    try:
        color = Color.parse(value).rich_color if value else None
    except ColorParseError:
        color = None
    return Style(color=color, bold=bold, dim=dim)


def _text_segments(text: Text, console: Any) -> list[Segment]:
    """One line of Text as segments, its own style included (Text.render leaves it out when there are no spans)."""
    if text.spans:
        return list(text.render(console))
    style = text.style
    if isinstance(style, str):
        style = console.get_style(style, default=Style.null())
    return [Segment(text.plain, style or None)]


class _Row:
    """One shown item; the item, token and cells it was last drawn from, and its strip (None: not drawn yet)."""

    __slots__ = ("item", "drawn", "token", "cells", "strip", "strip_style")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.drawn: Any = None
        self.token: Any = None
        self.cells: dict[str, Any] | None = None
        self.strip: Strip | None = None
        self.strip_style: Style | None = None

    def invalidate(self) -> None:
        self.cells = self.strip = None


class ResponsiveTable(ScrollView, Generic[T], can_focus=True):
    """Rows of items keyed by id; set_items() swaps the items and repaints only changed rows on screen."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    MEASURED: ClassVar[tuple[str, ...]] = ()
    """Columns whose widest cell is measured (see measure()), so spare width goes to them when they are cut."""
    TOKEN_IS_ITEM: ClassVar[bool] = True
    """render_token() depends on the item alone, so the same item object needs no new token (False: ask every draw)."""
    BINDINGS = [
        Binding("enter", "select_row", "Open the row's detail", show=False),
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "first_row", "Top", show=False),
        Binding("end,G", "last_row", "Bottom", show=False),
        Binding("o", "cycle_sort", "Sort", show=False),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"table--header", "table--cursor", "table--even-row", "table--odd-row"}
    DEFAULT_CSS = """
    ResponsiveTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        scrollbar-size-vertical: 1;
        & > .table--header { background: $panel; color: $text-muted; text-style: bold; }
        &:ansi > .table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .table--even-row { background: $surface-lighten-1 50%; }
        &:dark > .table--even-row { background: $surface-darken-1 40%; }
        & > .table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        /* Focus shows in the cursor's colour (a background tint would filter every line on every paint). */
        &:focus {
            & > .table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    cursor_row: reactive[int] = reactive(0, repaint=False)
    """Index (in display order) of the highlighted row."""

    class RowHighlighted(Message):
        """The cursor moved to another row (``key`` None: no rows)."""

        def __init__(self, table: "ResponsiveTable[Any]", key: str | None) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> "ResponsiveTable[Any]":
            return self.table

    class RowSelected(Message):
        """Enter, or a click on the highlighted row: open the row's item."""

        def __init__(self, table: "ResponsiveTable[Any]", key: str) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> "ResponsiveTable[Any]":
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.sort_key: str | None = None
        self.sort_reverse = False
        self.filter_text = ""
        self._items: Sequence[T] = ()
        self._visible: tuple[str, ...] = ()
        self._widths: dict[str, int] = {}
        self._needs: dict[str, int] = {}
        self._measured: Sequence[T] | None = None
        """The widest cell seen in each MEASURED column (only ever grows)."""
        """Each shown column's text width: its declared width plus its share of the spare room."""
        self._columns: tuple[Column, ...] = ()
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._rows: dict[str, _Row] = {}
        self._header: tuple[Any, Strip] | None = None
        self._paint_styles: tuple[Style, Style, Style, Style, Style] | None = None
        self._cell_cache: dict[tuple[str, int, Any, Style], list[Segment]] = {}
        """Drawn cells by column, width, content and row style (see _cell)."""
        self._last_highlighted: str | None = None

    # -------------------------------------------------------------- for subclasses

    def item_key(self, item: T) -> str:
        raise NotImplementedError

    def item_keys(self, items: Sequence[T]) -> list[str]:
        """The keys of ``items``, in order (a subclass may read them in one pass in C)."""
        return list(map(self.item_key, items))

    def cells(self, item: T) -> dict[str, Any]:
        """The rendered cell (a Text) of every column for one item (called only for rows that are drawn)."""
        raise NotImplementedError

    def sort_value(self, item: T, key: str) -> Hashable:
        raise NotImplementedError

    def render_token(self, item: T) -> Any:
        """Everything cells() depends on besides the theme: a row whose token is unchanged is not rendered again."""
        return item

    def sort_values(self, items: Sequence[T], key: str) -> list[Hashable]:
        """sort_value() of every item, in order (a subclass may do it without a call per item)."""
        value = self.sort_value
        return [value(item, key) for item in items]

    def search_text(self, item: T) -> str:
        raise NotImplementedError

    def measure(self, item: T, key: str) -> int:
        """The width of the item's cell in MEASURED column ``key`` (cheap: no rendering)."""
        return 0

    def measure_all(self, items: Sequence[T]) -> dict[str, int]:
        """The widest cell of each MEASURED column over ``items`` (a subclass may do it in one pass per column)."""
        measure = self.measure
        return {key: max((measure(item, key) for item in items), default=0) for key in self.MEASURED}

    # -------------------------------------------------------------- public

    @property
    def shown_columns(self) -> tuple[str, ...]:
        """Keys of the columns that fit the current width, in their order."""
        return self._visible

    @property
    def shown_items(self) -> list[T]:
        """The items of the rows shown (after the filter), in display order."""
        rows = self._rows
        return [rows[key].item for key in self._order]

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def selected_key(self) -> str | None:
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    @property
    def selected_item(self) -> T | None:
        key = self.selected_key
        return None if key is None else self._rows[key].item

    def get_row_index(self, key: str) -> int:
        """Display index of the row of ``key`` (KeyError when it is not shown)."""
        return self._index[key]

    def move_cursor(self, *, row: int) -> None:
        """Highlight the row at display index ``row`` (clamped) and scroll it into view."""
        self.cursor_row = max(0, min(row, len(self._order) - 1)) if self._order else 0

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row of ``key``; False when that row is not shown."""
        index = self._index.get(key)
        if index is None:
            return False
        self.move_cursor(row=index)
        return True

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
            row.invalidate()
        self._header = None
        self._cell_cache.clear()
        self.refresh()

    def set_filter(self, text: str, *, apply: bool = True) -> None:
        """Show only rows whose search text holds ``text``; ``apply=False`` leaves it to the next set_items()."""
        self.filter_text = text.strip().lower()
        if apply:
            self._render_rows()

    def sort_by(self, key: str) -> None:
        if self.sort_key == key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, self._default_reverse(key)
        self._render_rows(force=True)

    # -------------------------------------------------------------- actions and events

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - max(1, self.size.height - 2))

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + max(1, self.size.height - 2))

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=len(self._order) - 1)

    def action_select_row(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

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

    def on_click(self, event: events.Click) -> None:
        """A click on a header sorts by that column; on a row it highlights it, and on the highlighted row opens it."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        if offset.y == 0:
            x = offset.x + round(self.scroll_x)
            for column in self._columns:
                span = self._column_width(column)
                if x < span:
                    self.sort_by(column.key)
                    return
                x -= span
            return
        index = round(self.scroll_y) + offset.y - 1
        if not 0 <= index < len(self._order):
            return
        if index == self.cursor_row:
            self.action_select_row()
        else:
            self.move_cursor(row=index)

    def on_resize(self, event: events.Resize) -> None:
        if self._fit(event.size.width) != (self._visible, self._widths):
            self._render_rows(force=True)
        self._scroll_cursor_into_view()

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        self._scroll_cursor_into_view()
        self._announce_highlight()

    def _announce_highlight(self) -> None:
        """Post RowHighlighted when the highlighted row's key changed (a move, or rows coming and going)."""
        key = self.selected_key
        if key != self._last_highlighted:
            self._last_highlighted = key
            self.post_message(self.RowHighlighted(self, key))

    # -------------------------------------------------------------- drawing

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles are read once per paint, not once per line (rich_style walks every ancestor).
        self._paint_styles = self._table_styles()
        try:
            return super().render_lines(crop)
        finally:
            self._paint_styles = None

    def render_line(self, y: int) -> Strip:
        styles = self._paint_styles or self._table_styles()
        base, header_style, cursor_style, even_style, odd_style = styles
        width = self.size.width
        scroll_x, scroll_y = round(self.scroll_x), round(self.scroll_y)
        full = max(width + scroll_x, self.virtual_size.width)
        if y == 0:
            strip = self._header_strip(base + header_style, full)
        else:
            index = scroll_y + y - 1
            if index >= len(self._order):
                return Strip.blank(width, base)
            row = self._rows[self._order[index]]
            if index == self.cursor_row:
                style = base + cursor_style
            else:
                style = base + (even_style if index % 2 == 0 else odd_style)
            strip = self._row_strip(row, style, full)
        return strip.crop(scroll_x, scroll_x + width) if scroll_x or strip.cell_length != width else strip

    def _table_styles(self) -> tuple[Style, Style, Style, Style, Style]:
        """The widget's own, header, cursor, even-row and odd-row styles from the CSS."""
        return (
            self.rich_style,
            self.get_component_rich_style("table--header"),
            self.get_component_rich_style("table--cursor"),
            self.get_component_rich_style("table--even-row"),
            self.get_component_rich_style("table--odd-row"),
        )

    def _header_strip(self, style: Style, full: int) -> Strip:
        key = (style, full, self._columns, self.sort_key, self.sort_reverse)
        if self._header is not None and self._header[0] == key:
            return self._header[1]
        labels = {column.key: self._label(column) for column in self._columns}
        strip = self._line(labels, style, full)
        self._header = (key, strip)
        return strip

    def _row_strip(self, row: _Row, style: Style, full: int) -> Strip:
        cells = self._row_cells(row)
        strip = row.strip
        if strip is None or row.strip_style != style or strip.cell_length != full:
            strip = row.strip = self._line(cells, style, full)
            row.strip_style = style
        return strip

    CELL_CACHE_SIZE: ClassVar[int] = 4_000
    """Drawn cells kept (see _cell); past this many the cache starts again. A screen of 60 rows of 11
    columns on its three row styles is under 2,000; more would only be more for the garbage collector to walk."""

    def _line(self, cells: dict[str, Any], style: Style, full: int) -> Strip:
        """One line of cells: each padded and cropped to its column, the rest of the width blank, all on ``style``."""
        segments: list[Segment] = []
        extend = segments.extend
        cache = self._cell_cache
        used = 0
        for column in self._columns:
            width = self._column_width(column)
            value = cells.get(column.key)
            if isinstance(value, Text):
                content: Any = (value.plain, value.style, tuple(value.spans))
            else:
                content = "" if value is None else str(value)
            key = (column.key, width, content, style)
            drawn = cache.get(key)
            if drawn is None:
                if len(cache) >= self.CELL_CACHE_SIZE:
                    cache.clear()
                drawn = cache[key] = self._cell(column, value, style, width - 2 * CELL_PADDING)
            extend(drawn)
            used += width
        if used < full:
            segments.append(Segment(" " * (full - used), style))
        return Strip(segments, max(used, full))

    def _cell(self, column: Column, value: Any, style: Style, width: int) -> list[Segment]:
        """One cell as drawn: numbers right-aligned, cut to ``width`` with an ellipsis, padded, on the row's ``style``.

        Cached by _line under the cell's text, styles and width: the cells of a row that did not
        change (its name, queue, host...) are not laid out again when another of its cells did.
        """
        text = value if isinstance(value, Text) else Text("" if value is None else str(value))
        length = text.cell_len
        pad = Segment(" " * CELL_PADDING, style)
        if not text.spans and 0 < length <= width:
            # A cell of one style that fits (most of them): the same segments as below, without Rich's layout.
            own = text.style
            if isinstance(own, str):
                own = self.app.console.get_style(own, default=Style.null())
            drawn = style + own if own else style
            room = " " * (width - length)
            if column.numeric:
                body = [Segment(room + text.plain, drawn)]
            else:
                body = [Segment(text.plain, drawn), Segment(room, style)] if room else [Segment(text.plain, drawn)]
            return list(Segment.simplify([pad, *body, pad]))
        if length > width:
            text = text.copy()
            text.truncate(width, overflow="ellipsis")
        elif column.numeric and length < width:
            text = text.copy()
            text.align("right", width)
        line = [Segment(" " * CELL_PADDING), *Segment.adjust_line_length(_text_segments(text, self.app.console), width), Segment(" " * CELL_PADDING)]
        return list(Segment.simplify(Segment.apply_style(line, style)))

    def _refresh_row(self, index: int) -> None:
        """Repaint the line of the row at ``index`` when it is on screen."""
        y = index - round(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _scroll_cursor_into_view(self) -> None:
        rows_shown = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        cursor = self.cursor_row
        if cursor < top:
            self.scroll_to(y=cursor, animate=False, immediate=True)
        elif cursor >= top + rows_shown:
            self.scroll_to(y=cursor - rows_shown + 1, animate=False, immediate=True)

    # -------------------------------------------------------------- internals

    def _text_width(self, column: Column) -> int:
        return self._widths.get(column.key, column.width)

    def _column_width(self, column: Column) -> int:
        """A column's cells on screen: its width and the padding (the sort arrow fits inside, so sorting never moves columns)."""
        return self._text_width(column) + 2 * CELL_PADDING

    def _default_reverse(self, key: str) -> bool:
        column = next((c for c in self.COLUMNS if c.key == key), None)
        return bool(column and column.numeric)

    def _fit(self, width: int) -> tuple[tuple[str, ...], dict[str, int]]:
        """The columns that fit ``width``, by priority, in their declared order, and their widths.

        Spare room goes to the growing columns, then to the MEASURED columns whose widest cell
        is still cut (a long current task and its ``+N``).
        """
        if width <= 0:
            width = self.app.size.width
        needs = self._measured_needs() if self.MEASURED else None
        return tuple(fit(self.COLUMNS, width - 2, needs=needs))  # type: ignore[return-value]

    def _measured_needs(self) -> dict[str, int]:
        """The widest cell of each MEASURED column over the items, as a high-water mark (columns never jump back)."""
        needs = self._needs
        if self._items is self._measured:
            return needs  # the same items (a resize, a new filter): nothing new to measure
        for key, length in self.measure_all(self._items).items():
            if length > needs.get(key, 0):
                needs[key] = length
        self._measured = self._items
        return needs

    def _label(self, column: Column) -> Text:
        """The header of a column, with the sort arrow inside its width (the label gives way to it)."""
        arrow = ("▼" if self.sort_reverse else "▲") if column.key == self.sort_key else ""
        width = self._text_width(column)
        room = width - len(arrow)
        name = column.label if len(column.label) <= room else column.label[: max(1, room - 1)] + "…"
        label = Text(name + arrow)
        if column.numeric:
            label.align("right", width)
        return label

    def _row_cells(self, row: _Row) -> dict[str, Any]:
        """The row's cells, rendered again only when its item's render token changed since it was drawn."""
        cells = row.cells
        item = row.item
        if cells is not None and item is row.drawn and self.TOKEN_IS_ITEM:
            return cells
        token = self.render_token(item)
        if cells is None or not (token is row.token or token == row.token):
            cells = row.cells = self.cells(item)
            row.strip = None
        row.drawn, row.token = item, token
        return cells

    def _sorted(self, items: list[T]) -> list[T]:
        key = self.sort_key
        if not key:
            return items
        values = self.sort_values(items, key)
        present = [pair for pair in zip(values, items) if pair[0] is not None]
        absent = [item for value, item in zip(values, items) if value is None] if len(present) < len(items) else []
        present.sort(key=_first, reverse=self.sort_reverse)
        return [item for _, item in present] + absent

    def _render_rows(self, force: bool = False) -> None:
        """Apply the items, filter and sort: keep rows whose token is unchanged, repaint what changed on screen."""
        text = self.filter_text
        items = [i for i in self._items if text in self.search_text(i).lower()] if text else list(self._items)
        items = self._sorted(items)
        selected = self.selected_key
        visible, widths = self._fit(self.size.width)
        relayout = force or visible != self._visible or widths != self._widths
        if relayout:
            for row in self._rows.values():
                row.invalidate()
            self._header = None
            self._cell_cache.clear()
        keys = self.item_keys(items)
        # Only the items are swapped here; whether a row changed is decided when it is drawn.
        same_order = keys == self._order
        if same_order:
            # The common refresh (the same rows in the same order): no new rows, no new mapping.
            rows = self._rows
            for row, item in zip(map(rows.__getitem__, keys), items):
                row.item = item
        else:
            old, rows = self._rows, {}
            for key, item in zip(keys, items):
                row = old.get(key)
                if row is None:
                    row = _Row(item)
                else:
                    row.item = item
                rows[key] = row
        whole = relayout or not same_order
        self._visible, self._widths = visible, widths
        self._columns = tuple(c for c in self.COLUMNS if c.key in visible)
        if not same_order:
            self._index = {key: index for index, key in enumerate(keys)}
        self._order, self._rows = keys, rows
        width = sum(self._column_width(c) for c in self._columns)
        self.virtual_size = Size(width, len(keys) + 1)
        # The cursor follows its row when the order changes; it stays in range when rows go.
        if selected is not None and selected in self._index:
            self.cursor_row = self._index[selected]
        else:
            self.cursor_row = max(0, min(self.cursor_row, len(keys) - 1))
        self._announce_highlight()
        if whole:
            self.refresh()
            return
        # Same rows in the same order: repaint only the lines on screen whose row will draw differently
        # (asked of Textual in one call: a refresh per line cost more than the line).
        top = round(self.scroll_y)
        height, width = self.size.height, self.size.width
        changed: list[Region] = []
        for index in range(top, min(len(keys), top + max(0, height - 1))):
            row = rows[keys[index]]
            if row.cells is None or not (row.item is row.drawn and self.TOKEN_IS_ITEM):
                token = self.render_token(row.item)
                if row.cells is None or not (token is row.token or token == row.token):
                    changed.append(Region(0, index - top + 1, width, 1))
        if changed:
            self.refresh(*changed)
