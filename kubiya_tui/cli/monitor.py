"""Headless monitoring: `kubiya-tui top` (snapshots) and `kubiya-tui check` (monitoring-plugin exit codes).

Both read through the metrics collector of the command's connection (kubiya_tui.connection),
exactly what the console shows: the control plane and Temporal, the control plane alone, or
Temporal alone (a profile's ``task_queues``).
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from typing import TYPE_CHECKING, Any, List, Optional

import typer

from kubiya_tui import formatting as fmt
from kubiya_tui.cli.app import app
from kubiya_tui.cli.common import OUTPUT, OutputFormat, terminal_width, warn, write_lines
from kubiya_tui.columns import Column, clip, render_lines
from kubiya_tui.errors import UserError

if TYPE_CHECKING:
    from kubiya_tui.config import Settings

TEMPORAL_ADDRESS = typer.Option(
    None, "--temporal-address", help="Temporal frontend HOST:PORT (overrides TEMPORAL_ADDRESS and the profile)."
)
NAMESPACE = typer.Option(None, "--namespace", help="Temporal namespace (overrides TEMPORAL_NAMESPACE and the profile).")
QUEUES = typer.Option(
    [], "--queue", "-q", help="Only this queue: id (or 8+ first characters), name, ENV/NAME or task queue. Repeatable."
)
ENVS = typer.Option([], "--env", help="Only queues of this environment (name or id). Repeatable.")
DIRECT_OPT = typer.Option(
    False,
    "--direct-temporal",
    help="Read Temporal with the SDK even where the control plane relays its reads (a one-shot command uses the relay when the control plane reads the same Temporal).",
)
ALL_PROFILES_OPT = typer.Option(False, "--all-profiles", help="Every profile of config.toml, each on its own connection.")
PROFILES_OPT = typer.Option(None, "--profiles", help="These profiles, comma-separated (a,b,c), each on its own connection.")


def _fleet(ctx: typer.Context, all_profiles: bool, profiles: str | None) -> str | None:
    """The profiles to run over (``*``: all), from this command's flags or the root's; None: one profile."""
    from kubiya_tui.cli.app import ALL_PROFILES, fleet_selection

    obj = ctx.find_root().obj or {}
    mine = fleet_selection(all_profiles, profiles, obj.get("profile"))
    chosen = mine if mine is not None else obj.get("fleet")
    if chosen is None:
        return None
    return ALL_PROFILES if chosen == ALL_PROFILES else chosen


def _fleet_names(chosen: str) -> str | None:
    from kubiya_tui.cli.app import ALL_PROFILES

    return None if chosen == ALL_PROFILES else chosen


def _settings(ctx: typer.Context, temporal_address: str | None, namespace: str | None) -> Settings:
    from kubiya_tui.config import resolve_settings

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
    """Let the native Temporal client go while the interpreter is whole (docs/temporal-notes.md),
    and have the command leave without finalizing it (kubiya_tui.cli._exit_past_temporal)."""
    import gc

    import kubiya_tui.cli

    gc.collect()
    kubiya_tui.cli.LEAVE_WITHOUT_FINALIZING = True


def _freeze_startup() -> None:
    """Exempt what start-up made (modules, classes: ~300k objects) from garbage collection.

    It lives as long as the command; frozen, the full collections that let the native
    Temporal client go before exit walk only what the command made since (they took
    ~0.3 s each over everything, more than the whole of `check`'s own work).
    """
    import gc

    gc.freeze()


# ---------------------------------------------------------------------------- top


def _fmt(value: float | None) -> str | None:
    """A rate, short: 0, 0.4, 12.5, 402."""
    if value is None:
        return None
    if value == 0:
        return "0"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


TOP_COLUMNS = (
    Column("queue", "QUEUE", 40, priority=1, meaning="ENV/NAME; * its numbers are from an earlier poll (a source is down)"),
    Column("depth", "DEPTH", 7, priority=1, numeric=True, meaning="tasks waiting in Temporal"),
    Column("age", "AGE", 6, priority=2, numeric=True, meaning="how long the oldest waiting task has waited"),
    Column("in", "IN/m", 6, priority=7, numeric=True, meaning="Temporal tasks added per minute"),
    Column("out", "OUT/m", 6, priority=7, numeric=True, meaning="Temporal tasks handed to workers per minute"),
    Column("done", "DONE/m", 6, priority=3, numeric=True, meaning="tasks finished per minute (5-minute window)"),
    Column("p95", "P95", 6, priority=6, numeric=True, meaning="95th percentile processing time"),
    Column("err", "ERR", 6, priority=3, numeric=True, meaning="failed or timed out / finished"),
    Column("workers", "WORKERS", 7, priority=1, numeric=True, meaning="healthy / all registered workers"),
    Column("pollers", "POLLERS", 7, priority=5, numeric=True, meaning="identities Temporal sees polling the task queue"),
    Column("slots", "SLOTS", 7, priority=4, numeric=True, meaning="task slots in use / all slots of its live workers"),
    Column("state", "STATE", 12, priority=1, meaning="STUCK, growing (in > out), the time to drain its backlog, or empty"),
)
"""The columns of `top`: priority 1 stays at any width; the others go, highest number first, as the terminal narrows."""


def queue_state(q: Any) -> str:
    """One word or two for the STATE column: STUCK, growing, drains 1m20s, empty, or the queue's status."""
    if q.stuck:
        return "STUCK"
    if q.status != "active":
        return q.status
    if q.growing:
        return "growing"
    if q.time_to_drain_seconds is not None:
        return f"drains {fmt.age(q.time_to_drain_seconds)}"
    return "empty" if q.depth == 0 else fmt.MISSING


def _queue_rows(snapshot: Any) -> list[dict]:
    rows = []
    for q in snapshot.queues:
        name = f"{q.environment}/{q.name}" if q.environment else q.name
        if q.legacy:
            name += " (legacy)"
        if q.stale:
            name += "*"
        w = q.workers
        rows.append(
            {
                "queue": name,
                "depth": q.depth,
                "age": fmt.age(q.backlog_age_seconds) if q.depth else ("0s" if q.depth == 0 else None),
                "in": _fmt(q.add_rate_per_min),
                "out": _fmt(q.dispatch_rate_per_min),
                "done": _fmt(q.processed_per_min),
                "p95": fmt.duration(q.duration_p95_seconds),
                "err": None if q.error_rate is None else f"{q.error_rate * 100:.1f}%",
                "workers": f"{w.healthy}/{w.total}",
                "pollers": q.pollers,
                "slots": f"{q.capacity_used}/{q.capacity_total}" if q.capacity_total else None,
                "state": queue_state(q),
            }
        )
    return rows


def _queue_notes(snapshot: Any) -> list[str]:
    """A line per queue that needs a look: stuck (with the evidence and the cause), workers not polling or unregistered."""
    notes = []
    for q in snapshot.queues:
        name = f"{q.environment}/{q.name}" if q.environment else q.name
        if q.stuck:
            notes.append(f"! {name} STUCK: {q.stuck_evidence}" + (f"; {q.stuck_cause}" if q.stuck_cause else ""))
            continue
        flags = []
        if q.workers.not_polling:
            flags.append(f"{q.workers.not_polling} registered worker(s) not polling")
        if q.workers.unregistered:
            flags.append(f"{q.workers.unregistered} poller(s) no registration accounts for")
        if flags:
            notes.append(f"! {name}: " + ", ".join(flags))
    return notes


def _sources_line(snapshot: Any) -> str:
    parts = []
    for state in snapshot.sources.values():
        if state.status.value == "off":
            parts.append(f"{state.name}: off")
            continue
        text = f"{state.name}: {state.status.value}"
        if state.latency_ms is not None:
            text += f" {state.latency_ms:.0f}ms"
        troubled = state.troubled_reads()
        if troubled:
            text += " (" + "; ".join(r.summary() + (f": {r.last_error}" if r.last_error else "") for r in troubled) + ")"
        elif state.status.value != "ok" and state.data_age_seconds is not None:
            text += f", data {state.data_age_seconds:.0f}s old"
        if state.last_error and state.status.value != "ok" and not troubled:
            error = state.last_error if len(state.last_error) <= 120 else state.last_error[:117] + "..."
            text += f" ({error})"
        parts.append(text)
    return " | ".join(parts)


def top_lines(snapshot: Any, width: int | None, floor: dict[str, int] | None = None) -> tuple[list[str], dict[str, int]]:
    """The `top` table of a snapshot as lines fitting ``width`` (None: every column whole), and the column widths."""
    when = time.strftime("%H:%M:%S", time.localtime(snapshot.taken_at))
    header = f"{when}  {len(snapshot.queues)} queues, {len(snapshot.workers)} workers  [{snapshot.mode}]"
    grid, widths = render_lines(TOP_COLUMNS, _queue_rows(snapshot), width=width, floor=floor)
    footer = [*_queue_notes(snapshot), _sources_line(snapshot)]
    if snapshot.mode == "temporal":
        from kubiya_tui.metrics.snapshot import temporal_only_line

        footer.append(temporal_only_line())
    if any(q.stale for q in snapshot.queues):
        footer.append("* a source of this row is down: its numbers are old or missing")
    if width is None:
        return [header, *grid, *footer], widths
    # The notes are sentences: wrapped at words, the later lines indented; the table never wraps.
    wrapped = [part for line in footer for part in textwrap.wrap(line, width, subsequent_indent="  ", break_on_hyphens=False)]
    return [clip(header, width), *grid, *wrapped], widths


def _live_display():  # type: ignore[no-untyped-def]
    """A Rich Live display on stdout: each update replaces the last one on screen (cropped to the terminal's height)."""
    from rich.console import Console
    from rich.live import Live

    out = Console(markup=False, highlight=False, emoji=False)
    live = Live(console=out, auto_refresh=False, vertical_overflow="crop", redirect_stdout=False, redirect_stderr=False)
    live.start()
    return live


def _as_text(lines: list[str]):  # type: ignore[no-untyped-def]
    """The lines as one Rich Text, the table's header bold."""
    from rich.text import Text

    text = Text("\n".join(lines), no_wrap=True, overflow="ellipsis")
    if len(lines) > 1:
        start = len(lines[0]) + 1
        text.stylize("bold", start, start + len(lines[1]))
    return text


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
    all_profiles: bool = ALL_PROFILES_OPT,
    profiles: Optional[str] = PROFILES_OPT,
    direct_temporal: bool = DIRECT_OPT,
) -> None:
    """Live queue metrics: depth, backlog age, rates, latency, errors, workers, per queue.

    With -o json, one snapshot as a JSON document; with --watch, one JSON line per refresh (the console's Snapshot: queues, workers, sources).

    The table fits the terminal: QUEUE, DEPTH, WORKERS (healthy/all) and STATE (STUCK, growing, the time to drain, empty) always show; as it narrows IN/m and OUT/m go first, then P95, POLLERS, SLOTS (busy/all), DONE/m and ERR, then AGE (-o wide: all of them). A line under it says why a queue is stuck, or which workers do not poll. It marks with * the rows whose numbers are from an earlier poll because a source is down. --watch redraws it in place on a terminal.
    """
    import asyncio
    from kubiya_tui.connection import connect
    from kubiya_tui.metrics.collector import CollectorOptions

    options = CollectorOptions(interval=interval, environments=tuple(env) or None, queues=tuple(queue) or None)
    chosen = _fleet(ctx, all_profiles, profiles)
    if chosen is not None:
        _top_fleet(_fleet_names(chosen), options, output, watch or count is not None, count, workers)
        return
    found = _settings(ctx, temporal_address, namespace)
    keep_going = watch or count is not None
    # One snapshot: through the control plane's relay where it has one (no Temporal SDK to load).
    connection = connect(found, options, history="off", relay=not keep_going and not direct_temporal)
    collector = connection.source
    _freeze_startup()

    on_terminal = sys.stdout.isatty()
    live = None
    widths: dict[str, int] = {}

    def show(snapshot: Any, first: bool) -> None:
        nonlocal live, widths
        if output == OutputFormat.json:
            data = snapshot.to_json()
            if not workers:
                data.pop("workers", None)
            _write_json(data, keep_going)
        else:
            # Piped, scripts read whole lines: every column whole, one table after another.
            width = terminal_width() if on_terminal and output == OutputFormat.table else None
            lines, widths = top_lines(snapshot, width, widths)
            if keep_going and on_terminal:
                # On a terminal the table is redrawn in place, its columns only ever widening.
                live = live or _live_display()
                live.update(_as_text(lines), refresh=True)
            else:
                if not first:
                    sys.stdout.write("\n")
                write_lines(lines, bold_first=False)
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
            if live is not None:
                live.stop()

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


