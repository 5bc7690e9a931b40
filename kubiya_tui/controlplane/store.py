"""The control plane's registry: organizations, keys, environments, queues, workers, audit.

One SQLite file in WAL mode. The server process keeps a single connection and calls it
from the event loop: each statement takes microseconds, and serialising them in one
thread means no "database is locked" inside the server. Other processes (``admin
create-key``) share the file through WAL and a busy timeout.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from kubiya_tui.controlplane.naming import legacy_task_queue, worker_queue_task_queue
from kubiya_tui.models import STALE_AFTER_INTERVALS

SCHEMA = """
CREATE TABLE IF NOT EXISTS organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS environments (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT,
    description TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    settings TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'ready',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (organization_id, name)
);
CREATE TABLE IF NOT EXISTS worker_queues (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments(id),
    name TEXT NOT NULL,
    display_name TEXT,
    description TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    max_workers INTEGER,
    heartbeat_interval INTEGER NOT NULL DEFAULT 60,
    tags TEXT NOT NULL DEFAULT '[]',
    settings TEXT NOT NULL DEFAULT '{}',
    task_queue_name TEXT NOT NULL,
    desired_workers INTEGER,
    autoscale TEXT,
    created_by TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    UNIQUE (environment_id, name)
);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    queue_id TEXT,
    environment_id TEXT,
    legacy_queue_name TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    desired_state TEXT NOT NULL DEFAULT 'running',
    tasks_processed INTEGER NOT NULL DEFAULT 0,
    tasks_failed INTEGER NOT NULL DEFAULT 0,
    current_task_id TEXT,
    current_task_ids TEXT NOT NULL DEFAULT '[]',
    slots_used INTEGER,
    slots_available INTEGER,
    hostname TEXT,
    system_info TEXT,
    worker_metadata TEXT NOT NULL DEFAULT '{}',
    capabilities TEXT NOT NULL DEFAULT '{}',
    sdk_version TEXT,
    last_heartbeat REAL,
    registered_at REAL NOT NULL,
    disconnected_at REAL,
    disconnect_reason TEXT,
    exit_code INTEGER,
    error_message TEXT,
    UNIQUE (organization_id, worker_id)
);
CREATE INDEX IF NOT EXISTS workers_by_queue ON workers (queue_id, last_heartbeat);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    timeout_seconds REAL NOT NULL,
    max_attempts INTEGER NOT NULL,
    submitted_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_queue ON tasks (queue_id, submitted_at);
