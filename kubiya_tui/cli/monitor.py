"""Headless monitoring: `kubiya-tui top` (snapshots) and `kubiya-tui check` (monitoring-plugin exit codes).

Both read through the metrics collector of the command's connection (kubiya_tui.connection),
exactly what the console shows: the control plane and Temporal, the control plane alone, or
Temporal alone (a profile's ``task_queues``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, List, Optional

import typer

from kubiya_tui import formatting as fmt
from kubiya_tui.cli.app import app
from kubiya_tui.cli.common import OUTPUT, OutputFormat, warn
from kubiya_tui.config import Settings, resolve_settings
from kubiya_tui.errors import UserError

TEMPORAL_ADDRESS = typer.Option(
    None, "--temporal-address", help="Temporal frontend HOST:PORT (overrides TEMPORAL_ADDRESS and the profile)."
)
NAMESPACE = typer.Option(None, "--namespace", help="Temporal namespace (overrides TEMPORAL_NAMESPACE and the profile).")
QUEUES = typer.Option(
    [], "--queue", "-q", help="Only this queue: id (or 8+ first characters), name, ENV/NAME or task queue. Repeatable."
)
ENVS = typer.Option([], "--env", help="Only queues of this environment (name or id). Repeatable.")


def _settings(ctx: typer.Context, temporal_address: str | None, namespace: str | None) -> Settings:
    obj = ctx.find_root().obj or {}
    return warn(
        resolve_settings(
            obj.get("profile"),
            obj.get("api_url"),
            obj.get("api_key"),
            temporal_address=temporal_address,
            temporal_namespace=namespace,
        )
    )


def _finish_temporal() -> None:
    """Let the native Temporal client go while the interpreter is whole (docs/temporal-notes.md)."""
    import gc

    gc.collect()


# ---------------------------------------------------------------------------- top


def _fmt(value: float | None) -> str | None:
    """A rate, short: 0, 0.4, 12.5, 402."""
    if value is None:
        return None
    if value == 0:
        return "0"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def _queue_rows(snapshot: Any) -> list[tuple]:
    rows = []
    for q in snapshot.queues:
        name = f"{q.environment}/{q.name}" if q.environment else q.name
        if q.legacy:
            name += " (legacy)"
        if q.stale:
            name += "*"
        w = q.workers
        workers = f"{w.healthy}/{w.stale}/{w.draining}"
        flags = []
        if w.not_polling:
            flags.append(f"{w.not_polling} not polling")
        if w.unregistered:
            flags.append(f"{w.unregistered} unregistered")
        if flags:
            workers += " (" + ", ".join(flags) + ")"
        capacity = f"{q.capacity_used}/{q.capacity_total}" if q.capacity_total else None
        drain = "growing" if q.growing else fmt.age(q.time_to_drain_seconds)
        rows.append(
            (
                name,
                q.depth,
                fmt.age(q.backlog_age_seconds) if q.depth else ("0s" if q.depth == 0 else None),
                _fmt(q.add_rate_per_min),
                _fmt(q.dispatch_rate_per_min),
                _fmt(q.processed_per_min),
                fmt.duration(q.duration_p95_seconds),
                None if q.error_rate is None else f"{q.error_rate * 100:.1f}%",
                workers,
                capacity,
                drain,
            )
        )
    return rows


def _sources_line(snapshot: Any) -> str:
    parts = []
    for state in snapshot.sources.values():
        if state.status.value == "off":
            parts.append(f"{state.name}: off")
            continue
        text = f"{state.name}: {state.status.value}"
        if state.latency_ms is not None:
            text += f" {state.latency_ms:.0f}ms"
        if state.status.value != "ok" and state.data_age_seconds is not None:
            text += f", data {state.data_age_seconds:.0f}s old"
        if state.last_error and state.status.value != "ok":
            error = state.last_error if len(state.last_error) <= 120 else state.last_error[:117] + "..."
            text += f" ({error})"
        parts.append(text)
    return " | ".join(parts)


COLUMNS = ("QUEUE", "DEPTH", "AGE", "IN/m", "OUT/m", "DONE/m", "P95", "ERR", "WORKERS", "SLOTS", "DRAIN")
"""WORKERS is healthy/stale/draining; SLOTS used/total; DRAIN the time to empty the backlog."""


def _render_table(snapshot: Any):  # type: ignore[no-untyped-def]
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    when = time.strftime("%H:%M:%S", time.localtime(snapshot.taken_at))
    header = Text(
        f"{when}  {len(snapshot.queues)} queues, {len(snapshot.workers)} workers  [{snapshot.mode}]"
        "  WORKERS: healthy/stale/draining"
    )
    grid = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 1), collapse_padding=True
    )
    for column in COLUMNS:
        if column == "QUEUE":
            grid.add_column(column, overflow="fold", ratio=1)
        else:
            grid.add_column(column, justify="left" if column in ("WORKERS", "DRAIN") else "right", no_wrap=True)
    for row in _queue_rows(snapshot):
        grid.add_row(*("-" if v is None or v == "" else str(v) for v in row))
    footer = [Text(_sources_line(snapshot))]
    if any(q.stale for q in snapshot.queues):
        footer.append(Text("* a source of this row is down: its numbers are old or missing"))
    return Group(header, grid, *footer)


def _print(renderable: Any) -> None:
    """A table on stdout: as wide as the terminal, or unfolded lines when piped (scripts read whole lines)."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else 240
    out = Console(markup=False, highlight=False, emoji=False, soft_wrap=False, width=width)
    with out.capture() as captured:
        out.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


