"""Recorded, deterministic data for the snapshot tests and the screenshots: a fixed clock, no network.

``recorded_snapshot()`` is one moment of a small organization (three environments, five
queues, ten workers) in which something is wrong enough to show every state the console
draws. ``RecordedSource`` serves it through the SnapshotSource protocol,
``recorded_transport()`` answers the few API reads the dialogs make, and
``recorded_heartbeats()`` gives the workers a heartbeat history. (The ``demo`` command runs a
real stack instead: see ``kubiya_tui/stack/demo/``.)
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from typing import Any

import kubiya_tui.client  # noqa: F401,I001  (first: httpx without its command-line tool)
import httpx

from kubiya_tui.metrics.assemble import ordered_workers
from kubiya_tui.metrics.snapshot import (
    WorkerHealth,
    QueueSnapshot,
    Snapshot,
    SnapshotCallback,
    SourceState,
    SourceStatus,
    WorkerCounts,
    WorkerSnapshot,
    refresh_loop,
)
from kubiya_tui.metrics.stuck import mark_stuck

FIXED_NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HISTORY_STEP = 30.0
HISTORY_POINTS = 60
RECORDED_URL = "http://127.0.0.1:8787"
RECORDED_KEY = "kty_demo_5f1c0e9a7b3d4c2e"
RECORDED_VERSION = "0.1.0"
"""The recorded control plane's kubiya-tui version (fixed, so a release changes no snapshot)."""

ENVIRONMENTS = {"env-prod-7d2a": "prod", "env-staging-41c9": "staging", "env-dev-0b6e": "dev"}

_SYSTEM = {"os_name": "Linux", "os_version": "6.8.0", "python_version": "3.11.9", "cpu_count": 8, "cpu_percent": 37.5,
           "memory_total": 16_777_216_000, "memory_percent": 41.2, "sdk_version": "0.1.0"}  # fmt: skip


def _queue(**fields: Any) -> QueueSnapshot:
    return QueueSnapshot(**fields)


def _queues(stale: bool = False, age: float | None = 1.4) -> tuple[QueueSnapshot, ...]:
    common = {"stale": stale, "data_age_seconds": age, "stale_sources": ("temporal",) if stale else ()}
    # The same stuck rule as the collector's: webhooks' new worker is registered but polls nothing.
    return tuple(mark_stuck(q) for q in _queue_rows(common))


def _queue_rows(common: dict[str, Any]) -> tuple[QueueSnapshot, ...]:
    return (
        _queue(id="q-payments-3f9c2a", name="payments", environment="prod", environment_id="env-prod-7d2a",
               task_queue_name="org-demo.prod.payments", depth=42, backlog_age_seconds=18.0, add_rate_per_min=120.0,
               dispatch_rate_per_min=132.0, processed_per_min=130.4, duration_p50_seconds=1.2, duration_p95_seconds=4.8,
               error_rate=0.012, closed_by_status={"Completed": 642, "Failed": 8}, priority_backlog={1: 5, 3: 30, 5: 7},
               partitions=4, pollers=4, workers=WorkerCounts(healthy=3, stale=0, draining=1, total=4), capacity_used=31,
               capacity_total=40, time_to_drain_seconds=210.0, desired_workers=4, max_workers=10, heartbeat_interval=30,
               autoscale={"min_workers": 2, "max_workers": 10, "target_backlog_age_seconds": 60, "cooldown_seconds": 30},
               description="Card payments and refunds", settings={"runner_name": "default"}, tags=("critical", "pci"), **common),
        _queue(id="q-reports-81d4e0", name="reports", environment="prod", environment_id="env-prod-7d2a",
               task_queue_name="org-demo.prod.reports", depth=318, backlog_age_seconds=252.0, add_rate_per_min=60.0,
               dispatch_rate_per_min=38.0, processed_per_min=37.1, duration_p50_seconds=8.4, duration_p95_seconds=31.0,
               error_rate=0.084, closed_by_status={"Completed": 170, "Failed": 12, "TimedOut": 4},
               priority_backlog={1: 0, 3: 290, 5: 28}, partitions=4, pollers=2,
               workers=WorkerCounts(healthy=1, stale=1, draining=0, total=2, not_polling=0, unregistered=1), capacity_used=10, capacity_total=10,
               growing=True, desired_workers=3, max_workers=5, heartbeat_interval=60, description="Nightly and ad-hoc reports",
               tags=("batch",), **common),
        _queue(id="q-etl-nightly-c27b19", name="etl-nightly", environment="staging", environment_id="env-staging-41c9",
               task_queue_name="org-demo.staging.etl-nightly", depth=0, backlog_age_seconds=0.0, add_rate_per_min=0.0,
               dispatch_rate_per_min=0.0, processed_per_min=2.5, duration_p50_seconds=45.0, duration_p95_seconds=118.0,
               error_rate=0.0, closed_by_status={"Completed": 12}, priority_backlog={}, partitions=4, pollers=2,
               workers=WorkerCounts(healthy=2, total=2), capacity_used=0, capacity_total=20, desired_workers=2,
               max_workers=4, heartbeat_interval=60, **common),
        _queue(id="q-webhooks-5a60f3", name="webhooks", environment="staging", environment_id="env-staging-41c9",
               task_queue_name="org-demo.staging.webhooks", depth=23, backlog_age_seconds=95.0, add_rate_per_min=14.0,
               dispatch_rate_per_min=0.0, processed_per_min=0.0, error_rate=0.25, closed_by_status={"Completed": 3, "Failed": 1},
               partitions=4, pollers=0, workers=WorkerCounts(healthy=1, total=1, not_polling=1), capacity_used=0,
               capacity_total=5, growing=True, desired_workers=1, max_workers=2, heartbeat_interval=30, **common),
        _queue(id="q-sandbox-9e14b7", name="sandbox", environment="dev", environment_id="env-dev-0b6e",
               task_queue_name="org-demo.dev.sandbox", status="inactive", workers=WorkerCounts(), desired_workers=0,
               max_workers=None, heartbeat_interval=60, **common),
    )