def _member_json(member: Any, workers: bool) -> dict[str, Any]:
    from kubiya_tui.fleet import state_of, totals

    data: dict[str, Any] = {
        "profile": member.name,
        "state": state_of(member),
        "error": member.error,
        "latency_ms": None if member.latency_ms is None else round(member.latency_ms, 1),
        "danger": member.danger,
        "read_only": member.read_only,
        "totals": totals(member.snapshot),
    }
    if member.snapshot is not None:
        snap = member.snapshot.to_json()
        if not workers:
            snap.pop("workers", None)
        data.update(snap)
        data["profile"] = member.name
    return data


def _fleet_lines(members: Any, width: int | None) -> list[str]:
    from kubiya_tui.fleet import state_of, totals

    lines: list[str] = []
    for member in members:
        t = totals(member.snapshot)
        err = "-" if t["error_rate"] is None else f"{t['error_rate'] * 100:.1f}%"
        mark = " [danger]" if member.danger else ""
        head = (f"== {member.name}{mark}: {state_of(member)}, {t['queues']} queues, depth {t['depth']}, "
                f"done/m {_fmt(t['processed_per_min'])}, err {err}, healthy {t['workers_healthy']}/{t['workers']}")  # fmt: skip
        if t["stuck"]:
            head += f", {t['stuck']} stuck"
        if lines:
            lines.append("")
        lines.append(clip(head, width) if width else head)
        if member.snapshot is not None:
            table, _ = top_lines(member.snapshot, width)
            lines += table
        if member.error:
            lines.append(f"! {member.name}: {member.error}")
    return lines


