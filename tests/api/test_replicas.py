"""Several `kubiya-tui serve` replicas on one PostgreSQL database answer as one control plane.

Two replicas start at once on an empty database (one migrates, one admin key); every answer
is the same through either; a drain asked of one reaches a worker heartbeating to the other
at its next heartbeat, and so does a config change; the concurrency test of the single
control plane, spread over both replicas, loses nothing.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from kubiya_tui.controlplane.database import head_revision, run_coroutine
from kubiya_tui.stack.processes import ManagedProcess, start_control_plane
from tests.api.test_api_persistence import concurrent_clients_lose_nothing
from tests.helpers import make_queue

pytestmark = pytest.mark.postgres
V1 = "/api/v1"
VOLATILE = {"heartbeat_age_seconds", "health", "active_workers"}


class Replicas:
    """Control planes serving one database; ``urls[i]`` is replica i."""

    def __init__(self, database_url: str, key: str, processes: list[ManagedProcess], urls: list[str]) -> None:
        self.database_url, self.key, self.processes, self.urls = database_url, key, processes, urls

    def client(self, i: int, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.urls[i], headers={"Authorization": f"Bearer {key or self.key}"}, timeout=60)

    def admin_argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "kubiya_tui", "admin", *args, "--database-url", self.database_url]

    def key_for(self, org: str) -> str:
        made = subprocess.run(self.admin_argv("create-key", "--org", org), capture_output=True, text=True, check=True)
        return made.stdout.strip()


def start_replicas(count: int, database_url: str, temporal_address: str, where: Path, key: str) -> Replicas:
    """``count`` replicas started at once on one database (each with a data dir of its own)."""
    env = {"KUBIYA_TUI_DATABASE_URL": database_url}
    with ThreadPoolExecutor(count) as pool:
        started = list(
            pool.map(
                lambda i: start_control_plane(where / f"replica-{i}", temporal_address, api_key=key, extra_env=env),
                range(count),
            )
        )
    return Replicas(database_url, key, [p for p, _ in started], [u for _, u in started])


@pytest.fixture(scope="module")
def replicas(temporal_server, postgres_databases, tmp_path_factory) -> Iterator[Replicas]:
    found = start_replicas(
        2, postgres_databases.new(), temporal_server.address, tmp_path_factory.mktemp("replicas"), "kty_test_" + secrets.token_urlsafe(16)
    )
    try:
        yield found
    finally:
        for proc in found.processes:
            proc.stop()


def database_rows(url: str, sql: str) -> list[tuple]:
    import asyncpg
    from sqlalchemy.engine import make_url

    found = make_url(url)

    async def read() -> list[tuple]:
        conn = await asyncpg.connect(host=found.host, port=found.port, user=found.username, database=found.database)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return run_coroutine(read)


def everything(c: httpx.Client) -> dict:
    def clean(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]

    queues = c.get(f"{V1}/worker-queues").json()
    return {
        "environments": c.get(f"{V1}/environments").json(),
        "queues": clean(queues),
        "configs": [c.get(f"{V1}/worker-queues/{q['id']}/config").json() for q in queues],
        "workers": clean(c.get(f"{V1}/registered-workers").json()),
        "audit": c.get(f"{V1}/audit", params={"limit": 1000}).json(),
        "task_queues": clean(c.get(f"{V1}/task-queues").json()),
    }


def test_both_replicas_answer_the_same(replicas, unique):
    with replicas.client(0) as a, replicas.client(1) as b:
        env = a.post(f"{V1}/environments", json={"name": unique("env"), "tags": ["t"]}).json()
        queue = b.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": unique(), "max_workers": 3}).json()
        worker = a.post(f"{V1}/worker-queues/{queue['id']}/start", json={}).json()["worker_id"]
        b.post(f"{V1}/workers/{worker}/heartbeat", json={"status": "busy", "tasks_processed": 4})
        a.post(f"{V1}/worker-queues/{queue['id']}/scale", json={"workers": 2})
        assert everything(a) == everything(b)
        # both replicas started at once on the empty database: migrated once, one admin key
        assert database_rows(replicas.database_url, "SELECT name, organization_id FROM api_keys WHERE name = 'admin'") == [
            ("admin", "local")
        ]
        assert database_rows(replicas.database_url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
        # a name taken through one replica is taken through the other
        assert b.post(f"{V1}/environments", json={"name": env["name"]}).status_code == 409


def test_a_drain_asked_of_one_replica_reaches_a_worker_on_the_other(replicas, unique):
    with replicas.client(0) as a, replicas.client(1) as b:
        queue = make_queue(a, unique())
        worker = b.post(f"{V1}/worker-queues/{queue['id']}/start", json={}).json()["worker_id"]
        first = b.post(f"{V1}/workers/{worker}/heartbeat", json={"status": "idle"}).json()
        assert first["desired_state"] == "running"
        assert a.post(f"{V1}/workers/{worker}/drain").status_code == 202
        # the very next heartbeat to the other replica carries the drain
        assert b.post(f"{V1}/workers/{worker}/heartbeat", json={"status": "idle"}).json()["desired_state"] == "draining"
        # and a config change made through one is the config version the other answers next
        a.patch(f"{V1}/worker-queues/{queue['id']}", json={"settings": {"allow_shell": True}})
        version = a.get(f"{V1}/worker-queues/{queue['id']}/config").json()["config_version"]
        assert version != first["config_version"]
        assert b.post(f"{V1}/workers/{worker}/heartbeat", json={"status": "idle"}).json()["config_version"] == version


def test_many_concurrent_clients_across_two_replicas(replicas, unique):
    """The concurrency test of one control plane, its clients spread over both replicas."""
    concurrent_clients_lose_nothing(replicas.urls, replicas.key_for("busy-org"), replicas.admin_argv, unique("r"))
