"""Schema migrations and moving the registry: a data dir of the code before Alembic upgrades in
place with nothing lost; `admin migrate` on both backends; `admin copy-data` from SQLite to
PostgreSQL copies every row.

The old data dir is ``tests/data/control-plane-v0.sql`` (schema and rows, dumped from a data
dir that the code before migrations filled through its API) with that server's answers in
``control-plane-v0.json``; ``tests/data/make_v0_data_dir.py`` made both.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubiya_tui.controlplane import copy_data, database
from kubiya_tui.controlplane.schema import COPIED_TABLES
from kubiya_tui.stack.processes import free_port, start_control_plane

DATA = Path(__file__).resolve().parents[1] / "data"
V1 = "/api/v1"
CLI = [sys.executable, "-m", "kubiya_tui"]
VOLATILE = {"heartbeat_age_seconds", "health", "active_workers"}
OLD = json.loads((DATA / "control-plane-v0.json").read_text())


def old_data_dir(where: Path) -> Path:
    """A data dir exactly as the code before migrations left it."""
    where.mkdir(parents=True)
    db = sqlite3.connect(where / "control-plane.sqlite")
    db.executescript((DATA / "control-plane-v0.sql").read_text())
    db.close()
    return where


def admin(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "admin", *args], capture_output=True, text=True, timeout=120)


def snapshot(c: httpx.Client) -> dict[str, Any]:
    def clean(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]

    queues = c.get(f"{V1}/worker-queues").json()
    return {
        "environments": c.get(f"{V1}/environments").json(),
        "queues": clean(queues),
        "configs": {q["id"]: c.get(f"{V1}/worker-queues/{q['id']}/config").json() for q in queues},
        "workers": clean(c.get(f"{V1}/registered-workers").json()),
        "audit": c.get(f"{V1}/audit", params={"limit": 1000}).json(),
    }


def assert_nothing_lost(new: dict[str, Any]) -> None:
    """Every answer of the old server is in the new one, field for field (new fields may be added)."""
    assert set(new) - {"written"} == set(OLD)
    for part in ("environments", "queues", "workers", "audit"):
        assert len(new[part]) == len(OLD[part]), part
        for old_row, new_row in zip(OLD[part], new[part]):
            assert {k: new_row.get(k) for k in old_row} == old_row, part
    assert new["configs"] == OLD["configs"]  # config versions included: every worker sees the same


def serve_and_read(data_dir: Path, database_url: str | None = None, write: bool = False) -> dict[str, Any]:
    """Serve the registry (new code), make a key for its organization, read every answer (then,
    with ``write``, create an environment and answer its audit entry as ``written``)."""
    extra = {"KUBIYA_TUI_DATABASE_URL": database_url} if database_url else None
    proc, url = start_control_plane(data_dir, f"127.0.0.1:{free_port()}", extra_env=extra)
    try:
        where = ["--database-url", database_url] if database_url else ["--data-dir", str(data_dir)]
        made = admin("create-key", "--org", "local", *where)
        assert made.returncode == 0, made.stderr
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {made.stdout.strip()}"}, timeout=30) as c:
            seen = snapshot(c)
            if write:
                assert c.post(f"{V1}/environments", json={"name": "after-copy"}).status_code == 201
                seen["written"] = c.get(f"{V1}/audit", params={"limit": 1}).json()[0]
            return seen
    finally:
        proc.stop()


def all_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    async def read() -> dict[str, list[dict[str, Any]]]:
        async with copy_data._Side(url) as side:
            return {t.name: await copy_data._read_all(side.conn, t) for t in COPIED_TABLES}

    return database.run_coroutine(read)


def test_a_data_dir_from_before_migrations_upgrades_in_place(tmp_path: Path) -> None:
    data_dir = old_data_dir(tmp_path / "cp")
    old_rows = sqlite3.connect(data_dir / "control-plane.sqlite").execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
    new = serve_and_read(data_dir)
    assert_nothing_lost(new)
    db = sqlite3.connect(data_dir / "control-plane.sqlite")
    try:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == database.head_revision()
        assert db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == old_rows == 3
        # the other organization's key hash is still there (its key still opens its registry)
        assert db.execute("SELECT organization_id FROM api_keys WHERE name='acme-key'").fetchone() == ("acme",)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()
    # and it keeps serving after a second start on the upgraded file
    assert_nothing_lost(serve_and_read(data_dir))


def test_a_data_dir_of_the_durable_intake_code_upgrades_with_its_tasks_keys_and_id(tmp_path: Path) -> None:
    """The durable-intake code added its tables and columns itself, without a revision:
    ``control-plane-durable.sql`` is a file it wrote (made with its store at commit 11764d1)."""
    data_dir = tmp_path / "cp"
    data_dir.mkdir()
    db = sqlite3.connect(data_dir / "control-plane.sqlite")
    db.executescript((DATA / "control-plane-durable.sql").read_text())
    before = {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("tasks", "task_requests", "meta")}
    db.close()
    done = admin("migrate", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    assert f"from revision {database.BASELINE} to {database.head_revision()}" in done.stdout
    db = sqlite3.connect(data_dir / "control-plane.sqlite")
    try:
        for table, rows in before.items():
            names = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            kept = db.execute(f"SELECT {', '.join(names[: len(rows[0])])} FROM {table} ORDER BY 1").fetchall()
            assert kept == rows, table
        assert db.execute("SELECT value FROM meta WHERE name='instance_id'").fetchone() == ("d37821c3-77cc-4fc4-915b-78d37bd553be",)
        states = dict(db.execute("SELECT id, state FROM tasks").fetchall())
        assert states == {"task-durable-0": "started", "task-durable-1": "started", "task-durable-2": "not_started"}
    finally:
        db.close()


def test_admin_migrate_on_an_old_data_dir_then_again(tmp_path: Path) -> None:
    data_dir = old_data_dir(tmp_path / "cp")
    first = admin("migrate", "--data-dir", str(data_dir))
    assert first.returncode == 0, first.stderr
    assert f"migrated from revision {database.BASELINE} to {database.head_revision()}" in first.stdout
    again = admin("migrate", "--data-dir", str(data_dir))
    assert again.returncode == 0 and "nothing to do" in again.stdout


@pytest.mark.postgres
def test_admin_migrate_on_postgres(postgres_databases) -> None:
    url = postgres_databases.new()
    first = admin("migrate", "--database-url", url)
    assert first.returncode == 0, first.stderr
    assert f"from revision none to {database.head_revision()}" in first.stdout
    assert "nothing to do" in admin("migrate", "--database-url", url).stdout
    rows = all_rows(url)
    assert [r["name"] for r in rows.pop("meta")] == ["instance_id"]
    assert all(found == [] for found in rows.values())


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://root@127.0.0.1/test", "scheme 'mysql' is not supported"),
        ("sqlite://", "needs a file path"),
        ("postgresql://postgres@127.0.0.1:5432", "needs a database name"),
        ("postgresql://postgres@127.0.0.1:{closed_port}/nothing", "cannot use"),
        ("not a url at all", "is not a URL"),
    ],
)
def test_a_bad_database_url_is_one_clear_line(url: str, message: str, tmp_path: Path) -> None:
    done = admin("migrate", "--database-url", url.format(closed_port=free_port()))
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.postgres
def test_copy_data_from_sqlite_to_postgres(tmp_path: Path, postgres_databases) -> None:
    data_dir = old_data_dir(tmp_path / "cp")
    source = f"sqlite:///{data_dir / 'control-plane.sqlite'}"
    target = postgres_databases.new()
    done = admin("copy-data", "--from", source, "--to", target)
    assert done.returncode == 0, done.stderr
    assert "copied 2 organizations, 2 api_keys, 3 environments, 4 worker_queues, 4 workers, 3 tasks" in done.stdout
    # counts and contents match, row for row, table by table
    source_rows, target_rows = all_rows(source), all_rows(target)
    assert {t: len(r) for t, r in target_rows.items()} == {t: len(r) for t, r in source_rows.items()}
    assert target_rows == source_rows
    assert len(target_rows["audit"]) == len(OLD["audit"]) and len(target_rows["api_keys"]) == 2
    # the PostgreSQL registry answers what the old SQLite one did, and keeps counting audit ids up
    served = serve_and_read(tmp_path / "pg-cp", target, write=True)
    assert_nothing_lost(served)
    assert served["written"]["action"] == "environment.create"
    assert served["written"]["id"] == max(a["id"] for a in OLD["audit"]) + 1
    target_rows = all_rows(target)
    # a second copy into the same (no longer empty) target is refused and changes nothing
    again = admin("copy-data", "--from", source, "--to", target)
    assert again.returncode == 1 and "already holds" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    after = all_rows(target)
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in target_rows.items()}


def test_copy_data_refuses_one_database_as_both(tmp_path: Path) -> None:
    url = f"sqlite:///{old_data_dir(tmp_path / 'cp') / 'control-plane.sqlite'}"
    done = admin("copy-data", "--from", url, "--to", url)
    assert done.returncode == 1 and "the same database" in done.stderr
