"""`kubiya-tui demo`: the whole system on one machine, in one command.

Starts the Temporal dev server and the control plane on free loopback ports (their data in
one data dir), creates the demo queues in the ``default`` environment (idempotently), keeps
their workers running through the runner, feeds them with the load generator, writes the
``demo`` profile, and opens the console on it (or, with ``--no-ui``, prints how to reach it).

Everything it starts is stopped when it ends, however it ends: the console quits, Ctrl+C
(also during start-up), SIGTERM or SIGHUP (the SSH session closed), an atexit handler as a
last resort, and on Linux the kernel's parent-death signal even when the demo is killed.
One demo per data dir: a lock file held open (with the pid in it) refuses a second one.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Coroutine, TypeVar

from kubiya_tui import locations
from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.errors import UserError
from kubiya_tui.models import WorkerQueue
from kubiya_tui.stack.loadgen import LoadGenerator, LoadSpec, LoadStats
from kubiya_tui.stack.lock import LockHeld, PidLock
from kubiya_tui.stack.processes import (
    LOOPBACK,
    ManagedProcess,
    StackError,
    free_port,
    kill_now,
    start_control_plane,
    start_temporal,
    stop_all,
)
from kubiya_tui.stack.runner import Runner

log = logging.getLogger("kubiya_tui.demo")
T = TypeVar("T")

PROFILE = "demo"
ENVIRONMENT = "default"
NAMESPACE = "default"
MAX_WORKERS = 8
HEARTBEAT_INTERVAL = 10  # the minimum: health stays fresh on screen
DEFAULT_WORKERS = 2
DEFAULT_CONCURRENCY = 5
STOP_GRACE = 20.0
# Workers starting at once: each takes a second or two of CPU to start, and the console
# starting next to them must draw its first frame within seconds, also on two cores.
MAX_STARTING = 3


@dataclass(frozen=True)
class DemoQueue:
    name: str
    display_name: str
    description: str


DEMO_QUEUES = (
    DemoQueue("default", "Default", "General-purpose tasks: a steady mix with bursts."),
    DemoQueue("high-priority", "High priority", "Urgent tasks, submitted with high priority; short and frequent."),
    DemoQueue("low-priority", "Low priority", "Background jobs, submitted with low priority; long and patient."),
    DemoQueue("team-data", "Team data", "Dedicated queue of the data team's batch jobs; bursty, with a few failures."),
)


def default_data_dir() -> Path:
    return locations.data_dir() / "demo"


def demo_load(queues: dict[str, WorkerQueue]) -> list[LoadSpec]:
    """The demo's traffic: each queue its own rhythm, bursts staggered so something always moves.

    With the default 2 workers of 5 slots per queue, the baseline keeps them partly busy and
    each burst builds a backlog that drains over the following seconds.
    """
    specs = [
        LoadSpec("", "default", rate=1.5, seconds_per_task=2.0, fail_ratio=0.05,
                 burst_every=30, burst_seconds=5, burst_factor=5, burst_offset=6),
        LoadSpec("", "high-priority", rate=1.0, seconds_per_task=0.5, fail_ratio=0.02, priority="high",
                 burst_every=20, burst_seconds=3, burst_factor=8, burst_offset=12),
        LoadSpec("", "low-priority", rate=0.7, seconds_per_task=4.0, fail_ratio=0.05, priority="low",
                 burst_every=45, burst_seconds=10, burst_factor=4, burst_offset=20),
        LoadSpec("", "team-data", rate=1.0, seconds_per_task=1.5, fail_ratio=0.1,
                 burst_every=25, burst_seconds=4, burst_factor=6, burst_offset=3),
    ]  # fmt: skip
    out = []
    for spec in specs:
        queue = queues.get(spec.name)
        if queue is not None:
            spec.queue_id = queue.id
            out.append(spec)
    return out


def autoscale_policy(workers: int) -> dict[str, Any]:
    return {
        "min_workers": 1,
        "max_workers": max(4, workers),
        "target_backlog_age_seconds": 5,
        "cooldown_seconds": 15,
    }


async def setup_queues(
    api: ApiClient, workers: int, autoscale: bool, say: Callable[[str], None]
) -> dict[str, WorkerQueue]:
    """Create the demo queues that are missing and set their wanted worker counts."""
    envs = await api.list_environments()
    env = next((e for e in envs if e.name == ENVIRONMENT), None)
    if env is None:
        env = await api.create_environment(ENVIRONMENT, description="Default environment")
    existing = {q.name: q for q in await api.list_queues(env.id)}
    # Workers still registered come from an earlier run of this data dir, killed with it (the
    # data dir is this demo's alone): say they are gone rather than leave them stale forever.
    for w in await api.list_workers():
        if w.status not in ("disconnected", "offline"):
            try:
                await api.disconnect(w.worker_id, reason="left over from an earlier demo run")
            except ApiError:
                pass
    out: dict[str, WorkerQueue] = {}
    for spec in DEMO_QUEUES:
        queue = existing.get(spec.name)
        if queue is None:
            body = {
                "name": spec.name,
                "display_name": spec.display_name,
                "description": spec.description,
                "max_workers": MAX_WORKERS,
                "heartbeat_interval": HEARTBEAT_INTERVAL,
                "tags": ["demo"],
            }
            try:
                queue = await api.create_queue(env.id, body)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                queue = next(q for q in await api.list_queues(env.id) if q.name == spec.name)
        if autoscale:
            queue = await api.set_autoscale(queue.id, autoscale_policy(workers))
        if queue.autoscale:
            p = queue.autoscale
            say(
                f"queue {spec.name}: autoscaling between {p.get('min_workers')} and {p.get('max_workers')} workers "
                f"(target backlog age {p.get('target_backlog_age_seconds')}s); "
                f"`kubiya-tui --profile demo autoscale {spec.name} --off` stops it"
            )
        elif queue.desired_workers != workers:
            await api.scale_queue(queue.id, workers, reason="demo start")
            queue.desired_workers = workers
        out[spec.name] = queue
    return out


# ---------------------------------------------------------------------------- an event loop in a thread


class BackgroundLoop:
    """An asyncio loop in a daemon thread, for the runner and the load generator.

    The main thread stays free for the console (which runs its own loop) and for signals.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="kubiya-demo-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> "Future[T]":
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop and wait for it; an interrupt cancels it."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def close(self, timeout: float = 5.0) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)