def _top_fleet(names: str | None, options: Any, output: OutputFormat, keep_going: bool, count: int | None, workers: bool) -> None:
    """`top --all-profiles`: every member polled at once (each with its own deadline), one document or table per refresh."""
    from kubiya_tui.fleet import close_fleet, open_fleet, refresh_fleet

    members = open_fleet(names, options=options, history="off")
    interval = min(m.source.interval for m in members)
    deadline = max(5.0, 2 * interval)
    on_terminal = sys.stdout.isatty()

    def show(first: bool) -> None:
        if output == OutputFormat.json:
            data = {"taken_at": time.time(), "profiles": [_member_json(m, workers) for m in members]}
            _write_json(data, keep_going)
        else:
            width = terminal_width() if on_terminal and output == OutputFormat.table else None
            if not first:
                sys.stdout.write("\n")
            write_lines(_fleet_lines(members, width), bold_first=False)
        sys.stdout.flush()

    import asyncio

    async def run() -> None:
        try:
            await refresh_fleet(members, timeout=deadline, complete=True)
            show(True)
            shown = 1
            while keep_going and (count is None or shown < count):
                await asyncio.sleep(interval)
                await refresh_fleet(members, timeout=deadline)
                show(False)
                shown += 1
        finally:
            await close_fleet(members)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
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
    stuck_after: str = typer.Option(
        "30s",
        "--stuck-after",
        help="Critical when a queue is stuck: its oldest task has waited this long, nothing is dispatched and its workers have free slots.",
    ),
    no_stuck: bool = typer.Option(False, "--no-stuck", help="Do not check for stuck queues."),
    min_healthy_workers: Optional[int] = typer.Option(
        None, "--min-healthy-workers", min=0, help="Critical when a queue has fewer healthy workers than this."
    ),
    env: List[str] = ENVS,
    output: OutputFormat = OUTPUT,
    timeout: float = typer.Option(30.0, "--timeout", min=1, max=600, help="Give up (UNKNOWN) after this many seconds."),
    temporal_address: Optional[str] = TEMPORAL_ADDRESS,
    namespace: Optional[str] = NAMESPACE,
    all_profiles: bool = ALL_PROFILES_OPT,
    profiles: Optional[str] = PROFILES_OPT,
    direct_temporal: bool = DIRECT_OPT,
) -> None:
    """Check queues against thresholds; one summary line and a monitoring-plugin exit code.

    Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the Nagios/Icinga convention).

    A value above its threshold is CRITICAL; above --warn-at (80%) of it, WARNING. UNKNOWN when it cannot tell: a source is down, a number is stale or missing, or a --queue names no queue.

    A stuck queue is CRITICAL, with or without thresholds (--no-stuck turns that off): tasks wait (the oldest for --stuck-after, 30 s, or more), Temporal dispatches none, and the queue's live workers have free slots. The line says why when it is known (no poller on the task queue, every worker draining...).

    Across queues and metrics the worst wins, in the order CRITICAL > UNKNOWN > WARNING > OK. Without --queue every queue is checked; without thresholds, that the sources answer and no queue is stuck. A queue with no task closed in the 5-minute window passes --max-error-rate.

    With --all-profiles (or --profiles a,b) every profile is checked at once, each on its own connection and against these thresholds and its own alert rules ([[profiles.NAME.alerts]]); a profile that does not answer is UNKNOWN, and the worst profile sets the exit code.
    """
    import asyncio
    from kubiya_tui.metrics.check import CheckResult, Thresholds, evaluate, parse_rate, parse_seconds, unknown

    def finish(result: CheckResult) -> None:
        if output == OutputFormat.json:
            sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(result.summary + "\n")
        sys.stdout.flush()
        raise typer.Exit(result.exit_code)

    def parsed(option: str, text: str | None, parse: Any) -> Any:
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            finish(unknown(f"bad threshold: {option} {exc}"))

    thresholds = Thresholds(
        max_depth=max_depth,
        max_error_rate=parsed("--max-error-rate", max_error_rate, parse_rate),
        max_backlog_age=parsed("--max-backlog-age", max_backlog_age, parse_seconds),
        warn_at=warn_at,
        stuck_after=None if no_stuck else parsed("--stuck-after", stuck_after, parse_seconds),
        min_healthy_workers=min_healthy_workers,
    )

    try:
        chosen = _fleet(ctx, all_profiles, profiles)
    except UserError as exc:
        finish(unknown(str(exc)))
        return
    if chosen is not None:
        finish(_check_fleet(_fleet_names(chosen), queue, env, thresholds, timeout))
        return

    try:
        from kubiya_tui.connection import connect
        from kubiya_tui.metrics.collector import CollectorOptions

        found = _settings(ctx, temporal_address, namespace)
        options = CollectorOptions(
            durations=False,
            partitions=False,
            environments=tuple(env) or None,
            queues=tuple(queue) or None,
            call_timeout=min(5.0, timeout / 3),
            source_timeout=timeout / 2,
        )
        connection = connect(found, options, history="off", relay=not direct_temporal)
        collector = connection.source
        _freeze_startup()
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


