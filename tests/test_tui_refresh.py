"""Refresh costs what changed and what is shown: rows drawn from their cells, re-ordering in place, hidden screens, charts."""

from __future__ import annotations

import random
from dataclasses import replace

from kubiya_tui.metrics.history import History
from kubiya_tui.tui.messages import SnapshotReady
from kubiya_tui.tui.screens.overview import OverviewScreen
from kubiya_tui.tui.widgets.charts import thin
from kubiya_tui.tui.widgets.queue_table import QueueTable
from tests.benchmarks.bench_console import SyntheticSource, console_app
from tests.tui_data import recorded_console


def test_history_last_is_the_tail_of_points() -> None:
    history = History(2.0)
    rng = random.Random(7)
    for k in range(2500):  # more than the ring holds: it wraps
        row = tuple(None if rng.random() < 0.2 else rng.random() * 1000 for _ in history.metrics)
        history.record(1000.0 + 2 * k, {"q": row}, persist=False)
    for metric in history.metrics:
        full = history.points("q", metric)
        for last in (1, 6, 50, 10_000):
            assert history.points("q", metric, last=last) == full[-last:]
        assert history.points("q", metric, last=0) == []
    assert history.points("missing", "depth", last=6) == []


def test_thin_keeps_the_envelope_and_the_newest_point() -> None:
    points = [(float(t), float((t * 37) % 101)) for t in range(1800)]
    out = thin(points, 60)
    assert len(out) <= 2 * 60 + 1
    assert out[-1] == points[-1]
    assert max(v for _, v in out) == max(v for _, v in points)
    assert min(v for _, v in out) == min(v for _, v in points)
    assert [t for t, _ in out] == sorted(t for t, _ in out)
    assert thin(points[:50], 60) == points[:50]


def _line_text(table: QueueTable, y: int) -> str:
    return table.render_line(y).text


async def test_each_line_shows_its_rows_cells_and_an_unchanged_row_is_not_drawn_again() -> None:
    app = recorded_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(QueueTable)
        header = _line_text(table, 0)
        assert "queue" in header and "depth" in header and "err%" in header
        for index, key in enumerate(table._order):
            cells = table.rendered(key)
            line = _line_text(table, index + 1)
            assert cells["queue"].plain.strip() in line and cells["errors"].plain.strip() in line
        first, second = table._order[0], table._order[1]
        strip = table._rows[first].strip
        assert strip is not None
        # A new snapshot of new but equal objects, where only the second queue's depth changed:
        # the first row keeps its strip.
        snapshot = app.snapshot
        queues = tuple(replace(q, depth=(q.depth or 0) + 7) if q.id == second else replace(q) for q in snapshot.queues)
        app.snapshot = replace(snapshot, taken_at=snapshot.taken_at + 2, queues=queues)
        await pilot.pause()
        assert table._rows[first].strip is strip
        assert str((snapshot.queue(second).depth or 0) + 7) in _line_text(table, table.get_row_index(second) + 1)
        # The same queue object, but its depth history moved: the sparkline is drawn again.
        before = table.rendered(first)["depth"].plain
        table.history = lambda queue_id, metric, last=None: [(float(t), float(t * 50)) for t in range(6)]
        app.snapshot = replace(app.snapshot, taken_at=app.snapshot.taken_at + 2)
        await pilot.pause()
        assert table.rendered(first)["depth"].plain != before


async def test_reordering_refresh_keeps_rows_and_selection() -> None:
    app = recorded_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(QueueTable)
        table.sort_by("depth")
        await pilot.pause()
        chosen = table._order[-1]
        table.move_cursor(row=table.get_row_index(chosen))
        await pilot.pause()
        row = table._rows[chosen]
        snapshot = app.snapshot
        # The shallowest queue becomes the deepest: the order changes, the rows stay.
        queues = tuple(replace(q, depth=10_000) if q.id == chosen else q for q in snapshot.queues)
        app.snapshot = replace(snapshot, taken_at=snapshot.taken_at + 2, queues=queues)
        await pilot.pause()
        assert table._rows[chosen] is row, "rows are kept, not rebuilt"
        assert table._order[0] == chosen
        assert table.get_row_index(chosen) == 0
        assert table.selected_key == chosen, "the cursor follows the queue"
        assert "10,000" in table.rendered(chosen)["depth"].plain or "10.0k" in table.rendered(chosen)["depth"].plain
        names = {q.id: q.name for q in app.snapshot.queues}
        assert all(names[key] in _line_text(table, i + 1) for i, key in enumerate(table._order))


async def test_only_rows_on_screen_are_rendered() -> None:
    source = SyntheticSource(300, 30)
    app = console_app(source, cursor_blink=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(QueueTable)
        assert table.row_count == 300
        app.snapshot = source.next_snapshot()
        await pilot.pause()
        rendered = [key for key in table._order if table._rows[key].cells is not None]
        assert 0 < len(rendered) <= table.size.height
        assert table._rows[table._order[-1]].cells is None


async def test_a_covered_screen_catches_up_when_it_returns() -> None:
    source = SyntheticSource(20, 40)
    app = console_app(source, cursor_blink=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        shown = []
        original = overview.show_snapshot
        overview.show_snapshot = lambda s: (shown.append(s), original(s))  # type: ignore[method-assign]
        await pilot.press("w")
        await pilot.pause()
        app.snapshot = source.next_snapshot()
        await pilot.pause()
        assert shown == [], "the workers screen covers the overview"
        await pilot.press("escape")
        await pilot.pause()
        assert shown == [app.snapshot]
        table = overview.query_one(QueueTable)
        assert table.row_count == 20


async def test_a_heartbeat_is_recorded_once_when_it_arrives() -> None:
    source = SyntheticSource(2, 2)
    app = console_app(source, cursor_blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        first = app.snapshot
        worker = first.workers[0]
        app.heartbeats.clear()

        async def at(taken_at: float, age: float) -> None:
            workers = tuple(replace(w, heartbeat_age_seconds=age) if w.worker_id == worker.worker_id else w for w in first.workers)
            app.post_message(SnapshotReady(replace(first, taken_at=taken_at, workers=workers)))
            await pilot.pause()

        await at(1000.0, 4.0)  # a heartbeat at 996
        await at(1002.0, 6.0)  # the same one, seen again
        await at(1004.0, 8.4)  # the same one (ages are rounded)
        await at(1030.0, 3.0)  # a new one at 1027
        assert list(app.heartbeats[worker.worker_id]) == [996.0, 1027.0]
