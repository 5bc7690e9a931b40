"""A one-shot command that read Temporal leaves without interpreter finalization (kubiya_tui.cli).

temporalio's native client can abort a finalizing interpreter (`PyGILState_Release ...
finalizing`, exit -6) after `top -o json` has printed its answer; such commands end with
os._exit instead. What a user relies on must still hold: the output complete, the exit code,
exit handlers run.
"""

from __future__ import annotations

import subprocess
import sys

_PROGRAM = """
import atexit, sys
import temporalio.bridge.temporal_sdk_bridge  # the native client, loaded as a Temporal read loads it
import kubiya_tui.cli
atexit.register(lambda: print("exit handlers ran", flush=True))
kubiya_tui.cli.LEAVE_WITHOUT_FINALIZING = {leave!r}
sys.argv = ["kubiya-tui", *{argv!r}]
kubiya_tui.cli.main()
print("finalized normally")
"""


def _run(argv: list[str], leave: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _PROGRAM.format(argv=argv, leave=leave)], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip


def test_a_command_that_read_temporal_exits_with_its_output_code_and_exit_handlers() -> None:
    done = _run(["--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("kubiya-tui ")
    assert "exit handlers ran" in done.stdout
    assert "finalized normally" not in done.stdout  # it left at once, as the command ended


def test_an_error_keeps_its_exit_code_and_its_one_line() -> None:
    done = _run(["queues", "list", "--output", "nonsense"])
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("kubiya-tui: error:")
    assert "exit handlers ran" in done.stdout


def test_other_commands_finalize_as_usual() -> None:
    done = _run(["--version"], leave=False)
    assert done.returncode == 0 and "finalized normally" in done.stdout
