"""The CLI's tables at 80 and 200 columns: columns drop by priority, no cell wraps, key columns stay whole.

Each table is rendered from the command's own builder (no server): what `-o table` prints on
a terminal of that width, and what `-o wide` prints.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from kubiya_tui.cli.common import CliTable
from kubiya_tui.cli.legacy_cmds import TASK_QUEUE_COLUMNS
from kubiya_tui.cli.monitor import TOP_COLUMNS, top_lines
from kubiya_tui.cli.resources import _queue_table, _worker_table
from kubiya_tui.cli.runtime import TASK_COLUMNS, _task_rows
from kubiya_tui.columns import Column, fit, render_lines
from kubiya_tui.metrics.snapshot import QueueSnapshot, Snapshot, SourceState, SourceStatus, WorkerCounts
from kubiya_tui.models import WorkerDetail, WorkerHealth, WorkerQueue

WIDTHS = (80, 200)
T0 = datetime(2026, 1, 1, 7, 23, 0, tzinfo=timezone.utc)


def _uuid(rng: random.Random) -> str:
    h = "".join(rng.choice("0123456789abcdef") for _ in range(32))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _tasks() -> list[dict]:
    rng = random.Random(7)
    return [
        {"id": f"task-{_uuid(rng)}", "kind": "sleep", "status": "failed", "priority": 3,
         "submitted_at": (T0 + timedelta(seconds=i)).isoformat(), "closed_at": (T0 + timedelta(seconds=20 + i)).isoformat()}
        for i in range(10)
    ]  # fmt: skip


def _assert_fits(lines: list[str], rows: int, width: int) -> None:
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    # One line per row plus the header and its rule: nothing wrapped onto a second line.
    assert len(lines) == rows + 2, "\n".join(lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_tasks_list_keeps_status_and_times_whole_with_short_ids(width: int) -> None:
    tasks = _tasks()
    lines, _ = CliTable(TASK_COLUMNS, _task_rows(tasks)).lines(width)
    _assert_fits(lines, len(tasks), width)
    assert lines[0].split() == ["TASK", "KIND", "STATUS", "PRIO", "SUBMITTED", "CLOSED"], "headers whole, none split"
    for line, task in zip(lines[2:], tasks):
        assert line.startswith(task["id"][:13] + "…"), "a short id, cut like the console's"
        assert line.split()[1:] == ["sleep", "failed", "3", task["submitted_at"][11:19], task["closed_at"][11:19]]


def test_tasks_list_wide_shows_whole_ids() -> None:
    tasks = _tasks()
    lines, _ = CliTable(TASK_COLUMNS, _task_rows(tasks)).lines(None)
    assert [line.split()[0] for line in lines[2:]] == [t["id"] for t in tasks]


def _queues() -> list[WorkerQueue]:
    names = ["default", "high-priority", "low-priority", "team-data", "a-queue-with-a-rather-long-name-for-one"]
    return [
        WorkerQueue(id=f"{i:08x}-1111-2222-3333-444455556666", organization_id="org", environment_id="env", name=n,
                    environment_name="default", active_workers=2, max_workers=10, desired_workers=2)
        for i, n in enumerate(names)
    ]  # fmt: skip


@pytest.mark.parametrize("width", WIDTHS)
def test_queues_list_keeps_names_whole(width: int) -> None:
    queues = _queues()
    lines, _ = _queue_table(queues, {}).lines(width)
    _assert_fits(lines, len(queues), width)
    for line, q in zip(lines[2:], queues):
        assert line.startswith(f"default/{q.name} "), line
        assert " 2/10" in line


def _workers() -> list[WorkerDetail]:
    rng = random.Random(3)
    out = []
    for i in range(6):
        out.append(
            WorkerDetail(
                id=str(i), worker_id=_uuid(rng), queue_id="q1" if i < 3 else "q2", queue_name="high-priority" if i < 3 else "team-data",
                status="busy", health=WorkerHealth.healthy, heartbeat_age_seconds=float(i), tasks_processed=10 * i,
                registered_at=T0 + timedelta(minutes=i), hostname=f"worker-host-{i}.example.internal",
            )
        )  # fmt: skip
    return out


@pytest.mark.parametrize("width", WIDTHS)
def test_workers_list_keeps_queue_and_health_whole(width: int) -> None:
    workers = _workers()
    lines, _ = _worker_table(workers, {}).lines(width)
    _assert_fits(lines, len(workers), width)
    for line in lines[2:]:
        assert ("high-priority" in line or "team-data" in line) and "healthy" in line, line


def test_workers_list_order_is_stable_whatever_order_the_server_answers_in() -> None:
    workers = _workers()
    orders = set()
    rng = random.Random(1)
    for _ in range(5):
        shuffled = workers[:]
        rng.shuffle(shuffled)
        lines, _ = _worker_table(shuffled, {}).lines(None)
        orders.add(tuple(line.split()[0] for line in lines[2:]))
    assert orders == {tuple(w.worker_id for w in workers)}, "by queue, then start time"


def test_a_gone_worker_shows_no_heartbeat_age_and_names_its_replacement() -> None:
    old, peer = _workers()[:2]
    gone = old.model_copy(update={"health": WorkerHealth.gone, "status": "disconnected", "heartbeat_age_seconds": 97.0,
                                  "disconnected_at": T0 + timedelta(minutes=10)})  # fmt: skip
    new = peer.model_copy(update={"worker_id": "ffff0000-aaaa-bbbb-cccc-dddddddddddd", "registered_at": T0 + timedelta(minutes=10, seconds=5),
                                  "hostname": gone.hostname})  # fmt: skip
    lines, _ = _worker_table([gone, peer, new], {}).lines(None)
    row = next(line for line in lines if line.startswith(gone.worker_id))
    assert "1m37s" not in row, "no ticking age for a worker that is gone"
    assert "replaced by ffff0000" in row
    assert not any("replaced by" in line for line in lines if line.startswith(peer.worker_id))


def _snapshot(depth: int = 57) -> Snapshot:
    def q(name: str, **kw) -> QueueSnapshot:  # type: ignore[no-untyped-def]
        base = dict(id=name, name=name, environment="default", task_queue_name=f"org.default.{name}", depth=depth,
                    backlog_age_seconds=11.0, add_rate_per_min=325.0, dispatch_rate_per_min=210.0, processed_per_min=62.5,
                    duration_p95_seconds=33.0, error_rate=0.02, workers=WorkerCounts(healthy=2, total=2), pollers=2,
                    capacity_used=3, capacity_total=10, growing=True)  # fmt: skip
        return QueueSnapshot(**{**base, **kw})

    queues = (
        q("default"),
        q("high-priority"),
        q("low-priority", time_to_drain_seconds=83.0, growing=False),
        q("stuck-demo", depth=20, backlog_age_seconds=39.0, dispatch_rate_per_min=0.0, capacity_used=0, pollers=0,
          growing=False, stuck=True, stuck_evidence="20 waiting, oldest 39s; none dispatched; 10 of 10 slots free on 2 healthy workers",
          stuck_cause="no poller on its task queue org.default.stuck-demo"),
    )  # fmt: skip
    sources = {"api": SourceState("control plane", SourceStatus.ok, latency_ms=48.0), "temporal": SourceState("Temporal", SourceStatus.ok, latency_ms=89.0)}
    return Snapshot(taken_at=T0.timestamp(), queues=queues, sources=sources)


@pytest.mark.parametrize("width", WIDTHS)
def test_top_keeps_name_depth_workers_and_state_whole(width: int) -> None:
    snapshot = _snapshot()
    lines, _ = top_lines(snapshot, width)
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    rows = [line for line in lines if line.startswith("default/")]
    assert len(rows) == len(snapshot.queues), "one line per queue: no name wrapped"
    for row, q in zip(rows, snapshot.queues):
        assert row.split()[:2] == [f"default/{q.name}", str(q.depth)]
        assert " 2/2 " in row
    assert rows[3].endswith("STUCK") and rows[0].endswith("growing") and rows[2].endswith("drains 1m23s")
    assert any(line.startswith("! default/stuck-demo STUCK: 20 waiting") for line in lines)
    header = lines[1].split()
    if width >= 200:
        assert header == [c.label for c in TOP_COLUMNS], "a wide terminal shows every column"
    else:
        assert {"QUEUE", "DEPTH", "WORKERS", "STATE"} <= set(header) and "IN/m" not in header


def test_top_watch_columns_never_narrow_between_refreshes() -> None:
    first, widths = top_lines(_snapshot(depth=123456), 80)
    second, widths2 = top_lines(_snapshot(depth=5), 80, widths)
    assert widths2 == widths, "a smaller number keeps its column's width"
    assert second[1] == first[1], "the header line does not move"


def test_task_queues_list_fits() -> None:
    rows = [{"name": f"legacy-{i}", "task_queue": f"org-demo.environment-{i}.with-a-long-name", "depth": 3, "workers": 1, "state": "legacy"}
            for i in range(3)]  # fmt: skip
    for width in WIDTHS:
        lines, _ = CliTable(TASK_QUEUE_COLUMNS, rows).lines(width)
        _assert_fits(lines, len(rows), width)
        assert all(line.split()[0].startswith("legacy-") and line.endswith("legacy") for line in lines[2:])


def test_fit_drops_whole_priority_levels_and_gives_spare_room_to_cut_columns() -> None:
    columns = (Column("a", "a", 10), Column("b", "b", 10, priority=2), Column("c", "c", 10, priority=3, grow=5))
    assert fit(columns, 30).keys == ("a", "b"), "c does not fit: it goes first"
    assert fit(columns, 60).widths == {"a": 10, "b": 10, "c": 15}
    cut = fit(columns, 60, needs={"c": 25})
    assert cut.widths["c"] == 25, "room left after the grow goes to the column still cut"
    lines, _ = render_lines(columns, [{"a": "x" * 30, "b": "y", "c": "z"}], width=24)
    assert lines[2] == "x" * 23 + "…" and len(lines) == 3, "a key column too wide ends in an ellipsis, never a second line"
