"""The `kubiya-tui` command: the console with no subcommand, headless operations otherwise."""

from __future__ import annotations

import sys

from kubiya_tui.cli.app import app
from kubiya_tui.errors import UserError


def main() -> None:
    """Entry point: a user error is one line on stderr and a non-zero exit, never a traceback."""
    try:
        app(standalone_mode=False)
    except UserError as exc:
        print(f"kubiya-tui: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("kubiya-tui: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click's own usage errors, and anything unexpected
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            print("kubiya-tui: aborted", file=sys.stderr)
            sys.exit(1)
        print(f"kubiya-tui: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
