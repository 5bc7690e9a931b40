"""Commands of the local stack: demo, runner, load."""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any, List, Optional

import typer

from kubiya_tui.cli.app import app
from kubiya_tui.cli.common import OUTPUT, OutputFormat, api_client, emit, explain, parse_priority, refuse_unless, settings
from kubiya_tui.errors import UserError

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
    lease_ttl: float = typer.Option(
        15.0,
        "--lease-ttl",
        min=1,
        max=3600,
        help="Seconds this runner's lease lasts unrenewed: another runner takes over that long after this one dies.",
    ),
) -> None:
    """Keep every queue at its wanted worker count with local worker processes, until Ctrl+C.

    Wanted counts come from `kubiya-tui scale` (or an autoscale policy); a queue never scaled
    is left alone. At exit the runner drains the workers it started. Several runners (any host, any
    replica) may run: one acts, under the control plane's `runner` lease; the others stand by.
    """
    import asyncio
    from kubiya_tui import locations
    from kubiya_tui.stack.lock import LockHeld, PidLock
    from kubiya_tui.stack.runner import Runner

    refuse_unless(ctx, "scale")  # a runner keeps queues at their wanted counts: `scale`'s
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
        lease_ttl=lease_ttl,
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
    import asyncio
    from kubiya_tui.stack.loadgen import LoadGenerator, LoadSpec

    refuse_unless(ctx, "tasks")
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

    from kubiya_tui.client.api import ApiError

    try:
        result = asyncio.run(work())
    except ApiError as exc:
        raise UserError(explain(exc, found)) from None
    emit({k: v for k, v in result.items() if k != "summary"}, output, lambda: result["summary"])
    if result["submitted"] == 0 and result["refused"]:
        raise typer.Exit(1)
