"""The control plane's registry: organizations, keys, environments, queues, workers, tasks, audit, leases.

One data-access layer on SQLAlchemy Core for both databases (``database.py`` says which URL
is which); every method is a coroutine, called from the server's event loop:

- SQLite (the default): one connection, used inline on the loop. Each statement takes
  microseconds; serialising them in one thread means no "database is locked" inside the
  server, and a write waits its turn up front (``BEGIN IMMEDIATE``). Other processes
  (``admin create-key``) share the file through WAL and a busy timeout; a write that still
  meets a lock is tried again.
- PostgreSQL: a pool of asyncpg connections, awaited, so the loop serves other requests
  while the server works. Single statements (a heartbeat, a read) run on their own;
  several statements that must agree run in one SERIALIZABLE transaction, tried again on
  a serialization failure or deadlock. That is SQLite's one-writer-at-a-time semantics
  for several replicas on one database.

Both answer the same rows: JSON columns are JSON text, times epoch seconds; a unique name
taken is :class:`Conflict` (409), a missing object :class:`NotFound` (404).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import os
import random
import secrets
import threading
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

from sqlalchemy import Double, and_, bindparam, case, cast, delete, func, insert, literal, select, update
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from kubiya_tui.controlplane import database
from kubiya_tui.controlplane.naming import legacy_task_queue, worker_queue_task_queue
from kubiya_tui.controlplane.schema import (
    api_keys,
    audit,
    environments,
    leases,
    legacy_migrations,
    meta,
    organizations,
    task_requests,
    tasks,
    worker_queues,
    workers,
)
from kubiya_tui.models import MAX_OBSERVED_INTERVAL, STALE_AFTER_INTERVALS

T = TypeVar("T")
log = logging.getLogger("kubiya_tui.controlplane")

# The lookups every request makes, built once: building and keying a statement costs several times
# what SQLite takes to run it (a queue by id: ~240 us built for each call, ~56 us prebuilt).
QUEUE_SELECT = select(
    *[c for c in worker_queues.c if c.name != "config_version"], environments.c.name.label("environment_name")
).join(environments, environments.c.id == worker_queues.c.environment_id)
WORKER_SELECT = select(
    workers,
    worker_queues.c.name.label("queue_name"),
    worker_queues.c.heartbeat_interval.label("heartbeat_interval"),
    worker_queues.c.task_queue_name.label("task_queue_name"),
).outerjoin(worker_queues, worker_queues.c.id == workers.c.queue_id)
_ORG, _ID = bindparam("org"), bindparam("obj_id")
ENVIRONMENT_BY_ID = select(environments).where(environments.c.organization_id == _ORG, environments.c.id == _ID)
QUEUE_BY_ID = QUEUE_SELECT.where(worker_queues.c.organization_id == _ORG, worker_queues.c.id == _ID)
WORKER_BY_ID = WORKER_SELECT.where(workers.c.organization_id == _ORG, workers.c.worker_id == _ID)
TASK_BY_ID = select(tasks).where(tasks.c.organization_id == _ORG, tasks.c.id == _ID)

# What a task submission writes (tasks recorded, then settled), built once for the same reason.
_PENDING = and_(tasks.c.id == bindparam("tid"), tasks.c.state == "pending")
RECORD_TASKS = insert(tasks)
SETTLE_STARTED = update(tasks).where(_PENDING).values(state="started")
SETTLE_NOT_STARTED = (
    update(tasks).where(_PENDING).values(state="not_started", start_error=bindparam("why"), verify_start=bindparam("verify"))
)
_UNANSWERED = and_(task_requests.c.id == bindparam("rid"), task_requests.c.status_code.is_(None))
KEEP_ANSWER = update(task_requests).where(_UNANSWERED).values(status_code=bindparam("code"), answer=bindparam("answer"))
FORGET_UNANSWERED = delete(task_requests).where(_UNANSWERED)

TASK_STATES = ("pending", "started", "not_started")
"""pending: recorded, its workflow start not settled; started: Temporal has it; not_started: it never will."""

# SQLite's primary result codes for a write the disk refused.
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 8, 10, 13, 14
# PostgreSQL's: disk_full, read_only_sql_transaction (a standby, or a database set read-only).
_PG_FULL, _PG_READ_ONLY = "53100", "25006"

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

POOL_SIZE = 5
HEARTBEAT_LANES = 4
"""PostgreSQL connections one process holds for heartbeats (they wait for no fsync: see Store)."""
"""PostgreSQL connections per pool of one process (and as many more at a peak); two pools."""
WRITE_ATTEMPTS = 12
"""A write that meets a lock (SQLite) or a serialization failure (PostgreSQL) is tried this often."""
_RETRY_STATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
_UNIQUE_STATE = "23505"


BOOT_LEASES = "-processes"
"""The leases' organization of the control-plane processes themselves (no organization's slug starts with '-')."""

RELEASED = ""
"""The holder of a lease given up (no real holder is empty)."""


def _judged_interval(interval: Any) -> Any:
    """models.effective_interval in SQL: the queue's interval, or the longer one the worker keeps (bounded)."""
    kept = workers.c.beat_interval
    bounded = case((kept > MAX_OBSERVED_INTERVAL, literal(MAX_OBSERVED_INTERVAL, Double())), else_=kept)
    return case((kept > interval, bounded), else_=interval)


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


class LeaseLost(Exception):
    """The caller no longer holds the lease it acts under: someone else acts now."""


def hash_key(key: str) -> str:
    """The stored form of an API key: its SHA-256, so the store never holds a usable key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return "kty_" + secrets.token_urlsafe(32)


def config_version(queue: dict[str, Any]) -> str:
    """A short hash of what a worker obeys in its queue's config; a heartbeat answer carries it."""
    relevant = [queue["status"], queue["max_workers"], queue["heartbeat_interval"], queue["settings"], queue["tags"]]
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _row(mapping: Any) -> dict[str, Any] | None:
    if mapping is None:
        return None
    out = dict(mapping)
    for col in JSON_COLUMNS.intersection(out):
        if out[col] is not None:
            out[col] = json.loads(out[col])
    return out


