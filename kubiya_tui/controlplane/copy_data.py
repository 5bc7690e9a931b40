"""``admin copy-data``: the whole registry from one database into another (SQLite to PostgreSQL, say).

Both databases are first brought to the newest revision, so the tables are the same. The
target must hold no registry rows (a database just created, or migrated and never served).
Every table of ``schema.COPIED_TABLES`` is read in full from the source, written to the
target in one transaction, parents first, and then read back from the target and compared
row for row; any difference rolls the copy back. The registry's instance id (``meta``) moves
with it: the target's own, made by its migration, is replaced. PostgreSQL's audit id sequence is moved
past the copied ids, so new entries keep counting up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text

from kubiya_tui.controlplane import database
from kubiya_tui.controlplane.schema import COPIED_TABLES, audit, meta

BATCH = 500


class CopyRefused(Exception):
    """The copy was not made (the target holds data, or what was written differs); nothing changed."""


def _ordered(table: Table) -> Any:
    return select(table).order_by(*table.primary_key.columns)


async def _read_all(conn: Any, table: Table) -> list[dict[str, Any]]:
    return [dict(r) for r in (await _run(conn, _ordered(table))).mappings().all()]


async def _run(conn: Any, stmt: Any, params: Any = None) -> Any:
    result = conn.execute(stmt, params)
    if hasattr(result, "__await__"):
        result = await result
    return result


class _Side:
    """One database of the copy, connected for the duration."""

    def __init__(self, url: str) -> None:
        self.url = database.parse(url)
        self.sqlite = database.is_sqlite(self.url)
        self.engine: Any = None
        self.conn: Any = None

    async def __aenter__(self) -> "_Side":
        if self.sqlite:
            self.engine = database.sqlite_engine(self.url, immediate=True)
            self.conn = self.engine.connect()
        else:
            from sqlalchemy.ext.asyncio import create_async_engine

            self.engine = create_async_engine(self.url)
            self.conn = await self.engine.connect()
        return self

    async def begin(self) -> None:
        result = self.conn.begin()
        if hasattr(result, "__await__"):
            await result

    async def finish(self, commit: bool) -> None:
        result = self.conn.commit() if commit else self.conn.rollback()
        if hasattr(result, "__await__"):
            await result

    async def __aexit__(self, *_: Any) -> None:
        if self.sqlite:
            self.conn.close()
            self.engine.dispose()
        else:
            await self.conn.close()
            await self.engine.dispose()


async def _copy(from_url: str, to_url: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with _Side(from_url) as source, _Side(to_url) as target:
        await source.begin()  # one consistent read of the source
        rows = {t.name: await _read_all(source.conn, t) for t in COPIED_TABLES}
        await source.finish(commit=False)
        await target.begin()
        try:
            for table in COPIED_TABLES:
                if table is meta:
                    continue  # the target's own instance id, from its migration: replaced by the source's
                n = (await _run(target.conn, select(func.count()).select_from(table))).scalar()
                if n:
                    raise CopyRefused(
                        f"the target already holds {n} row(s) in {table.name}; copy into an empty database"
                    )
            await _run(target.conn, delete(meta))
            for table in COPIED_TABLES:
                found = rows[table.name]
                for start in range(0, len(found), BATCH):
                    await _run(target.conn, insert(table), found[start : start + BATCH])
                counts[table.name] = len(found)
            if not target.sqlite and rows[audit.name]:
                await _run(
                    target.conn,
                    text("SELECT setval(pg_get_serial_sequence('audit', 'id'), (SELECT MAX(id) FROM audit))"),
                )
            for table in COPIED_TABLES:
                written = await _read_all(target.conn, table)
                if written != rows[table.name]:
                    raise CopyRefused(f"{table.name} reads back differently from the target; nothing was copied")
        except BaseException:
            await target.finish(commit=False)
            raise
        await target.finish(commit=True)
    return counts


def copy_registry(from_url: str, to_url: str) -> dict[str, int]:
    """Copy every registry table from ``from_url`` into the empty ``to_url``; answers rows per table."""
    database.upgrade(from_url)
    database.upgrade(to_url)
    return database.run_coroutine(lambda: _copy(from_url, to_url))
