"""History charts of one queue (depth, processing rate, error rate), drawn with each widget's own plotext."""

from __future__ import annotations

from typing import Callable

from textual.app import ComposeResult
from textual.color import Color, ColorParseError
from textual.containers import Horizontal
from textual_plotext import PlotextPlot

History = Callable[[str, str], list[tuple[float, float]]]


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

    def on_mount(self) -> None:
        # Re-plot in the new theme's colours; PlotextPlot itself only re-colours background and text.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw())
        self._draw()

    def show(self, points: list[tuple[float, float]], now: float | None) -> None:
        if points == self._points and now == self._now:
            return
        self._points, self._now = points, now
        self._draw()

    def _rgb(self) -> tuple[int, int, int] | str:
        value = self.app.theme_variables.get(self.color_variable) or self.app.get_theme_variable_defaults().get(self.color_variable)
        try:
            color = Color.parse(value or "")
        except ColorParseError:
            return "blue"
        return (color.r, color.g, color.b)

    def _draw(self) -> None:
        # On an ANSI theme the terminal's own colours draw the axes (plotext's "clear" theme).
        self.theme = "clear" if self.app.current_theme.ansi else "auto"
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        if self._points:
            now = self._now if self._now is not None else self._points[-1][0]
            xs = [(t - now) / 60 for t, _ in self._points]
            ys = [v * self.scale for _, v in self._points]
            plt.plot(xs, ys, marker="braille", color=self._rgb())
            plt.xlim(min(xs[0], -1), 0)
            top = max(ys) or 1
            plt.ylim(0, top * 1.1)
        else:
            plt.xlim(-5, 0)
            plt.ylim(0, 1)
        plt.xlabel("min")
        self.refresh()


class QueueCharts(Horizontal):
    """The three charts of the selected queue, side by side."""

    def compose(self) -> ComposeResult:
        yield MetricChart("depth", "depth", "chart-depth", id="chart-depth")
        yield MetricChart("processed_per_min", "processed / min", "chart-rate", id="chart-rate")
        yield MetricChart("error_rate", "error %", "chart-error", scale=100.0, id="chart-error")

    def show(self, queue_id: str | None, history: History, now: float | None) -> None:
        for chart in self.query(MetricChart):
            chart.show(history(queue_id, chart.metric) if queue_id else [], now)