def _worker(worker_id: str, queue: str, queue_id: str, health: WorkerHealth, status: str, sdk: str = RECORDED_VERSION, **fields: Any) -> WorkerSnapshot:
    info = {**_SYSTEM, "hostname": fields.get("hostname"), "pid": 4000 + len(worker_id) * 7, "sdk_version": sdk}
    return WorkerSnapshot(worker_id=worker_id, queue_id=queue_id, queue_name=queue, health=health, status=status,
                          system_info=info, capabilities={"runtime": "python", "tools": ["http", "shell"]}, version=sdk,
                          **fields)  # fmt: skip


def _workers() -> tuple[WorkerSnapshot, ...]:
    pay, rep, etl, web = "q-payments-3f9c2a", "q-reports-81d4e0", "q-etl-nightly-c27b19", "q-webhooks-5a60f3"
    return (
        _worker("wkr-pay-01a4", "payments", pay, WorkerHealth.healthy, "busy", heartbeat_age_seconds=3.2, hostname="ip-10-0-1-17",
                slots_used=9, slots_available=1, processed=1824, failed=21, current_task_ids=("task-3ce857b8-7c6a-46d3-8798-627a8e24185b", "task-ec9fcbe7-866f-4838-ae1d-6533b4f388c7",
                                                                                   "task-1b6f0e3a-7c24-4d8e-b5a9-3e0f7c2d9a61"),
                registered_at=FIXED_NOW - 86_000),
        _worker("wkr-pay-02c7", "payments", pay, WorkerHealth.healthy, "busy", heartbeat_age_seconds=11.0, hostname="ip-10-0-1-18",
                slots_used=8, slots_available=2, processed=1790, failed=17, current_task_ids=("task-0a41d5e2-19bb-4c6e-9f70-2d1e6a0c3b94",),
                registered_at=FIXED_NOW - 80_000),
        _worker("wkr-pay-03e1", "payments", pay, WorkerHealth.healthy, "active", heartbeat_age_seconds=6.5, hostname="ip-10-0-2-40",
                slots_used=7, slots_available=3, processed=951, failed=9, registered_at=FIXED_NOW - 7_200),
        _worker("wkr-pay-04b9", "payments", pay, WorkerHealth.draining, "draining", heartbeat_age_seconds=2.1,
                hostname="ip-10-0-2-41", slots_used=7, slots_available=3, processed=88, failed=1,
                current_task_ids=("task-b7e0c9a1-5d3f-4e28-a6c1-98f4d2e7a015",), desired_state="draining", registered_at=FIXED_NOW - 1_500),
        _worker("wkr-rep-01f2", "reports", rep, WorkerHealth.healthy, "busy", heartbeat_age_seconds=14.0, hostname="batch-01",
                slots_used=5, slots_available=0, processed=402, failed=38, current_task_ids=("task-5f2c8e19-ab07-4d61-8c3e-71a9b0d4e6f2",),
                registered_at=FIXED_NOW - 50_000),
        _worker("wkr-rep-02d8", "reports", rep, WorkerHealth.stale, "busy", heartbeat_age_seconds=312.0, hostname="batch-02",
                slots_used=5, slots_available=0, processed=377, failed=29, registered_not_polling=True,
                registered_at=FIXED_NOW - 49_000),
        _worker("poller-batch-03", "reports", rep, WorkerHealth.healthy, "polling", hostname="batch-03", polling_not_registered=True),
        _worker("wkr-etl-01aa", "etl-nightly", etl, WorkerHealth.healthy, "idle", heartbeat_age_seconds=21.0,
                hostname="stg-etl-1", slots_used=0, slots_available=10, processed=64, registered_at=FIXED_NOW - 90_000),
        _worker("wkr-etl-02bb", "etl-nightly", etl, WorkerHealth.healthy, "idle", heartbeat_age_seconds=44.0, sdk="0.0.9",
                hostname="stg-etl-2", slots_used=0, slots_available=10, processed=61, failed=2, registered_at=FIXED_NOW - 90_000),
        _worker("wkr-web-01cc", "webhooks", web, WorkerHealth.gone, "disconnected", heartbeat_age_seconds=1_840.0,
                hostname="stg-web-1", processed=230, failed=4, registered_at=FIXED_NOW - 200_000, left_at=FIXED_NOW - 1_840),
        _worker("wkr-web-02dd", "webhooks", web, WorkerHealth.healthy, "idle", heartbeat_age_seconds=8.0, hostname="stg-web-2",
                slots_used=0, slots_available=5, registered_not_polling=True, registered_at=FIXED_NOW - 1_790),
    )  # fmt: skip


