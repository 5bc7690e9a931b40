"""Write tests/data/control-plane-v0.sql: a data dir of the control plane before Alembic.

Run once, with the code of main before the store moved to SQLAlchemy (commit 9aa31a8):

    python tests/data/make_v0_data_dir.py

It serves a fresh data dir with that code, fills it through the API (organizations, keys,
environments, queues with scale and autoscale wishes, workers in every state, a legacy
worker and migration, audit entries), adds task rows through the old Store, then writes
the SQLite file as SQL text (the schema as that code made it, and every row) and the
API's answers as JSON (control-plane-v0.json), which the upgrade test compares with.
No API key is kept: the test makes its own.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from kubiya_tui.controlplane.store import Store  # noqa: E402
from kubiya_tui.stack.processes import start_control_plane  # noqa: E402

V1 = "/api/v1"
VOLATILE = {"heartbeat_age_seconds", "health", "active_workers"}


def snapshot(c: httpx.Client) -> dict:
    def clean(rows):
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]

    queues = c.get(f"{V1}/worker-queues").json()
    return {
        "environments": c.get(f"{V1}/environments").json(),
        "queues": clean(queues),
        "configs": {q["id"]: c.get(f"{V1}/worker-queues/{q['id']}/config").json() for q in queues},
        "workers": clean(c.get(f"{V1}/workers").json()),
        "audit": c.get(f"{V1}/audit", params={"limit": 1000}).json(),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cp"
        key = "kty_fixture_only_" + "x" * 20
        proc, url = start_control_plane(data, "127.0.0.1:1", api_key=key)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
                default = next(e for e in c.get(f"{V1}/environments").json() if e["name"] == "default")
                prod = c.post(f"{V1}/environments", json={"name": "prod", "tags": ["eu"], "settings": {"region": "eu-west"}}).json()
                gpu = c.post(f"{V1}/environments/{prod['id']}/worker-queues", json={"name": "gpu", "max_workers": 4, "tags": ["a100"]}).json()
                cpu = c.post(f"{V1}/environments/{prod['id']}/worker-queues", json={"name": "cpu", "heartbeat_interval": 30}).json()
                dq = c.post(f"{V1}/environments/{default['id']}/worker-queues", json={"name": "default", "settings": {"allow_shell": True}}).json()
                c.patch(f"{V1}/worker-queues/{cpu['id']}", json={"status": "maintenance", "description": "upgrading"})
                c.post(f"{V1}/worker-queues/{gpu['id']}/scale", json={"workers": 3, "reason": "fixture"})
                c.put(f"{V1}/worker-queues/{gpu['id']}/autoscale", json={"min_workers": 1, "max_workers": 4, "target_backlog_age_seconds": 20})
                w1 = c.post(f"{V1}/worker-queues/{gpu['id']}/start", json={"system_info": {"hostname": "h1", "pid": 4242}}).json()["worker_id"]
                w2 = c.post(f"{V1}/worker-queues/{gpu['id']}/start", json={}).json()["worker_id"]
                w3 = c.post(f"{V1}/worker-queues/{dq['id']}/start", json={"worker_metadata": {"runtime": "python"}}).json()["worker_id"]
                c.post(f"{V1}/workers/{w1}/heartbeat", json={"status": "busy", "tasks_processed": 12, "current_task_ids": ["t-1", "t-2"], "slots_used": 2, "slots_available": 8})
                c.post(f"{V1}/workers/{w2}/drain")
                c.post(f"{V1}/workers/{w3}/disconnect", json={"reason": "shutdown", "exit_code": 0})
                c.post(f"{V1}/workers/register", json={"worker_id": "legacy-1", "queue_name": "local.default", "hostname": "old-host"})
                c.post(f"{V1}/task-queues/{prod['id']}/migrate", json={"environment_id": "default", "name": "prod-migrated"})
                before = snapshot(c)
        finally:
            proc.stop()
        # Another organization, with its own key hash, and task rows (no Temporal needed for the rows).
        store = Store(data / "control-plane.sqlite")
        store.add_key("acme", "kty_fixture_acme_" + "y" * 20, "acme-key")
        for n in range(3):
            store.add_task("local", {"id": f"task-fixture-{n}", "queue_id": gpu["id"], "kind": "sleep", "priority": 3, "timeout_seconds": 60.0, "max_attempts": 2})
        store.close()
        db = sqlite3.connect(data / "control-plane.sqlite")
        lines = list(db.iterdump())
        db.close()
    (HERE / "control-plane-v0.sql").write_text("\n".join(lines) + "\n")
    (HERE / "control-plane-v0.json").write_text(json.dumps(before, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(lines)} SQL lines")


if __name__ == "__main__":
    main()
