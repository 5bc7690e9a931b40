"""Columns that give way by priority as a terminal narrows: one model for the console's tables and the CLI's.

A table declares its columns, each with a priority (1: always shown; higher numbers go first
when room runs out), a width and how much it may grow. :func:`fit` decides which columns
a width holds and how wide each one is; the console draws the result with Textual, the CLI
with plain lines (:func:`render_lines`). Plain Python and Rich's cell widths only: the CLI
imports this without the console.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from rich.cells import cell_len

CELL_PADDING = 1
"""Blank cells on each side of a column's text."""
ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    """One column: ``priority`` 1 is kept at any width, higher numbers go first when space runs out."""

    key: str
    label: str
    width: int
    """Its text width when shown (without padding)."""
    priority: int = 1
    numeric: bool = False
    """Right-aligned, and sorted largest first."""
    meaning: str = ""
    """What the column shows, for the help screen and the CLI's legends."""
    grow: int = 0
    """How much wider it gets when the terminal has room to spare (long names and ids)."""
    hide_empty: bool = False
    """Left out of a CLI table when none of its cells has anything to say."""


@dataclass(frozen=True)
class Fit:
    """The columns a width holds (their keys, in declared order) and each one's text width."""

    keys: tuple[str, ...]
    widths: dict[str, int]

    def __iter__(self):  # type: ignore[no-untyped-def]
        # ``keys, widths = fit(...)`` reads as the pair it is.
        return iter((self.keys, self.widths))


def fit(
    columns: Sequence[Column],
    width: int,
    *,
    needs: Mapping[str, int] | None = None,
    shrink: bool = False,
    floor: Mapping[str, int] | None = None,
    padding: int = CELL_PADDING,
) -> Fit:
    """Which of ``columns`` fit ``width`` cells, by whole priority levels, and how wide each one is.

    The most important level first; the first level that does not fit ends it (level 1 is
    always kept). Room left over goes to the growing columns (up to their ``grow``, and no
    wider than their widest cell when ``needs`` knows it), then to the columns still cut. With ``shrink`` a column is never
    wider than its widest cell (the CLI's tables, sized to what they show); ``floor`` keeps
    columns at least that wide (a refreshing table whose columns must not jump).
    """
    needs = needs or {}
    floor = floor or {}

    def base(c: Column) -> int:
        w = c.width
        if shrink and c.key in needs:
            need = max(needs[c.key], cell_len(c.label))
            # The key columns (priority 1) are reserved whole; the others at most at their width.
            w = need if c.priority == 1 else min(w, need)
        return max(w, floor.get(c.key, 0))

    widths: dict[str, int] = {}
    budget = width
    keep: set[str] = set()
    for priority in sorted({c.priority for c in columns}):
        level = [c for c in columns if c.priority == priority]
        for c in level:
            widths[c.key] = base(c)
        if priority == 1:
            _squeeze(level, widths, budget - 2 * padding * len(level), floor)
        cost = sum(widths[c.key] + 2 * padding for c in level)
        if priority > 1 and cost > budget:
            break
        keep.update(c.key for c in level)
        budget -= cost
    shown = [c for c in columns if c.key in keep]
    widths = {c.key: widths[c.key] for c in shown}

    def short_of(c: Column) -> int:
        """How many cells its widest cell is wider than its column now."""
        return max(0, needs[c.key] - widths[c.key]) if c.key in needs else 0

    for c in shown:
        if c.grow and budget > 0:
            room = min(c.grow, budget)
            if c.key in needs:
                room = min(room, short_of(c))  # no wider than its widest cell: the room goes where cells are cut
            widths[c.key] += room
            budget -= room
    # What is left goes to the columns that are still cut, most important first.
    for c in sorted(shown, key=lambda c: c.priority):
        if budget <= 0:
            break
        room = min(short_of(c), budget)
        widths[c.key] += room
        budget -= room
    return Fit(tuple(c.key for c in shown), widths)


def _squeeze(level: Sequence[Column], widths: dict[str, int], room: int, floor: Mapping[str, int]) -> None:
    """Narrow the columns wider than their declared width, widest first, until the level fits ``room`` (or none can give)."""
    over = sum(widths[c.key] for c in level) - room
    while over > 0:
        wider = [c for c in level if widths[c.key] > max(c.width, floor.get(c.key, 0))]
        if not wider:
            return
        c = max(wider, key=lambda c: widths[c.key] - c.width)
        give = min(over, widths[c.key] - max(c.width, floor.get(c.key, 0)))
        widths[c.key] -= give
        over -= give


def widest(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The widest cell of each column over ``rows`` (its label included)."""
    out = {c.key: cell_len(c.label) for c in columns}
    for row in rows:
        for c in columns:
            value = row.get(c.key)
            if value is not None:
                length = cell_len(_plain(value))
                if length > out[c.key]:
                    out[c.key] = length
    return out


def clip(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut with an ellipsis when longer."""
    if cell_len(text) <= width:
        return text
    from rich.text import Text  # only when something is cut: the CLI starts without it

    cut = Text(text)
    cut.truncate(width, overflow="ellipsis")
    return cut.plain


def render_lines(
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    *,
    width: int | None,
    floor: Mapping[str, int] | None = None,
    missing: str = "-",
) -> tuple[list[str], dict[str, int]]:
    """A plain-text table: a header, a rule and one line per row; no cell ever wraps.

    ``width`` None shows every column whole (``-o wide``); otherwise the columns that fit
    ``width`` by priority, each cell cut with an ellipsis to its column. Columns are two
    blanks apart, the edges unpadded. Answers the lines and the widths used (a watching
    caller passes them back as ``floor`` so columns only ever widen).
    """
    cells = [{c.key: _cell(row.get(c.key), missing) for c in columns} for row in rows]
    columns = [c for c in columns if not c.hide_empty or any(row[c.key] != missing for row in cells)]
    needs = widest(columns, cells)
    if width is None:
        layout = Fit(tuple(c.key for c in columns), {c.key: max(needs[c.key], (floor or {}).get(c.key, 0)) for c in columns})
    else:
        # The edges are not padded: two more cells than the terminal's width, as if they were.
        layout = fit(columns, width + 2 * CELL_PADDING, needs=needs, shrink=True, floor=floor)
    shown = [c for c in columns if c.key in layout.keys]
    widths = layout.widths

    def line(values: Mapping[str, str]) -> str:
        parts = []
        for c in shown:
            w = widths[c.key]
            text = clip(values[c.key], w)
            pad = " " * (w - cell_len(text))
            parts.append(pad + text if c.numeric else text + pad)
        return "  ".join(parts).rstrip()

    header = line({c.key: c.label for c in shown})
    total = sum(widths[c.key] for c in shown) + 2 * max(0, len(shown) - 1)
    lines = [header, "─" * total, *(line(row) for row in cells)]
    return lines, dict(widths)


def _cell(value: Any, missing: str) -> str:
    if value is None or value == "":
        return missing
    text = _plain(value)
    # One line per row, always: a newline or tab in a tenant's value must not break the table.
    return " ".join(text.split()) if any(ch in text for ch in "\n\r\t") else text


def _plain(value: Any) -> str:
    """A cell's text: a Rich Text's plain text, anything else as str()."""
    plain = getattr(value, "plain", None)
    return plain if isinstance(plain, str) else str(value)
