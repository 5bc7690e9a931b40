"""Refresh costs what changed and what is shown (rows drawn from their cells, re-ordering in place, hidden screens,
charts), and a failing or slow source neither ends the console nor piles polls up."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from typing import Callable

import pytest

from kubiya_tui import formatting as fmt
from kubiya_tui.metrics.history import History
from kubiya_tui.metrics.snapshot import Snapshot
from kubiya_tui.tui.app import KubiyaConsole
from kubiya_tui.tui.messages import SnapshotReady
from kubiya_tui.tui.recorded import RecordedSource, recorded_snapshot
from kubiya_tui.tui.screens.overview import OverviewScreen
from kubiya_tui.tui.screenshots import recorded_console
from kubiya_tui.tui.widgets.charts import thin
from kubiya_tui.tui.widgets.queue_table import QueueTable
from kubiya_tui.tui.widgets.status import StatusHeader
from tests.benchmarks.bench_console import SyntheticSource, console_app

# The synthetic sources below never come due on their own (an hour): only the test moves the snapshot,
# so a poll landing mid-test on a loaded machine cannot add a snapshot it did not expect.


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


def _count_renders(table: QueueTable) -> list[str]:
    """The ids of the queues whose cells the table renders from now on, in order (one entry per rendering)."""
    rendered: list[str] = []
    cells = table.cells

    def counting(item):  # type: ignore[no-untyped-def]
        rendered.append(item.id)
        return cells(item)

    table.cells = counting  # type: ignore[method-assign]
    return rendered


async def _draw(pilot, table: QueueTable) -> list[str]:  # type: ignore[no-untyped-def]
    """Let the app repaint, and answer every line of the table as the terminal shows it."""
    await pilot.pause()
    return [_line_text(table, y) for y in range(table.size.height)]


async def test_each_line_shows_its_rows_cells_and_an_unchanged_row_is_not_drawn_again() -> None:
    app = recorded_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(QueueTable)
        header = _line_text(table, 0)
        assert "queue" in header and "depth" in header and "err%" in header
        shown = table.shown_items
        for index, queue in enumerate(shown):
            line = _line_text(table, index + 1)
            assert f" {queue.name} " in line and fmt.percent(queue.error_rate) in line
        first, second = shown[0], shown[1]
        rendered = _count_renders(table)
        # A new snapshot of new but equal objects, where only the second queue's depth changed:
        # only the second row is rendered again.
        snapshot = app.snapshot
        queues = tuple(replace(q, depth=(q.depth or 0) + 7) if q.id == second.id else replace(q) for q in snapshot.queues)
        app.snapshot = replace(snapshot, taken_at=snapshot.taken_at + 2, queues=queues)
        lines = await _draw(pilot, table)
        assert rendered == [second.id]
        assert fmt.count((second.depth or 0) + 7) in lines[table.get_row_index(second.id) + 1]
        # The same queue object, but its depth history moved: the sparkline is drawn again.
        before = lines[1]
        table.history = lambda queue_id, metric, last=None: [(float(t), float(t * 50)) for t in range(6)]
        app.snapshot = replace(app.snapshot, taken_at=app.snapshot.taken_at + 2)
        lines = await _draw(pilot, table)
        assert first.id in rendered and lines[1] != before
        assert f" {first.name} " in lines[1]


async def test_reordering_refresh_keeps_rows_and_selection() -> None:
    app = recorded_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(QueueTable)
        table.sort_by("depth")
        await pilot.pause()
        chosen = table.shown_items[-1]
        table.move_cursor(row=table.get_row_index(chosen.id))
        await pilot.pause()
        rendered = _count_renders(table)
        snapshot = app.snapshot
        # The shallowest queue becomes the deepest: the order changes, only its row is rendered again.
        queues = tuple(replace(q, depth=10_000) if q.id == chosen.id else q for q in snapshot.queues)
        app.snapshot = replace(snapshot, taken_at=snapshot.taken_at + 2, queues=queues)
        lines = await _draw(pilot, table)
        assert rendered == [chosen.id], "the other rows are moved, not rendered again"
        assert f" {chosen.name} " in lines[1] and fmt.count(10_000) in lines[1], "deepest first"
        assert table.selected_item is not None and table.selected_item.id == chosen.id, "the cursor follows the queue"
        assert table.cursor_row == 0
        names = [q.name for q in table.shown_items]
        assert all(f" {name} " in lines[i + 1] for i, name in enumerate(names))


async def test_only_rows_on_screen_are_rendered() -> None:
    source = SyntheticSource(300, 30, interval=3600.0)
    app = console_app(source, cursor_blink=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(QueueTable)
        assert table.row_count == 300
        rendered = _count_renders(table)
        app.snapshot = source.next_snapshot()
        lines = await _draw(pilot, table)
        assert 0 < len(set(rendered)) <= table.size.height
        last = table.shown_items[-1]
        assert last.id not in rendered and not any(f" {last.name} " in line for line in lines)


async def test_a_covered_screen_catches_up_when_it_returns() -> None:
    # No poll of its own after the first: the only snapshots are the ones the test hands over.
    source = SyntheticSource(20, 40, interval=3600.0)
    before_polling = source.latest()
    app = console_app(source, cursor_blink=False)
    async with app.run_test(size=(160, 40)) as pilot:
        for _ in range(300):  # the first poll is in (seconds on a loaded machine)
            await pilot.pause(0.05)
            if app.snapshot not in (None, before_polling):
                break
        await pilot.pause()
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        shown = []
        original = overview.show_snapshot
        overview.show_snapshot = lambda s: (shown.append(s), original(s))  # type: ignore[method-assign]
        header = overview.query_one(StatusHeader)
        await pilot.press("w")
        await pilot.pause()
        covered = str(header.render())
        app.snapshot = source.next_snapshot()
        await pilot.pause()
        assert shown == [], "the workers screen covers the overview"
        latency = fmt.latency(app.snapshot.sources["api"].latency_ms)
        assert f"control plane {latency}" not in covered
        assert f"control plane {latency}" in str(app.screen.query_one(StatusHeader).render()), "the workers screen's own header"
        await pilot.press("escape")
        await pilot.pause()
        assert shown == [app.snapshot]
        table = overview.query_one(QueueTable)
        assert table.row_count == 20
        assert f"control plane {latency}" in str(header.render()), "the overview's header caught up"


async def test_a_heartbeat_is_recorded_once_when_it_arrives() -> None:
    source = SyntheticSource(2, 2, interval=3600.0)
    app = console_app(source, cursor_blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        first = app.snapshot
        worker = first.workers[0]
        app.heartbeats.clear()

        async def at(taken_at: float, age: float, read_at: float | None = None) -> None:
            """A snapshot at ``taken_at`` whose worker list was read at ``read_at`` (by default, just then)."""
            workers = tuple(replace(w, heartbeat_age_seconds=age) if w.worker_id == worker.worker_id else w for w in first.workers)
            read_at = taken_at if read_at is None else read_at
            app.post_message(SnapshotReady(replace(first, taken_at=taken_at, workers=workers, workers_read_at=read_at)))
            await pilot.pause()

        await at(1000.0, 4.0)  # a heartbeat at 996
        await at(1002.0, 6.0)  # the same one, seen again
        await at(1004.0, 8.4)  # the same one (ages are rounded)
        await at(1030.0, 3.0)  # a new one at 1027
        assert app.heartbeats.arrivals(worker.worker_id) == [996.0, 1027.0]

        # Snapshots between two readings of the control plane's workers bring no heartbeat: not looked at.
        await at(1032.0, 1.0, read_at=1030.0)
        assert app.heartbeats.arrivals(worker.worker_id) == [996.0, 1027.0]
        await at(1035.0, 1.0)  # the next reading: a heartbeat at 1034
        assert app.heartbeats.arrivals(worker.worker_id) == [996.0, 1027.0, 1034.0]


class FlakySource(RecordedSource):
    """The recorded moment, slowly (each refresh takes a while) and failing until told otherwise."""

    def __init__(self) -> None:
        super().__init__(interval=0.05)
        self.failing = True
        self.polls = self.running = self.most_at_once = 0

    async def refresh(self, *, force: bool = False) -> Snapshot:
        self.polls += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(0.1)  # slower than the interval: polls must still not overlap
            if self.failing:
                raise RuntimeError("backend exploded")
            return recorded_snapshot()
        finally:
            self.running -= 1


async def test_a_failing_slow_source_shows_why_retries_and_never_piles_polls_up() -> None:
    source = FlakySource()
    app = KubiyaConsole(source, remember_theme=False, cursor_blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        banner = app.screen.query_one("#banner")

        async def until(condition: Callable[[], bool], what: str) -> None:
            for _ in range(200):
                if condition():
                    return
                await pilot.pause(0.05)
            raise AssertionError(f"timed out waiting for {what}")

        await until(lambda: banner.display and "refresh failed: backend exploded" in str(banner.render()), "the banner")
        await until(lambda: source.polls >= 4, "retries")
        assert app.is_running and source.most_at_once == 1
        source.failing = False
        await until(lambda: not banner.display, "the banner to go once a refresh succeeds")
        assert source.most_at_once == 1


async def test_a_refresh_repaints_only_the_lines_whose_rows_changed() -> None:
    """Same rows, same order: the table asks the terminal to repaint the changed row's line, not the whole table."""
    app = recorded_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(QueueTable)
        second = table.shown_items[1]
        painted: list[object] = []
        refresh = table.refresh

        def counting(*regions, **kwargs):  # type: ignore[no-untyped-def]
            painted.append(regions or "all")
            return refresh(*regions, **kwargs)

        table.refresh = counting  # type: ignore[method-assign]
        snapshot = app.snapshot
        queues = tuple(replace(q, depth=(q.depth or 0) + 7) if q.id == second.id else replace(q) for q in snapshot.queues)
        app.snapshot = replace(snapshot, taken_at=snapshot.taken_at + 2, queues=queues)
        lines = await _draw(pilot, table)
        line = table.get_row_index(second.id) + 1
        assert painted and "all" not in painted, painted
        assert all(region.y == line and region.height == 1 for regions in painted for region in regions), painted
        assert fmt.count((second.depth or 0) + 7) in lines[line]