@app.command("top")
def top(
    ctx: typer.Context,
    output: OutputFormat = OUTPUT,
    watch: bool = typer.Option(False, "--watch", "-w", help="Keep printing, one snapshot per refresh, until Ctrl+C."),
    count: Optional[int] = typer.Option(None, "--count", "-n", min=1, help="Stop after this many snapshots (implies --watch)."),
    interval: Optional[float] = typer.Option(
        None, "--interval", min=0.2, max=3600, help="Seconds between refreshes (default: the profile's, 2)."
    ),
    queue: List[str] = QUEUES,
    env: List[str] = ENVS,
    workers: bool = typer.Option(True, "--workers/--no-workers", help="Include every worker in JSON output."),
    temporal_address: Optional[str] = TEMPORAL_ADDRESS,
    namespace: Optional[str] = NAMESPACE,
) -> None:
    """Live queue metrics: depth, backlog age, rates, latency, errors, workers, per queue.

    With -o json, one snapshot as a JSON document; with --watch, one JSON line per refresh (the console's Snapshot: queues, workers, sources).

    The table marks with * the rows whose numbers are from an earlier poll because a source is down.
    """
    from kubiya_tui.connection import connect
    from kubiya_tui.metrics.collector import CollectorOptions

    found = _settings(ctx, temporal_address, namespace)
    options = CollectorOptions(interval=interval, environments=tuple(env) or None, queues=tuple(queue) or None)
    connection = connect(found, options, history="off")
    collector = connection.source
    keep_going = watch or count is not None

    def show(snapshot: Any, first: bool) -> None:
        if output == OutputFormat.json:
            data = snapshot.to_json()
            if not workers:
                data.pop("workers", None)
            if keep_going:
                sys.stdout.write(json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str) + "\n")
            else:
                sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        else:
            if not first:
                sys.stdout.write("\n")
            _print(_render_table(snapshot))
        sys.stdout.flush()

    async def run() -> None:
        try:
            snapshot = await collector.refresh(complete=True)
            show(snapshot, True)
            shown = 1
            while keep_going and (count is None or shown < count):
                await asyncio.sleep(collector.interval)
                show(await collector.refresh(), False)
                shown += 1
        finally:
            await connection.aclose()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass  # Ctrl+C is how --watch ends
    except BrokenPipeError:
        # `top --watch | head` closed the pipe: stop quietly, and let exit not flush into it again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        _finish_temporal()


# ---------------------------------------------------------------------------- check


@app.command("check")
def check(
    ctx: typer.Context,
    queue: List[str] = QUEUES,
    max_depth: Optional[float] = typer.Option(None, "--max-depth", min=0, help="Critical above this many waiting tasks."),
    max_error_rate: Optional[str] = typer.Option(
        None, "--max-error-rate", help="Critical above this share of failed tasks in the window: 0.05 or 5%."
    ),
    max_backlog_age: Optional[str] = typer.Option(
        None, "--max-backlog-age", help="Critical when the oldest waiting task is older: 90, 90s, 5m, 1h."
    ),
    warn_at: float = typer.Option(
        0.8, "--warn-at", min=0.0, max=1.0, help="Warning above this fraction of a threshold (default 0.8: 80%)."
    ),
    env: List[str] = ENVS,
    output: OutputFormat = OUTPUT,
    timeout: float = typer.Option(30.0, "--timeout", min=1, max=600, help="Give up (UNKNOWN) after this many seconds."),
    temporal_address: Optional[str] = TEMPORAL_ADDRESS,
    namespace: Optional[str] = NAMESPACE,
) -> None:
    """Check queues against thresholds; one summary line and a monitoring-plugin exit code.

    Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the Nagios/Icinga convention).

    A value above its threshold is CRITICAL; above --warn-at (80%) of it, WARNING. UNKNOWN when it cannot tell: a source is down, a number is stale or missing, or a --queue names no queue.

    Across queues and metrics the worst wins, in the order CRITICAL > UNKNOWN > WARNING > OK. Without --queue every queue is checked; without thresholds, only that the sources answer. A queue with no task closed in the 5-minute window passes --max-error-rate.
    """
    from kubiya_tui.metrics.check import CheckResult, Thresholds, evaluate, parse_rate, parse_seconds, unknown

    def finish(result: CheckResult) -> None:
        if output == OutputFormat.json:
            sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(result.summary + "\n")
        sys.stdout.flush()
        raise typer.Exit(result.exit_code)

    try:
        thresholds = Thresholds(
            max_depth=max_depth,
            max_error_rate=parse_rate(max_error_rate) if max_error_rate is not None else None,
            max_backlog_age=parse_seconds(max_backlog_age) if max_backlog_age is not None else None,
            warn_at=warn_at,
        )
    except ValueError as exc:
        finish(unknown(f"bad threshold: {exc}"))
        return

    try:
        from kubiya_tui.connection import connect
        from kubiya_tui.metrics.collector import CollectorOptions

        found = _settings(ctx, temporal_address, namespace)
        options = CollectorOptions(
            durations=False,
            environments=tuple(env) or None,
            queues=tuple(queue) or None,
            call_timeout=min(5.0, timeout / 3),
            source_timeout=timeout / 2,
        )
        connection = connect(found, options, history="off")
        collector = connection.source
    except UserError as exc:
        finish(unknown(str(exc)))
        return

    async def run() -> Any:
        try:
            return await asyncio.wait_for(collector.refresh(complete=True), timeout)
        finally:
            await connection.aclose()

    try:
        snapshot = asyncio.run(run())
    except asyncio.TimeoutError:
        result = unknown(f"no complete answer within {timeout:g}s")
    except KeyboardInterrupt:
        result = unknown("interrupted")
    else:
        result = evaluate(snapshot, queue, thresholds)
    finally:
        _finish_temporal()
    finish(result)
