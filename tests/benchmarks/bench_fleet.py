"""The fleet overview: 3 profiles x 300 queues against one profile of 900 queues, in one run.

Run from the repository root:

    python -m tests.benchmarks.bench_fleet          # --quick for a smoke run

What it does (no network: every number comes from bench_console's SyntheticSource, five
workers per queue, and each profile has an alert rule, so checking alerts is in the figures):

* **refresh**: inside ``app.run_test(size=(200, 60))``, with history rings filled with an hour
  of samples. *Fleet*: the console over three profiles of 300 queues / 1,500 workers; one
  refresh is one profile's new snapshot arriving as its poll loop posts it (``FleetPolled``),
  measured from posting until the app is idle with the screen re-composited: wall time
  (less the 0.25 s the fleet screen waits so that answers arriving together are drawn
  once) and this process's CPU time; a *round* is all three arriving at once. *One profile*: the
  console over 900 queues / 4,500 workers, a ``SnapshotReady`` of the same kind. Median and
  p95 of N refreshes; the goal is bench_console's 50 ms;
* **console CPU at a 2 s refresh**: each console in a pseudo-terminal process (200x60), every
  profile refreshing every 2 s, for S seconds after it settled; the process's CPU time
  (psutil) as a % of one core. The synthetic sources' own cost per refresh (building
  snapshots, recording history: the collectors' work) is measured apart and printed;
* prints a table with the machine's core count and load, and stops every process it
  started, by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from kubiya_tui.metrics.history import History
from tests.benchmarks.bench_console import ROOT, SIZE, SyntheticSource, TerminalProcess, p95

PROFILES = 3
PER_PROFILE = 300
WORKERS_PER_QUEUE = 5
REFRESH_GOAL_MS = 50.0


def _rules() -> list[Any]:
    from kubiya_tui.config import AlertRule

    # Fires on some rows of every refresh (the synthetic depths go up to 399), as a busy fleet would.
    return [AlertRule(max_depth=380, max_error_rate=0.5, stuck_after=False)]


def fleet_members(interval: float, history_samples: int) -> list[Any]:
    from kubiya_tui.fleet import FleetMember

    members = []
    for k in range(PROFILES):
        source = SyntheticSource(PER_PROFILE, PER_PROFILE * WORKERS_PER_QUEUE, interval=interval, history_samples=history_samples)
        members.append(FleetMember(name=f"profile-{k + 1}", source=source, rules=_rules(), snapshot=source.latest()))
    return members


def fleet_app(interval: float, history_samples: int = 0) -> Any:
    from kubiya_tui.tui.app import KubiyaConsole

    members = fleet_members(interval, history_samples)
    return KubiyaConsole(members[0].source, fleet=members, remember_theme=False, cursor_blink=False)


def single_app(interval: float, history_samples: int = 0) -> Any:
    from kubiya_tui.tui.app import KubiyaConsole

    total = PROFILES * PER_PROFILE
    source = SyntheticSource(total, total * WORKERS_PER_QUEUE, interval=interval, history_samples=history_samples)
    return KubiyaConsole(source, profile="bench", remember_theme=False, cursor_blink=False, alert_rules=_rules())


def run_in_terminal(kind: str, interval: float) -> None:
    """The child process: one of the two consoles on whatever terminal it was given."""
    (fleet_app if kind == "fleet" else single_app)(interval).run()


class Terminal(TerminalProcess):
    """bench_console's pseudo-terminal process, running one of this benchmark's consoles."""

    def __init__(self, kind: str, interval: float, home: str) -> None:
        code = f"from tests.benchmarks.bench_fleet import run_in_terminal; run_in_terminal({kind!r}, {interval})"
        super().__init__(0, 0, interval, home, code=code)


def console_cpu(kind: str, seconds: float, home: str) -> float:
    """% of one core used by the console process over ``seconds`` of 2 s refreshes (after it settled)."""
    from tests.benchmarks.bench_console import process_cpu_percent

    return process_cpu_percent(Terminal(kind, 2.0, home), 4.0, seconds)


def source_cost_ms(queues: int, runs: int = 10) -> float:
    source = SyntheticSource(queues, queues * WORKERS_PER_QUEUE)
    t0 = time.process_time()
    for _ in range(runs):
        source.next_snapshot()
    return (time.process_time() - t0) / runs * 1000


async def _to_idle(pilot: Any, post: Any, coalesce: float = 0.0) -> tuple[float, float]:
    """Wall and CPU ms from posting until idle; the fleet screen draws ``coalesce`` s after the first answer, a wait left out of the wall time."""
    t0, c0 = time.perf_counter(), time.process_time()
    post()
    if coalesce:
        await pilot.pause(coalesce + 0.02)
    await pilot.pause()
    return (time.perf_counter() - t0 - (coalesce + 0.02 if coalesce else 0.0)) * 1000, (time.process_time() - c0) * 1000


async def bench_refresh(refreshes: int, warmup: int = 2) -> dict[str, dict[str, list[float]]]:
    from kubiya_tui.tui.messages import FleetPolled, SnapshotReady
    from kubiya_tui.tui.screens.fleet import FleetScreen

    samples = History(2.0).span_samples
    results: dict[str, dict[str, list[float]]] = {}

    app = fleet_app(3600.0, samples)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.table
        for _ in range(100):
            if table.row_count == PROFILES * PER_PROFILE:
                break
            await pilot.pause(0.05)
        assert table.row_count == PROFILES * PER_PROFILE, table.row_count
        members = app.fleet
        draws = [0]
        screen = app.screen
        render = screen._render_fleet

        def counted() -> None:
            draws[0] += 1
            render()

        screen._render_fleet = counted
        one: list[tuple[float, float]] = []
        rounds: list[tuple[float, float]] = []
        for k in range(warmup + refreshes):
            member = members[k % PROFILES]

            def post_one(member: Any = member) -> None:
                member.snapshot = member.source.next_snapshot()
                app.post_message(FleetPolled(member.name))

            drawn = draws[0]
            one.append(await _to_idle(pilot, post_one, FleetScreen.COALESCE_SECONDS))
            assert draws[0] == drawn + 1, "the fleet was drawn once for the refresh"

            def post_all() -> None:
                for m in members:
                    m.snapshot = m.source.next_snapshot()
                    app.post_message(FleetPolled(m.name))

            drawn = draws[0]
            rounds.append(await _to_idle(pilot, post_all, FleetScreen.COALESCE_SECONDS))
            assert draws[0] == drawn + 1, "three answers together are drawn once"
        results["fleet 3x300: one profile's refresh"] = {"wall": [w for w, _ in one[warmup:]], "cpu": [c for _, c in one[warmup:]]}
        results["fleet 3x300: all three at once"] = {"wall": [w for w, _ in rounds[warmup:]], "cpu": [c for _, c in rounds[warmup:]]}
        await pilot.press("q")

    app = single_app(3600.0, samples)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        source = app.source
        single: list[tuple[float, float]] = []
        for _ in range(warmup + refreshes):
            single.append(await _to_idle(pilot, lambda: app.post_message(SnapshotReady(source.next_snapshot()))))
        results["one profile x900: a refresh"] = {"wall": [w for w, _ in single[warmup:]], "cpu": [c for _, c in single[warmup:]]}
        await pilot.press("q")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 refreshes, 15 s of CPU each")
    parser.add_argument("--skip", action="append", default=[], choices=["refresh", "cpu"])
    args = parser.parse_args()
    refreshes, cpu_seconds = (5, 15.0) if args.quick else (20, 60.0)
    rows: list[tuple[str, str, str, str]] = []

    def row(what: str, figure: str, goal: str = "", verdict: str = "") -> None:
        rows.append((what, figure, goal, verdict))
        print(f"  {what}: {figure} {goal} {verdict}".rstrip(), flush=True)

    load_before = os.getloadavg()
    if "refresh" not in args.skip:
        print(f"refresh, {refreshes} each (to idle, in run_test {SIZE[0]}x{SIZE[1]})...", flush=True)
        for label, series in asyncio.run(bench_refresh(refreshes)).items():
            wall, cpu = series["wall"], series["cpu"]
            goal = f"<= {REFRESH_GOAL_MS:.0f} ms"
            row(f"{label}: wall", f"median {statistics.median(wall):.1f} ms, p95 {p95(wall):.1f} ms", goal,
                "ok" if p95(wall) <= REFRESH_GOAL_MS else "MISSED")  # fmt: skip
            row(f"{label}: cpu", f"median {statistics.median(cpu):.1f} ms, p95 {p95(cpu):.1f} ms", goal,
                "ok" if p95(cpu) <= REFRESH_GOAL_MS else "MISSED")  # fmt: skip
    if "cpu" not in args.skip:
        print(f"console CPU, every profile refreshing every 2 s, {cpu_seconds:.0f} s each...", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-fleet-") as home:
            fleet = console_cpu("fleet", cpu_seconds, home)
            single = console_cpu("single", cpu_seconds, home)
        per_profile = source_cost_ms(PER_PROFILE)
        whole = source_cost_ms(PROFILES * PER_PROFILE)
        row("console CPU, fleet 3x300 (3 refreshes / 2 s)", f"{fleet:.1f} % of one core "
            f"(sources themselves: 3 x {per_profile:.1f} ms / 2 s = {3 * per_profile / 20:.1f} %)")  # fmt: skip
        row("console CPU, one profile x900 (1 refresh / 2 s)", f"{single:.1f} % of one core "
            f"(source itself: {whole:.1f} ms / 2 s = {whole / 20:.1f} %)")  # fmt: skip
    load_after = os.getloadavg()
    print()
    print(f"kubiya-tui fleet benchmark — {os.cpu_count()} cores, load {load_before[0]:.2f} before / {load_after[0]:.2f} after, "
          f"Python {sys.version.split()[0]}, terminal {SIZE[0]}x{SIZE[1]}, {WORKERS_PER_QUEUE} workers per queue")  # fmt: skip
    widths = [max(len(r[i]) for r in rows + [("what", "figure", "goal", "")]) for i in range(4)]
    for r in [("what", "figure", "goal", "")] + rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