async def test_the_worker_tables_one_pass_measure_is_the_widest_cell_of_each_column() -> None:
    from kubiya_tui.tui.widgets.worker_table import WorkerTable, health_text, task_text

    source = SyntheticSource(10, 300, interval=3600.0)
    app = console_app(source, cursor_blink=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        table = app.screen.query_one(WorkerTable)
        workers = list(source.next_snapshot().workers)
        workers[7] = replace(workers[7], replaced_by="w-replacement-0001", registered_not_polling=True,
                             current_task_ids=("t-1", "t-2"), version="0.0.1-other")  # fmt: skip
        workers[9] = replace(workers[9], current_task_ids=(), hostname=None, queue_name="a-much-longer-queue-name")
        measured = table.measure_all(workers)
        for key in WorkerTable.MEASURED:
            assert measured[key] == max(table.measure(w, key) for w in workers), key
        # An ignored drain widens the health cell too ("!drain"), and the widest is what a row draws.
        workers[7] = replace(workers[7], drain_ignored=True)
        workers[11] = replace(workers[11], current_task_ids=tuple(f"task-with-a-long-id-{k}" for k in range(12)))
        measured = table.measure_all(workers)
        for key in WorkerTable.MEASURED:
            assert measured[key] == max(table.measure(w, key) for w in workers), key
        assert measured["health"] == max(len(health_text(app, w).plain) for w in workers)
        assert measured["task"] == max(len(task_text(w)) for w in workers) == len("task-with-a-long-id-0 +11")


@pytest.mark.parametrize("cache_size", [None, 8], ids=["cache", "cache-overflowing"])
async def test_a_changed_worker_row_shows_its_new_values_and_colours_and_its_old_ones_when_they_come_back(cache_size: int | None) -> None:
    """Drawn cells are reused by their text and style: a worker whose numbers, host or health change shows the new
    ones at once (never a stale cell), the same text in a new colour is recoloured, and the old values draw again."""
    from kubiya_tui.metrics.snapshot import WorkerHealth
    from kubiya_tui.tui.widgets.tables import theme_style
    from kubiya_tui.tui.widgets.worker_table import WorkerTable

    source = SyntheticSource(10, 60, interval=3600.0)
    app = console_app(source, cursor_blink=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        table = app.screen.query_one(WorkerTable)
        if cache_size is not None:
            table.CELL_CACHE_SIZE = cache_size  # type: ignore[misc]
        first = app.snapshot
        worker = next(w for w in table.shown_items[2:] if w.health is WorkerHealth.healthy and not w.failed)
        line = table.get_row_index(worker.worker_id) + 1
        old = (await _draw(pilot, table))[line]
        assert f"{worker.processed:,}" in old and worker.hostname in old

        def beat_style(y: int) -> object:
            beat = fmt.age(worker.heartbeat_age_seconds)
            segment = next(s for s in table.render_line(y) if beat in s.text and s.style is not None)
            return segment.style.color  # type: ignore[union-attr]

        assert beat_style(line) != theme_style(app, "status-stale").color

        async def show(changed: object) -> str:
            workers = tuple(changed if w.worker_id == worker.worker_id else w for w in first.workers)
            app.snapshot = replace(first, taken_at=app.snapshot.taken_at + 2, workers=workers)  # type: ignore[union-attr]
            return (await _draw(pilot, table))[line]

        new = await show(replace(worker, processed=123_456, failed=3, hostname="host-moved"))
        assert "123,456" in new and "host-moved" in new and f" {worker.processed:,} " not in new and worker.hostname not in new
        # Same heartbeat age, now stale: the same text in the stale colour.
        stale = await show(replace(worker, health=WorkerHealth.stale))
        assert "stale" in stale and beat_style(line) == theme_style(app, "status-stale").color
        assert await show(worker) == old, "back to the values first drawn"
        assert beat_style(line) != theme_style(app, "status-stale").color


async def test_the_header_under_a_dialog_keeps_refreshing() -> None:
    """A dialog leaves the screen under it in sight: its header keeps showing each snapshot's numbers."""
    from textual.screen import ModalScreen
    from textual.widgets import Static

    class Dialog(ModalScreen[None]):
        def compose(self):  # type: ignore[no-untyped-def]
            yield Static("a dialog")

    source = SyntheticSource(20, 40, interval=3600.0)
    app = console_app(source, cursor_blink=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        header = app.screen.query_one(StatusHeader)
        await app.push_screen(Dialog())
        await pilot.pause()
        for _ in range(2):
            app.snapshot = source.next_snapshot()
            await pilot.pause()
            latency = fmt.latency(app.snapshot.sources["api"].latency_ms)
            assert f"control plane {latency}" in str(header.render())