# ---------------------------------------------------------------------------- the demo


@dataclass
class DemoInfo:
    data_dir: Path
    api_url: str
    temporal_address: str
    namespace: str
    key_file: Path
    config_file: Path
    queues: dict[str, WorkerQueue] = field(default_factory=dict)
    ready_after: float = 0.0

    def exports(self) -> list[str]:
        q = shlex.quote
        return [
            f"export KUBIYA_CONTROL_PLANE_BASE_URL={q(self.api_url)}",
            f'export KUBIYA_API_KEY="$(cat {q(str(self.key_file))})"',
            f"export TEMPORAL_ADDRESS={q(self.temporal_address)}",
            f"export TEMPORAL_NAMESPACE={q(self.namespace)}",
        ]


class Demo:
    """The demo stack. ``start()`` then ``stop()``; ``stop()`` is safe to call at any point."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        ephemeral: bool = False,
        workers: int = DEFAULT_WORKERS,
        concurrency: int = DEFAULT_CONCURRENCY,
        load: bool = True,
        load_seconds: float | None = None,
        autoscale: bool = False,
        interval: float = 2.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.ephemeral = ephemeral
        self.requested_dir = data_dir
        self.data_dir: Path | None = None
        self.workers = workers
        self.concurrency = concurrency
        self.load_enabled = load
        self.load_seconds = load_seconds
        self.autoscale = autoscale
        self.interval = interval
        self.say = say or _print_line
        self.info: DemoInfo | None = None
        self.processes: list[ManagedProcess] = []
        self.lock: PidLock | None = None
        self.bg: BackgroundLoop | None = None
        self.api: ApiClient | None = None
        self.runner: Runner | None = None
        self.loadgen: LoadGenerator | None = None
        self._runner_stop: asyncio.Event | None = None
        self._load_stop: asyncio.Event | None = None
        self._runner_future: Future | None = None
        self._load_future: Future | None = None
        self._log_handler: logging.Handler | None = None
        self._stopped = False
        self._hurry = False
        self.load_stats: dict[str, LoadStats] = {}
        self.load_reported = False

    # ------------------------------------------------------------------ start

    def start(self, started_at: float | None = None) -> DemoInfo:
        started_at = started_at or time.monotonic()
        atexit.register(self.emergency_kill)
        data_dir = self._data_dir()
        self.lock = PidLock(data_dir / "demo.lock")
        try:
            self.lock.acquire()
        except LockHeld as exc:
            self.lock = None
            pid = f" (pid {exc.pid})" if exc.pid else ""
            raise UserError(
                f"a demo is already running{pid} with data dir {data_dir}; stop it first, "
                "or start another with --data-dir DIR or --ephemeral",
                exit_code=3,
            ) from None
        self._log_to(data_dir / "demo.log")
        log.info("demo starting (pid %d, data dir %s)", os.getpid(), data_dir)
        temporal_port = free_port()
        address = f"{LOOPBACK}:{temporal_port}"
        started: dict[str, str] = {}

        def temporal_spawned(proc: ManagedProcess) -> None:
            self.processes.append(proc)
            # Boot the control plane while Temporal boots (it reaches Temporal lazily): both
            # are spawned from this thread, which their parent-death signal is bound to.
            started["url"] = start_control_plane(
                data_dir / "control-plane",
                address,
                namespace=NAMESPACE,
                on_spawn=self.processes.append,
                parent_death_signal=signal.SIGTERM,
            )[1]

        try:
            start_temporal(
                data_dir / "temporal",
                port=temporal_port,
                namespace=NAMESPACE,
                on_spawn=temporal_spawned,
                parent_death_signal=signal.SIGTERM,
            )
        except StackError as exc:
            raise UserError(str(exc)) from None
        url = started["url"]
        key_file = data_dir / "control-plane" / "admin.key"
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except OSError:
            key = ""
        if not key:
            raise UserError(
                f"the demo's control plane has no admin key file at {key_file}; "
                f"remove {data_dir} (or pick another --data-dir) to start afresh"
            )
        self.bg = BackgroundLoop()
        self.api = self.bg.run(_make_client(url, key), timeout=10)
        try:
            queues = self.bg.run(setup_queues(self.api, self.workers, self.autoscale, self.say), timeout=60)
        except ApiError as exc:
            raise UserError(f"cannot set up the demo queues: {exc}") from None
        config_file = self._save_profile(url, key_file, address)
        self._point_environment_at(url, key, address)
        self._start_runner(key, data_dir)
        if self.load_enabled:
            self._start_load(queues)
        self.info = DemoInfo(
            data_dir=data_dir,
            api_url=url,
            temporal_address=address,
            namespace=NAMESPACE,
            key_file=key_file,
            config_file=config_file,
            queues=queues,
            ready_after=time.monotonic() - started_at,
        )
        log.info("demo ready after %.1fs: %s, Temporal %s", self.info.ready_after, url, address)
        return self.info

    def _data_dir(self) -> Path:
        if self.data_dir is None:
            if self.ephemeral:
                self.data_dir = Path(tempfile.mkdtemp(prefix="kubiya-tui-demo-"))
            else:
                self.data_dir = (self.requested_dir or default_data_dir()).expanduser().resolve()
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise UserError(f"cannot use data dir {self.data_dir}: {exc.strerror or exc}") from None
        return self.data_dir

    def _log_to(self, path: Path) -> None:
        """The demo's own log (runner, load generator) goes to a file: the console owns the terminal."""
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in ("kubiya_tui.demo", "kubiya_tui.runner", "kubiya_tui.loadgen"):
            logger = logging.getLogger(name)
            logger.setLevel(logging.INFO)
            logger.addHandler(handler)
            logger.propagate = False
        self._log_handler = handler

    def _save_profile(self, url: str, key_file: Path, address: str) -> Path:
        from kubiya_tui.config import Profile, save_profile

        profile = Profile(
            api_url=url,
            api_key_file=str(key_file),
            temporal_address=address,
            temporal_namespace=NAMESPACE,
        )
        return save_profile(PROFILE, profile)

    @staticmethod
    def _point_environment_at(url: str, key: str, address: str) -> None:
        """Environment variables override a profile: make this process's (the console's) name the demo."""
        for name in ("CONTROL_PLANE_URL", "TEMPORAL_API_KEY", "KUBIYA_TUI_PROFILE"):
            os.environ.pop(name, None)
        os.environ["KUBIYA_CONTROL_PLANE_BASE_URL"] = url
        os.environ["KUBIYA_API_KEY"] = key
        os.environ["TEMPORAL_ADDRESS"] = address
        os.environ["TEMPORAL_NAMESPACE"] = NAMESPACE

    def _start_runner(self, key: str, data_dir: Path) -> None:
        assert self.bg is not None and self.api is not None
        self.runner = Runner(
            self.api,
            key,
            data_dir,
            interval=self.interval,
            worker_args=["--concurrency", str(self.concurrency)],
            stop_grace=STOP_GRACE,
            max_starting=MAX_STARTING,
            # The workers die with the runner's thread, even if the demo is killed outright.
            parent_death_signal=signal.SIGKILL,
        )

        async def run() -> None:
            self._runner_stop = asyncio.Event()
            await self.runner.run(self._runner_stop)  # type: ignore[union-attr]

        self._runner_future = self.bg.submit(run())

    def _start_load(self, queues: dict[str, WorkerQueue]) -> None:
        assert self.bg is not None and self.api is not None
        self.loadgen = LoadGenerator(self.api, demo_load(queues))

        async def run() -> dict[str, LoadStats]:
            self._load_stop = asyncio.Event()
            return await self.loadgen.run(self.load_seconds, self._load_stop)  # type: ignore[union-attr]

        self._load_future = self.bg.submit(run())

    # ------------------------------------------------------------------ while running

    def problem(self) -> str | None:
        """What went wrong while running (a process of the stack died), or None."""
        for proc in self.processes:
            if not proc.alive():
                return f"the {proc.name} process exited with code {proc.proc.returncode} (log: {proc.log_path})"
        if self._runner_future is not None and self._runner_future.done() and not self._stopped:
            exc = self._runner_future.exception()
            return f"the runner stopped: {exc}" if exc else "the runner stopped"
        return None

    def load_finished(self) -> bool:
        return self._load_future is not None and self._load_future.done()

    # ------------------------------------------------------------------ stop

    def hurry(self) -> None:
        """A second interrupt while stopping: stop waiting for workers to drain."""
        self._hurry = True
        if self.runner is not None:
            self.runner.hurry()

    def stop(self) -> dict[str, LoadStats]:
        """Stop everything this demo started, in order; safe to call twice and after a failed start."""
        if self._stopped:
            return self.load_stats
        self._stopped = True
        try:
            self._stop_load()
            self._stop_runner()
            if self.bg is not None:
                if self.api is not None:
                    try:
                        self.bg.run(self.api.aclose(), timeout=3)
                    except Exception:
                        pass
                self.bg.close()
            stop_all(reversed(self.processes), grace=2 if self._hurry else 8)
        finally:
            self.emergency_kill()
            if self.lock is not None:
                self.lock.release()
            if self._log_handler is not None:
                log.info("demo stopped")
                self._log_handler.close()
                for name in ("kubiya_tui.demo", "kubiya_tui.runner", "kubiya_tui.loadgen"):
                    logging.getLogger(name).removeHandler(self._log_handler)
            if self.ephemeral and self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)
            atexit.unregister(self.emergency_kill)
        return self.load_stats

    def _stop_load(self) -> None:
        if self._load_future is None or self.bg is None:
            return
        if self._load_stop is not None:
            self.bg.call(self._load_stop.set)
        else:  # it never started running
            self._load_future.cancel()
        try:
            self.load_stats = self._load_future.result(timeout=12)
        except Exception:
            self._load_future.cancel()
            if self.loadgen is not None:
                self.load_stats = self.loadgen.stats

    def _stop_runner(self) -> None:
        if self._runner_future is None or self.bg is None:
            return
        if self._runner_stop is not None:
            self.bg.call(self._runner_stop.set)
        else:  # it never started running: nothing of it to wait for
            self._runner_future.cancel()
        try:
            self._runner_future.result(timeout=STOP_GRACE + 10)
        except Exception:
            pass
        if self.runner is not None:
            self.runner.kill_all()

    def emergency_kill(self) -> None:
        """SIGKILL whatever is still alive (atexit; the normal stop leaves nothing for it)."""
        if self.runner is not None:
            self.runner.kill_all()
        kill_now(self.processes)


