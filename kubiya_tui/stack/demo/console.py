"""The demo's own console: imported in a thread while the stack starts, then run on the demo's connection."""

from __future__ import annotations

import sys
import threading
from typing import Callable

from kubiya_tui.connection import Connection

ConsoleRunner = Callable[..., None]
"""``run_console(connection=...)`` of kubiya_tui.tui.app."""


class ConsoleLoader:
    """Imports the console in a thread while the stack starts: its first frame comes sooner."""

    def __init__(self) -> None:
        self.found: ConsoleRunner | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._load, name="kubiya-demo-console-import", daemon=True)
        self.thread.start()

    def _load(self) -> None:
        try:
            from kubiya_tui.tui.app import run_console

            self.found = run_console
        except BaseException as exc:  # reported by get(), in the main thread
            self.error = exc

    def get(self) -> ConsoleRunner | None:
        """The console's entry point, or None (said on stderr) when it cannot be imported."""
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


def open_console(run_console: ConsoleRunner, connection: Connection) -> None:
    """Run the console on the demo's connection until the operator quits (it closes the connection)."""
    try:
        run_console(connection=connection)
    except SystemExit:
        pass
