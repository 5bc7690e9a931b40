"""Workers of the contract: start, heartbeats, legacy register, disconnect, drain, scale, autoscale, config, audit."""

from __future__ import annotations

import time

import httpx

V1 = "/api/v1"


def default_env_id(api: httpx.Client) -> str:
    return next(e["id"] for e in api.get(f"{V1}/environments").json() if e["name"] == "default")


def make_queue(api: httpx.Client, name: str, **fields) -> dict:
    r = api.post(f"{V1}/environments/{default_env_id(api)}/worker-queues", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def start(api: httpx.Client, queue_id: str, **body) -> dict:
    r = api.post(f"{V1}/worker-queues/{queue_id}/start", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_start_answers_registration(api, control_plane, unique):
    q = make_queue(api, unique(), heartbeat_interval=15)
    reg = start(
        api,
        q["id"],
        worker_sdk_version="1.2.3",
        system_info={"hostname": "box-1", "pid": 42, "cpu_count": 4, "memory_percent": 12.5},
    )
    assert reg["worker_id"]
    assert reg["task_queue_name"] == q["task_queue_name"]
    assert reg["temporal_namespace"] == "default"
    assert reg["temporal_host"] == control_plane.temporal_address
    assert reg["organization_id"] == "local"
    assert reg["control_plane_url"] == control_plane.url
    assert reg["heartbeat_interval"] == 15
    assert (reg["queue_id"], reg["queue_name"], reg["environment_name"]) == (q["id"], q["name"], "default")

    workers = api.get(f"{V1}/worker-queues/{q['id']}/workers").json()
    assert len(workers) == 1
    w = workers[0]
    assert w["worker_id"] == reg["worker_id"] and w["queue_id"] == q["id"] and w["status"] == "active"
    assert w["system_info"]["hostname"] == "box-1" and w["system_info"]["pid"] == 42
    assert w["health"] == "healthy" and w["last_heartbeat"] and w["registered_at"]
    assert api.get(f"{V1}/worker-queues/{q['id']}").json()["active_workers"] == 1
    # a start with no body at all also works
    r = api.post(f"{V1}/worker-queues/{q['id']}/start")
    assert r.status_code == 200, r.text


def test_start_refused_on_inactive_full_or_unknown_queue(api, unique):
    q = make_queue(api, unique(), max_workers=1)
    for status in ("inactive", "maintenance"):
        api.patch(f"{V1}/worker-queues/{q['id']}", json={"status": status})
        r = api.post(f"{V1}/worker-queues/{q['id']}/start", json={})
        assert r.status_code == 400 and status in r.json()["detail"]
    assert api.get(f"{V1}/worker-queues/{q['id']}/workers").json() == []
    api.patch(f"{V1}/worker-queues/{q['id']}", json={"status": "active"})
    start(api, q["id"])
    r = api.post(f"{V1}/worker-queues/{q['id']}/start", json={})
    assert r.status_code == 409
    assert len(api.get(f"{V1}/worker-queues/{q['id']}/workers").json()) == 1
    assert api.post(f"{V1}/worker-queues/nope/start", json={}).status_code == 404


def test_both_heartbeat_forms_answer_200_with_desired_state(api, unique):
    q = make_queue(api, unique())
    wid = start(api, q["id"])["worker_id"]
    config_version = api.get(f"{V1}/worker-queues/{q['id']}/config").json()["config_version"]

    r = api.post(
        f"{V1}/workers/{wid}/heartbeat",
        json={
            "status": "busy",
            "tasks_processed": 7,
            "current_task_id": "t-1",
            "worker_metadata": {"task_duration_avg_ms": 12},
            "system_info": {"hostname": "box-2", "cpu_percent": 50.0},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"worker_id": wid, "desired_state": "running", "config_version": config_version}
    w = api.get(f"{V1}/registered-workers/{wid}").json()
    assert (w["status"], w["tasks_processed"], w["current_task_id"]) == ("busy", 7, "t-1")
    assert w["system_info"]["hostname"] == "box-2" and w["worker_metadata"] == {"task_duration_avg_ms": 12}

    r = api.post(f"{V1}/workers/heartbeat", json={"worker_id": wid, "status": "idle", "tasks_processed": 9})
    assert r.status_code == 200, r.text
    assert r.json()["desired_state"] == "running" and r.json()["worker_id"] == wid
    w = api.get(f"{V1}/registered-workers/{wid}").json()
    assert (w["status"], w["tasks_processed"]) == ("idle", 9)

    assert api.post(f"{V1}/workers/nope/heartbeat", json={"status": "idle"}).status_code == 404
    assert api.post(f"{V1}/workers/heartbeat", json={"worker_id": "nope", "status": "idle"}).status_code == 404


def test_config_version_follows_queue_settings(api, unique):
    q = make_queue(api, unique())
    wid = start(api, q["id"])["worker_id"]
    cfg = api.get(f"{V1}/worker-queues/{q['id']}/config").json()
    assert cfg["queue_id"] == q["id"] and cfg["heartbeat_interval"] == 60 and cfg["task_queue_name"] == q["task_queue_name"]
    v1 = cfg["config_version"]
    assert api.get(f"{V1}/worker-queues/{q['id']}/config").json()["config_version"] == v1  # stable
    api.patch(f"{V1}/worker-queues/{q['id']}", json={"heartbeat_interval": 20, "settings": {"a": 1}})
    cfg2 = api.get(f"{V1}/worker-queues/{q['id']}/config").json()
    assert cfg2["config_version"] != v1 and cfg2["heartbeat_interval"] == 20 and cfg2["settings"] == {"a": 1}
    hb = api.post(f"{V1}/workers/{wid}/heartbeat", json={"status": "active"}).json()
    assert hb["config_version"] == cfg2["config_version"]
    assert api.get(f"{V1}/worker-queues/nope/config").status_code == 404


def test_drain_reaches_worker_through_heartbeat(api, unique):
    q = make_queue(api, unique())
    wid = start(api, q["id"])["worker_id"]
    other = start(api, q["id"])["worker_id"]
    r = api.post(f"{V1}/workers/{wid}/drain")
    assert r.status_code == 202, r.text
    assert r.json()["desired_state"] == "draining" and r.json()["health"] == "draining"
    # idempotent, audited once
    assert api.post(f"{V1}/workers/{wid}/drain").status_code == 202
    drains = [a for a in api.get(f"{V1}/audit", params={"action": "worker.drain"}).json() if a["target_id"] == wid]
    assert len(drains) == 1
    # the worker learns it through its heartbeat, whatever it reports
    assert api.post(f"{V1}/workers/{wid}/heartbeat", json={"status": "active"}).json()["desired_state"] == "draining"
    assert api.post(f"{V1}/workers/heartbeat", json={"worker_id": wid}).json()["desired_state"] == "draining"
    # the other worker is unaffected
    assert api.post(f"{V1}/workers/{other}/heartbeat", json={"status": "active"}).json()["desired_state"] == "running"
    assert api.post(f"{V1}/workers/nope/drain").status_code == 404


def test_disconnect(api, unique):
    q = make_queue(api, unique())
    wid = start(api, q["id"])["worker_id"]
    r = api.post(f"{V1}/workers/{wid}/disconnect", json={"reason": "drained", "exit_code": 0})
    assert r.status_code == 204 and r.content == b""
    w = api.get(f"{V1}/registered-workers/{wid}").json()
    assert w["status"] == "disconnected" and w["health"] == "gone" and w["disconnect_reason"] == "drained"
    assert w["disconnected_at"]
    assert api.get(f"{V1}/worker-queues/{q['id']}").json()["active_workers"] == 0
    assert api.post(f"{V1}/workers/nope/disconnect", json={"reason": "x"}).status_code == 404
    # with no body at all
    wid2 = start(api, q["id"])["worker_id"]
    assert api.post(f"{V1}/workers/{wid2}/disconnect").status_code == 204


def test_workers_lists_newest_heartbeat_first_and_org_wide(api, unique):
    q1 = make_queue(api, unique())
    q2 = make_queue(api, unique())
    a = start(api, q1["id"])["worker_id"]
    b = start(api, q1["id"])["worker_id"]
    c = start(api, q2["id"])["worker_id"]
    time.sleep(0.01)
    api.post(f"{V1}/workers/{a}/heartbeat", json={"status": "active"})
    ids = [w["worker_id"] for w in api.get(f"{V1}/worker-queues/{q1['id']}/workers").json()]
    assert ids == [a, b]
    everyone = {w["worker_id"]: w for w in api.get(f"{V1}/registered-workers").json()}
    assert {a, b, c} <= set(everyone)
    assert everyone[c]["queue_id"] == q2["id"] and everyone[c]["queue_name"] == q2["name"]
    assert api.get(f"{V1}/worker-queues/nope/workers").status_code == 404


def test_legacy_register_both_forms(api, unique):
    q = make_queue(api, unique())
    # the Work Queues page's form: a Temporal task queue name
    r = api.post(
        f"{V1}/workers/register",
        json={"worker_id": unique("legacy"), "queue_name": q["task_queue_name"], "capabilities": {"python": "3.11"}},
    )
    assert r.status_code == 200, r.text
    reg = r.json()
    assert reg["queue_id"] == q["id"] and reg["task_queue_name"] == q["task_queue_name"]
    assert reg["environment_name"] == "default"
    listed = api.get(f"{V1}/worker-queues/{q['id']}/workers").json()
    assert [w["worker_id"] for w in listed] == [reg["worker_id"]]
    assert listed[0]["capabilities"] == {"python": "3.11"}
    hb = api.post(f"{V1}/workers/heartbeat", json={"worker_id": reg["worker_id"], "status": "idle"})
    assert hb.status_code == 200 and hb.json()["desired_state"] == "running"

    # the upstream form: an environment name
    r = api.post(f"{V1}/workers/register", json={"environment_name": "default", "hostname": "h1"})
    assert r.status_code == 200, r.text
    reg2 = r.json()
    assert reg2["worker_id"] and reg2["environment_name"] == "default"
    assert reg2["task_queue_name"] == "local.default"
    w = api.get(f"{V1}/registered-workers/{reg2['worker_id']}").json()
    assert w["hostname"] == "h1"

    assert api.post(f"{V1}/workers/register", json={"environment_name": "no-such-env"}).status_code == 404
    assert api.post(f"{V1}/workers/register", json={"capabilities": {}}).status_code == 422


def test_scale_stores_desired_count(api, unique):
    q = make_queue(api, unique(), max_workers=4)
    r = api.post(f"{V1}/worker-queues/{q['id']}/scale", json={"workers": 3})
    assert r.status_code == 202, r.text
    assert r.json()["desired_workers"] == 3 and r.json()["max_workers"] == 4
    assert api.get(f"{V1}/worker-queues/{q['id']}").json()["desired_workers"] == 3
    r = api.post(f"{V1}/worker-queues/{q['id']}/scale", json={"workers": 5})
    assert r.status_code == 409
    assert api.post(f"{V1}/worker-queues/{q['id']}/scale", json={"workers": -1}).status_code == 422
    assert api.get(f"{V1}/worker-queues/{q['id']}").json()["desired_workers"] == 3
    assert api.post(f"{V1}/worker-queues/{q['id']}/scale", json={"workers": 0}).status_code == 202
    assert api.get(f"{V1}/worker-queues/{q['id']}").json()["desired_workers"] == 0
    assert api.post(f"{V1}/worker-queues/nope/scale", json={"workers": 1}).status_code == 404
    scales = [a for a in api.get(f"{V1}/audit", params={"action": "queue.scale"}).json() if a["target_id"] == q["id"]]
    assert [(a["details"]["from"], a["details"]["to"]) for a in scales] == [(3, 0), (None, 3)]


def test_autoscale_put_and_delete(api, unique):
    q = make_queue(api, unique(), max_workers=5)
    policy = {"min_workers": 1, "max_workers": 4, "target_backlog_age_seconds": 10}
    r = api.put(f"{V1}/worker-queues/{q['id']}/autoscale", json=policy)
    assert r.status_code == 200, r.text
    assert r.json()["autoscale"] == {**policy, "cooldown_seconds": 30}
    assert api.get(f"{V1}/worker-queues/{q['id']}").json()["autoscale"]["max_workers"] == 4
    # over the queue's max, or min > max: refused, policy unchanged
    assert api.put(f"{V1}/worker-queues/{q['id']}/autoscale", json={**policy, "max_workers": 6}).status_code == 409
    assert api.put(f"{V1}/worker-queues/{q['id']}/autoscale", json={**policy, "min_workers": 5}).status_code == 422
    assert api.get(f"{V1}/worker-queues/{q['id']}").json()["autoscale"]["max_workers"] == 4
    r = api.delete(f"{V1}/worker-queues/{q['id']}/autoscale")
    assert r.status_code == 200 and r.json()["autoscale"] is None
    assert api.get(f"{V1}/worker-queues/{q['id']}").json()["autoscale"] is None
    assert api.put(f"{V1}/worker-queues/nope/autoscale", json=policy).status_code == 404
    assert api.delete(f"{V1}/worker-queues/nope/autoscale").status_code == 404


def test_audit_records_who_did_what(api, unique):
    q = make_queue(api, unique())
    wid = start(api, q["id"])["worker_id"]
    api.post(f"{V1}/workers/{wid}/drain")
    api.post(f"{V1}/workers/{wid}/disconnect", json={"reason": "drained"})
    api.post(f"{V1}/worker-queues/{q['id']}/scale", json={"workers": 2})
    api.delete(f"{V1}/worker-queues/{q['id']}")
    entries = api.get(f"{V1}/audit", params={"limit": 1000}).json()
    mine = [e for e in entries if e["target_id"] in (q["id"], wid)]
    actions = [e["action"] for e in reversed(mine)]  # newest first in the answer
    assert actions == ["queue.create", "worker.start", "worker.drain", "worker.disconnect", "queue.scale", "queue.delete"]
    assert all(e["organization_id"] == "local" and e["actor"] and e["created_at"] for e in mine)
    assert len(api.get(f"{V1}/audit", params={"limit": 2}).json()) == 2
    assert api.get(f"{V1}/audit", params={"limit": 0}).status_code == 422


def test_legacy_register_cannot_join_another_orgs_task_queue(api, control_plane, unique):
    q = make_queue(api, unique())
    with control_plane.client(control_plane.key_for("legacy-org")) as b:
        for name in (q["task_queue_name"], "local.default", "local.anything"):
            r = b.post(f"{V1}/workers/register", json={"queue_name": name})
            assert r.status_code == 404, (name, r.text)
        assert b.get(f"{V1}/registered-workers").json() == []
        # its own legacy task queue (`<org>.<environment>`) is fine; a name that is no queue is not
        assert b.post(f"{V1}/workers/register", json={"queue_name": "legacy-org.default"}).status_code == 200
        assert b.post(f"{V1}/workers/register", json={"queue_name": "plain-name"}).status_code == 404
    assert api.get(f"{V1}/worker-queues/{q['id']}/workers").json() == []


def test_workers_paths_keep_kubiyas_meaning_runners_and_their_pollers(api, unique):
    """GET /workers and /workers/{runner_name} answer Kubiya's TaskQueueInfo (its SDK's workers.list/get);
    the registered workers are at /registered-workers."""
    q = make_queue(api, unique())
    wid = start(api, q["id"])["worker_id"]
    runner = api.get(f"{V1}/workers/default")
    assert runner.status_code == 200, runner.text
    info = runner.json()
    assert (info["runner_name"], info["task_queue"], info["organization_id"]) == ("default", "local.default", "local")
    assert isinstance(info["workers"], list) and info["worker_count"] == len(info["workers"])
    listed = api.get(f"{V1}/workers").json()
    assert "default" in {i["runner_name"] for i in listed} and all("worker_id" not in i for i in listed)
    # A worker id names no runner here either: an empty runner, not the worker.
    assert api.get(f"{V1}/workers/{wid}").json()["workers"] == []
    assert api.get(f"{V1}/registered-workers/{wid}").json()["queue_id"] == q["id"]


def test_a_drain_is_dated_and_the_interval_a_worker_keeps_is_shown(api, unique):
    q = make_queue(api, unique(), heartbeat_interval=10)
    wid = start(api, q["id"])["worker_id"]
    fresh = api.get(f"{V1}/registered-workers/{wid}").json()
    assert fresh["observed_heartbeat_interval"] is None and fresh["drain_requested_at"] is None
    time.sleep(0.3)
    api.post(f"{V1}/workers/{wid}/heartbeat", json={"status": "active"})
    beaten = api.get(f"{V1}/registered-workers/{wid}").json()
    assert beaten["observed_heartbeat_interval"] >= 0.3, "the time since the beat before (registration)"
    drained = api.post(f"{V1}/workers/{wid}/drain").json()
    assert drained["drain_requested_at"] and drained["health"] == "draining" and not drained["drain_ignored"]
    # The beat that carries the answer still says active: not yet a drain it ignores.
    assert api.post(f"{V1}/workers/{wid}/heartbeat", json={"status": "active"}).json()["desired_state"] == "draining"
    again = api.get(f"{V1}/registered-workers/{wid}").json()
    assert again["health"] == "draining" and not again["drain_ignored"]
    # A second drain keeps the first request's time ("drain requested 2m ago").
    assert api.post(f"{V1}/workers/{wid}/drain").json()["drain_requested_at"] == drained["drain_requested_at"]
    api.post(f"{V1}/workers/{wid}/heartbeat", json={"status": "draining"})
    honoured = api.get(f"{V1}/registered-workers/{wid}").json()
    assert honoured["health"] == "draining" and not honoured["drain_ignored"]


def test_health_names_the_service(api):
    """The flavour probe of kubiya_tui/client/capabilities.py: ours says kubiya-tui (Kubiya's: agent-control-plane)."""
    assert api.get("/api/health").json()["service"] == "kubiya-tui"
