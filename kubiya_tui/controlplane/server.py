"""Running the control plane: first-start bootstrap (organization, admin key) and uvicorn."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from kubiya_tui.controlplane.database import run_coroutine, upgrade
from kubiya_tui.controlplane.store import Conflict, Store, new_api_key

ADMIN_KEY_FILE = "admin.key"
DEFAULT_ORG = "local"


@dataclass(frozen=True)
class Bootstrap:
    """What the first start did: the organization and where the admin key was written."""

    organization: str
    key_file: Path | None
    created: bool


def write_secret(path: Path, secret: str) -> None:
    """Write a secret to a file only its owner can read (0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (secret + "\n").encode())
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


async def bootstrap(store: Store, data_dir: Path, org: str = DEFAULT_ORG, env_key: str | None = None) -> Bootstrap:
    """On an empty store, create the organization and its admin key.

    With ``env_key`` (from ``KUBIYA_API_KEY``) that key becomes the admin key and nothing is
    written; otherwise a new key goes to a 0600 file in the data dir. Replicas that start
    together on one empty database make one admin key: the first one's (a key another
    replica made meanwhile is kept, and this replica's file is not written).
    """
    key_file = data_dir / ADMIN_KEY_FILE
    if await store.count_keys():
        return Bootstrap(org, key_file if key_file.exists() else None, created=False)
    await store.ensure_org(org)
    if env_key:
        try:
            await store.add_key(org, env_key, "admin")
        except Conflict:
            pass  # another replica registered the same key a moment ago
        return Bootstrap(org, None, created=True)
    key = new_api_key()
    write_secret(key_file, key)
    await store.add_key(org, key, "admin")
    return Bootstrap(org, key_file, created=True)


def create_key(database_url: str, org: str, name: str | None = None) -> str:
    """A new key for an organization (created with its `default` environment if new)."""

    async def make() -> str:
        store = Store(database_url, migrate=False)
        try:
            key = new_api_key()
            await store.add_key(org, key, name or f"{org}-key")
            return key
        finally:
            await store.close()

    upgrade(database_url)
    return run_coroutine(make)


def prepare(database_url: str, data_dir: Path, env_key: str | None) -> tuple[Bootstrap, tuple[str | None, str | None]]:
    """Before serving: migrate the database to the newest revision, then bootstrap it.

    Answers what the bootstrap did and the (before, after) revisions.
    """
    revisions = upgrade(database_url)

    async def boot() -> Bootstrap:
        store = Store(database_url, migrate=False)
        try:
            return await bootstrap(store, data_dir, env_key=env_key)
        finally:
            await store.close()

    return run_coroutine(boot), revisions


class DegradingFileHandler(logging.FileHandler):
    """A log file that, while it cannot be written (a full disk), says so once on stderr and drops lines.

    Instead of logging's own report for every failed line (a traceback of ~45 lines each), one
    line when writing starts to fail, and one when it works again.
    """

    def __init__(self, filename: Path) -> None:
        super().__init__(filename)
        self.failing = False
        self._this_failed = False

    def emit(self, record: logging.LogRecord) -> None:
        self._this_failed = False
        if self.stream is None:
            # Closed by a logging reconfiguration (uvicorn's): reopened here, where a failure is caught.
            try:
                self.stream = self._open()
            except OSError:
                self.handleError(record)
                return
        super().emit(record)
        if self.failing and not self._this_failed:
            self.failing = False
            _stderr_line(f"kubiya-tui: the log file {self.baseFilename} can be written again")

    def flush(self) -> None:
        try:
            super().flush()
        except OSError:
            self.handleError(None)

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            self.stream = None  # type: ignore[assignment]

    def handleError(self, record: logging.LogRecord | None) -> None:
        self._this_failed = True
        if not self.failing:
            self.failing = True
            reason = sys.exc_info()[1]
            why = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
            _stderr_line(f"kubiya-tui: cannot write the log file {self.baseFilename} ({why}); log lines are dropped until it can")


def _stderr_line(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def configure_logging(data_dir: Path) -> Path:
    """Server logs go to a file in the data dir; uvicorn's own errors still reach stderr.

    A log line that cannot be written never prints a traceback (``logging.raiseExceptions``
    is off): the file's handler says so in one line instead.
    """
    log_file = data_dir / "control-plane.log"
    handler = DegradingFileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("kubiya_tui")
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    logging.raiseExceptions = False
    return log_file
