"""Running the control plane: first-start bootstrap (organization, admin key) and uvicorn."""

from __future__ import annotations

import logging
import os
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


def configure_logging(data_dir: Path) -> Path:
    """Server logs go to a file in the data dir; uvicorn's own errors still reach stderr."""
    log_file = data_dir / "control-plane.log"
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("kubiya_tui")
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    return log_file
