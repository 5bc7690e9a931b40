"""The demo stack: everything `kubiya-tui demo` starts, and stopping all of it, however it ends.

Starts the Temporal dev server and the control plane on free loopback ports (their data in
one data dir), creates the demo queues (``queues.py``), keeps their workers running through
the runner, feeds them with the load generator, and writes the ``demo`` profile for other
terminals. Its own console is handed the stack's settings directly (:meth:`Demo.settings`).

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
import shutil
import signal
import tempfile
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kubiya_tui import locations
from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.config import Settings
from kubiya_tui.errors import UserError
from kubiya_tui.models import WorkerQueue
from kubiya_tui.secret import SecretStr
from kubiya_tui.stack.background import BackgroundLoop
from kubiya_tui.stack.demo.queues import demo_load, setup_queues
from kubiya_tui.stack.demo.report import print_line
from kubiya_tui.stack.loadgen import LoadGenerator, LoadStats
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

PROFILE = "demo"
NAMESPACE = "default"
DEFAULT_WORKERS = 2
DEFAULT_CONCURRENCY = 5
STOP_GRACE = 20.0
# Workers starting at once: each takes a second or two of CPU to start, and the console
# starting next to them must draw its first frame within seconds, also on two cores.
MAX_STARTING = 3


def default_data_dir() -> Path:
    return locations.data_dir() / "demo"


# ---------------------------------------------------------------------------- the demo


@dataclass
class DemoInfo:
    """Where the started stack is."""

    data_dir: Path
    api_url: str
    temporal_address: str
    namespace: str
    key_file: Path
    config_file: Path
    """The config file the ``demo`` profile was written to."""
    queues: dict[str, WorkerQueue] = field(default_factory=dict)
    ready_after: float = 0.0


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
        self.say = say or print_line
        self.info: DemoInfo | None = None
        self._key: SecretStr | None = None
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
        self._profile_before: tuple[Any, Any, str | None] | None = None
        """An ephemeral demo's profile as written, and the profile and default it replaced."""

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
            # Boot the control plane while Temporal boots (it reaches Temporal lazily): both
            # are spawned from this thread, which their parent-death signal is bound to.
            started["url"] = start_control_plane(
                data_dir / "control-plane",
                address,
                namespace=NAMESPACE,
                record=self.processes.append,
                parent_death_signal=signal.SIGTERM,
            )[1]

        try:
            # Each process is recorded as it is spawned, before Ctrl+C can unwind this: stop() stops it.
            start_temporal(
                data_dir / "temporal",
                port=temporal_port,
                namespace=NAMESPACE,
                record=self.processes.append,
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
        self._key = SecretStr(key)
        self.bg = BackgroundLoop()
        self.api = self.bg.run(_make_client(url, key), timeout=10)
        try:
            queues = self.bg.run(setup_queues(self.api, self.workers, self.autoscale, self.say), timeout=60)
        except ApiError as exc:
            raise UserError(f"cannot set up the demo queues: {exc}") from None
        config_file = self._save_profile(url, key_file, address)
        self._start_runner(key, data_dir, _worker_environment(url, address))
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
        from kubiya_tui.config import Profile, load_config, save_profile

        profile = Profile(
            api_url=url,
            api_key_file=str(key_file),
            temporal_address=address,
            temporal_namespace=NAMESPACE,
        )
        if self.ephemeral:
            # Its key file goes with the data dir at exit: remember what to put back then.
            before = load_config()
            self._profile_before = (profile, before.profiles.get(PROFILE), before.default_profile)
        return save_profile(PROFILE, profile)

    def _restore_profile(self) -> None:
        """After an ephemeral demo: the ``demo`` profile as it was before (or none), not one naming a removed key file."""
        if self._profile_before is None:
            return
        from kubiya_tui.config import restore_profile

        written, previous, previous_default = self._profile_before
        self._profile_before = None
        try:
            restore_profile(PROFILE, written, previous, previous_default)
        except UserError as exc:
            log.warning("could not restore the %s profile: %s", PROFILE, exc)

    def settings(self) -> Settings:
        """The settings of the demo's own console: this stack, whatever the environment or config say.

        The theme is the config file's (the ``demo`` profile names none).
        """
        from kubiya_tui.config import load_config

        assert self.info is not None and self._key is not None, "the demo has not started"
        return Settings(
            profile=PROFILE,
            api_url=self.info.api_url,
            api_key=self._key,
            api_key_source=f"the demo's key file {self.info.key_file}",
            temporal_address=self.info.temporal_address,
            temporal_namespace=self.info.namespace,
            theme=load_config().theme,
        )

    def _start_runner(self, key: str, data_dir: Path, env: dict[str, str]) -> None:
        assert self.bg is not None and self.api is not None
        self.runner = Runner(
            self.api,
            key,
            data_dir,
            env=env,
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

    def collect_load_stats(self) -> None:
        """Keep what the finished load generator reports (``load_stats``)."""
        if self._load_future is not None and self._load_future.done():
            try:
                self.load_stats = self._load_future.result(0)
            except Exception:
                pass

    @property
    def hurrying(self) -> bool:
        """Told to stop at once, without waiting for drains."""
        return self._hurry

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
                self._restore_profile()
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


def _worker_environment(url: str, address: str) -> dict[str, str]:
    """The environment of the demo's workers: this process's, naming the demo's stack (the runner adds the key)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CONTROL_PLANE_URL", "TEMPORAL_API_KEY", "KUBIYA_TUI_PROFILE")}
    env.update(KUBIYA_CONTROL_PLANE_BASE_URL=url, TEMPORAL_ADDRESS=address, TEMPORAL_NAMESPACE=NAMESPACE)
    return env


async def _make_client(url: str, key: str) -> ApiClient:
    # Made on the background loop: an httpx client belongs to the loop that uses it.
    return ApiClient(url, key, timeout=10)
