"""Numbers as the console and the CLI show them: short, aligned, "-" for what no source provided.

Plain Python (no Textual), so the CLI can use it without importing the console."""

from __future__ import annotations

import re
from typing import Iterable, Sequence

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
MISSING = "-"


def age(seconds: float | None) -> str:
    """A duration in at most two units: ``4s``, ``2m10s``, ``1h05m``, ``3d02h``."""
    if seconds is None:
        return MISSING
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def duration(seconds: float | None) -> str:
    """A task's run time: tenths of a second under 10s, else like age()."""
    if seconds is None:
        return MISSING
    return f"{seconds:.1f}s" if seconds < 10 else age(seconds)


def rate(value: float | None) -> str:
    """A per-minute rate: one decimal under 100, whole above."""
    if value is None:
        return MISSING
    return f"{value:.1f}" if abs(value) < 100 else f"{value:,.0f}"


def percent(fraction: float | None) -> str:
    if fraction is None:
        return MISSING
    return f"{fraction * 100:.1f}%"


def count(value: int | None) -> str:
    return MISSING if value is None else f"{value:,}"


def ratio(used: int | None, total: int | None) -> str:
    if used is None and total is None:
        return MISSING
    return f"{MISSING if used is None else used}/{MISSING if total is None else total}"


def latency(ms: float | None) -> str:
    if ms is None:
        return MISSING
    return f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.1f}s"


DEPTH_STEPS = (1, 3, 10, 30, 100, 300, 1000)
"""Where a depth sparkline steps up a block: one scale for every row (▁ empty ... █ 1,000 or more waiting)."""


def sparkline(values: Sequence[float], width: int = 8, steps: Sequence[float] | None = None) -> str:
    """The last ``width`` values as block characters.

    With ``steps`` (ascending, one fewer than the blocks) every row is drawn on the same
    scale: the lowest block for less than the first step, one block more per step reached,
    so a depth of 1 never looks like a full bar. Without, scaled from zero to their maximum.
    """
    tail = list(values)[-width:]
    if steps is not None:
        return "".join(SPARK_BLOCKS[sum(1 for step in steps if v >= step)] for v in tail).rjust(width)
    if not tail:
        return " " * width
    top = max(tail)
    if top <= 0:
        return (SPARK_BLOCKS[0] * len(tail)).rjust(width)
    chars = [SPARK_BLOCKS[min(len(SPARK_BLOCKS) - 1, int(v / top * (len(SPARK_BLOCKS) - 1) + 0.5))] for v in tail]
    return "".join(chars).rjust(width)


def short_id(value: str | None, length: int = 12) -> str:
    if not value:
        return MISSING
    return value if len(value) <= length else value[: length - 1] + "…"


def join_tags(tags: Iterable[str]) -> str:
    return ", ".join(tags) or MISSING


_SHELL_WORD = re.compile(r"""(?:[^\s"'\\]+|\\.|"(?:[^"\\]|\\.)*"|'[^']*')+""")


def shell_wrap(command: str, width: int, indent: str = "  ") -> list[str]:
    """A one-line shell command as lines of at most ``width`` cells, broken only between words.

    Each line but the last ends in `` \\`` (the shell joins them again, so the lines copied
    together still run), the later ones indented; an option stays on the line of its value.
    A word longer than a line is never cut: its line is longer.
    """
    words = _SHELL_WORD.findall(command)
    if not words or len(command) <= width:
        return [command]
    groups: list[str] = []
    for word in words:
        if groups and groups[-1].startswith("-") and " " not in groups[-1] and not word.startswith("-") and "=" not in groups[-1]:
            groups[-1] += " " + word
        else:
            groups.append(word)
    lines: list[str] = []
    current = ""
    for group in groups:
        lead = indent if lines else ""
        candidate = f"{current} {group}" if current else f"{lead}{group}"
        # Room for the " \" that ends every line but the last.
        if current and len(candidate) + 2 > width:
            lines.append(current + " \\")
            current = f"{indent}{group}"
        else:
            current = candidate
    lines.append(current)
    return lines
