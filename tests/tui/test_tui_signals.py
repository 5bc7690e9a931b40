"""What the console tells an operator over a day: stuck queues, slow reads, data age while paused, gone and
replaced workers, wide terminals, the charts' axes, and a help that says where it ends."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from kubiya_tui import formatting as fmt
from kubiya_tui.metrics.assemble import ordered_workers
from kubiya_tui.metrics.snapshot import ReadState, SourceState, SourceStatus
from kubiya_tui.tui.screens.help import HelpScreen
from kubiya_tui.tui.screens.queue_detail import QueueDetailScreen
from kubiya_tui.tui.screens.workers import WorkersScreen
from kubiya_tui.tui.screenshots import VIEWS, recorded_console, show_view
from kubiya_tui.tui.widgets.charts import MetricChart, span_minutes, time_ticks
from kubiya_tui.tui.widgets.queue_table import QueueTable
from kubiya_tui.tui.widgets.status import SourceBanner, StatusHeader
from kubiya_tui.tui.widgets.worker_table import WorkerTable

pytestmark = pytest.mark.timeout(60)


def _lines(widget) -> list[str]:  # type: ignore[no-untyped-def]
    """What a widget shows, line by line, as the terminal draws it."""
    return [widget.render_line(y).text for y in range(widget.size.height)]


def _shown(widget) -> str:  # type: ignore[no-untyped-def]
    """Its text with the layout's blanks and line breaks as single spaces."""
    return " ".join(" ".join(_lines(widget)).split())


async def test_a_stuck_queue_is_flagged_on_its_row_at_80_columns_and_explained_in_its_detail() -> None:
    app = recorded_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await show_view(pilot, VIEWS["overview"])
        row = next(line for line in _lines(app.screen.query_one(QueueTable)) if "webhooks" in line)
        assert "STUCK" in row and "23" in row, row
        assert "1 stuck" in str(app.screen.query_one("#totals", Static).render())
        app.open_queue("q-webhooks-5a60f3")
        await pilot.pause(0.2)
        alert = str(app.screen.query_one("#detail-alert", Static).render())
        assert alert.startswith("STUCK 23 waiting, oldest 1m35s; none dispatched; 5 of 5 slots free on 1 healthy worker")
        assert "why: no poller on its task queue org-demo.staging.webhooks" in alert
        facts = _shown(app.screen.query_one("#facts-priority", Static))
        assert "0: 0 registered workers, 1 registered, not polling (!poll)" in facts, "pollers next to workers, explained"


async def test_a_slow_visibility_read_is_named_and_temporal_is_not_called_down() -> None:
    app = recorded_console()
    async with app.run_test(size=(120, 30)) as pilot:
        await show_view(pilot, VIEWS["overview"])
        snapshot = app.snapshot
        reads = (
            ReadState("Temporal task queues", SourceStatus.ok, "depth, age and in/out", 1.0),
            ReadState("Temporal visibility", SourceStatus.slow, "done/m, errors and times", 40.0, late=True),
        )
        slow = SourceState("Temporal", SourceStatus.slow, latency_ms=9.0, data_age_seconds=1.0, reads=reads)
        app.snapshot = replace(snapshot, sources={**snapshot.sources, "temporal": slow})
        await pilot.pause(0.1)
        banner = app.screen.query_one(SourceBanner)
        text = str(banner.render())
        assert banner.display and "Temporal visibility slow: done/m, errors and times 40s old" in text, text
        assert "down" not in text and banner.has_class("-slow")


async def test_the_data_age_keeps_counting_while_paused() -> None:
    app = recorded_console()
    async with app.run_test(size=(120, 30)) as pilot:
        await show_view(pilot, VIEWS["overview"])
        header = app.screen.query_one(StatusHeader)
        now = [1000.0]
        header.clock = lambda: now[0]
        header._arrived = None
        header._redraw()
        assert "· 1s" in str(header.render())
        now[0] += 8
        header._tick()
        assert "· 9s" not in str(header.render()), "refreshing: the next snapshot brings its own age"
        await pilot.press("p")
        await pilot.pause(0.1)
        header._tick()
        shown = str(header.render())
        assert "· 9s" in shown and "PAUSED" in shown, shown
        assert header.tooltip and "how old its newest data is" in header.tooltip


