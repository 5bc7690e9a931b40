"""History charts of one queue (depth, processing rate, error rate), drawn with each widget's own plotext.

Drawing a plot costs tens of milliseconds (plotext builds the whole canvas), so the charts of the
queue shown redraw at most every REDRAW_SECONDS as new samples come in (at once when another
queue is picked, the theme changes or the size changes), and an hour of samples is first
thinned to what the canvas can show (the low and high of each stretch of samples).
"""

from __future__ import annotations

import math
import time
from typing import Callable

from textual.app import ComposeResult
from textual.color import Color, ColorParseError
from textual.containers import Horizontal
from textual.events import Resize
from textual.timer import Timer
from textual_plotext import PlotextPlot

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


class MetricChart(PlotextPlot):
    """One metric's history against minutes before now; its line colour is a theme variable."""

    def __init__(self, metric: str, title: str, color_variable: str, *, scale: float = 1.0, id: str | None = None) -> None:
        super().__init__(id=id)
        self.metric = metric
        self.title = title
        self.color_variable = color_variable
        self.scale = scale
        self._points: list[tuple[float, float]] = []
        self._now: float | None = None
        self.label = ""
        """The queue's name, shown in the title."""
        self._y_top: float | None = None

    def on_mount(self) -> None:
        # Re-plot in the new theme's colours; PlotextPlot itself only re-colours background and text.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw())
        self._draw()

    def on_resize(self, event: Resize) -> None:
        # Points were thinned, and the title fitted, for the old width.
        self._draw()

    def show(self, points: list[tuple[float, float]], now: float | None, label: str = "") -> None:
        if points == self._points and now == self._now and label == self.label:
            return
        if label != self.label:
            self._y_top = None  # another queue: its own scale
        self._points, self._now, self.label = points, now, label
        self._draw()

    def _rgb(self) -> tuple[int, int, int] | str | int:
        """The line's colour for plotext: RGB, or an ANSI theme's colour number (the terminal's palette draws it)."""
        value = self.app.theme_variables.get(self.color_variable) or self.app.get_theme_variable_defaults().get(self.color_variable)
        try:
            color = Color.parse(value or "")
        except ColorParseError:
            return "blue"
        if color.ansi is not None and color.ansi >= 0:
            return color.ansi
        return (color.r, color.g, color.b)

    def _draw(self) -> None:
        # On an ANSI theme the terminal's own colours draw the axes (plotext's "clear" theme).
        self.theme = "clear" if self.app.current_theme.ansi else "auto"
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        # The queue's name goes in the border, which Textual crops instead of dropping.
        self.border_title = self.label or None
        span, top = SPANS_MINUTES[0], 0.0
        if self._points:
            now = self._now if self._now is not None else self._points[-1][0]
            points = thin(self._points, self.size.width * POINTS_PER_COLUMN // 2)
            xs = [(t - now) / 60 for t, _ in points]
            ys = [v * self.scale for _, v in points]
            plt.plot(xs, ys, marker="braille", color=self._rgb())
            span, top = span_minutes(-xs[0]), max(ys)
        else:
            # Nothing recorded yet: an invisible line, so the axes and their ticks are drawn all the same.
            plt.plot([-span, 0], [0, 0], marker=" ")
        x_ticks, x_labels = time_ticks(span)
        plt.xticks(x_ticks, x_labels)
        y_top = self._value_top(top)
        y_step = nice_step(y_top, 3)
        y_ticks = [k * y_step for k in range(int(round(y_top / y_step)) + 1)]
        plt.yticks(y_ticks, [_tick_label(t) for t in y_ticks])
        plt.xlim(-span, 0)
        plt.ylim(0, y_top)
        self.refresh()

    def _value_top(self, top: float) -> float:
        """The top of the value axis: a round number above the data, kept while the data stays well under it."""
        kept = self._y_top
        if kept is not None and Y_SHRINK_BELOW * kept <= top <= kept:
            return kept
        step = nice_step(top or 1.0, 3)
        self._y_top = step * math.ceil((top or 1.0) * 1.05 / step)
        return self._y_top


class QueueCharts(Horizontal):
    """The three charts of the selected queue, side by side; new samples redraw them at most every REDRAW_SECONDS."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[str | None, float | None] | None = None
        """The queue and the time of the data drawn last."""
        self._drawn_at = -1e18
        self._due: tuple[str | None, History, float | None, str] | None = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield MetricChart("depth", "depth", "chart-depth", id="chart-depth")
        yield MetricChart("processed_per_min", "processed / min", "chart-rate", id="chart-rate")
        yield MetricChart("error_rate", "error %", "chart-error", scale=100.0, id="chart-error")

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
        if self._due is None:
            return
        queue_id, history, now, label = self._due
        self._due = None
        self._shown, self._drawn_at = (queue_id, now), time.monotonic()
        for chart in self.query(MetricChart):
            chart.show(history(queue_id, chart.metric) if queue_id else [], now, label)
