"""One metric's history chart, drawn with the widget's own plotext (see ``charts.py``: the charts of a queue and their rules).

A module of its own so that plotext is imported when the first charts are mounted, after the console's first frame.
"""

from __future__ import annotations

import math

from textual.color import Color, ColorParseError
from textual.events import Resize
from textual_plotext import PlotextPlot

from kubiya_tui.tui.widgets.charts import POINTS_PER_COLUMN, SPANS_MINUTES, Y_SHRINK_BELOW, _tick_label, nice_step, span_minutes, thin, time_ticks


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
