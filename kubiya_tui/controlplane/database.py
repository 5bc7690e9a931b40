"""Where the registry lives (a database URL) and bringing its schema to the newest revision.

Two kinds of URL are accepted:

- ``sqlite:///PATH``: one SQLite file in WAL mode (the default: ``control-plane.sqlite`` in
  the data dir);
- ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (``postgres://`` and
  ``postgresql+asyncpg://`` too): a PostgreSQL server, through the asyncpg driver.

Schema changes are Alembic revisions (``controlplane/migrations/versions``). ``upgrade``
applies the missing ones in one transaction, under a lock, so replicas starting together
migrate once; a SQLite file from before migrations is stamped with the baseline first.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_FILE = "control-plane.sqlite"
ENV_VAR = "KUBIYA_TUI_DATABASE_URL"
BASELINE = "0001"
MIGRATIONS = Path(__file__).with_name("migrations")
# Held while migrating a PostgreSQL database: replicas that start together wait for each other.
_MIGRATION_LOCK_ID = 0x6B7479_01

T = TypeVar("T")


class BadDatabaseUrl(ValueError):
    """A database URL this control plane cannot use; the message says why in one line."""


def default_url(data_dir: Path) -> str:
    """The SQLite file in a data dir."""
    return f"sqlite:///{Path(data_dir) / DEFAULT_FILE}"


def parse(url: str) -> URL:
    """A checked database URL: SQLite with a file path, or PostgreSQL (driver asyncpg)."""
    try:
        found = make_url(url.strip())
    except (ArgumentError, ValueError):
        raise BadDatabaseUrl(f"database URL {redact(url)!r} is not a URL (sqlite:///PATH or postgresql://HOST/DB)") from None
    backend, _, driver = found.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise BadDatabaseUrl(f"SQLite driver {driver!r} is not supported; use sqlite:///PATH")
        if not found.database or found.database == ":memory:":
            raise BadDatabaseUrl("a SQLite database URL needs a file path: sqlite:///PATH")
        return found.set(drivername="sqlite")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "asyncpg"):
            raise BadDatabaseUrl(f"PostgreSQL driver {driver!r} is not supported; use postgresql://HOST/DB (asyncpg)")
        if not found.database:
            raise BadDatabaseUrl("a PostgreSQL database URL needs a database name: postgresql://HOST/DB")
        return found.set(drivername="postgresql+asyncpg")
    raise BadDatabaseUrl(f"database URL scheme {found.drivername!r} is not supported (sqlite:///PATH or postgresql://HOST/DB)")


def redact(url: str | URL) -> str:
    """A URL fit to print: the password hidden."""
    try:
        found = url if isinstance(url, URL) else make_url(str(url))
    except (ArgumentError, ValueError):
        return "<not a URL>"
    if found.drivername == "postgresql+asyncpg":
        found = found.set(drivername="postgresql")
    return found.render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def sqlite_engine(url: URL, *, immediate: bool = False) -> Engine:
    """A SQLite engine: WAL, foreign keys on, a busy timeout; with ``immediate``, every transaction
    SQLAlchemy begins is ``BEGIN IMMEDIATE`` (a writer waits its turn up front)."""
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver opens no transaction of its own
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    if immediate:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def run_coroutine(make: Callable[[], Any]) -> Any:
    """Run ``make()``'s coroutine to its end, in a thread of its own when this one has a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="kubiya-tui-db")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade_on(connection: Connection) -> tuple[str | None, str | None]:
    """Stamp a pre-migration file, apply what is missing; answers (revision before, revision after)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    config = _alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    before = MigrationContext.configure(connection).get_current_revision()
    if before is None and "organizations" in tables:
        command.stamp(config, BASELINE)
        before = BASELINE
    command.upgrade(config, "head")
    after = MigrationContext.configure(connection).get_current_revision()
    return before, after


def upgrade(url: str | URL) -> tuple[str | None, str | None]:
    """Bring the database at ``url`` to the newest revision; answers (revision before, revision after)."""
    found = parse(str(url)) if not isinstance(url, URL) else url
    if is_sqlite(found):
        engine = sqlite_engine(found, immediate=True)
        try:
            with engine.begin() as conn:
                return _upgrade_on(conn)
        finally:
            engine.dispose()

    async def on_postgres() -> tuple[str | None, str | None]:
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(found)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(_upgrade_on)
        finally:
            await engine.dispose()

    return run_coroutine(on_postgres)


def head_revision() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()  # type: ignore[return-value]


def instance_id(url: str | URL) -> str:
    """The registry's own id (kept in its ``meta`` table by revision 0003): one per database,
    so every replica of it names the same one."""
    found = parse(str(url)) if not isinstance(url, URL) else url
    query = text("SELECT value FROM meta WHERE name = 'instance_id'")
    if is_sqlite(found):
        engine = sqlite_engine(found)
        try:
            with engine.connect() as conn:
                value = conn.execute(query).scalar()
        finally:
            engine.dispose()
    else:

        async def read() -> Any:
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(found)
            try:
                async with engine.connect() as conn:
                    return (await conn.execute(query)).scalar()
            finally:
                await engine.dispose()

        value = run_coroutine(read)
    if value is None:
        raise RuntimeError(f"the registry at {redact(found)} has no instance id: run `kubiya-tui admin migrate`")
    return str(value)
