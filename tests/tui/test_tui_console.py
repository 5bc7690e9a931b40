"""Console behaviour over recorded data: themes, palette, sorting, filtering, in-place refresh."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from kubiya_tui import formatting as fmt
from kubiya_tui.tui.screens.overview import OverviewScreen
from kubiya_tui.tui.screenshots import recorded_console
from kubiya_tui.tui.themes import ThemeFileError, load_theme, load_themes, themes_dir
from kubiya_tui.tui.widgets.queue_table import QueueTable
from tests.helpers import toasts


def row_lines(table: QueueTable) -> list[str]:
    """The table's rows as drawn on screen, top to bottom (the header left out)."""
    return [table.render_line(y).text for y in range(1, min(table.row_count, table.size.height - 1) + 1)]


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


async def test_a_theme_without_the_console_colours_uses_the_default_themes() -> None:
    """Textual's own themes know nothing of worker health: the console's colours come from kubiya-dark.toml."""
    dark = load_theme(themes_dir() / "kubiya-dark.toml")
    app = recorded_console("textual-light")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "textual-light"
        for variable in ("status-healthy", "status-stale", "status-failed", "depth-high", "chart-depth"):
            assert app.theme_variables[variable] == dark.variables[variable], variable


async def test_unknown_theme_falls_back_with_a_notification() -> None:
    app = recorded_console("no-such-theme")
    async with app.run_test(notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "kubiya-dark"
        assert any("unknown theme 'no-such-theme'" in shown for shown in toasts(app))


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


async def palette_offers(pilot: Pilot, query: str, until: Callable[[list[str]], bool]) -> list[str]:
    """What the command palette (Ctrl+P) lists once ``query`` is typed in and ``until`` holds, as the operator reads it."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await pilot.pause()
    palette = app.screen
    assert isinstance(palette, CommandPalette)
    palette.query_one(Input).insert_text_at_cursor(query)
    found = palette.query_one(CommandList)
    offered: list[str] = []
    settled = 0
    for _ in range(200):
        await pilot.pause(0.05)
        now = [str(found.get_option_at_index(i).prompt).splitlines()[0] for i in range(found.option_count)]
        # Hits come in as each provider answers: wait until the list holds what is awaited and stops changing.
        settled = settled + 1 if now == offered and until(now) else 0
        offered = now
        if settled >= 3:
            break
    await pilot.press("escape")
    await pilot.pause()
    return offered


async def test_palette_offers_queues_workers_and_themes() -> None:
    app = recorded_console()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()

        def has(name: str) -> Callable[[list[str]], bool]:
            return lambda offered: name in offered

        assert "Go to queue prod/payments" in await palette_offers(pilot, "queue prod/payments", has("Go to queue prod/payments"))
        assert "Drain worker wkr-pay-01a4…" in await palette_offers(pilot, "drain wkr-pay-01a4", has("Drain worker wkr-pay-01a4…"))
        assert "Switch theme: kubiya-light" in await palette_offers(pilot, "theme kubiya-light", has("Switch theme: kubiya-light"))
        drains = await palette_offers(pilot, "drain worker wkr-", lambda offered: any(n.startswith("Drain worker wkr-etl") for n in offered))
        assert "Drain worker wkr-pay-01a4…" in drains and "Drain worker wkr-rep-02d8…" in drains
        assert not any("wkr-web-01cc" in name for name in drains), "a gone worker cannot be drained"


async def test_sort_filter_and_in_place_refresh() -> None:
    app = recorded_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        table = screen.table
        table.sort_by("depth")
        await pilot.pause()
        lines = row_lines(table)
        assert "reports" in lines[0] and "318" in lines[0], "deepest first"
        await pilot.press("slash", *"stag")
        await pilot.pause()
        assert [line.split()[0] for line in row_lines(table)] == ["staging", "staging"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(row_lines(table)) == 5
        # Same rows, new numbers: each row shows its queue's new number, in the same order.
        snapshot = app.snapshot
        queues = tuple(replace(q, processed_per_min=1000 + i) for i, q in enumerate(snapshot.queues))
        app.snapshot = replace(snapshot, taken_at=snapshot.taken_at + 2, queues=queues)
        await pilot.pause()
        after = row_lines(table)
        assert [line.split()[1] for line in after] == [line.split()[1] for line in lines]
        for q in queues:
            line = next(line for line in after if f" {q.name} " in line)
            assert fmt.rate(q.processed_per_min) in line, line


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
        chosen = table.shown_items[index]
        await pilot.click(table, offset=(3, index + 1))
        await pilot.pause()
        assert table.selected_item is chosen and not isinstance(app.screen, QueueDetailScreen)
        await pilot.click(table, offset=(3, index + 1))
        await pilot.pause()
        assert isinstance(app.screen, QueueDetailScreen)
        title = str(app.screen.query_one("#detail-title").render())
        assert f"{chosen.environment} / {chosen.name}" in title


async def test_columns_drop_by_whole_priority_levels_at_every_width() -> None:
    """Each priority level shows from the width where all of its columns fit, never a part of one."""
    columns = QueueTable.COLUMNS
    levels = sorted({c.priority for c in columns})
    # The terminal width from which each level fits: its columns and those of the levels before (with padding and the border).
    fits_from, needed = {}, 2
    for level in levels:
        needed += sum(c.width + 2 for c in columns if c.priority == level)
        fits_from[level] = needed
    widths = sorted({60, 259} | {w for level in levels[1:] for w in (fits_from[level] - 1, fits_from[level])})
    app = recorded_console()
    async with app.run_test(size=(widths[0], 36)) as pilot:
        for width in widths:
            await pilot.resize_terminal(width, 36)
            await pilot.pause()
            table = app.screen.table
            header = table.render_line(0).text
            shown = table.shown_columns
            expected = [c.key for c in columns if fits_from[c.priority] <= width or c.priority == 1]
            assert list(shown) == expected, (width, shown)
            for column in columns:
                if column.key in shown:
                    assert column.label in header, f"{column.label!r} cut at width {width}: {header!r}"
