"""Commands of the local stack: demo, runner, load, and the operations it reconciles: scale, drain, autoscale."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any, List, Optional

import typer

from kubiya_tui.cli.app import app
from kubiya_tui.cli.common import (
    OUTPUT,
    OutputFormat,
    api_client,
    call,
    confirm,
    emit,
    explain,
    key_values,
    parse_priority,
    require_writable,
    settings,
)
from kubiya_tui.client.api import MIN_ID_PREFIX, ApiClient, ApiError
from kubiya_tui.errors import UserError
from kubiya_tui.models import WorkerDetail, WorkerQueue

# ---------------------------------------------------------------------------- demo


@app.command()
def demo(
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Where the demo keeps its data (default: $XDG_DATA_HOME/kubiya-tui/demo)."
    ),
    ephemeral: bool = typer.Option(False, "--ephemeral", help="Use a temporary data dir, removed at exit."),
    workers: int = typer.Option(2, "--workers", min=0, max=8, help="Workers per queue."),
    concurrency: int = typer.Option(5, "--concurrency", min=1, max=100, help="Tasks each worker runs at once."),
    no_ui: bool = typer.Option(False, "--no-ui", help="Do not open the console: print how to reach the stack."),
    seconds: Optional[float] = typer.Option(
        None, "--seconds", min=1, help="With --no-ui: stop after this many seconds (default: at Ctrl+C)."
    ),
    load: bool = typer.Option(True, "--load/--no-load", help="Run the load generator."),
    load_seconds: Optional[float] = typer.Option(
        None, "--load-seconds", min=1, help="Stop the load after this many seconds (the stack keeps running)."
    ),
    autoscale: bool = typer.Option(
        False, "--autoscale", help="Put an autoscale policy on every demo queue (1 to 4 workers, 5 s backlog age)."
    ),
) -> None:
    """The whole system on this machine: Temporal, control plane, queues, workers, load, console.

    Quitting the console (or Ctrl+C) stops everything it started.
    """
    started = time.monotonic()
    from kubiya_tui.stack.demo import DemoOptions, run_demo

    if data_dir is not None and ephemeral:
        raise UserError("--data-dir and --ephemeral exclude each other")
    if seconds is not None and not no_ui:
        raise UserError("--seconds needs --no-ui (the console runs until you quit it)")
    options = DemoOptions(
        data_dir=data_dir,
        ephemeral=ephemeral,
        workers=workers,
        concurrency=concurrency,
        no_ui=no_ui,
        seconds=seconds,
        load=load,
        load_seconds=load_seconds,
        autoscale=autoscale,
    )
    code = run_demo(options, started)
    if code:
        raise typer.Exit(code)


# ---------------------------------------------------------------------------- runner


@app.command()
def runner(
    ctx: typer.Context,
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Where worker logs go (default: $XDG_DATA_HOME/kubiya-tui/runner)."
    ),
    queue: Optional[List[str]] = typer.Option(
        None, "--queue", "-q", help="Only these queues (id, name or ENV/NAME); repeatable. Default: every queue."
    ),
    interval: float = typer.Option(2.0, "--interval", min=0.2, max=300, help="Seconds between two reconciles."),
    concurrency: Optional[int] = typer.Option(
        None, "--concurrency", min=1, max=1000, help="Tasks each worker runs at once (default: the worker's)."
    ),
    grace: float = typer.Option(
        60.0, "--grace", min=0, max=86400, help="At exit, how long workers may take to drain before they are killed."
    ),
    max_starting: int = typer.Option(
        4, "--max-starting", min=1, max=1000, help="Workers starting at once, at most (each takes CPU to start)."
    ),
) -> None:
    """Keep every queue at its wanted worker count with local worker processes, until Ctrl+C.

    Wanted counts come from `kubiya-tui scale` (or an autoscale policy); a queue never scaled
    is left alone. At exit the runner drains the workers it started.
    """
    from kubiya_tui import locations
    from kubiya_tui.stack.lock import LockHeld, PidLock
    from kubiya_tui.stack.runner import Runner

    found = settings(ctx)
    api = api_client(found)
    key = found.api_key_value() or ""
    folder = (data_dir or locations.data_dir() / "runner").expanduser().resolve()
    lock = PidLock(folder / "runner.lock")
    try:
        lock.acquire()
    except LockHeld as exc:
        pid = f" (pid {exc.pid})" if exc.pid else ""
        raise UserError(f"a runner is already running{pid} with data dir {folder}; use another --data-dir") from None
    except OSError as exc:
        raise UserError(f"cannot use data dir {folder}: {exc.strerror or exc}") from None

    def say(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)

    worker_args = ["--concurrency", str(concurrency)] if concurrency else []
    the_runner = Runner(
        api,
        key,
        folder,
        interval=interval,
        queues=queue,
        worker_args=worker_args,
        stop_grace=grace,
        max_starting=max_starting,
        # Killed outright, the runner still takes its workers along: they drain on SIGTERM.
        parent_death_signal=signal.SIGTERM,
        on_event=say,
    )
    logging.getLogger("kubiya_tui.runner").propagate = False

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        presses = 0

        def interrupted() -> None:
            nonlocal presses
            presses += 1
            if presses == 1:
                say("stopping: draining the workers this runner started (Ctrl+C again to kill them)")
                stop.set()
            else:
                the_runner.hurry()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, interrupted)
        scope = ", ".join(queue) if queue else "every queue"
        say(f"runner on {found.api_url} for {scope} (worker logs under {folder / 'workers'}); Ctrl+C stops it")
        async with api:
            await the_runner.run(stop)

    try:
        asyncio.run(main())
    finally:
        the_runner.kill_all()
        lock.release()
    say("runner stopped")


# ---------------------------------------------------------------------------- scale


def _current_workers(q: WorkerQueue) -> int:
    return q.desired_workers if q.desired_workers is not None else q.active_workers


@app.command()
def scale(
    ctx: typer.Context,
    queue: str = typer.Argument(..., metavar="QUEUE", help="Queue id (or 8+ first characters), name, or ENV/NAME."),
    workers: int = typer.Argument(..., metavar="N", min=0, max=10000, help="How many workers the queue should have."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Set how many workers a queue should have; the runner starts or drains workers to match."""
    require_writable(ctx, "scale a worker queue")
    found: WorkerQueue = call(ctx, lambda api: api.resolve_queue(queue))
    label = f"{found.environment_name}/{found.name}" if found.environment_name else found.name
    current = _current_workers(found)
    if found.max_workers is not None and workers > found.max_workers:
        raise UserError(f"queue {label} allows at most {found.max_workers} workers (max_workers); refusing {workers}")
    confirm(
        f"scale queue {label} from {current} to {workers} workers?",
        yes=yes,
        refuse=f"refusing to scale queue {label} without confirmation: no terminal to ask on; pass --yes",
    )
    result = call(ctx, lambda api: api.scale_queue(found.id, workers))
    note = ""
    if found.autoscale:
        note = " (note: an autoscale policy is on; it will move the count within its bounds)"
    emit(
        result,
        output,
        lambda: f"queue {label}: wanted workers {current} -> {result.desired_workers} "
        f"({result.active_workers} live now){note}",
    )


