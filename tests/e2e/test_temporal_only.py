"""Temporal-only mode: no control plane at all, the queues found in Temporal itself (a real dev server)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import Worker

from kubiya_tui.config import Settings
from kubiya_tui.connection import connect
from kubiya_tui.metrics.collector import CollectorOptions

pytestmark = pytest.mark.slow


def name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def start_waiting(client: Client, task_queue: str, count: int = 1) -> list[str]:
    """Workflows of a type no worker has: each waits as one workflow task in the queue's backlog."""
    ids = []
    for _ in range(count):
        handle = await client.start_workflow("NoSuchWorkflow", id=f"wf-{uuid.uuid4()}", task_queue=task_queue)
        ids.append(handle.id)
    return ids


async def test_the_collector_lists_the_queues_it_finds_in_temporal(temporal_server):
    client = await Client.connect(temporal_server.address)
    busy, quiet, closed, named = name("busy"), name("quiet"), name("closed"), name("named")
    await start_waiting(client, busy, 3)
    await start_waiting(client, quiet, 1)
    [done] = await start_waiting(client, closed, 1)
    await client.get_workflow_handle(done).terminate("closed on purpose")
    # A worker that heartbeats to Temporal (ListWorkers) on a queue with no executions at all.
    polled = name("polled")
    runtime = Runtime(telemetry=TelemetryConfig(), worker_heartbeat_interval=timedelta(seconds=1))
    worker_client = await Client.connect(temporal_server.address, runtime=runtime, identity="test-worker@host")

    @activity.defn(name="noop")
    async def noop() -> None:
        return None

    worker = Worker(worker_client, task_queue=polled, activities=[noop])
    async with worker:
        settings = Settings(temporal_address=temporal_server.address, task_queues=[named])
        conn = connect(settings, CollectorOptions(durations=False), history="off")
        async with conn:
            assert conn.api is None

            async def found() -> dict:
                snapshot = await conn.source.refresh(force=True, complete=True)
                rows = {q.task_queue_name: q for q in snapshot.queues}
                return rows if {busy, quiet, closed, named, polled} <= rows.keys() else {}

            rows = {}
            for _ in range(20):  # ListWorkers sees the worker after its first heartbeat
                rows = await found()
                if rows:
                    break
                await asyncio.sleep(1)
            assert rows, "every queue was found"
            # A queue found by one refresh's search has its numbers read by the next refresh.
            snapshot = await conn.source.refresh(force=True, complete=True)
            rows = {q.task_queue_name: q for q in snapshot.queues}
    assert snapshot.mode == "temporal"
    assert (rows[busy].depth, rows[quiet].depth) == (3, 1)  # (a closed one is found too; its stale task may count a while)
    assert rows[named].depth == 0 and "discovered" not in rows[named].tags  # the profile's, found or not
    assert "discovered" in rows[busy].tags
    assert rows[polled].workers.healthy >= 1, "pollers and ListWorkers give the workers column"
    assert snapshot.sources["temporal"].status.value in ("ok", "slow")  # answered (slow on a loaded machine)


def test_top_and_check_with_only_a_temporal_address(temporal_server, tmp_path):
    tq = name("toponly")

    async def seed() -> None:
        await start_waiting(await Client.connect(temporal_server.address), tq, 2)

    asyncio.run(seed())
    env = {**os.environ, "TEMPORAL_ADDRESS": temporal_server.address}
    top = subprocess.run([sys.executable, "-m", "kubiya_tui", "top", "-o", "json"], capture_output=True, text=True, env=env, timeout=60)
    assert top.returncode == 0, top.stderr
    data = json.loads(top.stdout)
    assert data["mode"] == "temporal"
    rows = {q["task_queue_name"]: q for q in data["queues"]}
    assert rows[tq]["depth"] == 2
    table = subprocess.run([sys.executable, "-m", "kubiya_tui", "top"], capture_output=True, text=True, env=env, timeout=60)
    assert table.returncode == 0, table.stderr
    assert tq in table.stdout
    assert "no control plane" in table.stdout  # says which columns need one
    check = subprocess.run(
        [sys.executable, "-m", "kubiya_tui", "check", "--max-depth", "1", "--queue", tq],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert check.returncode == 2 and tq in check.stdout, check.stdout + check.stderr


async def test_the_console_with_only_temporal_lists_found_queues_and_says_what_needs_a_control_plane(temporal_server):
    from kubiya_tui.tui.app import build_console
    from kubiya_tui.tui.widgets.queue_table import QueueTable, QueueTotals

    tq = name("console")
    await start_waiting(await Client.connect(temporal_server.address), tq, 4)
    conn = connect(Settings(temporal_address=temporal_server.address), history="off")
    app = build_console(connection=conn, theme="kubiya-dark")
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(100):
            await pilot.pause(0.1)
            rows = {q.task_queue_name: q for q in app.screen.query_one(QueueTable).shown_items}
            if tq in rows and rows[tq].depth == 4:
                break
        else:
            raise AssertionError(f"{tq} with depth 4 never showed")
        totals = str(app.screen.query_one(QueueTotals).render())
        assert "Temporal only" in totals and "need a control plane" in totals


async def test_temporal_s_own_queues_are_not_listed_and_do_not_hide_others(temporal_server):
    from kubiya_tui.client.temporal import TemporalReader

    client = await Client.connect(temporal_server.address)
    system, mine = f"temporal-sys-{name('batcher')}", name("mine")
    await start_waiting(client, mine, 1)
    await start_waiting(client, system, 3)  # the newest: they fill the first page of 3
    reader = TemporalReader(temporal_server.address)
    found = await reader.discover_task_queues(3600, page_size=3)
    assert mine in found.task_queues and system not in found.task_queues
    await reader.close()


async def test_switching_to_a_temporal_only_profile_says_where_it_reads(temporal_server):
    from kubiya_tui import locations
    from kubiya_tui.tui.screenshots import recorded_console
    from tests.helpers import toasts

    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[profiles.tonly]\ntemporal_address = "{temporal_server.address}"\n', encoding="utf-8")
    app = recorded_console()
    async with app.run_test(notifications=True) as pilot:
        await pilot.pause()
        app.switch_profile("tonly")
        await pilot.pause()
        assert any(f"profile: tonly (Temporal only: {temporal_server.address}/default)" in t for t in toasts(app)), toasts(app)
