"""Ctrl+C while the stack starts a child: the child is recorded before the interrupt reaches the caller.

A real child process (a sleeping Python) started by ``kubiya_tui.stack.processes.spawn``; the
interrupt is a real SIGINT sent to this process at the moment the child exists.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from kubiya_tui.stack import processes
from kubiya_tui.stack.processes import ManagedProcess, interrupts_held, spawn

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in this process, as in the demo (a test runner may have set another handler)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def ctrl_c_as_the_child_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    """Popen starts the child, then this process gets SIGINT before Popen returns (the race under load)."""
    real_popen = subprocess.Popen

    def popen_then_ctrl_c(*args: Any, **kwargs: Any) -> subprocess.Popen:
        proc = real_popen(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return proc

    monkeypatch.setattr(processes.subprocess, "Popen", popen_then_ctrl_c)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signal handlers run in the main thread")
def test_ctrl_c_as_a_child_is_spawned_comes_after_the_child_is_recorded(
    tmp_path: Path, ctrl_c_raises: None, ctrl_c_as_the_child_exists: None
) -> None:
    recorded: list[ManagedProcess] = []
    with pytest.raises(KeyboardInterrupt):
        spawn("sleeper", SLEEPER, tmp_path / "sleeper.log", record=recorded.append)
    try:
        assert len(recorded) == 1, "the interrupt came after the child was recorded"
        assert recorded[0].alive(), "and the child is there to be stopped"
    finally:
        for proc in recorded:
            proc.stop(grace=2)
    assert not recorded[0].alive()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the handler is put back"


def test_a_held_interrupt_reaches_the_handler_that_was_there_once_the_block_ends(ctrl_c_raises: None) -> None:
    seen: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            assert seen == [], "nothing handled inside the block"
            reached_the_end = True
        raise AssertionError("the held SIGINT should have raised KeyboardInterrupt")
    except KeyboardInterrupt:
        assert reached_the_end and seen == [signal.SIGTERM], "both handled, in order, after the block"
        assert signal.getsignal(signal.SIGTERM) is handler, "the handler is put back"
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_spawn_from_another_thread_records_the_child(tmp_path: Path) -> None:
    # The runner starts workers from its event-loop thread: no handler can be set there, nor is one needed.
    recorded: list[ManagedProcess] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            spawn("sleeper", SLEEPER, tmp_path / "sleeper.log", record=recorded.append)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(30)
    try:
        assert errors == [] and len(recorded) == 1 and recorded[0].alive()
    finally:
        for proc in recorded:
            proc.stop(grace=2)