def _nul(*values: str) -> bool:
    """An identifier with a NUL character: no row has one (PostgreSQL text cannot hold it), so it
    is not looked up (on PostgreSQL the lookup itself would fail)."""
    return any("\x00" in v for v in values)


def _request_row(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("answer") is not None:
        row["answer"] = json.loads(row["answer"])
    return row


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    for candidate in (orig, getattr(orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if state:
            return str(state)
    return None


def is_unique_violation(exc: IntegrityError) -> bool:
    """A unique constraint refused the write (not a foreign key or NOT NULL)."""
    return _sqlstate(exc) == _UNIQUE_STATE or "UNIQUE constraint failed" in str(exc.orig)


def _retryable(exc: DBAPIError) -> bool:
    if _sqlstate(exc) in _RETRY_STATES:
        return True
    text = str(exc.orig).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in text or "database is busy" in text)


class Tx:
    """Statements on one connection (in a transaction, or each on its own), the same on both databases."""

    def __init__(self, conn: Any, is_async: bool) -> None:
        self._conn = conn
        self._async = is_async

    async def _execute(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        if self._async:
            return await self._conn.execute(stmt, params)
        return self._conn.execute(stmt, params)

    async def one(self, stmt: Any, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The first row as a dict with its JSON columns parsed, or None."""
        return _row((await self._execute(stmt, params)).mappings().first())

    async def all(self, stmt: Any) -> list[dict[str, Any]]:
        return [_row(m) for m in (await self._execute(stmt)).mappings().all()]  # type: ignore[misc]

    async def scalar(self, stmt: Any) -> Any:
        return (await self._execute(stmt)).scalar()

    async def run(self, stmt: Any, params: Any = None) -> int:
        """Execute (``params`` a list: once per item); answers the number of rows changed."""
        return (await self._execute(stmt, params)).rowcount


class _Lane:
    """A PostgreSQL connection held for heartbeats: the SQLAlchemy connection and its asyncpg one."""

    def __init__(self, store: "Store", conn: Any, driver: Any) -> None:
        self.store, self.conn, self.driver = store, conn, driver

    @staticmethod
    def broken(exc: Exception) -> bool:
        import asyncpg

        return isinstance(exc, (asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.InterfaceError, ConnectionError))

    async def drop(self) -> None:
        """Close it for good (its place is taken by a new connection when needed)."""
        self.store._lanes_open -= 1
        try:
            await self.conn.invalidate()
            await self.conn.close()
        except Exception:
            pass


class Store:
    """Every read and write of the registry; every method is scoped to one organization.

    ``target`` is a database URL or a SQLite file's path. The schema is brought to the
    newest revision first unless ``migrate`` is False.
    """

    def __init__(self, target: str | Path | URL, *, migrate: bool = True) -> None:
        if isinstance(target, Path) or (isinstance(target, str) and "://" not in target):
            target = f"sqlite:///{Path(target)}"
        self.url = database.parse(str(target)) if not isinstance(target, URL) else target
        self.dialect = self.url.get_backend_name()
        if migrate:
            database.upgrade(self.url)
        self.storage_problem: str | None = None
        """The disk's condition while it refuses writes (``full``, ``read-only``, ``failing``), else None."""
        self._lock = threading.RLock()
        self._heartbeat_statements: dict[tuple[str, ...], Any] = {}
        self._heartbeat_compiled: dict[Any, tuple[str, tuple[str, ...], dict[str, Any]]] = {}
        self._lanes: asyncio.Queue[_Lane] | None = None
        self._lanes_open = 0
        self._sqlite_conn: Connection | None = None
        self._engine: Any = None
        self._auto: Any = None
        if self.dialect == "sqlite":
            self._engine = database.sqlite_engine(self.url)
            self.path = self.url.database
        else:
            from sqlalchemy.ext.asyncio import create_async_engine

            self._engine = create_async_engine(self.url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
            self._auto = self._engine.execution_options(isolation_level="AUTOCOMMIT")
            self._serial = self._engine.execution_options(isolation_level="SERIALIZABLE")
            # Heartbeats commit without waiting for the WAL flush: a database crash may forget the
            # last fraction of a second of them (a worker looks that much staler), never anything
            # else, and a heartbeat costs no fsync. Every other write waits for its flush.
            self._heartbeat_pool = create_async_engine(
                self.url,
                pool_size=POOL_SIZE,
                max_overflow=POOL_SIZE,
                connect_args={"server_settings": {"synchronous_commit": "off"}},
            )
            self._heartbeat_engine = self._heartbeat_pool.execution_options(isolation_level="AUTOCOMMIT")
            self.path = None
        self.instance_id = database.instance_id(self.url)
        """This registry's own id (one for every replica of it), written into the memo of every workflow it starts."""

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _sqlite(self) -> Connection:
        if self._sqlite_conn is None:
            # The connection outside any transaction: reads and single writes commit on their own.
            self._sqlite_conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._sqlite_conn

    def sqlite_connection(self) -> Any:
        """The SQLite connection itself (sqlite3), for PRAGMAs and diagnostics; SQLite only."""
        if not self.is_sqlite:
            raise RuntimeError("the registry is not SQLite")
        return self._sqlite().connection.dbapi_connection

    async def close(self) -> None:
        """Give the connections back; the store is not used after."""
        if self.is_sqlite:
            with self._lock:
                if self._sqlite_conn is not None:
                    self._sqlite_conn.close()
                    self._sqlite_conn = None
                self._engine.dispose()
        else:
            while self._lanes is not None and not self._lanes.empty():
                await self._lanes.get_nowait().drop()
            await self._engine.dispose()
            await self._heartbeat_pool.dispose()

    # ------------------------------------------------------------------ running statements

    @asynccontextmanager
    async def _single(self, heartbeat: bool = False) -> AsyncIterator[Tx]:
        """A connection on which each statement is its own transaction."""
        if self.is_sqlite:
            with self._lock:
                yield Tx(self._sqlite(), False)
        else:
            async with (self._heartbeat_engine if heartbeat else self._auto).connect() as conn:
                yield Tx(conn, True)

    async def _once(self, use: Callable[[Tx], Awaitable[T]], heartbeat: bool = False, write: bool = False) -> T:
        """One statement on its own (a read, or a ``write`` that needs nothing else), tried again on a lock.

        Only a write that succeeds says the disk takes writes again: reads go on while it is full."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                async with self._single(heartbeat) as tx:
                    result = await use(tx)
            except DBAPIError as exc:
                if attempt + 1 < WRITE_ATTEMPTS and _retryable(exc):
                    await self._pause(attempt)
                    continue
                raise self._refused(exc) or exc
            if write:
                self._wrote()
            return result
        raise AssertionError("unreachable")

    def _refused(self, exc: DBAPIError) -> StorageUnavailable | None:
        """The StorageUnavailable that a database error means, or None for any other error."""
        condition = None
        if self.is_sqlite:
            code = (getattr(exc.orig, "sqlite_errorcode", 0) or 0) & 0xFF
            if code == _SQLITE_FULL:
                condition = "full"
            elif code == _SQLITE_READONLY:
                condition = "read-only"
            elif code in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
                condition = disk_condition(str(self.path))
        else:
            state = _sqlstate(exc)
            condition = {_PG_FULL: "full", _PG_READ_ONLY: "read-only"}.get(state or "")
        if condition is None:
            return None
        if self.storage_problem != condition:
            # Said once per change, not once per refused write.
            log.error("writes to %s refused: %s (%s)", database.redact(self.url), StorageUnavailable.MESSAGES[condition], exc.orig)
        self.storage_problem = condition
        return StorageUnavailable(condition)

    def _wrote(self) -> None:
        if self.storage_problem is not None:
            log.warning("writes to %s succeed again (the disk was %s)", database.redact(self.url), self.storage_problem)
            self.storage_problem = None

    async def _one(self, stmt: Any, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        return await self._once(lambda tx: tx.one(stmt, params))

    async def _found(self, what: str, by_id: Any, org: str, obj_id: str) -> dict[str, Any]:
        """The one row ``by_id`` selects for ``org`` and ``obj_id`` (a prebuilt ``..._BY_ID``), or NotFound
        naming ``what`` (an id with a NUL is never looked up)."""
        row = None if _nul(obj_id) else await self._one(by_id, {"org": org, "obj_id": obj_id})
        if row is None:
            raise NotFound(f"{what} {obj_id!r} not found")
        return row

    async def _all(self, stmt: Any) -> list[dict[str, Any]]:
        return await self._once(lambda tx: tx.all(stmt))

    async def _run(self, stmt: Any) -> int:
        return await self._once(lambda tx: tx.run(stmt), write=True)

    async def transaction(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``work`` in one write transaction, all or nothing; tried again from the start on a
        lock or serialization failure, so ``work`` must do nothing but database statements."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                if self.is_sqlite:
                    with self._lock:
                        conn = self._sqlite()
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                        try:
                            result = await work(Tx(conn, False))
                            conn.exec_driver_sql("COMMIT")
                        except BaseException:
                            # Anything that fails, COMMIT included, rolls the whole transaction back.
                            if conn.connection.dbapi_connection.in_transaction:
                                try:
                                    conn.exec_driver_sql("ROLLBACK")
                                except DBAPIError:
                                    pass
                            raise
                else:
                    async with self._serial.begin() as conn:
                        result = await work(Tx(conn, True))
            except DBAPIError as exc:
                if attempt + 1 < WRITE_ATTEMPTS and _retryable(exc):
                    await self._pause(attempt)
                    continue
                raise self._refused(exc) or exc
            self._wrote()
            return result
        raise AssertionError("unreachable")

    @staticmethod
    async def _pause(attempt: int) -> None:
        # Jittered, growing: transactions that collided do not collide again in step.
        await asyncio.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))

    async def now(self) -> float:
        """The database's clock in epoch seconds (PostgreSQL's, shared by every replica; SQLite: this host's)."""
        if self.is_sqlite:
            return time.time()
        async with self._single() as tx:
            return float(await tx.scalar(select(func.extract("epoch", func.clock_timestamp()))))

    # ------------------------------------------------------------------ organizations, keys

    async def ensure_org(self, org_id: str) -> bool:
        """Create the organization and its `default` environment; True if it was new."""

        async def work(tx: Tx) -> bool:
            if await tx.one(select(organizations.c.id).where(organizations.c.id == org_id)):
                return False
            now = time.time()
            await tx.run(insert(organizations).values(id=org_id, name=org_id, created_at=now))
            await tx.run(
                insert(environments).values(
                    id=str(uuid.uuid4()),
                    organization_id=org_id,
                    name="default",
                    display_name="Default",
                    description="Default environment",
                    status="ready",
                    created_at=now,
                    updated_at=now,
                )
            )
            return True

        return await self.transaction(work)

    async def org_exists(self, org_id: str) -> bool:
        return await self._one(select(organizations.c.id).where(organizations.c.id == org_id)) is not None

    async def count_keys(self) -> int:
        return await self._once(lambda tx: tx.scalar(select(func.count()).select_from(api_keys)))

    async def add_key(self, org_id: str, key: str, name: str) -> str:
        await self.ensure_org(org_id)
        key_id = str(uuid.uuid4())
        try:
            await self._run(
                insert(api_keys).values(
                    id=key_id, organization_id=org_id, name=name, key_hash=hash_key(key), created_at=time.time()
                )
            )
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise Conflict("that API key is already registered") from None
        return key_id

    async def key_owner(self, key: str) -> tuple[str, str] | None:
        """(organization id, key name) for a key, or None when the key is unknown."""
        row = await self._one(
            select(api_keys.c.organization_id, api_keys.c.name).where(api_keys.c.key_hash == hash_key(key))
        )
        return (row["organization_id"], row["name"]) if row else None

    # ------------------------------------------------------------------ environments

    async def list_environments(self, org: str) -> list[dict[str, Any]]:
        return await self._all(
            select(environments)
            .where(environments.c.organization_id == org)
            .order_by(environments.c.created_at, environments.c.name)
        )

    async def get_environment(self, org: str, env_id: str) -> dict[str, Any]:
        return await self._found("environment", ENVIRONMENT_BY_ID, org, env_id)

    async def find_environment(self, org: str, name: str) -> dict[str, Any] | None:
        if _nul(name):
            return None
        return await self._one(
            select(environments).where(environments.c.organization_id == org, environments.c.name == name)
        )

    async def create_environment(self, org: str, fields: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        env_id = str(uuid.uuid4())

        async def work(tx: Tx) -> None:
            await self._refuse_taken_legacy_name(tx, org, fields["name"])
            await tx.run(
                insert(environments).values(
                    id=env_id,
                    organization_id=org,
                    name=fields["name"],
                    display_name=fields.get("display_name") or fields["name"],
                    description=fields.get("description"),
                    tags=_dump(fields.get("tags") or []),
                    settings=_dump(fields.get("settings") or {}),
                    status="ready",
                    created_at=now,
                    updated_at=now,
                )
            )

        try:
            await self.transaction(work)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise Conflict(f"an environment named {fields['name']!r} already exists") from None
        return await self.get_environment(org, env_id)

    async def update_environment(self, org: str, env_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        current = await self.get_environment(org, env_id)
        if "name" in changes and current["name"] == "default" and changes["name"] != "default":
            raise ValueError("the default environment cannot be renamed")
        if "name" in changes and changes["name"] != current["name"]:
            await self._once(lambda tx: self._refuse_taken_legacy_name(tx, org, changes["name"]))
        return await self._update("environments", org, env_id, changes, what="environment")

    @staticmethod
    async def _refuse_taken_legacy_name(tx: Tx, org: str, name: str) -> None:
        """Conflict when an environment of this name would poll a task queue a worker queue already polls."""
        task_queue = legacy_task_queue(org, name)
        if await tx.one(select(worker_queues.c.id).where(worker_queues.c.task_queue_name == task_queue)):
            raise Conflict(
                f"an environment named {name!r} would be polled on task queue {task_queue!r},"
                " which a worker queue already uses; choose another name"
            )

    async def delete_environment(self, org: str, env_id: str) -> dict[str, Any]:
        env = await self.get_environment(org, env_id)
        if env["name"] == "default":
            raise ValueError("the default environment cannot be deleted")

        async def work(tx: Tx) -> None:
            n = await tx.scalar(
                select(func.count()).select_from(worker_queues).where(worker_queues.c.environment_id == env_id)
            )
            if n:
                raise ValueError(f"environment {env['name']!r} still has {n} worker queue(s); delete them first")
            await tx.run(delete(environments).where(environments.c.id == env_id))

        await self.transaction(work)
        return env

    async def _update(self, table: str, org: str, obj_id: str, changes: dict[str, Any], what: str) -> dict[str, Any]:
        target = environments if table == "environments" else worker_queues
        if changes:
            values = {k: (_dump(v) if k in JSON_COLUMNS else v) for k, v in changes.items()}

            async def work(tx: Tx) -> None:
                n = await tx.run(
                    update(target)
                    .where(target.c.organization_id == org, target.c.id == obj_id)
                    .values(**values, updated_at=time.time())
                )
                if n == 0:
                    raise NotFound(f"{what} {obj_id!r} not found")
                if target is worker_queues:
                    # The config version moves with the row, in the same transaction.
                    row = await tx.one(select(worker_queues).where(worker_queues.c.id == obj_id))
                    version = config_version(row)  # type: ignore[arg-type]
                    if version != row["config_version"]:  # type: ignore[index]
                        await tx.run(
                            update(worker_queues).where(worker_queues.c.id == obj_id).values(config_version=version)
                        )

            try:
                await self.transaction(work)
            except IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
                article = "an" if what[0] in "aeiou" else "a"
                raise Conflict(f"{article} {what} named {changes.get('name')!r} already exists") from None
        getter = self.get_environment if table == "environments" else self.get_queue
        return await getter(org, obj_id)

    # ------------------------------------------------------------------ worker queues

    async def list_queues(self, org: str, env_id: str | None = None) -> list[dict[str, Any]]:
        stmt = QUEUE_SELECT.where(worker_queues.c.organization_id == org)
        if env_id is not None:
            await self.get_environment(org, env_id)
            stmt = stmt.where(worker_queues.c.environment_id == env_id)
        return await self._all(stmt.order_by(worker_queues.c.seq))

    async def get_queue(self, org: str, queue_id: str) -> dict[str, Any]:
        return await self._found("worker queue", QUEUE_BY_ID, org, queue_id)

    async def create_queue(self, org: str, env_id: str, fields: dict[str, Any], actor: str | None) -> dict[str, Any]:
        env = await self.get_environment(org, env_id)
        now = time.time()
        queue_id = str(uuid.uuid4())
        row = {
            "id": queue_id,
            "organization_id": org,
            "environment_id": env_id,
            "name": fields["name"],
            "display_name": fields.get("display_name") or fields["name"],
            "description": fields.get("description"),
            "status": "active",
            "max_workers": fields.get("max_workers"),
            "heartbeat_interval": fields.get("heartbeat_interval", 60),
            "tags": fields.get("tags") or [],
            "settings": fields.get("settings") or {},
        }

        async def work(tx: Tx) -> None:
            seq = await tx.scalar(select(func.coalesce(func.max(worker_queues.c.seq), 0) + 1))
            # Fixed at creation: renames keep the task queue that the queue's workers poll.
            task_queue = worker_queue_task_queue(queue_id)
            await tx.run(
                insert(worker_queues).values(
                    **{k: (_dump(v) if k in JSON_COLUMNS else v) for k, v in row.items()},
                    task_queue_name=task_queue,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                    seq=seq,
                    config_version=config_version(row),
                )
            )

        try:
            await self.transaction(work)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise Conflict(
                f"a worker queue named {fields['name']!r} already exists in environment {env['name']!r}"
            ) from None
        return await self.get_queue(org, queue_id)

    async def update_queue(self, org: str, queue_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        current = await self.get_queue(org, queue_id)
        if "name" in changes and current["name"] == "default" and changes["name"] != "default":
            raise ValueError("the queue named 'default' cannot be renamed")
        return await self._update("worker_queues", org, queue_id, changes, what="worker queue")

    async def delete_queue(self, org: str, queue_id: str, live_workers: int) -> dict[str, Any]:
        queue = await self.get_queue(org, queue_id)
        if queue["name"] == "default":
            raise ValueError("the queue named 'default' cannot be deleted")
        if live_workers:
            raise ValueError(f"worker queue {queue['name']!r} still has {live_workers} live worker(s); drain them first")

        async def work(tx: Tx) -> None:
            await tx.run(delete(worker_queues).where(worker_queues.c.id == queue_id))
            await tx.run(
                update(workers)
                .where(workers.c.queue_id == queue_id, workers.c.organization_id == org)
                .values(queue_id=None)
            )

        await self.transaction(work)
        return queue

    async def set_desired_workers(
        self, org: str, queue_id: str, workers_wanted: int | None, lease: tuple[str, str, int] | None = None
    ) -> dict[str, Any]:
        """Set a queue's wanted worker count (and when it last changed).

        With ``lease`` (name, holder, token) the change is made only while that lease is
        still held with that token, in the same transaction: :class:`LeaseLost` otherwise,
        so a runner that lost its lease mid-decision changes nothing.
        """

        async def work(tx: Tx) -> None:
            if lease is not None:
                await self._check_lease(tx, org, *lease)
            current = await tx.one(
                select(worker_queues.c.desired_workers).where(
                    worker_queues.c.organization_id == org, worker_queues.c.id == queue_id
                )
            )
            if current is None:
                raise NotFound(f"worker queue {queue_id!r} not found")
            now = time.time()
            values: dict[str, Any] = {"desired_workers": workers_wanted, "updated_at": now}
            if current["desired_workers"] != workers_wanted:
                values["last_scaled_at"] = now
            await tx.run(update(worker_queues).where(worker_queues.c.id == queue_id).values(**values))

        await self.transaction(work)
        return await self.get_queue(org, queue_id)

    async def set_autoscale(self, org: str, queue_id: str, policy: dict[str, Any] | None) -> dict[str, Any]:
        return await self._update("worker_queues", org, queue_id, {"autoscale": policy}, what="worker queue")

    # ------------------------------------------------------------------ workers

    async def register_worker(self, org: str, worker_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Insert a worker, or bring a known worker id back to life (legacy re-registration)."""
        now = time.time()
        values = {
            "id": str(uuid.uuid4()),
            "organization_id": org,
            "worker_id": worker_id,
            "queue_id": fields.get("queue_id"),
            "environment_id": fields.get("environment_id"),
            "legacy_queue_name": fields.get("legacy_queue_name"),
            "status": "active",
            "desired_state": "running",
            "hostname": fields.get("hostname"),
            "system_info": _dump(fields.get("system_info")),
            "worker_metadata": _dump(fields.get("worker_metadata") or {}),
            "capabilities": _dump(fields.get("capabilities") or {}),
            "sdk_version": fields.get("sdk_version"),
            "last_heartbeat": now,
            "registered_at": now,
        }
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as upsert
        else:
            from sqlalchemy.dialects.postgresql import insert as upsert  # type: ignore[assignment]
        stmt = upsert(workers).values(**values)
        taken = {c: stmt.excluded[c] for c in (
            "queue_id", "environment_id", "legacy_queue_name", "hostname", "system_info",
            "worker_metadata", "capabilities", "sdk_version", "last_heartbeat",
        )}  # fmt: skip
        stmt = stmt.on_conflict_do_update(
            index_elements=["organization_id", "worker_id"],
            set_={
                **taken, "status": "active", "desired_state": "running", "disconnected_at": None, "disconnect_reason": None,
                "beat_interval": None, "drain_requested_at": None,
            },  # fmt: skip
        )
        await self._run(stmt)
        return await self.get_worker(org, worker_id)

    def _live(self, now: float, interval: Any) -> Any:
        return and_(
            workers.c.status.not_in(("disconnected", "offline")),
            workers.c.last_heartbeat >= literal(now) - STALE_AFTER_INTERVALS * _judged_interval(interval),
        )

    async def count_live_workers(self, org: str, queue_id: str, now: float, interval: float) -> int:
        return await self._once(
            lambda tx: tx.scalar(
                select(func.count())
                .select_from(workers)
                .where(
                    workers.c.organization_id == org,
                    workers.c.queue_id == queue_id,
                    workers.c.status.not_in(("disconnected", "offline")),
                    workers.c.last_heartbeat >= now - STALE_AFTER_INTERVALS * _judged_interval(interval),
                )
            )
        )

    async def live_worker_counts(self, org: str, now: float) -> dict[str, int]:
        """Live workers per queue id, in one query (for queue lists)."""
        rows = await self._all(
            select(workers.c.queue_id, func.count().label("n"))
            .join(worker_queues, worker_queues.c.id == workers.c.queue_id)
            .where(workers.c.organization_id == org, self._live(now, worker_queues.c.heartbeat_interval))
            .group_by(workers.c.queue_id)
        )
        return {r["queue_id"]: r["n"] for r in rows}

    async def heartbeat(
        self, org: str, worker_id: str, fields: dict[str, Any]
    ) -> tuple[str, str | None, str | None] | None:
        """Record a heartbeat; answer (desired state, queue id, the queue's config version), or
        None for an unknown or disconnected worker.

        One UPDATE ... RETURNING: the hot path of the control plane.
        """
        if _nul(worker_id):
            return None
        params: dict[str, Any] = {"org": org, "wid": worker_id, "beat_at": time.time()}
        for col, value in fields.items():
            params[col] = _dump(value) if col in JSON_COLUMNS else value
        stmt = self._heartbeat_statement(tuple(fields))
        if self.is_sqlite:
            row = await self._once(lambda tx: tx.one(stmt, params), write=True)
            return (row["desired_state"], row["queue_id"], row["config_version"]) if row else None
        return await self._heartbeat_on_lane(stmt, params)

    async def _heartbeat_on_lane(self, stmt: Any, params: dict[str, Any]) -> tuple[str, str | None, str | None] | None:
        """Run the heartbeat's statement on a connection held for heartbeats, through the driver.

        SQLAlchemy builds and compiles the statement (once per set of columns); what a
        heartbeat skips is the pool checkout and result machinery around each execution,
        which cost several times the statement itself.
        """
        compiled = self._heartbeat_compiled.get(stmt)
        if compiled is None:
            done = stmt.compile(dialect=self._engine.dialect)
            compiled = self._heartbeat_compiled[stmt] = (done.string, tuple(done.positiontup), dict(done.params))
        sql, names, constants = compiled
        args = [params[n] if n in params else constants[n] for n in names]
        for attempt in range(2):
            lane = await self._take_lane()
            try:
                record = await lane.driver.fetchrow(sql, *args)
            except Exception as exc:
                await lane.drop()
                if attempt == 0 and lane.broken(exc):
                    continue  # a connection the server closed: once more on a fresh one
                raise
            else:
                self._lanes.put_nowait(lane)
            if record is None:
                return None
            return (record["desired_state"], record["queue_id"], record["config_version"])
        raise AssertionError("unreachable")

    async def _take_lane(self) -> "_Lane":
        if self._lanes is None:
            self._lanes = asyncio.Queue()
        if self._lanes.empty() and self._lanes_open < HEARTBEAT_LANES:
            self._lanes_open += 1
            try:
                conn = await self._heartbeat_engine.connect()
                raw = await conn.get_raw_connection()
            except BaseException:
                self._lanes_open -= 1
                raise
            return _Lane(self, conn, raw.driver_connection)
        return await self._lanes.get()

    def _heartbeat_statement(self, columns: tuple[str, ...]) -> Any:
        """The heartbeat's UPDATE for these columns, built once: building and keying a statement
        costs more than running it."""
        stmt = self._heartbeat_statements.get(columns)
        if stmt is None:
            version = (
                select(worker_queues.c.config_version)
                .where(worker_queues.c.id == workers.c.queue_id)
                .correlate(workers)
                .scalar_subquery()
            )
            stmt = (
                update(workers)
                .where(
                    workers.c.organization_id == bindparam("org"),
                    workers.c.worker_id == bindparam("wid"),
                    workers.c.status != "disconnected",
                )
                .values(
                    {
                        "last_heartbeat": bindparam("beat_at", type_=Double()),
                        # The interval it keeps: the time since its previous heartbeat (old value on the right).
                        "beat_interval": cast(bindparam("beat_at", type_=Double()), Double()) - workers.c.last_heartbeat,
                        **{col: bindparam(col) for col in columns},
                    }
                )
                .returning(workers.c.desired_state, workers.c.queue_id, version.label("config_version"))
            )
            if len(self._heartbeat_statements) < 256:
                self._heartbeat_statements[columns] = stmt
        return stmt

    async def disconnect_worker(self, org: str, worker_id: str, reason: str, exit_code: int | None, error: str | None) -> bool:
        if _nul(worker_id):
            return False
        n = await self._run(
            update(workers)
            .where(workers.c.organization_id == org, workers.c.worker_id == worker_id)
            .values(
                status="disconnected",
                disconnected_at=time.time(),
                disconnect_reason=reason,
                exit_code=exit_code,
                error_message=error,
                current_task_id=None,
                current_task_ids="[]",
                slots_used=0,
            )
        )
        return n > 0

    async def set_desired_state(self, org: str, worker_id: str, state: str) -> dict[str, Any]:
        if _nul(worker_id):
            raise NotFound(f"worker {worker_id!r} not found")
        n = await self._run(
            update(workers)
            .where(workers.c.organization_id == org, workers.c.worker_id == worker_id)
            .values(
                desired_state=state,
                # The first drain request is kept ("drain requested 2m ago"); anything else clears it.
                drain_requested_at=func.coalesce(workers.c.drain_requested_at, time.time()) if state == "draining" else None,
            )
        )
        if n == 0:
            raise NotFound(f"worker {worker_id!r} not found")
        return await self.get_worker(org, worker_id)

    async def get_worker(self, org: str, worker_id: str) -> dict[str, Any]:
        return await self._found("worker", WORKER_BY_ID, org, worker_id)

    async def list_workers(self, org: str, queue_id: str | None = None) -> list[dict[str, Any]]:
        stmt = WORKER_SELECT.where(workers.c.organization_id == org)
        if queue_id is not None:
            stmt = stmt.where(workers.c.queue_id == queue_id)
        return await self._all(stmt.order_by(workers.c.last_heartbeat.desc(), workers.c.id))

    async def task_queue_names(self, org: str) -> tuple[list[str], list[str], list[str]]:
        """The names an organization's task queues are made of, one column each (not whole rows, for a
        relay read of 1,000 queues): its worker queues' task queues, its environments' names, and the
        legacy task queues its workers registered on."""

        async def names(tx: Tx) -> tuple[list[str], list[str], list[str]]:
            queues = await tx.all(
                select(worker_queues.c.task_queue_name).where(worker_queues.c.organization_id == org).order_by(worker_queues.c.seq)
            )
            envs = await tx.all(
                select(environments.c.name)
                .where(environments.c.organization_id == org)
                .order_by(environments.c.created_at, environments.c.name)
            )
            legacy = await tx.all(
                select(workers.c.legacy_queue_name)
                .where(workers.c.organization_id == org, workers.c.legacy_queue_name.is_not(None))
                .distinct()
            )
            return [r["task_queue_name"] for r in queues], [r["name"] for r in envs], [r["legacy_queue_name"] for r in legacy]

        return await self._once(names)

    async def list_legacy_workers(self, org: str, task_queue: str) -> list[dict[str, Any]]:
        if _nul(task_queue):
            return []
        return await self._all(
            WORKER_SELECT
            .where(workers.c.organization_id == org, workers.c.legacy_queue_name == task_queue)
            .order_by(workers.c.last_heartbeat.desc(), workers.c.id)
        )

    # ------------------------------------------------------------------ legacy migrations

    async def migrations(self, org: str) -> dict[str, dict[str, Any]]:
        rows = await self._all(select(legacy_migrations).where(legacy_migrations.c.organization_id == org))
        return {r["environment_id"]: r for r in rows}

    async def start_migration(self, org: str, env_id: str, queue_id: str, actor: str | None) -> dict[str, Any]:
        await self._run(
            insert(legacy_migrations).values(
                environment_id=env_id,
                organization_id=org,
                worker_queue_id=queue_id,
                state="migrating",
                started_by=actor,
                started_at=time.time(),
                completed_at=None,
            )
        )
        return (await self.migrations(org))[env_id]

    async def set_migration_state(self, org: str, env_id: str, state: str) -> None:
        await self._run(
            update(legacy_migrations)
            .where(legacy_migrations.c.organization_id == org, legacy_migrations.c.environment_id == env_id)
            .values(state=state)
        )

    async def complete_migration(self, org: str, env_id: str) -> None:
        await self._run(
            update(legacy_migrations)
            .where(
                legacy_migrations.c.organization_id == org,
                legacy_migrations.c.environment_id == env_id,
                legacy_migrations.c.state != "migrated",
            )
            .values(state="migrated", completed_at=time.time())
        )

    # ------------------------------------------------------------------ tasks

    async def record_tasks(
        self,
        org: str,
        new_tasks: list[dict[str, Any]],
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

        def key_taken() -> Any:
            return select(task_requests).where(
                task_requests.c.organization_id == org,
                task_requests.c.queue_id == idempotency["queue_id"],  # type: ignore[index]
                task_requests.c.idempotency_key == idempotency["key"],  # type: ignore[index]
            )

        async def work(tx: Tx) -> dict[str, Any] | None:
            if idempotency is not None:
                taken = await tx.one(key_taken())
                if taken is not None:
                    return _request_row(taken)
                await tx.run(
                    insert(task_requests).values(
                        id=request_id,
                        organization_id=org,
                        queue_id=idempotency["queue_id"],
                        idempotency_key=idempotency["key"],
                        fingerprint=idempotency["fingerprint"],
                        boot_id=boot_id,
                        created_at=now,
                    )
                )
            if new_tasks:
                rows = [
                    {
                        "id": t["id"],
                        "organization_id": org,
                        "queue_id": t["queue_id"],
                        "kind": t["kind"],
                        "priority": t["priority"],
                        "timeout_seconds": t["timeout_seconds"],
                        "max_attempts": t["max_attempts"],
                        "submitted_at": now,
                        "state": "pending",
                        "request_id": request_id,
                        "boot_id": boot_id,
                        "position": n,
                    }
                    for n, t in enumerate(new_tasks)
                ]
                for start in range(0, len(rows), 1000):
                    await tx.run(RECORD_TASKS, rows[start : start + 1000])
            return None

        try:
            return await self.transaction(work)
        except IntegrityError as exc:
            if idempotency is None or not is_unique_violation(exc):
                raise
            # Another replica recorded the same key a moment ago: its request is the one.
            taken = await self._one(key_taken())
            if taken is None:
                raise
            return _request_row(taken)

    async def settle_tasks(
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
        async def work(tx: Tx) -> None:
            if started:
                await tx.run(SETTLE_STARTED, [{"tid": t} for t in started])
            if not_started:
                await tx.run(SETTLE_NOT_STARTED, [{"tid": t, "why": why, "verify": int(verify)} for t, why, verify in not_started])
            if request_id is not None and answer is not None:
                await tx.run(KEEP_ANSWER, {"rid": request_id, "code": answer[0], "answer": _dump(answer[1])})
            elif request_id is not None and forget_request:
                await tx.run(FORGET_UNANSWERED, {"rid": request_id})

        await self.transaction(work)

    async def find_request(self, org: str, queue_id: str, key: str) -> dict[str, Any] | None:
        """The request recorded under an idempotency key of a queue, if any."""
        if _nul(queue_id, key):
            return None
        row = await self._one(
            select(task_requests).where(
                task_requests.c.organization_id == org,
                task_requests.c.queue_id == queue_id,
                task_requests.c.idempotency_key == key,
            )
        )
        return None if row is None else _request_row(row)

    async def forget_request(self, request_id: str) -> None:
        """Drop a request's key (an expired one, or one whose request started nothing)."""
        await self._run(delete(task_requests).where(task_requests.c.id == request_id))

    async def forget_requests_before(self, before: float) -> int:
        """Drop the keys of answered requests recorded before ``before`` (their window is over)."""
        return await self._run(
            delete(task_requests).where(task_requests.c.created_at < before, task_requests.c.status_code.is_not(None))
        )

    async def open_requests(self) -> list[dict[str, Any]]:
        """Keyed requests that have no answer yet (in flight, or left by a stopped process)."""
        rows = await self._all(
            select(task_requests).where(task_requests.c.status_code.is_(None)).order_by(task_requests.c.created_at)
        )
        return [_request_row(r) for r in rows]

    _TASK_ORDER = (tasks.c.submitted_at, tasks.c.position, tasks.c.id)

    async def request_tasks(self, request_id: str) -> list[dict[str, Any]]:
        """The tasks of one request, in the order they were submitted."""
        return await self._all(select(tasks).where(tasks.c.request_id == request_id).order_by(*self._TASK_ORDER))

    async def pending_tasks(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Tasks recorded whose workflow start is not settled, oldest first."""
        return await self._all(select(tasks).where(tasks.c.state == "pending").order_by(*self._TASK_ORDER).limit(limit))

    async def tasks_to_verify(self, before: float, limit: int = 1000) -> list[dict[str, Any]]:
        """Tasks answered as not started, recorded before ``before``, whose start's fate was unknown."""
        return await self._all(
            select(tasks)
            .where(tasks.c.verify_start == 1, tasks.c.submitted_at < before)
            .order_by(*self._TASK_ORDER)
            .limit(limit)
        )

    async def verified(self, task_id: str, note: str | None = None) -> None:
        """A task answered as not started is confirmed absent from Temporal (or was made so: ``note``)."""
        values: dict[str, Any] = {"verify_start": 0}
        if note:
            values["start_error"] = func.coalesce(tasks.c.start_error, "") + f"; {note}"
        await self._run(update(tasks).where(tasks.c.id == task_id).values(**values))

    async def known_tasks(self, task_ids: list[str]) -> set[str]:
        """Which of these task ids have a record."""
        found: set[str] = set()
        for i in range(0, len(task_ids), 500):
            chunk = [t for t in task_ids[i : i + 500] if not _nul(t)]
            if chunk:
                found.update(r["id"] for r in await self._all(select(tasks.c.id).where(tasks.c.id.in_(chunk))))
        return found

    async def adopt_task(self, org: str, task: dict[str, Any]) -> bool:
        """Record a task that Temporal runs but that had no record (a restored registry); True if new."""
        values = {
            "id": task["id"],
            "organization_id": org,
            "queue_id": task["queue_id"],
            "kind": task["kind"],
            "priority": task["priority"],
            "timeout_seconds": task["timeout_seconds"],
            "max_attempts": task["max_attempts"],
            "submitted_at": task["submitted_at"],
            "state": "started",
            "start_error": "recorded by the reconciler: Temporal ran it without a record here",
        }
        return await self._run(self._upsert(tasks).values(**values).on_conflict_do_nothing(index_elements=["id"])) > 0

    def _upsert(self, table: Any) -> Any:
        """INSERT ... ON CONFLICT of this database's dialect."""
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as upsert
        else:
            from sqlalchemy.dialects.postgresql import insert as upsert  # type: ignore[assignment]
        return upsert(table)

    async def get_task(self, org: str, task_id: str) -> dict[str, Any]:
        return await self._found("task", TASK_BY_ID, org, task_id)

    async def get_meta(self, name: str) -> str | None:
        row = await self._one(select(meta.c.value).where(meta.c.name == name))
        return row["value"] if row else None

    async def set_meta(self, name: str, value: str) -> None:
        stmt = self._upsert(meta).values(name=name, value=value)
        await self._run(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": stmt.excluded.value}))

    # ------------------------------------------------------------------ audit

    async def audit(
        self,
        org: str,
        actor: str | None,
        action: str,
        target_type: str | None,
        target_id: str | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self._run(
            insert(audit).values(
                organization_id=org,
                actor=actor,
                action=action,
                target_type=target_type,
                target_id=target_id,
                details=_dump(details or {}),
                created_at=time.time(),
            )
        )

    async def list_audit(self, org: str, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        stmt = select(audit).where(audit.c.organization_id == org)
        if action:
            stmt = stmt.where(audit.c.action == action)
        return await self._all(stmt.order_by(audit.c.id.desc()).limit(limit))

    # ------------------------------------------------------------------ leases

    async def acquire_lease(self, org: str, name: str, holder: str, ttl: float) -> tuple[bool, dict[str, Any]]:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl`` seconds of the database's clock.

        Answers (True, the lease) when ``holder`` holds it now (its token grows whenever the
        holder changes; ``renewed`` says whether it held it already), or (False, the lease as
        another holds it) while that one's is unexpired.
        """

        async def work(tx: Tx) -> tuple[bool, dict[str, Any]]:
            now = await self._tx_now(tx)
            where = and_(leases.c.organization_id == org, leases.c.name == name)
            row = await tx.one(select(leases).where(where))
            if row is None:
                lease = {"organization_id": org, "name": name, "holder": holder, "token": 1, "acquired_at": now, "expires_at": now + ttl}
                await tx.run(insert(leases).values(**lease))
                return True, {**lease, "renewed": False}
            if row["holder"] == holder and row["expires_at"] > now:
                await tx.run(update(leases).where(where).values(expires_at=now + ttl))
                return True, {**row, "expires_at": now + ttl, "renewed": True}
            if row["expires_at"] > now and row["holder"] != RELEASED:
                return False, row
            lease = {**row, "holder": holder, "token": row["token"] + 1, "acquired_at": now, "expires_at": now + ttl}
            await tx.run(update(leases).where(where).values(**lease))
            return True, {**lease, "renewed": False}

        return await self.transaction(work)

    async def release_lease(self, org: str, name: str, holder: str) -> tuple[str, dict[str, Any] | None]:
        """Give the lease ``name`` up at once if ``holder`` holds it.

        Answers ("released", None) when it did; ("free", None) when nobody held it (it had
        expired or was given up: it is marked given up all the same); ("held", the lease) while
        another holder's is unexpired (nothing changes); ("never", None) when it was never taken.
        A lease given up keeps its row, with no holder, so its token still grows on the next take.
        """

        async def work(tx: Tx) -> tuple[str, dict[str, Any] | None]:
            now = await self._tx_now(tx)
            where = and_(leases.c.organization_id == org, leases.c.name == name)
            row = await tx.one(select(leases).where(where))
            if row is None:
                return "never", None
            live = row["expires_at"] > now and row["holder"] != RELEASED
            if live and row["holder"] != holder:
                return "held", row
            if row["holder"] != RELEASED:
                await tx.run(update(leases).where(where).values(holder=RELEASED, expires_at=min(row["expires_at"], now)))
            return ("released" if live else "free"), None

        return await self.transaction(work)

    async def lease_holders(self, org: str) -> set[str]:
        """Who holds an unexpired lease of ``org`` now."""
        now = await self.now()
        rows = await self._all(select(leases.c.holder).where(leases.c.organization_id == org, leases.c.expires_at > now))
        return {r["holder"] for r in rows} - {RELEASED}

    async def forget_expired_leases(self, org: str, before: float) -> int:
        """Drop the leases of ``org`` that expired before ``before`` (stopped processes' boot leases)."""
        return await self._run(delete(leases).where(leases.c.organization_id == org, leases.c.expires_at < before))

    async def get_lease(self, org: str, name: str) -> dict[str, Any] | None:
        return await self._one(select(leases).where(leases.c.organization_id == org, leases.c.name == name))

    async def _tx_now(self, tx: Tx) -> float:
        if self.is_sqlite:
            return time.time()
        return float(await tx.scalar(select(func.extract("epoch", func.clock_timestamp()))))

    async def _check_lease(self, tx: Tx, org: str, name: str, holder: str, token: int) -> None:
        now = await self._tx_now(tx)
        row = await tx.one(select(leases).where(leases.c.organization_id == org, leases.c.name == name))
        if row is None or row["holder"] != holder or row["token"] != token or row["expires_at"] <= now:
            who = f"{row['holder']} (token {row['token']})" if row else "nobody"
            raise LeaseLost(f"lease {name!r} is not held by {holder!r} with token {token}; it is held by {who}")
