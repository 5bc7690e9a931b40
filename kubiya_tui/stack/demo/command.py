"""The `demo` command: start the stack, open the console on it (or wait headless), stop it on any signal."""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kubiya_tui.stack.demo.console import ConsoleLoader, open_console
from kubiya_tui.stack.demo.queues import ENVIRONMENT
from kubiya_tui.stack.demo.report import print_ready, summary
from kubiya_tui.stack.demo.stack import DEFAULT_CONCURRENCY, DEFAULT_WORKERS, PROFILE, Demo

log = logging.getLogger("kubiya_tui.demo")


@dataclass
class DemoOptions:
    data_dir: Path | None = None
    ephemeral: bool = False
    workers: int = DEFAULT_WORKERS
    concurrency: int = DEFAULT_CONCURRENCY
    no_ui: bool = False
    seconds: float | None = None
    load: bool = True
    load_seconds: float | None = None
    autoscale: bool = False


def run_demo(options: DemoOptions, started_at: float | None = None) -> int:
    """The `demo` command; answers the exit code."""
    from kubiya_tui.connection import connect

    started_at = started_at or time.monotonic()
    loader = None if options.no_ui else ConsoleLoader()
    demo = Demo(
        options.data_dir,
        ephemeral=options.ephemeral,
        workers=options.workers,
        concurrency=options.concurrency,
        load=options.load,
        load_seconds=options.load_seconds,
        autoscale=options.autoscale,
    )
    say = demo.say

    signalled: list[int] = []

    def interrupt(signum: int, frame: Any) -> None:
        signalled.append(signum)
        raise KeyboardInterrupt

    def hurry(signum: int, frame: Any) -> None:
        if not demo.hurrying:
            say("kubiya-tui demo: stopping now, without waiting for drains")
        demo.hurry()

    watched = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, interrupt) for sig in watched}
    code = 0
    phase = "start-up"
    try:
        info = demo.start(started_at)
        console = loader.get() if loader is not None else None
        phase = "run"
        if console is None:
            print_ready(
                info, workers=options.workers, load=options.load, seconds=options.seconds, profile=PROFILE,
                environment=ENVIRONMENT, say=say,
            )  # fmt: skip
            code = _wait(demo, options.seconds, say)
        else:
            log.info("opening the console on the demo's connection")
            try:
                open_console(console, connect(demo.settings()))
            except Exception:
                # SIGTERM or SIGHUP (the SSH session closed) interrupts the console's own event
                # loop, which then may end with an error of its own: it was asked to stop.
                if not signalled:
                    raise
                log.info("console ended by signal %s", signalled[0])
    except KeyboardInterrupt:
        if phase == "start-up":
            say("kubiya-tui demo: interrupted during start-up; stopping what was started")
            code = 130
        else:
            say("kubiya-tui demo: stopping (draining workers; Ctrl+C again to stop at once)")
    finally:
        for sig in (signal.SIGINT, *watched):
            signal.signal(sig, hurry)
        try:
            stats = demo.stop()
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if phase == "run":
            if not demo.load_reported:
                for line in summary(stats):
                    say(line)
            say("kubiya-tui demo: stopped; nothing left running")
    return code


def _wait(demo: Demo, seconds: float | None, say: Callable[[str], None]) -> int:
    """Headless: until ``seconds`` pass (or forever), watching the stack; reports the load when it ends."""
    deadline = None if not seconds else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        problem = demo.problem()
        if problem:
            say(f"kubiya-tui demo: {problem}; stopping")
            return 1
        if not demo.load_reported and demo.load_finished():
            demo.load_reported = True
            demo.collect_load_stats()
            say("load finished:")
            for line in summary(demo.load_stats):
                say(line)
        time.sleep(0.25)
    return 0