def recorded_snapshot(degraded: bool = False) -> Snapshot:
    """The recorded moment; ``degraded`` has Temporal down and every number 48s old."""
    if degraded:
        sources = {
            "api": SourceState("api", SourceStatus.ok, latency_ms=14.0, data_age_seconds=1.2, address=RECORDED_URL),
            "temporal": SourceState("temporal", SourceStatus.down, last_error="cannot reach Temporal at 127.0.0.1:7233: connection refused",
                                    data_age_seconds=48.0, address="127.0.0.1:7233"),
        }  # fmt: skip
        queues = _queues(stale=True, age=48.0)
    else:
        sources = {
            "api": SourceState("api", SourceStatus.ok, latency_ms=14.0, data_age_seconds=1.2, address=RECORDED_URL),
            "temporal": SourceState("temporal", SourceStatus.ok, latency_ms=9.0, data_age_seconds=1.4, address="127.0.0.1:7233"),
        }  # fmt: skip
        queues = _queues()
    # Ordered and linked (a gone worker to its replacement) by the collector's own rule.
    workers = tuple(ordered_workers(list(_workers()), queues))
    return Snapshot(taken_at=FIXED_NOW, queues=queues, workers=workers, sources=sources, profile="demo",
                    control_plane_version=RECORDED_VERSION)  # fmt: skip


INCIDENT_STARTED = 12
"""Minutes before the recorded moment when the nightly reports batch began to pile up."""
WORKER_LOST = 5
"""...and when wkr-rep-02d8 stopped heartbeating (stale since), leaving reports with one worker."""
WEBHOOKS_REPLACED = 30
"""...and when webhooks' worker left and its replacement came up polling nothing."""