def _check_fleet(names: str | None, queue: List[str], env: List[str], thresholds: Any, timeout: float) -> Any:
    """`check --all-profiles`: each profile against the thresholds and its own alert rules; the worst profile wins."""
    from kubiya_tui.fleet import close_fleet, open_fleet, refresh_fleet
    from kubiya_tui.metrics.check import CheckResult, Finding, Status, evaluate, unknown, worst
    from kubiya_tui.metrics.alerts import breaches
    from kubiya_tui.metrics.collector import CollectorOptions

    options = CollectorOptions(
        durations=False,
        environments=tuple(env) or None,
        queues=tuple(queue) or None,
        call_timeout=min(5.0, timeout / 3),
        source_timeout=timeout / 2,
    )
    try:
        members = open_fleet(names, options=options, history="off")
    except UserError as exc:
        return unknown(str(exc))

    import asyncio

    async def run() -> None:
        try:
            await refresh_fleet(members, timeout=timeout, complete=True)
        finally:
            await close_fleet(members)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return unknown("interrupted")
    finally:
        _finish_temporal()
    per: dict[str, CheckResult] = {}
    for m in members:
        if m.snapshot is None:
            per[m.name] = unknown(f"no answer: {m.error or 'no snapshot'}")
            continue
        result = evaluate(m.snapshot, queue, thresholds)
        found, _ = breaches(m.snapshot, m.rules)
        extra = tuple(
            Finding(b.queue, b.metric, None, None, None, Status.CRITICAL if b.level == "critical" else Status.WARNING,
                    f"{b.message} (alert rule)")
            for b in found.values()
        )  # fmt: skip
        if extra:
            status = worst([result.status, *(f.status for f in extra)])
            text = result.summary.split(" - ", 1)[-1].split(" | ")[0]
            problems = "; ".join(f.message for f in extra[:3]) + (f"; and {len(extra) - 3} more" if len(extra) > 3 else "")
            text = problems if result.status is Status.OK else f"{text}; {problems}"
            result = CheckResult(status, f"QUEUES {status.name} - {text}", result.findings + extra)
        per[m.name] = result
    overall = worst([r.status for r in per.values()])
    parts = []
    for name, r in per.items():
        text = r.summary.split(" - ", 1)[-1].split(" | ")[0]
        parts.append(f"[{name}] {r.status.name}: {text}")
    findings = tuple(
        Finding(f"{name}:{f.queue}", f.metric, f.value, f.warn, f.crit, f.status, f"[{name}] {f.message}")
        for name, r in per.items() for f in r.findings
    )  # fmt: skip
    return _FleetCheck(overall, f"QUEUES {overall.name} - " + "; ".join(parts), findings, per)


