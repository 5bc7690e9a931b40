"""The control plane's registry: organizations, keys, environments, queues, workers, tasks, audit.

One SQLite file in WAL mode. The server process keeps a single connection and calls it
from the event loop: each statement takes microseconds, and serialising them in one
thread means no "database is locked" inside the server. Other processes (``admin
create-key``) share the file through WAL and a busy timeout.

A write that the disk refuses (full, read-only, failing) raises :class:`StorageUnavailable`
and writes nothing; SQLite keeps what was stored, and the next write after the disk
recovers succeeds on the same connection.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from kubiya_tui.models import STALE_AFTER_INTERVALS

log = logging.getLogger("kubiya_tui.controlplane")

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
CREATE TABLE IF NOT EXISTS task_requests (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    status_code INTEGER,
    answer TEXT,
    created_at REAL NOT NULL,
    UNIQUE (organization_id, queue_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
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

# Columns added to ``tasks`` after its first release, added to older files when they open.
TASK_COLUMNS_ADDED = (
    ("state", "TEXT NOT NULL DEFAULT 'started'"),
    ("request_id", "TEXT"),
    ("boot_id", "TEXT"),
    ("start_error", "TEXT"),
    ("verify_start", "INTEGER NOT NULL DEFAULT 0"),
)
TASK_STATES = ("pending", "started", "not_started")
"""pending: recorded, its workflow start not settled; started: Temporal has it; not_started: it never will."""

# SQLite's primary result codes for a write the disk refused.
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 8, 10, 13, 14

QUEUE_COLUMNS = (
    "name display_name description status max_workers heartbeat_interval tags settings".split()
)


class Conflict(Exception):
    """A unique name is already taken."""


class NotFound(Exception):
    """No such object in this organization."""


class StorageUnavailable(Exception):
    """The disk refused a write (full, read-only or failing): nothing of it was written.

    ``status`` is the HTTP status that says so: 507 for a full disk, 503 otherwise.
    """

    MESSAGES = {
        "full": "the control plane's disk is full: nothing was written; writes succeed again once space is freed",
        "read-only": "the control plane's disk is read-only: nothing was written",
        "failing": "the control plane's disk failed a write (I/O error): nothing was written",
    }

    def __init__(self, condition: str) -> None:
        self.condition = condition
        self.status = 507 if condition == "full" else 503
        super().__init__(self.MESSAGES[condition])


def disk_condition(path: str) -> str:
    """Why the file system holding ``path`` refuses writes: read-only, full, or failing (neither).

    SQLite reports some of these only as an I/O error, so the directory is asked directly:
    its mount flags, its free space, and a one-byte write (a disk the kernel turned read-only
    after an error keeps its ``rw`` flag, but refuses the write with EROFS).
    """
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fs = os.statvfs(directory)
    except OSError:
        return "failing"
    if fs.f_flag & os.ST_RDONLY:
        return "read-only"
    probe = os.path.join(directory, f".write-probe-{os.getpid()}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        if exc.errno == errno.EROFS:
            return "read-only"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "full"
        return "failing"
    if fs.f_bavail * fs.f_frsize < 64 * 1024:
        return "full"
    return "failing"


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


def _request_row(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("answer") is not None:
        row["answer"] = json.loads(row["answer"])
    return row


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


class Store:
    """Every read and write of the registry; every method is scoped to one organization."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self.storage_problem: str | None = None
        """The disk's condition while it refuses writes (``full``, ``read-only``, ``failing``), else None."""
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._db.executescript(SCHEMA)
            self._add_task_columns()
            self.instance_id = self._instance_id()
            """This registry's own id, written into the memo of every workflow it starts."""

    def _add_task_columns(self) -> None:
        have = {r[1] for r in self._db.execute("PRAGMA table_info(tasks)").fetchall()}
        for name, decl in TASK_COLUMNS_ADDED:
            if name not in have:
                self._db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {decl}")
        # What the reconciler reads every pass: few rows, found without scanning every task.
        self._db.execute("CREATE INDEX IF NOT EXISTS tasks_pending ON tasks (state) WHERE state = 'pending'")
        self._db.execute("CREATE INDEX IF NOT EXISTS tasks_to_verify ON tasks (submitted_at) WHERE verify_start = 1")
        self._db.execute("CREATE INDEX IF NOT EXISTS tasks_by_request ON tasks (request_id)")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS task_requests_open ON task_requests (created_at) WHERE status_code IS NULL"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS task_requests_by_age ON task_requests (created_at)")

    def _instance_id(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE name='instance_id'").fetchone()
        if row:
            return row[0]
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('instance_id', ?)", (str(uuid.uuid4()),))
        return self._db.execute("SELECT value FROM meta WHERE name='instance_id'").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ disk errors

    def _refused(self, exc: sqlite3.Error) -> StorageUnavailable | None:
        """The StorageUnavailable that an SQLite error means, or None for any other error."""
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code == _SQLITE_FULL:
            condition = "full"
        elif code == _SQLITE_READONLY:
            condition = "read-only"
        elif code in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
            condition = disk_condition(self.path)
        else:
            return None
        if self.storage_problem != condition:
            # Said once per change, not once per refused write.
            log.error("writes to %s refused: %s (%s)", self.path, StorageUnavailable.MESSAGES[condition], exc)
        self.storage_problem = condition
        return StorageUnavailable(condition)

    def _wrote(self) -> None:
        if self.storage_problem is not None:
            log.warning("writes to %s succeed again (the disk was %s)", self.path, self.storage_problem)
            self.storage_problem = None

    @contextmanager
    def _disk_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            refused = self._refused(exc)
            if refused is None:
                raise
            raise refused from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate write transaction: readers go on, other writers wait their turn.

        Anything that fails, COMMIT included, rolls the whole transaction back, so the
        connection is ready for the next one; a disk that refuses it raises StorageUnavailable.
        """
        with self._lock, self._disk_errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise
            self._wrote()

    def _one(self, sql: str, args: tuple = ()) -> dict[str, Any] | None:
        with self._lock, self._disk_errors():
            return _row(self._db.execute(sql, args).fetchone())

    def _all(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock, self._disk_errors():
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
        return self._update("environments", org, env_id, changes, what="environment")

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
                # A renamed queue (or environment) keeps its task queue, which its workers poll: a new
                # queue that takes the old name gets a distinct one, never a shared backlog.
                task_queue = f"{org}.{env['name']}.{fields['name']}"
                if db.execute("SELECT 1 FROM worker_queues WHERE task_queue_name=?", (task_queue,)).fetchone():
                    task_queue = f"{task_queue}.{queue_id[:8]}"
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
        with self._lock, self._disk_errors():
            row = self._db.execute(
                f"UPDATE workers SET {', '.join(sets)}"
                " WHERE organization_id=? AND worker_id=? AND status != 'disconnected'"
                " RETURNING desired_state, queue_id",
                (*values, org, worker_id),
            ).fetchone()
            if self.storage_problem is not None:
                self._wrote()
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

    _TASK_INSERT = (
        "INSERT INTO tasks (id, organization_id, queue_id, kind, priority, timeout_seconds, max_attempts,"
        " submitted_at, state, request_id, boot_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    )

    def record_tasks(
        self,
        org: str,
        tasks: list[dict[str, Any]],
        request_id: str,
        boot_id: str,
        idempotency: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Record tasks as ``pending``, before their workflows start, in one transaction.

        With ``idempotency`` (``queue_id``, ``key``, ``fingerprint``) the request is recorded
        under its key too; when the key is already taken nothing is written and the request
        that holds it is returned instead.
        """
        now = time.time()
        with self.transaction() as db:
            if idempotency is not None:
                taken = db.execute(
                    "SELECT * FROM task_requests WHERE organization_id=? AND queue_id=? AND idempotency_key=?",
                    (org, idempotency["queue_id"], idempotency["key"]),
                ).fetchone()
                if taken is not None:
                    return _request_row(dict(taken))
                db.execute(
                    "INSERT INTO task_requests (id, organization_id, queue_id, idempotency_key, fingerprint, boot_id,"
                    " created_at) VALUES (?,?,?,?,?,?,?)",
                    (request_id, org, idempotency["queue_id"], idempotency["key"], idempotency["fingerprint"], boot_id, now),
                )
            db.executemany(
                self._TASK_INSERT,
                [
                    (
                        t["id"],
                        org,
                        t["queue_id"],
                        t["kind"],
                        t["priority"],
                        t["timeout_seconds"],
                        t["max_attempts"],
                        now,
                        "pending",
                        request_id,
                        boot_id,
                    )
                    for t in tasks
                ],
            )
        return None

    def settle_tasks(
        self,
        started: list[str],
        not_started: list[tuple[str, str, bool]],
        request_id: str | None = None,
        answer: tuple[int, Any] | None = None,
        forget_request: bool = False,
    ) -> None:
        """Write what became of pending tasks, and the answer kept for their request's key, at once.

        ``not_started`` holds (task id, why, verify): ``verify`` when the start's fate was
        unknown, so the reconciler checks later that Temporal really has no such workflow.
        ``forget_request`` drops the request's key instead (nothing started: a retry may try again).
        """
        with self.transaction() as db:
            db.executemany("UPDATE tasks SET state='started' WHERE id=? AND state='pending'", [(t,) for t in started])
            db.executemany(
                "UPDATE tasks SET state='not_started', start_error=?, verify_start=? WHERE id=? AND state='pending'",
                [(why, int(verify), t) for t, why, verify in not_started],
            )
            if request_id is not None and answer is not None:
                db.execute(
                    "UPDATE task_requests SET status_code=?, answer=? WHERE id=? AND status_code IS NULL",
                    (answer[0], _dump(answer[1]), request_id),
                )
            elif request_id is not None and forget_request:
                db.execute("DELETE FROM task_requests WHERE id=? AND status_code IS NULL", (request_id,))

    def find_request(self, org: str, queue_id: str, key: str) -> dict[str, Any] | None:
        """The request recorded under an idempotency key of a queue, if any."""
        row = self._one(
            "SELECT * FROM task_requests WHERE organization_id=? AND queue_id=? AND idempotency_key=?", (org, queue_id, key)
        )
        return None if row is None else _request_row(row)

    def forget_request(self, request_id: str) -> None:
        """Drop a request's key (an expired one, or one whose request started nothing)."""
        with self.transaction() as db:
            db.execute("DELETE FROM task_requests WHERE id=?", (request_id,))

    def forget_requests_before(self, before: float) -> int:
        """Drop the keys of answered requests recorded before ``before`` (their window is over)."""
        with self.transaction() as db:
            return db.execute(
                "DELETE FROM task_requests WHERE created_at < ? AND status_code IS NOT NULL", (before,)
            ).rowcount

    def open_requests(self) -> list[dict[str, Any]]:
        """Keyed requests that have no answer yet (in flight, or left by a stopped process)."""
        return [_request_row(r) for r in self._all("SELECT * FROM task_requests WHERE status_code IS NULL ORDER BY created_at")]

    def request_tasks(self, request_id: str) -> list[dict[str, Any]]:
        """The tasks of one request, in the order they were submitted."""
        return self._all("SELECT * FROM tasks WHERE request_id=? ORDER BY rowid", (request_id,))

    def pending_tasks(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Tasks recorded whose workflow start is not settled, oldest first."""
        return self._all("SELECT * FROM tasks WHERE state='pending' ORDER BY rowid LIMIT ?", (limit,))

    def tasks_to_verify(self, before: float, limit: int = 1000) -> list[dict[str, Any]]:
        """Tasks answered as not started, recorded before ``before``, whose start's fate was unknown."""
        return self._all(
            "SELECT * FROM tasks WHERE verify_start=1 AND submitted_at < ? ORDER BY rowid LIMIT ?", (before, limit)
        )

    def verified(self, task_id: str, note: str | None = None) -> None:
        """A task answered as not started is confirmed absent from Temporal (or was made so: ``note``)."""
        with self.transaction() as db:
            if note:
                db.execute(
                    "UPDATE tasks SET verify_start=0, start_error=COALESCE(start_error, '') || ? WHERE id=?",
                    (f"; {note}", task_id),
                )
            else:
                db.execute("UPDATE tasks SET verify_start=0 WHERE id=?", (task_id,))

    def known_tasks(self, task_ids: list[str]) -> set[str]:
        """Which of these task ids have a record."""
        found: set[str] = set()
        for i in range(0, len(task_ids), 500):
            chunk = task_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r["id"] for r in self._all(f"SELECT id FROM tasks WHERE id IN ({marks})", tuple(chunk)))
        return found

    def adopt_task(self, org: str, task: dict[str, Any]) -> bool:
        """Record a task that Temporal runs but that had no record (a restored registry); True if new."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO tasks (id, organization_id, queue_id, kind, priority, timeout_seconds,"
                " max_attempts, submitted_at, state, start_error) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    task["id"],
                    org,
                    task["queue_id"],
                    task["kind"],
                    task["priority"],
                    task["timeout_seconds"],
                    task["max_attempts"],
                    task["submitted_at"],
                    "started",
                    "recorded by the reconciler: Temporal ran it without a record here",
                ),
            )
            return cur.rowcount > 0

    def get_task(self, org: str, task_id: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM tasks WHERE organization_id=? AND id=?", (org, task_id))
        if row is None:
            raise NotFound(f"task {task_id!r} not found")
        return row

    def get_meta(self, name: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE name=?", (name,))
        return row["value"] if row else None

    def set_meta(self, name: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO meta VALUES (?,?) ON CONFLICT (name) DO UPDATE SET value=excluded.value", (name, value))

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
