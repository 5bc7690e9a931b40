"""Numbers as the console and the CLI show them: short, aligned, "-" for what no source provided.

Plain Python (no Textual), so the CLI can use it without importing the console."""

from __future__ import annotations

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


def sparkline(values: Sequence[float], width: int = 8) -> str:
    """The last ``width`` values as block characters, scaled from zero to their maximum."""
    tail = list(values)[-width:]
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
