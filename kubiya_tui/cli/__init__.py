"""The `kubiya-tui` command: the console with no subcommand, headless operations otherwise."""

from __future__ import annotations

import os
import re
import sys

from typing import Any

from kubiya_tui.errors import UserError


def __getattr__(name: str) -> Any:
    # The typer app is imported on first use, so `status-line` (run by tmux every few seconds) stays fast.
    if name == "app":
        from kubiya_tui.cli.app import app

        return app
    raise AttributeError(name)


def _click_exceptions():  # type: ignore[no-untyped-def]
    """The exceptions module of the click that typer uses (typer >= 0.20 vendors its own)."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer on top of click
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


_NEGATIVE = re.compile(r"-\d+(\.\d+)?")


def main() -> None:
    """Entry point: a user error is one line on stderr and a non-zero exit, never a traceback."""
    # Pydantic looks for plugins by scanning every installed distribution's entry points when it
    # builds its first model (~35 ms of a command that calls the API's models; a one-shot `check`
    # builds none); kubiya-tui's models use no plugin.
    # An operator who sets the variable keeps their own value.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if sys.argv[1:2] == ["status-line"]:
        from kubiya_tui.alertlog import main as status_line

        sys.exit(status_line(sys.argv[2:]))
    try:
        _run()
    except SystemExit as exc:
        _exit_past_temporal(exc.code)
        raise
    _exit_past_temporal(0)


LEAVE_WITHOUT_FINALIZING = False
"""Set by one-shot commands that read Temporal (top, check): see ``_exit_past_temporal``."""


def _exit_past_temporal(code: Any) -> None:
    """Once a one-shot command that read Temporal is done, leave without interpreter finalization:
    the native client's threads calling back into a finalizing interpreter abort the process
    (`PyGILState_Release ... finalizing`, exit -6) after its output was written. Exit handlers
    still run; the command has no threads of its own left by then."""
    if not LEAVE_WITHOUT_FINALIZING or "temporalio.bridge.temporal_sdk_bridge" not in sys.modules:
        return
    import atexit
    import logging
    import os

    atexit._run_exitfuncs()  # what finalization would have run first (logging's shutdown among them)

    status = code if isinstance(code, int) else (0 if code is None else 1)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to write anyway
            pass
    os._exit(status)


def _run() -> None:
    import typer

    from kubiya_tui.cli.app import app

    errors = _click_exceptions()
    try:
        result = app(standalone_mode=False, prog_name="kubiya-tui")
    except UserError as exc:
        print(f"kubiya-tui: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("kubiya-tui: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except errors.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except errors.NoSuchOption as exc:
        hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx is not None else ""
        if _NEGATIVE.fullmatch(exc.option_name or ""):
            # `scale q -3` reads "-3" as an option; what the user meant is a negative number.
            print(f"kubiya-tui: error: {exc.option_name} is negative: a count here is 0 or more{hint}", file=sys.stderr)
        else:
            print(f"kubiya-tui: error: {exc.format_message()}{hint}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except errors.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx is not None else ""
        print(f"kubiya-tui: error: {exc.format_message()}{hint}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except errors.ClickException as exc:
        print(f"kubiya-tui: error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("kubiya-tui: aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # anything unexpected: still one line
        print(f"kubiya-tui: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    # Without standalone mode, `raise typer.Exit(code)` comes back as its exit code.
    if isinstance(result, int) and not isinstance(result, bool) and result:
        sys.exit(result)