async def test_a_gone_worker_shows_no_beat_nor_slots_and_points_at_its_replacement() -> None:
    app = recorded_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await show_view(pilot, VIEWS["workers"])
        table = app.screen.query_one(WorkerTable)
        cells = table.rendered("wkr-web-01cc")
        assert cells["heartbeat"].plain.strip() == fmt.MISSING and cells["slots"].plain.strip() == fmt.MISSING
        assert "↪wkr-web-02dd" in cells["health"].plain, "linked to its replacement"
        app.open_worker("wkr-web-01cc")
        await pilot.pause(0.2)
        state = _shown(app.screen.query_one("#worker-state", Static))
        assert "replaced by wkr-web-02dd" in state and "left" in state and "heartbeat age" not in state


async def test_worker_rows_keep_their_order_when_heartbeats_arrive() -> None:
    app = recorded_console()
    async with app.run_test(size=(120, 30)) as pilot:
        await show_view(pilot, VIEWS["workers"])
        assert isinstance(app.screen, WorkersScreen)
        table = app.screen.query_one(WorkerTable)
        before = [w.worker_id for w in table.shown_items]
        snapshot = app.snapshot
        # New heartbeats, answered in another order: the snapshot orders them as before.
        moved = [replace(w, heartbeat_age_seconds=(i * 7) % 13) for i, w in enumerate(reversed(snapshot.workers))]
        app.snapshot = replace(snapshot, taken_at=snapshot.taken_at + 2, workers=tuple(ordered_workers(moved, snapshot.queues)))
        await pilot.pause(0.1)
        assert [w.worker_id for w in table.shown_items] == before


async def test_at_200_columns_the_current_task_and_its_count_are_whole() -> None:
    app = recorded_console()
    async with app.run_test(size=(200, 40)) as pilot:
        await show_view(pilot, VIEWS["workers"])
        table = app.screen.query_one(WorkerTable)
        line = next(line for line in _lines(table) if line.lstrip().startswith("wkr-pay-01a4"))
        assert "task-3ce857b8-7c6a-46d3-8798-627a8e24185b +2" in line, line


async def test_the_help_says_there_is_more_only_until_its_end() -> None:
    app = recorded_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await show_view(pilot, VIEWS["help"])
        assert isinstance(app.screen, HelpScreen)
        body = app.screen.query_one("#help-body", VerticalScroll)
        assert "scroll for more" in str(body.border_subtitle)
        await pilot.press("end")
        await pilot.pause(0.2)
        assert body.scroll_y == body.max_scroll_y
        assert str(body.border_subtitle) == "Esc closes", "at the bottom there is no more"
        text = _shown(app.screen.query_one("#help-keys", Static))
        assert "how old its newest data is" in text and "one scale for every row" in text and "STUCK" in text


async def test_the_failed_tasks_table_is_drawn_at_its_width_before_the_table_is_idle() -> None:
    app = recorded_console()
    async with app.run_test(size=(160, 48)) as pilot:
        await show_view(pilot, VIEWS["queue_detail"])
        screen = app.screen
        assert isinstance(screen, QueueDetailScreen)
        rows = [("task-1…", "render_pdf", "TimeoutError: render took longer than 30s, and then some more")]
        screen._show_failures(rows, ["t1"])
        table = screen.query_one("#failed-tasks", DataTable)
        error = next(c for c in table.ordered_columns if c.key.value == "error")
        assert error.get_render_width(table) - 2 * table.cell_padding >= len(rows[0][2]), "at once, not at the next idle"


