"""The console's number formats: re-exported from kubiya_tui.formatting, which the CLI shares."""

from __future__ import annotations

from kubiya_tui.formatting import (
    MISSING,
    SPARK_BLOCKS,
    age,
    count,
    duration,
    join_tags,
    latency,
    percent,
    rate,
    ratio,
    short_id,
    sparkline,
)

__all__ = [
    "MISSING",
    "SPARK_BLOCKS",
    "age",
    "count",
    "duration",
    "join_tags",
    "latency",
    "percent",
    "rate",
    "ratio",
    "short_id",
    "sparkline",
]