def _incident(queue_id: str, metric: str, minutes_ago: float, noise: float) -> float:
    """One queue metric ``minutes_ago`` before the recorded moment, in the story the recorded data tells."""
    m = minutes_ago
    if queue_id == "q-reports-81d4e0":
        if metric == "depth":
            if m > INCIDENT_STARTED:
                return 6 + 4 * noise
            climb = (INCIDENT_STARTED - m) * 14  # about 14 more a minute once the batch came in
            if m < WORKER_LOST:
                climb += (WORKER_LOST - m) * 22  # half the workers: it climbs faster
            return 6 + climb + 6 * noise
        if metric == "processed_per_min":
            return (58 if m > WORKER_LOST else 37) + 4 * noise
        if metric == "error_rate":
            return (0.018 if m > WORKER_LOST else 0.084) + 0.006 * noise
    if queue_id == "q-payments-3f9c2a":
        if metric == "depth":
            return 36 + 10 * math.sin(m / 3.1) + 6 * noise + (25 if 21 < m < 24 else 0)  # a deploy, 22 min ago
        if metric == "processed_per_min":
            return 130 + 9 * noise - (30 if 21 < m < 24 else 0)
        if metric == "error_rate":
            return 0.012 + 0.003 * noise + (0.02 if 21 < m < 24 else 0)
    if queue_id == "q-etl-nightly-c27b19":
        burst = 18 < m < 24  # the nightly run
        if metric == "depth":
            return (40 - 6 * (24 - m)) if burst else 0.0
        if metric == "processed_per_min":
            return (9 + noise) if burst else 2.5 + 0.5 * noise
        if metric == "error_rate":
            return 0.0
    if queue_id == "q-webhooks-5a60f3":
        if metric == "depth":
            return 0.0 if m > WEBHOOKS_REPLACED else 23 * (WEBHOOKS_REPLACED - m) / WEBHOOKS_REPLACED
        if metric == "processed_per_min":
            return (14 + 2 * noise) if m > WEBHOOKS_REPLACED else 0.0
        if metric == "error_rate":
            return 0.25
    return 0.0


def recorded_history(queue_id: str, metric: str) -> list[tuple[float, float]]:
    """Half an hour of history ending at the recorded moment: the incident each queue's numbers tell, with jitter."""
    rng = random.Random(f"{queue_id}/{metric}")
    points = []
    for i in range(HISTORY_POINTS):
        minutes_ago = (HISTORY_POINTS - 1 - i) * HISTORY_STEP / 60
        value = _incident(queue_id, metric, minutes_ago, rng.uniform(-1, 1))
        points.append((FIXED_NOW - minutes_ago * 60, round(max(0.0, value), 4)))
    return points


class RecordedSource:
    """A SnapshotSource that always answers the recorded moment (degraded or not)."""

    def __init__(self, degraded: bool = False, interval: float = 3600.0) -> None:
        self._snapshot = recorded_snapshot(degraded)
        self._interval = interval
        self._wake = asyncio.Event()

    def latest(self) -> Snapshot | None:
        return self._snapshot

    async def refresh(self, *, force: bool = False) -> Snapshot:
        return self._snapshot

    def _recorded_id(self, queue_id: str) -> str:
        """The recorded queue whose history a queue of this source shows (itself here)."""
        return queue_id

    def history(self, queue_id: str, metric: str, last: int | None = None) -> list[tuple[float, float]]:
        queue = self._snapshot.queue(queue_id)
        if queue is None:
            return []
        points = recorded_history(self._recorded_id(queue_id), metric)
        # The newest point is the snapshot's own value, so the chart ends where the table is.
        current = getattr(queue, metric, None)
        if isinstance(current, (int, float)) and points:
            points[-1] = (points[-1][0], float(current))
        if last is not None:
            return points[-last:] if last > 0 else []
        return points

    @property
    def interval(self) -> float:
        return self._interval

    def request_refresh(self) -> None:
        self._wake.set()

    async def run(self, callback: SnapshotCallback, stop_event: asyncio.Event) -> None:
        await refresh_loop(self, callback, stop_event, self._wake)

    async def aclose(self) -> None:
        return None


_FAILED = {
    "q-reports-81d4e0": [
        ("task-96489a83-e8df-44b1-801d-c43cab919bce", "render_pdf", "TimeoutError: render took longer than 30s"),
        ("task-3d087d46-085d-4dd9-b21e-80c6521241df", "render_pdf", "KeyError: 'customer_id' missing in report input"),
        ("task-68c66f18-b725-4b34-aac1-bc57d48c4b56", "http_request", "HTTP 502 from reports-db-proxy after 3 attempts"),
    ],
    "q-payments-3f9c2a": [("task-8229774b-d044-4ffd-b021-8a97d86d685b", "charge", "card declined by issuer (do_not_honor)")],
}