def _print_line(line: str) -> None:
    """A line on stdout; a terminal that went away (SSH closed) must not stop the clean-up."""
    try:
        print(line, flush=True)
    except (OSError, ValueError):
        pass


async def _make_client(url: str, key: str) -> ApiClient:
    # Made on the background loop: an httpx client belongs to the loop that uses it.
    return ApiClient(url, key, timeout=10)


# ---------------------------------------------------------------------------- the command


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


class _ConsoleLoader:
    """Imports the console in a thread while the stack starts: its first frame comes sooner."""

    def __init__(self) -> None:
        self.found: Callable[..., Any] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._load, name="kubiya-demo-console-import", daemon=True)
        self.thread.start()

    def _load(self) -> None:
        try:
            from kubiya_tui.tui.app import run_console

            self.found = run_console
        except BaseException as exc:  # reported by get(), in the main thread
            self.error = exc

    def get(self) -> Callable[..., Any] | None:
        self.thread.join()
        if self.found is None and not isinstance(self.error, ImportError):
            try:  # an import race in the thread: once more, here
                from kubiya_tui.tui.app import run_console

                self.found = run_console
            except ImportError as exc:
                self.error = exc
        if self.found is None:
            print(
                f"kubiya-tui demo: the console is not available ({self.error}); running headless as with --no-ui",
                file=sys.stderr,
                flush=True,
            )
        return self.found


