"""Console behaviour over recorded data: themes, palette, sorting, filtering, in-place refresh."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kubiya_tui.tui.commands import ConsoleCommands
from kubiya_tui.tui.demo_data import recorded_snapshot
from kubiya_tui.tui.screens.overview import OverviewScreen
from kubiya_tui.tui.themes import ThemeFileError, load_theme, load_themes, themes_dir
from tests.tui_data import recorded_console


def test_project_themes_load_and_define_status_colours() -> None:
    themes = {t.name: t for t in load_themes()}
    assert {"kubiya-dark", "kubiya-light", "kubiya-ansi"} <= set(themes)
    assert themes["kubiya-ansi"].ansi and not themes["kubiya-light"].dark
    for theme in themes.values():
        assert {"status-healthy", "status-stale", "status-failed", "depth-warn"} <= set(theme.variables)
    assert themes_dir().name == "themes"


def test_a_bad_colour_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken"\n[colors]\nprimary = "#12345"\n[variables]\nstatus-healthy = "nope"\n')
    with pytest.raises(ThemeFileError, match=r"broken.toml: colors.primary"):
        load_theme(path)


async def test_unknown_theme_falls_back_with_a_notification() -> None:
    app = recorded_console("no-such-theme")
    async with app.run_test(notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "kubiya-dark"
        assert any("unknown theme" in n.message for n in app._notifications)


async def test_switching_theme_is_remembered_in_config() -> None:
    from kubiya_tui import locations
    from kubiya_tui.config import load_config

    config_file = locations.config_file()
    config_file.parent.mkdir(parents=True)
    config_file.write_text('# mine\ntheme = "kubiya-dark"  # for now\n')
    app = recorded_console()
    app.remember_theme = True
    async with app.run_test() as pilot:
        await pilot.pause()
        app.switch_theme("kubiya-light")
        await pilot.pause()
    assert load_config().theme == "kubiya-light"
    assert config_file.read_text() == '# mine\ntheme = "kubiya-light"  # for now\n', "the user's comments are kept"


async def test_palette_offers_queues_workers_and_themes() -> None:
    app = recorded_console()
    async with app.run_test() as pilot:
        await pilot.pause()
        names = [name for name, _cb, _help in ConsoleCommands(app.screen)._commands()]
    assert "Go to queue prod/payments" in names
    assert "Drain worker wkr-pay-01a4…" in names
    assert "Switch theme: kubiya-light" in names
    assert not any("wkr-web-01cc" in n for n in names), "a gone worker cannot be drained"


async def test_sort_filter_and_in_place_refresh() -> None:
    app = recorded_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        table = screen.table
        table.sort_by("depth")
        assert table._order[0] == "q-reports-81d4e0", "deepest first"
        await pilot.press("slash", *"stag")
        assert table.row_count == 2
        await pilot.press("escape")
        assert table.row_count == 5
        # Same rows, new numbers: cells change in place, the rows are not rebuilt.
        calls = []
        table.clear = lambda *a, **k: calls.append(a)  # type: ignore[method-assign]
        snapshot = app.snapshot
        queues = tuple(replace(q, processed_per_min=(q.processed_per_min or 0) + 1) for q in snapshot.queues)
        app.snapshot = replace(snapshot, taken_at=snapshot.taken_at + 2, queues=queues)
        await pilot.pause()
        assert calls == []


async def test_columns_drop_by_priority_at_80_columns() -> None:
    app = recorded_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.table
        shown = table.shown_columns
        assert {"queue", "depth", "backlog_age", "processed", "errors", "workers"} <= set(shown)
        assert "in" not in shown
        header = table.render_line(0).text.rstrip()
        assert len(header) <= table.size.width and header.split()[-1] == "slots"
        # Sorting puts an arrow in the header without pushing a column out.
        table.sort_by("processed")
        await pilot.pause()
        assert table.shown_columns == shown and "▼" in table.render_line(0).text


async def test_degraded_source_shows_the_banner() -> None:
    app = recorded_console(degraded=True)
    async with app.run_test() as pilot:
        await pilot.pause()
        banner = app.screen.query_one("#banner")
        assert banner.display and "Temporal is down" in str(banner.render())


def test_recorded_snapshot_is_deterministic() -> None:
    assert recorded_snapshot() == recorded_snapshot()


async def test_the_filter_narrows_the_rows_and_the_totals() -> None:
    app = recorded_console()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"pay")
        await pilot.pause()
        table = app.screen.table
        assert [q.name for q in table.shown_items] == ["payments"]
        payments = table.shown_items[0]
        totals = str(app.screen.query_one("#totals").render())
        assert "1 of 5 queues" in totals
        assert f"healthy {payments.workers.healthy}/{payments.workers.total}" in totals
        assert f"depth {payments.depth}" in totals


async def test_the_mouse_sorts_highlights_and_opens() -> None:
    from kubiya_tui.tui.screens.queue_detail import QueueDetailScreen

    app = recorded_console()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        table = app.screen.table
        header = table.render_line(0).text
        # A click on the "err%" header sorts by error rate, highest first.
        await pilot.click(table, offset=(header.index("err%") + 1, 0))
        await pilot.pause()
        assert table.sort_key == "errors" and table.sort_reverse
        rates = [q.error_rate for q in table.shown_items if q.error_rate is not None]
        assert rates == sorted(rates, reverse=True)
        # A click on a row other than the highlighted one highlights it; a second click opens it.
        index = 3 if table.cursor_row != 3 else 1
        chosen = table._order[index]
        await pilot.click(table, offset=(3, index + 1))
        await pilot.pause()
        assert table.selected_key == chosen and not isinstance(app.screen, QueueDetailScreen)
        await pilot.click(table, offset=(3, index + 1))
        await pilot.pause()
        assert isinstance(app.screen, QueueDetailScreen) and app.screen.queue_id == chosen


async def test_columns_drop_by_whole_priority_levels_at_every_width() -> None:
    app = recorded_console()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        table = app.screen.table
        priority = {c.key: c.priority for c in table.COLUMNS}
        for width in range(60, 260):
            shown, widths = table._fit(width)
            hidden = [priority[c.key] for c in table.COLUMNS if c.key not in shown]
            assert not hidden or max(priority[k] for k in shown) < min(hidden), (width, shown)
            assert sum(w + 2 for w in widths.values()) <= max(width - 2, sum(c.width + 2 for c in table.COLUMNS if c.priority == 1))