def _install_script(queue_id: str, platform: str) -> str:
    if platform == "docker":
        return (f"docker run -d --name kubiya-worker-{queue_id[:10]} --restart unless-stopped \\\n"
                f"  -e KUBIYA_API_KEY -e KUBIYA_CONTROL_PLANE_BASE_URL={RECORDED_URL} \\\n"
                f"  -e KUBIYA_TUI_WHEEL=kubiya_tui-{RECORDED_VERSION}-py3-none-any.whl -e KUBIYA_TUI_WHEEL_SHA256=e1782c01fd5b… \\\n"
                "  python:3.11-slim python -c \"$BOOTSTRAP\"\n")  # fmt: skip
    if platform == "kubernetes":
        return (f"kubectl create secret generic kubiya-worker-{queue_id[:10]}-key --from-file=api-key=/dev/stdin\n"
                f"kubectl apply -f - <<MANIFEST\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kubiya-worker-{queue_id[:10]}\n"
                f"spec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: worker\n"
                f"          image: python:3.11-slim\n          command: [python, -c]\nMANIFEST\n")  # fmt: skip
    return (f"#!/usr/bin/env bash\n# kubiya-tui worker for queue {queue_id}, platform: local.\n"
            f"# Package: kubiya-tui {RECORDED_VERSION}, the wheel this control plane serves (its sha256 is checked\n"
            "# before pip installs it); set KUBIYA_TUI_PACKAGE to a pip requirement to install from your index instead.\n"
            f"set -euo pipefail\nKUBIYA_CONTROL_PLANE_BASE_URL=${{KUBIYA_CONTROL_PLANE_BASE_URL:-{RECORDED_URL}}}\n"
            f"KUBIYA_TUI_WHEEL=kubiya_tui-{RECORDED_VERSION}-py3-none-any.whl\n"
            "KUBIYA_TUI_WHEEL_SHA256=e1782c01fd5b4ec7619f1f70504f5ffafda086b53d098975794b7c20c0d4507f\n"
            "exec python3 -c \"$BOOTSTRAP\"  # fetch, check the sha256, pip install, start the worker\n")  # fmt: skip


# Legacy task queues: one still in use, one half-way through its migration, one migrated.
_LEGACY = [
    {"id": "env-legacy-ops", "organization_id": "org-demo", "name": "ops", "task_queue_name": "org-demo.ops",
     "description": "Old ops automations", "tags": ["ops"], "status": "ready", "migration": None},
    {"id": "env-legacy-batch", "organization_id": "org-demo", "name": "batch", "task_queue_name": "org-demo.batch",
     "status": "ready", "migration": {"state": "migrating", "worker_queue_id": "q-reports-81d4e0"}},
    {"id": "env-legacy-old", "organization_id": "org-demo", "name": "old-cron", "task_queue_name": "org-demo.old-cron",
     "status": "ready", "migration": {"state": "migrated", "worker_queue_id": "q-etl-nightly-c27b19"}},
]  # fmt: skip
_LEGACY_METRICS = {
    "env-legacy-ops": {"task_queue_backlog": 23, "task_queue_backlog_age_seconds": 41.0, "tasks_add_rate_per_min": 12.0,
                       "tasks_dispatch_rate_per_min": 9.5, "total_workers": 2, "error_rate_percent": 3.1},
    "env-legacy-batch": {"task_queue_backlog": 4, "task_queue_backlog_age_seconds": 8.0, "tasks_add_rate_per_min": 0.0,
                         "tasks_dispatch_rate_per_min": 3.0, "total_workers": 1, "error_rate_percent": 0.0},
    "env-legacy-old": {"task_queue_backlog": 0, "task_queue_backlog_age_seconds": 0.0, "tasks_add_rate_per_min": 0.0,
                       "tasks_dispatch_rate_per_min": 0.0, "total_workers": 0, "error_rate_percent": 0.0},
}  # fmt: skip


def _legacy_answer(parts: list[str]) -> httpx.Response | None:
    if parts == ["task-queues"]:
        return httpx.Response(200, json=_LEGACY)
    legacy = next((q for q in _LEGACY if len(parts) >= 2 and q["id"] == parts[1]), None)
    if legacy is None:
        return None
    if len(parts) == 2:
        return httpx.Response(200, json=legacy)
    if parts[2] == "metrics":
        return httpx.Response(200, json={"queue_id": legacy["id"], "temporal_available": True, **_LEGACY_METRICS[legacy["id"]]})
    return None