def run_demo(options: DemoOptions, started_at: float | None = None) -> int:
    """The `demo` command; answers the exit code."""
    started_at = started_at or time.monotonic()
    loader = None if options.no_ui else _ConsoleLoader()
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
        if not demo._hurry:
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
            _print_ready(info, options, say)
            code = _wait(demo, options, say)
        else:
            log.info("opening the console (profile %s)", PROFILE)
            try:
                console(profile=PROFILE)
            except SystemExit:
                pass
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
                for line in _summary(stats):
                    say(line)
            say("kubiya-tui demo: stopped; nothing left running")
    return code


def _print_ready(info: DemoInfo, options: DemoOptions, say: Callable[[str], None]) -> None:
    names = ", ".join(info.queues)
    say(f"kubiya-tui demo ready in {info.ready_after:.1f}s")
    say(f"  Temporal      {info.temporal_address} (namespace {info.namespace})")
    say(f"  control plane {info.api_url}")
    say(f"  queues        {names} (environment {ENVIRONMENT}; {options.workers} worker(s) each)")
    say(f"  load          {'running' if options.load else 'off'}")
    say(f"  data          {info.data_dir} (log: {info.data_dir / 'demo.log'}, workers: {info.data_dir / 'workers'})")
    say(f"profile {PROFILE!r} written to {info.config_file}; from another terminal:")
    say(f"  kubiya-tui --profile {PROFILE}")
    say(f"  kubiya-tui --profile {PROFILE} queues list")
    say("or, for any tool that reads the environment:")
    for line in info.exports():
        say(line)
    until = f"{options.seconds:g} s pass" if options.seconds else "Ctrl+C"
    say(f"running until {until}")


def _wait(demo: Demo, options: DemoOptions, say: Callable[[str], None]) -> int:
    deadline = None if not options.seconds else time.monotonic() + options.seconds
    while deadline is None or time.monotonic() < deadline:
        problem = demo.problem()
        if problem:
            say(f"kubiya-tui demo: {problem}; stopping")
            return 1
        if not demo.load_reported and demo.load_finished():
            demo.load_reported = True
            try:
                demo.load_stats = demo._load_future.result(0)  # type: ignore[union-attr]
            except Exception:
                pass
            say("load finished:")
            for line in _summary(demo.load_stats):
                say(line)
        time.sleep(0.25)
    return 0


def _summary(stats: dict[str, LoadStats]) -> list[str]:
    return [f"  {s.summary()}" for s in stats.values()]