def test_sparklines_share_one_scale_and_chart_ticks_never_go_negative() -> None:
    one = fmt.sparkline([1, 1, 1], width=3, steps=fmt.DEPTH_STEPS)
    many = fmt.sparkline([300, 320, 318], width=3, steps=fmt.DEPTH_STEPS)
    assert one == "▂▂▂" and many == "▇▇▇", "a depth of 1 is not a full bar"
    for oldest in (0.5, 3, 7, 14, 29, 45, 90):
        ticks, labels = time_ticks(span_minutes(oldest))
        assert labels[-1] == "now" and all(not label.startswith("-") for label in labels), labels
    assert time_ticks(span_minutes(11))[1] == time_ticks(span_minutes(14))[1], "the axis moves only past a span"


async def test_the_value_axis_keeps_its_ticks_while_the_data_moves_a_little() -> None:
    app = recorded_console()
    async with app.run_test(size=(120, 36)) as pilot:
        await show_view(pilot, VIEWS["overview"])
        chart = app.screen.query(MetricChart).first()
        chart._y_top = None
        assert chart._value_top(42) == chart._value_top(47) == chart._value_top(30), "same top, same ticks"
        assert chart._value_top(90) > 47, "outgrown: a new top"


def test_screenshot_text_runs_are_split_so_no_viewer_misplaces_a_glyph() -> None:
    from kubiya_tui.tui.svg import tidy_svg

    run = '<text class="t-r5" x="12.2" y="20" textLength="109.8" clip-path="url(#l-0)">60┤&#160;&#160;&#160;⢠⡆│</text>'
    out = tidy_svg(f"<svg>{run}</svg>")
    texts = re.findall(r'x="([0-9.]+)"[^>]*>([^<]*)</text>', out)
    assert texts == [("12.2", "60┤"), ("85.4", "⢠"), ("97.6", "⡆"), ("109.8", "│")], "each glyph where its cell is"
    assert "&#160;" not in out, "blanks are left to the background"
    plain = '<text class="t-r5" x="0" y="20" textLength="61" clip-path="url(#l-0)">depth</text>'
    assert tidy_svg(plain) == plain


async def test_the_ansi_theme_draws_charts_in_the_terminal_s_own_bright_colours() -> None:
    app = recorded_console("kubiya-ansi")
    async with app.run_test(size=(80, 24)) as pilot:
        await show_view(pilot, VIEWS["overview"])
        colours = {chart.metric: chart._rgb() for chart in app.screen.query(MetricChart)}
        assert colours == {"depth": 14, "processed_per_min": 10, "error_rate": 9}, "ANSI colour numbers, bright ones"


def test_the_recorded_history_tells_an_incident_not_one_wave() -> None:
    from kubiya_tui.tui.recorded import RecordedSource

    source = RecordedSource()

    def shape(queue_id: str, metric: str) -> list[float]:
        values = [v for _, v in source.history(queue_id, metric)]
        top = max(values) or 1.0
        return [round(v / top, 2) for v in values]

    reports = {metric: shape("q-reports-81d4e0", metric) for metric in ("depth", "processed_per_min", "error_rate")}
    assert len({tuple(v) for v in reports.values()}) == 3, "three charts, three curves"
    depth = [v for _, v in source.history("q-reports-81d4e0", "depth")]
    assert depth[-1] > 10 * depth[0], "the backlog built up over the incident"
    done = [v for _, v in source.history("q-reports-81d4e0", "processed_per_min")]
    assert sum(done[-8:]) / 8 < 0.8 * sum(done[:8]) / 8, "throughput fell when a worker went stale"
    assert shape("q-payments-3f9c2a", "depth") != reports["depth"], "queues differ too"


async def test_a_chart_with_no_history_yet_still_draws_its_axes() -> None:
    app = recorded_console()
    async with app.run_test(size=(120, 36)) as pilot:
        await show_view(pilot, VIEWS["overview"])
        chart = app.screen.query(MetricChart).last()
        chart.show([], 1000.0, "fresh")
        await pilot.pause(0.1)
        shown = "\n".join(_lines(chart))
        assert "now" in shown and "4m" in shown and "0┤" in shown, shown