def _answer(request: httpx.Request) -> httpx.Response:
    path = request.url.path.removeprefix("/api/v1")
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "task-queues":
        answer = _legacy_answer(parts)
        if answer is not None:
            return answer
    if path == "/environments":
        envs = [{"id": i, "organization_id": "org-demo", "name": n} for i, n in ENVIRONMENTS.items()]
        return httpx.Response(200, json=envs)
    if len(parts) == 3 and parts[0] == "worker-queues" and parts[2] == "worker-command":
        command = f"kubiya-tui worker start --queue-id {parts[1]} --control-plane-url {RECORDED_URL}"
        package = (f"package: kubiya-tui {RECORDED_VERSION} from this control plane (/api/v1/distribution, sha256 e1782c01fd5b…), "
                   "or set KUBIYA_TUI_PACKAGE to install from an index")  # fmt: skip
        return httpx.Response(200, json={"queue_id": parts[1], "command": command, "command_parts": command.split(), "package": package})
    if len(parts) == 3 and parts[0] == "worker-queues" and parts[2] == "install-script":
        return httpx.Response(200, text=_install_script(parts[1], request.url.params.get("platform", "local")))
    if len(parts) == 3 and parts[0] == "worker-queues" and parts[2] == "tasks":
        failed = _FAILED.get(parts[1], [])
        return httpx.Response(200, json=[{"id": t, "queue_id": parts[1], "kind": k, "status": "failed"} for t, k, _ in failed])
    if len(parts) == 2 and parts[0] == "tasks":
        for queue_id, tasks in _FAILED.items():
            for task_id, kind, error in tasks:
                if task_id == parts[1]:
                    return httpx.Response(200, json={"id": task_id, "queue_id": queue_id, "kind": kind, "status": "failed",
                                                     "error": error, "attempts": 3, "worker": "wkr-rep-01f2",
                                                     "closed_at": "2025-12-31T23:58:12Z"})  # fmt: skip
    return httpx.Response(404, content=json.dumps({"detail": f"not recorded: {request.method} {path}"}))


def recorded_transport() -> httpx.MockTransport:
    """An httpx transport answering the dialogs' reads from recorded data (no network)."""
    return httpx.MockTransport(_answer)


def recorded_heartbeats() -> dict[str, list[float]]:
    """Each worker's recent heartbeat arrival times (oldest first), for the worker detail's recent-heartbeats row."""
    arrivals: dict[str, list[float]] = {}
    for w in _workers():
        if w.heartbeat_age_seconds is None:
            continue
        interval = w.heartbeat_interval or 30.0
        last = FIXED_NOW - w.heartbeat_age_seconds
        # Regular beats with a little jitter; a stale worker's last gap is the one that went long.
        gaps = [interval + ((k * 7) % 5 - 2) for k in range(11)]
        if w.health.value == "stale":
            gaps[0] = 3.1 * interval
        times = [last]
        for gap in gaps:
            times.append(times[-1] - gap)
        arrivals[w.worker_id] = sorted(times)
    return arrivals


# ---------------------------------------------------------------------------- the recorded fleet

FLEET_PROFILES = ("prod", "staging", "dev")
"""The recorded fleet: prod (danger, red), staging (its own colour), dev (its control plane down)."""


def recorded_fleet_snapshots() -> dict[str, Snapshot]:
    """The recorded moment split into three profiles by environment; dev's control plane is down (its numbers 48 s old)."""
    from dataclasses import replace

    whole = recorded_snapshot()
    out: dict[str, Snapshot] = {}
    for name in FLEET_PROFILES:
        queues = tuple(q for q in whole.queues if q.environment == name)
        ids = {q.id for q in queues}
        workers = tuple(w for w in whole.workers if w.queue_id in ids)
        sources = dict(whole.sources)
        if name == "dev":
            sources = {
                "api": SourceState("api", SourceStatus.down, last_error="cannot reach http://127.0.0.1:8797: connection refused",
                                   data_age_seconds=48.0, address="http://127.0.0.1:8797"),
                "temporal": SourceState("temporal", SourceStatus.ok, latency_ms=11.0, data_age_seconds=1.3, address="127.0.0.1:7233"),
            }  # fmt: skip
            queues = tuple(replace(q, stale=True, data_age_seconds=48.0, stale_sources=("api",)) for q in queues)
        elif name == "staging":
            sources = {k: replace(v, latency_ms=(v.latency_ms or 0) + 27.0) for k, v in sources.items()}
        out[name] = Snapshot(taken_at=FIXED_NOW, queues=queues, workers=workers, sources=sources, profile=name,
                             control_plane_version=RECORDED_VERSION)  # fmt: skip
    return out


class RecordedProfileSource(RecordedSource):
    """One profile of the recorded fleet."""

    def __init__(self, snapshot: Snapshot, interval: float = 3600.0) -> None:
        super().__init__(interval=interval)
        self._snapshot = snapshot
