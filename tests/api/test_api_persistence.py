"""Persistence across restarts (SQLite WAL in the data dir) and many concurrent clients."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

V1 = "/api/v1"
VOLATILE = {"heartbeat_age_seconds", "health", "active_workers"}


def snapshot(c: httpx.Client) -> dict:
    def clean(rows):
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]

    return {
        "envs": c.get(f"{V1}/environments").json(),
        "queues": clean(c.get(f"{V1}/worker-queues").json()),
        "workers": clean(c.get(f"{V1}/registered-workers").json()),
        "audit": c.get(f"{V1}/audit", params={"limit": 1000}).json(),
    }


def test_stop_and_start_keeps_everything(control_plane_factory, tmp_path):
    data_dir = tmp_path / "cp"
    cp = control_plane_factory(data_dir=data_dir)
    with cp.client() as c:
        env = c.post(f"{V1}/environments", json={"name": "prod", "tags": ["t"], "settings": {"region": "eu"}}).json()
        q1 = c.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": "gpu", "max_workers": 4}).json()
        q2 = c.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": "cpu", "heartbeat_interval": 30}).json()
        c.patch(f"{V1}/worker-queues/{q2['id']}", json={"status": "maintenance", "description": "upgrading"})
        w1 = c.post(f"{V1}/worker-queues/{q1['id']}/start", json={"system_info": {"hostname": "h1"}}).json()["worker_id"]
        w2 = c.post(f"{V1}/worker-queues/{q1['id']}/start", json={}).json()["worker_id"]
        c.post(f"{V1}/workers/{w1}/heartbeat", json={"status": "busy", "tasks_processed": 12, "current_task_id": "t-9"})
        c.post(f"{V1}/workers/{w2}/drain")
        c.post(f"{V1}/worker-queues/{q1['id']}/scale", json={"workers": 3})
        c.put(
            f"{V1}/worker-queues/{q1['id']}/autoscale",
            json={"min_workers": 1, "max_workers": 4, "target_backlog_age_seconds": 20},
        )
        c.post(f"{V1}/workers/register", json={"worker_id": "legacy-1", "queue_name": "local.default"})
        cfg = c.get(f"{V1}/worker-queues/{q1['id']}/config").json()
        before = snapshot(c)
    assert len(before["audit"]) >= 10
    cp.stop()

    if cp.database_url is None:
        # the store is SQLite in WAL mode, in the data dir
        db = sqlite3.connect(data_dir / "control-plane.sqlite")
        try:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            db.close()

    again = control_plane_factory(data_dir=data_dir, api_key=cp.api_key)
    with again.client() as c:
        after = snapshot(c)
        assert after == before
        w = c.get(f"{V1}/registered-workers/{w1}").json()
        assert (w["status"], w["tasks_processed"], w["current_task_id"]) == ("busy", 12, "t-9")
        assert c.get(f"{V1}/registered-workers/{w2}").json()["desired_state"] == "draining"
        q = c.get(f"{V1}/worker-queues/{q1['id']}").json()
        assert q["desired_workers"] == 3 and q["autoscale"]["min_workers"] == 1
        assert c.get(f"{V1}/worker-queues/{q1['id']}/config").json() == cfg
        # the drained worker still learns it must drain after the restart
        assert c.post(f"{V1}/workers/{w2}/heartbeat", json={"status": "active"}).json()["desired_state"] == "draining"
        # and the store keeps working: names stay taken, new writes succeed
        assert c.post(f"{V1}/environments", json={"name": "prod"}).status_code == 409
        assert c.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": "new-one"}).status_code == 201
    again.stop()


def test_many_concurrent_clients(control_plane, unique):
    """20 threads creating, patching and heartbeating at once: no lost update, no lock error, no 5xx."""
    concurrent_clients_lose_nothing([control_plane.url], control_plane.key_for("busy-org"), control_plane.admin_argv, unique("c"))


def concurrent_clients_lose_nothing(urls: list[str], key: str, admin_argv, prefix: str) -> None:
    """20 clients at once, client i on ``urls[i % len(urls)]`` (replicas of one registry), two more
    organizations' keys made meanwhile with ``admin_argv``: every write lands exactly once."""
    control_url = urls[0]
    errors: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def call(c: httpx.Client, method: str, path: str, **kw) -> httpx.Response:
        r = c.request(method, V1 + path, **kw)
        with lock:
            statuses.append(r.status_code)
            if r.status_code >= 500 or "locked" in r.text:
                errors.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
        return r

    def client(k: str, url: str = control_url) -> httpx.Client:
        return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {k}"}, timeout=60)

    with client(key) as c:
        env_id = next(e["id"] for e in c.get(f"{V1}/environments").json() if e["name"] == "default")
        shared = c.post(f"{V1}/environments/{env_id}/worker-queues", json={"name": f"{prefix}-shared"}).json()
        audit_before = len(c.get(f"{V1}/audit", params={"limit": 1000}).json())

    patch_fields = [
        ("description", "d"),
        ("display_name", "Shared"),
        ("max_workers", 77),
        ("heartbeat_interval", 45),
        ("tags", ["x", "y"]),
        ("settings", {"k": 1}),
    ]

    def client_work(i: int) -> dict:
        with client(key, urls[i % len(urls)]) as c:
            q = call(c, "POST", f"/environments/{env_id}/worker-queues", json={"name": f"{prefix}-{i}"}).json()
            dup = call(c, "POST", f"/environments/{env_id}/worker-queues", json={"name": f"{prefix}-race"})
            field, value = patch_fields[i % len(patch_fields)]
            if i < len(patch_fields):
                call(c, "PATCH", f"/worker-queues/{shared['id']}", json={field: value})
            wid = call(c, "POST", f"/worker-queues/{q['id']}/start", json={}).json()["worker_id"]
            for n in range(1, 16):
                r = call(c, "POST", f"/workers/{wid}/heartbeat", json={"status": "busy", "tasks_processed": n})
                assert r.json()["desired_state"] == "running"
            call(c, "PATCH", f"/worker-queues/{q['id']}", json={"description": f"queue {i}"})
            call(c, "POST", f"/worker-queues/{q['id']}/scale", json={"workers": i % 5})
            call(c, "GET", "/worker-queues")
            return {"queue": q, "worker": wid, "dup": dup.status_code}

    def create_keys() -> list[str]:
        out = []
        for n in range(2):
            proc = subprocess.run(
                admin_argv("create-key", "--org", f"{prefix}-org{n}"),
                capture_output=True, text=True, timeout=60,
            )
            assert proc.returncode == 0, proc.stderr
            out.append(proc.stdout.strip())
        return out

    with ThreadPoolExecutor(max_workers=21) as pool:
        key_job = pool.submit(create_keys)
        results = list(pool.map(client_work, range(20)))
        new_keys = key_job.result()

    assert not errors, errors
    assert all(s < 500 for s in statuses)
    # exactly one of 20 racing creates of the same name won
    assert sorted(r["dup"] for r in results) == [201] + [409] * 19

    with client(key, urls[-1]) as c:
        queues = {q["name"]: q for q in c.get(f"{V1}/worker-queues").json()}
        for i, r in enumerate(results):
            q = queues[f"{prefix}-{i}"]
            assert q["description"] == f"queue {i}" and q["desired_workers"] == i % 5
            assert q["active_workers"] == 1
            w = c.get(f"{V1}/registered-workers/{r['worker']}").json()
            assert (w["status"], w["tasks_processed"]) == ("busy", 15)
        # concurrent patches of different fields of one queue: none lost
        s = queues[f"{prefix}-shared"]
        for field, value in patch_fields:
            assert s[field] == value, field
        # every successful write is audited exactly once
        audit = c.get(f"{V1}/audit", params={"limit": 1000}).json()
        writes = 20 + 1 + len(patch_fields) + 20 + 20 + 20  # creates, race winner, shared patches, starts, patches, scales
        assert len(audit) - audit_before == writes
    for n, new_key in enumerate(new_keys):
        with client(new_key, urls[n % len(urls)]) as c:
            envs = c.get(f"{V1}/environments").json()
            assert [e["organization_id"] for e in envs] == [f"{prefix}-org{n}"]


def test_concurrent_heartbeats_from_one_worker_keep_the_last_state(control_plane, unique):
    """Heartbeats racing for one worker never fail and leave it in one of the reported states."""
    with control_plane.client() as c:
        env_id = next(e["id"] for e in c.get(f"{V1}/environments").json() if e["name"] == "default")
        q = c.post(f"{V1}/environments/{env_id}/worker-queues", json={"name": unique()}).json()
        wid = c.post(f"{V1}/worker-queues/{q['id']}/start", json={}).json()["worker_id"]

    def beat(n: int) -> int:
        with control_plane.client() as c:
            return c.post(f"{V1}/workers/{wid}/heartbeat", json={"status": "idle", "tasks_processed": n}).status_code

    n_tasks = 40
    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(beat, range(n_tasks)))
    assert codes == [200] * n_tasks
    with control_plane.client() as c:
        w = c.get(f"{V1}/registered-workers/{wid}").json()
        assert w["status"] == "idle" and 0 <= w["tasks_processed"] < n_tasks