# ---------------------------------------------------------------------------- drain


async def resolve_worker(api: ApiClient, worker: str) -> WorkerDetail:
    """A worker by id, or by a unique id prefix of at least 8 characters (the tables' short ids)."""
    try:
        return await api.get_worker(worker)
    except ApiError as exc:
        if exc.status != 404 or len(worker) < MIN_ID_PREFIX:
            raise
    matches = [w for w in await api.list_workers() if w.worker_id.startswith(worker)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ApiError(404, f"worker {worker!r} not found", message=f"no worker with id or id prefix {worker!r}")
    live = [w for w in matches if w.health is None or w.health.value != "gone"]
    if len(live) == 1:
        return live[0]
    raise ApiError(409, "ambiguous", message=f"{len(matches)} workers have ids starting with {worker!r}; give more of the id")


@app.command()
def drain(
    ctx: typer.Context,
    worker: str = typer.Argument(..., metavar="WORKER_ID", help="Worker id (or its first 8+ characters)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Drain a worker: it takes no new task, finishes what it holds, and exits. Nothing is lost."""
    require_writable(ctx, "drain a worker")
    found: WorkerDetail = call(ctx, lambda api: resolve_worker(api, worker))
    host = found.hostname or (found.system_info or {}).get("hostname")
    where = f" on queue {found.queue_name}" if found.queue_name else ""
    on = f" (host {host})" if host else ""
    if found.health is not None and found.health.value == "gone":
        raise UserError(f"worker {found.worker_id}{where} is already gone ({found.status})")
    confirm(
        f"drain worker {found.worker_id}{where}{on}?",
        yes=yes,
        refuse=f"refusing to drain worker {found.worker_id} without confirmation: no terminal to ask on; pass --yes",
    )
    result = call(ctx, lambda api: api.drain_worker(found.worker_id))
    emit(
        result,
        output,
        lambda: f"worker {result.worker_id}{where}: draining; it finishes what it holds and exits "
        "(a runner that still wants the worker starts a replacement)",
    )


# ---------------------------------------------------------------------------- autoscale


@app.command()
def autoscale(
    ctx: typer.Context,
    queue: str = typer.Argument(..., metavar="QUEUE", help="Queue id (or 8+ first characters), name, or ENV/NAME."),
    min_workers: Optional[int] = typer.Option(None, "--min", min=0, max=1000, help="Fewest workers."),
    max_workers: Optional[int] = typer.Option(None, "--max", min=1, max=1000, help="Most workers."),
    target_backlog_age: Optional[float] = typer.Option(
        None, "--target-backlog-age", min=0.001, max=86400, help="Seconds the oldest waiting task may wait."
    ),
    cooldown: float = typer.Option(30.0, "--cooldown", min=0, max=3600, help="Seconds between two decisions."),
    off: bool = typer.Option(False, "--off", help="Remove the policy (the wanted count stays where it is)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Scale a queue's workers on its backlog age, between --min and --max (applied by the runner)."""
    require_writable(ctx, "change a queue's autoscale policy")
    given = [v is not None for v in (min_workers, max_workers, target_backlog_age)]
    if off and any(given):
        raise UserError("--off takes no --min, --max or --target-backlog-age")
    if not off and not all(given):
        raise UserError("give --min, --max and --target-backlog-age (or --off)")
    if not off and min_workers > max_workers:  # type: ignore[operator]
        raise UserError(f"--min {min_workers} is more than --max {max_workers}")
    found: WorkerQueue = call(ctx, lambda api: api.resolve_queue(queue))
    label = f"{found.environment_name}/{found.name}" if found.environment_name else found.name
    if off:
        question = f"turn off autoscaling of queue {label}?"
    else:
        question = (
            f"autoscale queue {label} between {min_workers} and {max_workers} workers "
            f"(target backlog age {target_backlog_age:g}s, cool-down {cooldown:g}s)?"
        )
    confirm(
        question,
        yes=yes,
        refuse=f"refusing to change autoscaling of queue {label} without confirmation: no terminal to ask on; pass --yes",
    )
    if off:
        updated = call(ctx, lambda api: api.clear_autoscale(found.id))
    else:
        policy = {
            "min_workers": min_workers,
            "max_workers": max_workers,
            "target_backlog_age_seconds": target_backlog_age,
            "cooldown_seconds": cooldown,
        }
        updated = call(ctx, lambda api: api.set_autoscale(found.id, policy))

    def render() -> Any:
        if updated.autoscale is None:
            return f"queue {label}: autoscaling off; wanted workers stay at {updated.desired_workers}"
        p = updated.autoscale
        return key_values(
            [
                ("queue", label),
                ("min workers", p.get("min_workers")),
                ("max workers", p.get("max_workers")),
                ("target backlog age", f"{p.get('target_backlog_age_seconds'):g}s"),
                ("cool-down", f"{p.get('cooldown_seconds'):g}s"),
                ("wanted workers now", updated.desired_workers),
                ("applied by", "the runner (kubiya-tui runner, or the demo's)"),
            ]
        )

    emit(updated, output, render)


# ---------------------------------------------------------------------------- load


@app.command()
def load(
    ctx: typer.Context,
    queue: str = typer.Argument(..., metavar="QUEUE", help="Queue id (or 8+ first characters), name, or ENV/NAME."),
    rate: float = typer.Option(1.0, "--rate", min=0.01, max=10000, help="Tasks per second."),
    fail_ratio: float = typer.Option(0.0, "--fail-ratio", min=0, max=1, help="Share of tasks that fail on purpose."),
    duration: float = typer.Option(10.0, "--duration", min=0.1, max=86400, help="Seconds to submit for."),
    seconds_per_task: float = typer.Option(
        1.0, "--seconds-per-task", min=0, max=3600, help="Mean task duration (each varies by +/- 50%)."
    ),
    priority: str = typer.Option("normal", "--priority", help="high, normal, low, or 1 (first) to 5 (last)."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Submit `sleep` tasks at a steady rate for a while (open loop); prints what was submitted and refused."""
    from kubiya_tui.stack.loadgen import LoadGenerator, LoadSpec

    prio = parse_priority(priority)
    found = settings(ctx)
    api = api_client(found)

    async def work() -> dict[str, Any]:
        async with api:
            target = await api.resolve_queue(queue)
            spec = LoadSpec(
                target.id, target.name, rate=rate, seconds_per_task=seconds_per_task, fail_ratio=fail_ratio, priority=prio
            )
            gen = LoadGenerator(api, [spec])
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, stop.set)
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            stats = await gen.run(duration, stop)
            return stats[target.id].as_dict() | {"queue_id": target.id, "summary": stats[target.id].summary()}

    try:
        result = asyncio.run(work())
    except ApiError as exc:
        raise UserError(explain(exc, found)) from None
    emit({k: v for k, v in result.items() if k != "summary"}, output, lambda: result["summary"])
    if result["submitted"] == 0 and result["refused"]:
        raise typer.Exit(1)
