"""History charts of one queue (depth, processing rate, error rate), drawn with each widget's own plotext.

Drawing a plot costs tens of milliseconds (plotext builds the whole canvas), so the charts of the
queue shown redraw at most every REDRAW_SECONDS as new samples come in (at once when another
queue is picked, the theme changes or the size changes), and an hour of samples is first
thinned to what the canvas can show (the low and high of each stretch of samples).

The charts themselves (``MetricChart``, in ``metric_chart.py``) are mounted once the screen's
first frame is on screen: importing plotext and drawing three canvases was a third of the
console's own start-up, and the table comes first.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Callable

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.timer import Timer

if TYPE_CHECKING:
    from kubiya_tui.tui.widgets.metric_chart import MetricChart

History = Callable[[str, str], list[tuple[float, float]]]

SPANS_MINUTES = (5, 10, 15, 30, 60)
"""The time spans a chart shows: the shortest that holds its history, so the axis moves only when the history outgrows it."""
Y_SHRINK_BELOW = 0.4
"""The value axis keeps its top until the data falls under this share of it (no new ticks on every refresh)."""
REDRAW_SECONDS = 10.0
"""New samples of the same queue redraw its charts at most this often (the table shows the live numbers)."""
POINTS_PER_COLUMN = 4
"""A chart keeps at most this many points per character column (braille: 2 dots wide; low and high of each)."""


def nice_step(span: float, ticks: int) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts ``span`` into about ``ticks`` parts."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    # raw / power is in [1, 10), so one of these always fits.
    return next(factor * power for factor in (1, 2, 5, 10) if raw <= factor * power)


def span_minutes(oldest_minutes_ago: float) -> int:
    """The span the time axis shows for history reaching this far back."""
    return next((s for s in SPANS_MINUTES if oldest_minutes_ago <= s), SPANS_MINUTES[-1])


def time_ticks(span: int) -> tuple[list[float], list[str]]:
    """Round ticks from ``span`` minutes ago to now, labelled ``10m`` ... ``now`` (never a negative number)."""
    step = nice_step(float(span), 3)
    ticks = [-k * step for k in range(int(span // step), -1, -1)]
    return ticks, ["now" if t == 0 else f"{_tick_label(-t)}m" for t in ticks]


def _tick_label(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1 or value == 0 else f"{value:.2g}"


def thin(points: list[tuple[float, float]], buckets: int) -> list[tuple[float, float]]:
    """At most ``2 x buckets`` points: the lowest and the highest of each run of samples, in time order."""
    n = len(points)
    if buckets <= 0 or n <= 2 * buckets:
        return points
    out: list[tuple[float, float]] = []
    for b in range(buckets):
        chunk = points[b * n // buckets : (b + 1) * n // buckets]
        if not chunk:
            continue
        low = min(chunk, key=lambda p: p[1])
        high = max(chunk, key=lambda p: p[1])
        out.extend((low, high) if low[0] <= high[0] else (high, low))
    if out[-1] is not points[-1]:
        out.append(points[-1])  # the newest sample is always drawn where it is
    return out


def __getattr__(name: str) -> Any:
    # ``MetricChart`` is plotext's widget: loaded when the first charts are mounted, or when asked for here.
    if name == "MetricChart":
        from kubiya_tui.tui.widgets.metric_chart import MetricChart

        return MetricChart
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class QueueCharts(Horizontal):
    """The three charts of the selected queue, side by side; new samples redraw them at most every REDRAW_SECONDS."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[str | None, float | None] | None = None
        """The queue and the time of the data drawn last."""
        self._drawn_at = -1e18
        self._due: tuple[str | None, History, float | None, str] | None = None
        self._timer: Timer | None = None
        self._charts: list[MetricChart] = []
        """The three charts, once mounted (after the screen's first frame)."""

    def compose(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.call_after_refresh(self._mount_charts)

    async def _mount_charts(self) -> None:
        from kubiya_tui.tui.widgets.metric_chart import MetricChart

        charts = [
            MetricChart("depth", "depth", "chart-depth", id="chart-depth"),
            MetricChart("processed_per_min", "processed / min", "chart-rate", id="chart-rate"),
            MetricChart("error_rate", "error %", "chart-error", scale=100.0, id="chart-error"),
        ]
        await self.mount_all(charts)
        self._charts = charts
        self._draw_due()  # what was asked for before they were there

    def show(self, queue_id: str | None, history: History, now: float | None, label: str = "") -> None:
        """Chart ``queue_id`` (titled with ``label``, its name) from ``history`` up to ``now``."""
        if self._shown == (queue_id, now):
            return
        self._due = (queue_id, history, now, label)
        wait = self._drawn_at + REDRAW_SECONDS - time.monotonic()
        if self._shown is None or self._shown[0] != queue_id or wait <= 0:
            self._draw_due()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self._draw_due)

    def _draw_due(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._due is None or not self._charts:
            return
        queue_id, history, now, label = self._due
        self._due = None
        self._shown, self._drawn_at = (queue_id, now), time.monotonic()
        for chart in self._charts:
            chart.show(history(queue_id, chart.metric) if queue_id else [], now, label)
