"""A disk that refuses writes: one clear answer per write, nothing stored lost, recovery without a restart.

SQLite's own "database or disk is full" comes from a page limit on the registry's
connection (``PRAGMA max_page_count``), which SQLite treats exactly like a full disk; the
fault suite (tests/faults) does the same with a real full tmpfs.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import AsyncIterator

import httpx
import pytest

from kubiya_tui.controlplane.app import Settings, create_app
from kubiya_tui.controlplane.server import DegradingFileHandler, bootstrap
from kubiya_tui.controlplane.store import StorageUnavailable, Store

KEY = "kty_disk-test-key"


def fill(store: Store) -> None:
    """No page more for this connection: every write that needs one is refused as by a full disk."""
    pages = store.sqlite_connection().execute("PRAGMA page_count").fetchone()[0]
    store.sqlite_connection().execute(f"PRAGMA max_page_count={pages}")


def free(store: Store) -> None:
    store.sqlite_connection().execute("PRAGMA max_page_count=1073741823")


async def test_store_refuses_writes_as_full_keeps_everything_and_recovers(tmp_path: Path):
    store = Store(tmp_path / "registry.sqlite")
    await store.ensure_org("o")
    env = await store.find_environment("o", "default")
    before = await store.create_queue("o", env["id"], {"name": "kept"}, "me")
    fill(store)
    with pytest.raises(StorageUnavailable) as refused:
        for i in range(200):  # until the free pages of the file run out
            await store.create_queue("o", env["id"], {"name": f"q{i}", "description": "x" * 2000}, "me")
    assert refused.value.status == 507 and str(refused.value).startswith("the control plane's disk is full")
    assert store.storage_problem == "full"
    assert (await store.get_queue("o", before["id"]))["name"] == "kept", "reads go on"
    count = len(await store.list_queues("o"))
    free(store)
    # The same connection takes writes again: no transaction was left open.
    await store.create_queue("o", env["id"], {"name": "after"}, "me")
    assert store.storage_problem is None
    assert len(await store.list_queues("o")) == count + 1
    await store.close()
    reopened = Store(tmp_path / "registry.sqlite")
    assert {q["name"] for q in await reopened.list_queues("o")} >= {"kept", "after"}
    await reopened.close()


@pytest.fixture
async def full_app(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Store, str]]:
    store = Store(tmp_path / "control-plane.sqlite")
    await bootstrap(store, tmp_path, env_key=KEY)
    app = create_app(Settings(data_dir=tmp_path, temporal_address="127.0.0.1:1"), store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {KEY}"}
    ) as client:
        env = next(e for e in (await client.get("/api/v1/environments")).json() if e["name"] == "default")
        queue = (await client.post(f"/api/v1/environments/{env['id']}/worker-queues", json={"name": "disk-q"})).json()
        worker = (await client.post(f"/api/v1/worker-queues/{queue['id']}/start", json={})).json()
        yield client, store, worker["worker_id"]
    await store.close()


async def test_every_write_answers_507_and_heartbeats_answer_like_the_route(full_app):
    client, store, worker_id = full_app
    env = next(e for e in (await client.get("/api/v1/environments")).json() if e["name"] == "default")
    fill(store)
    answers = []
    for i in range(100):  # the file's free pages go first; then every write is refused
        answers.append(
            await client.post(f"/api/v1/environments/{env['id']}/worker-queues", json={"name": f"full-{i}", "description": "y" * 2000})
        )
        if answers[-1].status_code != 201:
            break
    refused = answers[-1]
    assert refused.status_code == 507
    assert refused.json() == {"detail": StorageUnavailable.MESSAGES["full"]}
    # A heartbeat that needs new pages is refused too: the fast path hands it to the route, which
    # answers the same 507 (were it raised past the fast path, the answer would be a 500).
    beat = await client.post(
        f"/api/v1/workers/{worker_id}/heartbeat", json={"status": "idle", "worker_metadata": {"notes": "z" * 100_000}}
    )
    assert beat.status_code == 507
    assert beat.json() == {"detail": StorageUnavailable.MESSAGES["full"]}
    health = (await client.get("/api/health")).json()
    assert health["storage"] == "full"
    free(store)
    ok = await client.post(f"/api/v1/environments/{env['id']}/worker-queues", json={"name": "after-free"})
    assert ok.status_code == 201
    assert (await client.get("/api/health")).json()["storage"] == "ok"


def test_a_log_file_that_cannot_be_written_says_so_once(capsys: pytest.CaptureFixture[str]):
    # /dev/full: every write fails with ENOSPC, as on a full disk.
    handler = DegradingFileHandler(Path("/dev/full"))
    logger = logging.getLogger("kubiya_tui.test_disk_full")
    logger.addHandler(handler)
    logger.propagate = False
    previous, logging.raiseExceptions = logging.raiseExceptions, True
    try:
        for i in range(15):
            logger.error("line %d", i)
    finally:
        logging.raiseExceptions = previous
        logger.removeHandler(handler)
        handler.close()
    err = capsys.readouterr().err
    assert "--- Logging error ---" not in err and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines == [f"kubiya-tui: cannot write the log file /dev/full (No space left on device); log lines are dropped until it can"]


def test_a_log_file_that_recovers_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    handler = DegradingFileHandler(tmp_path / "cp.log")
    real = handler.stream
    handler.stream = io.TextIOWrapper(open("/dev/full", "wb"))  # the disk fills
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "refused", None, None)
    handler.emit(record)
    handler.emit(record)
    handler.stream = real  # space is freed
    handler.emit(logging.LogRecord("x", logging.ERROR, __file__, 1, "written", None, None))
    handler.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "cannot write" in err[0] and "can be written again" in err[1]
    assert "written" in (tmp_path / "cp.log").read_text()