CREATE TABLE IF NOT EXISTS legacy_migrations (
    environment_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    worker_queue_id TEXT NOT NULL,
    state TEXT NOT NULL,
    started_by TEXT,
    started_at REAL NOT NULL,
    completed_at REAL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id TEXT NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_org ON audit (organization_id, id);
"""

JSON_COLUMNS = {
    "tags",
    "settings",
    "system_info",
    "worker_metadata",
    "capabilities",
    "current_task_ids",
    "autoscale",
    "details",
}

QUEUE_COLUMNS = (
    "name display_name description status max_workers heartbeat_interval tags settings".split()
)


class Conflict(Exception):
    """A unique name is already taken."""


class NotFound(Exception):
    """No such object in this organization."""


def hash_key(key: str) -> str:
    """The stored form of an API key: its SHA-256, so the store never holds a usable key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return "kty_" + secrets.token_urlsafe(32)


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(row)
    for col in JSON_COLUMNS.intersection(out):
        if out[col] is not None:
            out[col] = json.loads(out[col])
    return out


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


class Store:
    """Every read and write of the registry; every method is scoped to one organization."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate write transaction: readers go on, other writers wait their turn."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _one(self, sql: str, args: tuple = ()) -> dict[str, Any] | None:
        with self._lock:
            return _row(self._db.execute(sql, args).fetchone())

    def _all(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [_row(r) for r in self._db.execute(sql, args).fetchall()]  # type: ignore[misc]

    # ------------------------------------------------------------------ organizations, keys

    def ensure_org(self, org_id: str) -> bool:
        """Create the organization and its `default` environment; True if it was new."""
        now = time.time()
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM organizations WHERE id=?", (org_id,)).fetchone():
                return False
            db.execute("INSERT INTO organizations VALUES (?,?,?)", (org_id, org_id, now))
            db.execute(
                "INSERT INTO environments (id, organization_id, name, display_name, description,"
                " status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                (str(uuid.uuid4()), org_id, "default", "Default", "Default environment", "ready", now, now),
            )
            return True

    def org_exists(self, org_id: str) -> bool:
        return self._one("SELECT 1 AS found FROM organizations WHERE id=?", (org_id,)) is not None

    def count_keys(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM api_keys")["n"]  # type: ignore[index]

    def add_key(self, org_id: str, key: str, name: str) -> str:
        self.ensure_org(org_id)
        key_id = str(uuid.uuid4())
        with self.transaction() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (?,?,?,?,?)",
                (key_id, org_id, name, hash_key(key), time.time()),
            )
        return key_id

    def key_owner(self, key: str) -> tuple[str, str] | None:
        """(organization id, key name) for a key, or None when the key is unknown."""
        row = self._one("SELECT organization_id, name FROM api_keys WHERE key_hash=?", (hash_key(key),))
        return (row["organization_id"], row["name"]) if row else None

    # ------------------------------------------------------------------ environments

    def list_environments(self, org: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM environments WHERE organization_id=? ORDER BY created_at, name", (org,))

    def get_environment(self, org: str, env_id: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM environments WHERE organization_id=? AND id=?", (org, env_id))
        if row is None:
            raise NotFound(f"environment {env_id!r} not found")
        return row

    def find_environment(self, org: str, name: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM environments WHERE organization_id=? AND name=?", (org, name))

    def create_environment(self, org: str, fields: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        env_id = str(uuid.uuid4())
        try:
            with self.transaction() as db:
                self._refuse_taken_legacy_name(db, org, fields["name"])
                db.execute(
                    "INSERT INTO environments (id, organization_id, name, display_name, description, tags,"
                    " settings, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        env_id,
                        org,
                        fields["name"],
                        fields.get("display_name") or fields["name"],
                        fields.get("description"),
                        _dump(fields.get("tags") or []),
                        _dump(fields.get("settings") or {}),
                        "ready",
                        now,
                        now,
                    ),
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"an environment named {fields['name']!r} already exists") from None
        return self.get_environment(org, env_id)

    def update_environment(self, org: str, env_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        current = self.get_environment(org, env_id)
        if "name" in changes and current["name"] == "default" and changes["name"] != "default":
            raise ValueError("the default environment cannot be renamed")
        if "name" in changes and changes["name"] != current["name"]:
            with self._lock:
                self._refuse_taken_legacy_name(self._db, org, changes["name"])
        return self._update("environments", org, env_id, changes, what="environment")

    @staticmethod
    def _refuse_taken_legacy_name(db: sqlite3.Connection, org: str, name: str) -> None:
        """Conflict when an environment of this name would poll a task queue a worker queue already polls."""
        task_queue = legacy_task_queue(org, name)
        if db.execute("SELECT 1 FROM worker_queues WHERE task_queue_name=?", (task_queue,)).fetchone():
            raise Conflict(
                f"an environment named {name!r} would be polled on task queue {task_queue!r},"
                " which a worker queue already uses; choose another name"
            )

    def delete_environment(self, org: str, env_id: str) -> dict[str, Any]:
        env = self.get_environment(org, env_id)
        if env["name"] == "default":
            raise ValueError("the default environment cannot be deleted")
        with self.transaction() as db:
            n = db.execute("SELECT COUNT(*) FROM worker_queues WHERE environment_id=?", (env_id,)).fetchone()[0]
            if n:
                raise ValueError(f"environment {env['name']!r} still has {n} worker queue(s); delete them first")
            db.execute("DELETE FROM environments WHERE id=?", (env_id,))
        return env

    def _update(self, table: str, org: str, obj_id: str, changes: dict[str, Any], what: str) -> dict[str, Any]:
        if changes:
            cols = ", ".join(f"{k}=?" for k in changes)
            values = [(_dump(v) if k in JSON_COLUMNS else v) for k, v in changes.items()]
            try:
                with self.transaction() as db:
                    cur = db.execute(
                        f"UPDATE {table} SET {cols}, updated_at=? WHERE organization_id=? AND id=?",
                        (*values, time.time(), org, obj_id),
                    )
                    if cur.rowcount == 0:
                        raise NotFound(f"{what} {obj_id!r} not found")
            except sqlite3.IntegrityError:
                raise Conflict(f"{'an' if what[0] in 'aeiou' else 'a'} {what} named {changes.get('name')!r} already exists") from None
        getter = self.get_environment if table == "environments" else self.get_queue
        return getter(org, obj_id)

    # ------------------------------------------------------------------ worker queues

    _QUEUE_SELECT = (
        "SELECT q.*, e.name AS environment_name FROM worker_queues q"
        " JOIN environments e ON e.id = q.environment_id"
    )

    def list_queues(self, org: str, env_id: str | None = None) -> list[dict[str, Any]]:
        if env_id is None:
            return self._all(f"{self._QUEUE_SELECT} WHERE q.organization_id=? ORDER BY q.seq", (org,))
        self.get_environment(org, env_id)
        return self._all(
            f"{self._QUEUE_SELECT} WHERE q.organization_id=? AND q.environment_id=? ORDER BY q.seq", (org, env_id)
        )

    def get_queue(self, org: str, queue_id: str) -> dict[str, Any]:
        row = self._one(f"{self._QUEUE_SELECT} WHERE q.organization_id=? AND q.id=?", (org, queue_id))
        if row is None:
            raise NotFound(f"worker queue {queue_id!r} not found")
        return row

    def create_queue(self, org: str, env_id: str, fields: dict[str, Any], actor: str | None) -> dict[str, Any]:
        env = self.get_environment(org, env_id)
        now = time.time()
        queue_id = str(uuid.uuid4())
        try:
            with self.transaction() as db:
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM worker_queues").fetchone()[0]
                # Fixed at creation: renames keep the task queue that the queue's workers poll.
                task_queue = worker_queue_task_queue(queue_id)
                db.execute(
                    "INSERT INTO worker_queues (id, organization_id, environment_id, name, display_name,"
                    " description, status, max_workers, heartbeat_interval, tags, settings, task_queue_name,"
                    " created_by, created_at, updated_at, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        queue_id,
                        org,
                        env_id,
                        fields["name"],
                        fields.get("display_name") or fields["name"],
                        fields.get("description"),
                        "active",
                        fields.get("max_workers"),
                        fields.get("heartbeat_interval", 60),
                        _dump(fields.get("tags") or []),
                        _dump(fields.get("settings") or {}),
                        task_queue,
                        actor,
                        now,
                        now,
                        seq,
                    ),
                )
        except sqlite3.IntegrityError:
            raise Conflict(
                f"a worker queue named {fields['name']!r} already exists in environment {env['name']!r}"
            ) from None
        return self.get_queue(org, queue_id)

    def update_queue(self, org: str, queue_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        current = self.get_queue(org, queue_id)
        if "name" in changes and current["name"] == "default" and changes["name"] != "default":
            raise ValueError("the queue named 'default' cannot be renamed")
        return self._update("worker_queues", org, queue_id, changes, what="worker queue")

    def delete_queue(self, org: str, queue_id: str, live_workers: int) -> dict[str, Any]:
        queue = self.get_queue(org, queue_id)
        if queue["name"] == "default":
            raise ValueError("the queue named 'default' cannot be deleted")
        if live_workers:
            raise ValueError(f"worker queue {queue['name']!r} still has {live_workers} live worker(s); drain them first")
        with self.transaction() as db:
            db.execute("DELETE FROM worker_queues WHERE id=?", (queue_id,))
            db.execute("UPDATE workers SET queue_id=NULL WHERE queue_id=? AND organization_id=?", (queue_id, org))
        return queue

    def set_desired_workers(self, org: str, queue_id: str, workers: int | None) -> dict[str, Any]:
        return self._update("worker_queues", org, queue_id, {"desired_workers": workers}, what="worker queue")

    def set_autoscale(self, org: str, queue_id: str, policy: dict[str, Any] | None) -> dict[str, Any]:
        return self._update("worker_queues", org, queue_id, {"autoscale": policy}, what="worker queue")

    # ------------------------------------------------------------------ workers

    def register_worker(self, org: str, worker_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Insert a worker, or bring a known worker id back to life (legacy re-registration)."""
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO workers (id, organization_id, worker_id, queue_id, environment_id, legacy_queue_name,"
                " status, desired_state, hostname, system_info, worker_metadata, capabilities, sdk_version,"
                " last_heartbeat, registered_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (organization_id, worker_id) DO UPDATE SET queue_id=excluded.queue_id,"
                " environment_id=excluded.environment_id, legacy_queue_name=excluded.legacy_queue_name,"
                " status='active', desired_state='running', hostname=excluded.hostname,"
                " system_info=excluded.system_info, worker_metadata=excluded.worker_metadata,"
                " capabilities=excluded.capabilities, sdk_version=excluded.sdk_version,"
                " last_heartbeat=excluded.last_heartbeat, disconnected_at=NULL, disconnect_reason=NULL",
                (
                    str(uuid.uuid4()),
                    org,
                    worker_id,
                    fields.get("queue_id"),
                    fields.get("environment_id"),
                    fields.get("legacy_queue_name"),
                    "active",
                    "running",
                    fields.get("hostname"),
                    _dump(fields.get("system_info")),
                    _dump(fields.get("worker_metadata") or {}),
                    _dump(fields.get("capabilities") or {}),
                    fields.get("sdk_version"),
                    now,
                    now,
                ),
            )
        return self.get_worker(org, worker_id)

    def count_live_workers(self, org: str, queue_id: str, now: float, interval: float) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM workers WHERE organization_id=? AND queue_id=?"
            " AND status NOT IN ('disconnected','offline') AND last_heartbeat >= ?",
            (org, queue_id, now - STALE_AFTER_INTERVALS * interval),
        )
        return row["n"]  # type: ignore[index]

    def live_worker_counts(self, org: str, now: float) -> dict[str, int]:
        """Live workers per queue id, in one query (for queue lists)."""
        rows = self._all(
            "SELECT w.queue_id, COUNT(*) AS n FROM workers w JOIN worker_queues q ON q.id = w.queue_id"
            " WHERE w.organization_id=? AND w.status NOT IN ('disconnected','offline')"
            " AND w.last_heartbeat >= ? - ? * q.heartbeat_interval GROUP BY w.queue_id",
            (org, now, STALE_AFTER_INTERVALS),
        )
        return {r["queue_id"]: r["n"] for r in rows}

    def heartbeat(self, org: str, worker_id: str, fields: dict[str, Any]) -> tuple[str, str | None] | None:
        """Record a heartbeat; answer (desired state, queue id), or None for an unknown worker.

        One UPDATE ... RETURNING: the hot path of the control plane.
        """
        sets = ["last_heartbeat=?"]
        values: list[Any] = [time.time()]
        for col, value in fields.items():
            sets.append(f"{col}=?")
            values.append(_dump(value) if col in JSON_COLUMNS else value)
        with self._lock:
            row = self._db.execute(
                f"UPDATE workers SET {', '.join(sets)}"
                " WHERE organization_id=? AND worker_id=? AND status != 'disconnected'"
                " RETURNING desired_state, queue_id",
                (*values, org, worker_id),
            ).fetchone()
        return (row[0], row[1]) if row else None

    def disconnect_worker(self, org: str, worker_id: str, reason: str, exit_code: int | None, error: str | None) -> bool:
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE workers SET status='disconnected', disconnected_at=?, disconnect_reason=?, exit_code=?,"
                " error_message=?, current_task_id=NULL, current_task_ids='[]', slots_used=0"
                " WHERE organization_id=? AND worker_id=?",
                (time.time(), reason, exit_code, error, org, worker_id),
            )
            return cur.rowcount > 0

    def set_desired_state(self, org: str, worker_id: str, state: str) -> dict[str, Any]:
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE workers SET desired_state=? WHERE organization_id=? AND worker_id=?", (state, org, worker_id)
            )
            if cur.rowcount == 0:
                raise NotFound(f"worker {worker_id!r} not found")
        return self.get_worker(org, worker_id)

    _WORKER_SELECT = (
        "SELECT w.*, q.name AS queue_name, q.heartbeat_interval AS heartbeat_interval,"
        " q.task_queue_name AS task_queue_name FROM workers w LEFT JOIN worker_queues q ON q.id = w.queue_id"
    )

    def get_worker(self, org: str, worker_id: str) -> dict[str, Any]:
        row = self._one(f"{self._WORKER_SELECT} WHERE w.organization_id=? AND w.worker_id=?", (org, worker_id))
        if row is None:
            raise NotFound(f"worker {worker_id!r} not found")
        return row

    def list_workers(self, org: str, queue_id: str | None = None) -> list[dict[str, Any]]:
        if queue_id is None:
            return self._all(
                f"{self._WORKER_SELECT} WHERE w.organization_id=? ORDER BY w.last_heartbeat DESC", (org,)
            )
        return self._all(
            f"{self._WORKER_SELECT} WHERE w.organization_id=? AND w.queue_id=? ORDER BY w.last_heartbeat DESC",
            (org, queue_id),
        )

    def list_legacy_workers(self, org: str, task_queue: str) -> list[dict[str, Any]]:
        return self._all(
            f"{self._WORKER_SELECT} WHERE w.organization_id=? AND w.legacy_queue_name=? ORDER BY w.last_heartbeat DESC",
            (org, task_queue),
        )

    # ------------------------------------------------------------------ legacy migrations

    def migrations(self, org: str) -> dict[str, dict[str, Any]]:
        rows = self._all("SELECT * FROM legacy_migrations WHERE organization_id=?", (org,))
        return {r["environment_id"]: r for r in rows}

    def start_migration(self, org: str, env_id: str, queue_id: str, actor: str | None) -> dict[str, Any]:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO legacy_migrations VALUES (?,?,?,?,?,?,NULL)",
                (env_id, org, queue_id, "migrating", actor, time.time()),
            )
        return self.migrations(org)[env_id]

    def set_migration_state(self, org: str, env_id: str, state: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE legacy_migrations SET state=? WHERE organization_id=? AND environment_id=?", (state, org, env_id)
            )

    def complete_migration(self, org: str, env_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE legacy_migrations SET state='migrated', completed_at=? WHERE organization_id=?"
                " AND environment_id=? AND state != 'migrated'",
                (time.time(), org, env_id),
            )

    # ------------------------------------------------------------------ tasks

    def add_task(self, org: str, task: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO tasks VALUES (?,?,?,?,?,?,?,?)",
                (
                    task["id"],
                    org,
                    task["queue_id"],
                    task["kind"],
                    task["priority"],
                    task["timeout_seconds"],
                    task["max_attempts"],
                    time.time(),
                ),
            )

    def get_task(self, org: str, task_id: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM tasks WHERE organization_id=? AND id=?", (org, task_id))
        if row is None:
            raise NotFound(f"task {task_id!r} not found")
        return row

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        org: str,
        actor: str | None,
        action: str,
        target_type: str | None,
        target_id: str | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO audit (organization_id, actor, action, target_type, target_id, details, created_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (org, actor, action, target_type, target_id, _dump(details or {}), time.time()),
            )

    def list_audit(self, org: str, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        if action:
            return self._all(
                "SELECT * FROM audit WHERE organization_id=? AND action=? ORDER BY id DESC LIMIT ?",
                (org, action, limit),
            )
        return self._all("SELECT * FROM audit WHERE organization_id=? ORDER BY id DESC LIMIT ?", (org, limit))