def _write_json(data: Any, stream: bool) -> None:
    """A snapshot as JSON: one line each when ``stream``ing (--watch, --count), else indented."""
    if stream:
        sys.stdout.write(json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


class _FleetCheck:
    """A CheckResult over several profiles; its JSON has each profile's own result."""

    def __init__(self, status: Any, summary: str, findings: tuple, per: dict[str, Any]) -> None:
        self.status, self.summary, self.findings, self.per = status, summary, findings, per

    @property
    def exit_code(self) -> int:
        return int(self.status)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.name,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "profiles": {name: r.to_json() for name, r in self.per.items()},
        }


# ---------------------------------------------------------------------------- alerts and status-line

ALERT_COLUMNS = (
    Column("time", "TIME", 19, priority=1, meaning="when it changed (local time)"),
    Column("profile", "PROFILE", 10, priority=1, meaning="the profile"),
    Column("change", "CHANGE", 12, priority=1, meaning="fired, escalated, eased, resolved or acknowledged"),
    Column("level", "LEVEL", 8, priority=2, meaning="critical or warning"),
    Column("message", "WHAT", 40, priority=1, meaning="what crossed which threshold"),
)


@app.command("alerts")
def alerts(
    ctx: typer.Context,
    since: str = typer.Option("1h", "--since", help="How far back: 90s, 30m, 1h, 2h... (the log keeps a week)."),
    output: OutputFormat = OUTPUT,
    all_profiles: bool = typer.Option(False, "--all-profiles", help="Every profile (the default unless --profile or --profiles names some)."),
    profiles: Optional[str] = PROFILES_OPT,
) -> None:
    """What fired, escalated, eased, resolved or was acknowledged, as the consoles saw it (the history database).

    Alerts are the thresholds of a profile's [[profiles.NAME.alerts]] tables, evaluated by every console that watches the profile; this shows their changes while nobody looked.
    """
    from kubiya_tui import alertlog
    from kubiya_tui.metrics.check import parse_seconds

    try:
        seconds = parse_seconds(since)
    except ValueError as exc:
        raise UserError(f"--since: {exc}") from None
    obj = ctx.find_root().obj or {}
    chosen = _fleet(ctx, all_profiles, profiles)
    wanted: list[str] = []
    if chosen is not None and _fleet_names(chosen) is not None:
        from kubiya_tui.config import profile_names

        wanted = profile_names(_fleet_names(chosen))
    elif chosen is None and obj.get("profile"):
        wanted = [obj["profile"]]
    events = alertlog.events_since(alertlog.database_path(), time.time() - seconds, wanted)
    if output == OutputFormat.json:
        sys.stdout.write(json.dumps([e._asdict() for e in events], indent=2, ensure_ascii=False) + "\n")
        return
    if not events:
        sys.stdout.write(f"no alert changes in the last {since}\n")
        return
    rows = [
        {"time": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at)), "profile": e.profile, "change": e.change,
         "level": e.level, "message": e.message}
        for e in events
    ]  # fmt: skip
    width = terminal_width() if sys.stdout.isatty() and output == OutputFormat.table else None
    lines, _ = render_lines(ALERT_COLUMNS, rows, width=width)
    write_lines(lines)


@app.command("status-line")
def status_line_command(
    format: str = typer.Option("tmux", "--format", help="tmux (#[fg=red] styles), ansi (escape codes) or plain."),
) -> None:
    """One short line for tmux's status-right: firing alerts per profile (✖ critical, ▲ warning), 'ok', or '?' when no console watches it.

    It reads the history database only and exits at once: set status-right to '#(kubiya-tui status-line)' with status-interval 5.
    """
    from kubiya_tui.alertlog import main as status_main

    raise typer.Exit(status_main(["--format", format]))
