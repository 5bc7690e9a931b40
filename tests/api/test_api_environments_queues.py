"""Environments and worker queues of the contract, auth and org isolation, against a real `kubiya-tui serve`."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import httpx
import pytest

from kubiya_tui.models import WorkerCommand

V1 = "/api/v1"
ORG = "envq"


@pytest.fixture
def api(control_plane):
    """A client of an organization of its own: the environments made here stay out of the shared org."""
    with control_plane.client(control_plane.key_for(ORG)) as client:
        yield client


def default_env(api: httpx.Client) -> dict:
    envs = api.get(f"{V1}/environments").json()
    return next(e for e in envs if e["name"] == "default")


def make_queue(api: httpx.Client, name: str, env_id: str | None = None, **fields) -> dict:
    env_id = env_id or default_env(api)["id"]
    r = api.post(f"{V1}/environments/{env_id}/worker-queues", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return r.json()


# ---------------------------------------------------------------------------- auth


def test_three_auth_header_forms_accepted_and_bad_keys_refused(control_plane):
    url, key = control_plane.url, control_plane.api_key
    for headers in (
        {"Authorization": f"Bearer {key}"},
        {"Authorization": f"UserKey {key}"},
        {"UserKey": key},
    ):
        r = httpx.get(f"{url}{V1}/environments", headers=headers)
        assert r.status_code == 200, (headers.keys(), r.text)
        assert any(e["name"] == "default" for e in r.json())
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {key}"}, {"UserKey": ""}):
        r = httpx.get(f"{url}{V1}/worker-queues", headers=headers)
        assert r.status_code == 401, headers
        detail = r.json()["detail"]
        assert detail["error"] == "Unauthorized" and detail["message"] and detail["hint"]
        assert key not in r.text


def test_health_and_openapi_need_no_key(control_plane):
    health = httpx.get(f"{control_plane.url}/api/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    spec = httpx.get(f"{control_plane.url}/api/openapi.json").json()
    for path in (
        "/api/v1/environments",
        "/api/v1/worker-queues/{queue_id}",
        "/api/v1/worker-queues/{queue_id}/install-script",
        "/api/v1/workers/{worker_id}/heartbeat",
        "/api/v1/workers/heartbeat",
        "/api/v1/audit",
    ):
        assert path in spec["paths"], path


# ---------------------------------------------------------------------------- environments


def test_environment_crud(api, unique):
    name = unique("env")
    r = api.post(f"{V1}/environments", json={"name": name, "description": "staging", "tags": ["a"], "settings": {"x": 1}})
    assert r.status_code == 201, r.text
    env = r.json()
    assert env["name"] == name and env["display_name"] == name and env["tags"] == ["a"] and env["settings"] == {"x": 1}
    assert env["organization_id"] == ORG and env["status"] in ("ready", "active")
    assert env["id"] in [e["id"] for e in api.get(f"{V1}/environments").json()]
    assert api.get(f"{V1}/environments/{env['id']}").json()["name"] == name

    assert api.post(f"{V1}/environments", json={"name": name}).status_code == 409

    r = api.patch(f"{V1}/environments/{env['id']}", json={"display_name": "Staging", "status": "active"})
    assert r.status_code == 200 and r.json()["display_name"] == "Staging" and r.json()["status"] == "active"
    assert r.json()["description"] == "staging"  # untouched fields stay
    # rename onto a taken name
    other = api.post(f"{V1}/environments", json={"name": unique("env")}).json()
    assert api.patch(f"{V1}/environments/{other['id']}", json={"name": name}).status_code == 409

    assert api.delete(f"{V1}/environments/{env['id']}").status_code == 204
    assert api.get(f"{V1}/environments/{env['id']}").status_code == 404
    assert api.delete(f"{V1}/environments/{env['id']}").status_code == 404
    assert api.patch(f"{V1}/environments/{env['id']}", json={"description": "x"}).status_code == 404


def test_default_environment_cannot_be_deleted(api):
    env = default_env(api)
    r = api.delete(f"{V1}/environments/{env['id']}")
    assert r.status_code == 400 and "default" in r.json()["detail"]
    assert default_env(api)["id"] == env["id"]


def test_environment_with_queues_cannot_be_deleted(api, unique):
    env = api.post(f"{V1}/environments", json={"name": unique("env")}).json()
    q = make_queue(api, unique(), env["id"])
    r = api.delete(f"{V1}/environments/{env['id']}")
    assert r.status_code == 400
    assert api.get(f"{V1}/environments/{env['id']}").status_code == 200
    assert api.delete(f"{V1}/worker-queues/{q['id']}").status_code == 204
    assert api.delete(f"{V1}/environments/{env['id']}").status_code == 204


# ---------------------------------------------------------------------------- worker queues


def test_queue_create_defaults_and_fields(api, unique):
    env = default_env(api)
    name = unique()
    q = make_queue(api, name, description="gpu jobs", max_workers=3, heartbeat_interval=30, tags=["gpu"])
    assert q["name"] == name and q["display_name"] == name
    assert q["environment_id"] == env["id"] and q["organization_id"] == ORG
    assert q["status"] == "active" and q["max_workers"] == 3 and q["heartbeat_interval"] == 30
    assert q["tags"] == ["gpu"] and q["settings"] == {} and q["active_workers"] == 0
    assert q["task_queue_name"] == q["id"]  # the queue's id, as Kubiya's control plane names it
    assert q["created_at"] and q["updated_at"]

    plain = make_queue(api, unique())
    assert plain["heartbeat_interval"] == 60 and plain["max_workers"] is None


def test_queue_lists_org_and_environment(api, unique):
    env = api.post(f"{V1}/environments", json={"name": unique("env")}).json()
    a = make_queue(api, unique())
    b = make_queue(api, unique(), env["id"])
    c = make_queue(api, unique(), env["id"])
    all_ids = [q["id"] for q in api.get(f"{V1}/worker-queues").json()]
    # oldest first
    assert all_ids.index(a["id"]) < all_ids.index(b["id"]) < all_ids.index(c["id"])
    in_env = api.get(f"{V1}/environments/{env['id']}/worker-queues").json()
    assert [q["id"] for q in in_env] == [b["id"], c["id"]]
    assert api.get(f"{V1}/environments/nope/worker-queues").status_code == 404
    assert api.post(f"{V1}/environments/nope/worker-queues", json={"name": unique()}).status_code == 404


def test_same_queue_name_in_two_environments_but_not_twice_in_one(api, unique):
    env = api.post(f"{V1}/environments", json={"name": unique("env")}).json()
    name = unique()
    q1 = make_queue(api, name)
    q2 = make_queue(api, name, env["id"])
    assert q1["task_queue_name"] != q2["task_queue_name"]
    before = api.get(f"{V1}/worker-queues").json()
    r = api.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": name})
    assert r.status_code == 409 and name in r.json()["detail"]
    assert api.get(f"{V1}/worker-queues").json() == before


def test_queue_get_patch_delete(api, unique):
    q = make_queue(api, unique(), max_workers=2)
    got = api.get(f"{V1}/worker-queues/{q['id']}").json()
    assert got["id"] == q["id"] and got["name"] == q["name"]

    r = api.patch(
        f"{V1}/worker-queues/{q['id']}",
        json={"description": "new", "max_workers": 5, "status": "maintenance", "settings": {"k": "v"}},
    )
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["description"], p["max_workers"], p["status"], p["settings"]) == ("new", 5, "maintenance", {"k": "v"})
    assert p["name"] == q["name"] and p["heartbeat_interval"] == 60
    # max_workers back to unlimited with null
    assert api.patch(f"{V1}/worker-queues/{q['id']}", json={"max_workers": None}).json()["max_workers"] is None
    assert api.get(f"{V1}/worker-queues/{q['id']}").json()["status"] == "maintenance"

    # rename onto a taken name is 409, not 500; the queue keeps its name
    other = make_queue(api, unique())
    r = api.patch(f"{V1}/worker-queues/{q['id']}", json={"name": other["name"]})
    assert r.status_code == 409, r.text
    assert api.get(f"{V1}/worker-queues/{q['id']}").json()["name"] == q["name"]
    # a free new name works
    new_name = unique()
    assert api.patch(f"{V1}/worker-queues/{q['id']}", json={"name": new_name}).json()["name"] == new_name

    assert api.delete(f"{V1}/worker-queues/{q['id']}").status_code == 204
    assert api.get(f"{V1}/worker-queues/{q['id']}").status_code == 404
    assert api.patch(f"{V1}/worker-queues/{q['id']}", json={"description": "x"}).status_code == 404
    assert api.delete(f"{V1}/worker-queues/{q['id']}").status_code == 404
    assert q["id"] not in [x["id"] for x in api.get(f"{V1}/worker-queues").json()]


def test_queue_named_default_cannot_be_deleted(api, unique):
    env = api.post(f"{V1}/environments", json={"name": unique("env")}).json()
    q = make_queue(api, "default", env["id"])
    r = api.delete(f"{V1}/worker-queues/{q['id']}")
    assert r.status_code == 400
    assert api.get(f"{V1}/worker-queues/{q['id']}").status_code == 200


def test_queue_with_live_worker_cannot_be_deleted(api, unique):
    q = make_queue(api, unique())
    worker = api.post(f"{V1}/worker-queues/{q['id']}/start", json={}).json()
    r = api.delete(f"{V1}/worker-queues/{q['id']}")
    assert r.status_code == 400 and "live" in r.json()["detail"]
    assert api.post(f"{V1}/workers/{worker['worker_id']}/disconnect", json={"reason": "done"}).status_code == 204
    assert api.delete(f"{V1}/worker-queues/{q['id']}").status_code == 204


def test_worker_command(api, control_plane, unique):
    q = make_queue(api, unique(), max_workers=1)
    cmd = api.get(f"{V1}/worker-queues/{q['id']}/worker-command").json()
    assert cmd["queue_id"] == q["id"] and cmd["can_register"] is True
    assert cmd["queue_status"] == "active" and cmd["active_workers"] == 0 and cmd["max_workers"] == 1
    # Kubiya's shape of command_parts (docs/api.md §4.3), and the same command as argv.
    assert cmd["command_parts"] == {
        "binary": "kubiya-tui",
        "subcommand": "worker start",
        "flags": {"--queue-id": q["id"], "--control-plane-url": control_plane.url},
    }
    assert shlex.split(cmd["command"]) == WorkerCommand.model_validate(cmd).argv
    assert q["id"] in cmd["command"] and control_plane.url in cmd["command"]
    assert control_plane.api_key not in cmd["command"]
    # full queue: cannot register
    api.post(f"{V1}/worker-queues/{q['id']}/start", json={})
    cmd = api.get(f"{V1}/worker-queues/{q['id']}/worker-command").json()
    assert cmd["active_workers"] == 1 and cmd["can_register"] is False
    # inactive queue: cannot register
    q2 = make_queue(api, unique())
    api.patch(f"{V1}/worker-queues/{q2['id']}", json={"status": "inactive"})
    cmd = api.get(f"{V1}/worker-queues/{q2['id']}/worker-command").json()
    assert cmd["can_register"] is False and cmd["queue_status"] == "inactive"
    assert api.get(f"{V1}/worker-queues/nope/worker-command").status_code == 404


# ---------------------------------------------------------------------------- install scripts


@pytest.mark.parametrize("param", ["platform", "deployment_type"])
def test_install_scripts(api, control_plane, unique, param):
    q = make_queue(api, unique())
    bash = shutil.which("bash")
    scripts = {}
    for platform in ("local", "docker", "kubernetes"):
        r = api.get(f"{V1}/worker-queues/{q['id']}/install-script", params={param: platform})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        text = r.text
        scripts[platform] = text
        assert text.startswith("#!/usr/bin/env bash")
        assert q["id"] in text and control_plane.url in text
        assert control_plane.api_key not in text
        assert "KUBIYA_API_KEY" in text
        assert "worker start" in text
        check = subprocess.run([bash, "-n"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, (platform, check.stderr)
    assert "docker run" in scripts["docker"] and "-e KUBIYA_API_KEY" in scripts["docker"]
    assert "secretKeyRef" in scripts["kubernetes"] and "kubectl" in scripts["kubernetes"]
    assert "kind: Deployment" in scripts["kubernetes"]
    assert len(set(scripts.values())) == 3


def test_install_script_default_is_local_and_unknown_platform_is_422(api, unique):
    q = make_queue(api, unique())
    base = f"{V1}/worker-queues/{q['id']}/install-script"
    assert api.get(base).text == api.get(base, params={"platform": "local"}).text
    for params in ({"platform": "windows"}, {"deployment_type": "openshift-x"}, {"platform": ""}):
        r = api.get(base, params=params)
        assert r.status_code == 422, (params, r.text)
        assert isinstance(r.json()["detail"], list)
    assert api.get(f"{V1}/worker-queues/nope/install-script").status_code == 404


# ---------------------------------------------------------------------------- isolation


def test_other_org_sees_nothing_and_gets_404(api, control_plane, unique):
    q = make_queue(api, unique())
    env = api.post(f"{V1}/environments", json={"name": unique("env")}).json()
    worker = api.post(f"{V1}/worker-queues/{q['id']}/start", json={}).json()
    wid = worker["worker_id"]
    with control_plane.client(control_plane.key_for("other-org")) as b:
        b_envs = b.get(f"{V1}/environments").json()
        assert [e["name"] for e in b_envs] == ["default"]
        assert all(e["organization_id"] == "other-org" for e in b_envs)
        assert b.get(f"{V1}/worker-queues").json() == []
        assert b.get(f"{V1}/registered-workers").json() == []
        assert all(e["organization_id"] == "other-org" for e in b.get(f"{V1}/audit").json())
        for path in (
            f"/environments/{env['id']}",
            f"/environments/{env['id']}/worker-queues",
            f"/worker-queues/{q['id']}",
            f"/worker-queues/{q['id']}/worker-command",
            f"/worker-queues/{q['id']}/install-script",
            f"/worker-queues/{q['id']}/workers",
            f"/worker-queues/{q['id']}/metrics",
            f"/worker-queues/{q['id']}/config",
            f"/registered-workers/{wid}",
        ):
            r = b.get(V1 + path)
            assert r.status_code == 404, (path, r.status_code)
            assert q["name"] not in r.text
        writes = [
            ("PATCH", f"/worker-queues/{q['id']}", {"description": "hijack"}),
            ("PATCH", f"/environments/{env['id']}", {"description": "hijack"}),
            ("POST", f"/environments/{env['id']}/worker-queues", {"name": unique()}),
            ("POST", f"/worker-queues/{q['id']}/start", {}),
            ("POST", f"/worker-queues/{q['id']}/scale", {"workers": 1}),
            ("PUT", f"/worker-queues/{q['id']}/autoscale", {"min_workers": 0, "max_workers": 2, "target_backlog_age_seconds": 5}),
            ("DELETE", f"/worker-queues/{q['id']}/autoscale", None),
            ("POST", f"/workers/{wid}/heartbeat", {"status": "busy"}),
            ("POST", "/workers/heartbeat", {"worker_id": wid, "status": "busy"}),
            ("POST", f"/workers/{wid}/drain", None),
            ("POST", f"/workers/{wid}/disconnect", {"reason": "x"}),
            ("DELETE", f"/worker-queues/{q['id']}", None),
            ("DELETE", f"/environments/{env['id']}", None),
        ]
        for method, path, body in writes:
            r = b.request(method, V1 + path, json=body)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
    # A's objects are untouched
    again = api.get(f"{V1}/worker-queues/{q['id']}").json()
    assert again["description"] is None and again["desired_workers"] is None and again["autoscale"] is None
    assert again["active_workers"] == 1
    w = api.get(f"{V1}/registered-workers/{wid}").json()
    assert w["status"] == "active" and w["desired_state"] == "running"
    assert api.get(f"{V1}/environments/{env['id']}").json()["description"] is None
    assert api.get(f"{V1}/environments/{env['id']}/worker-queues").json() == []


def test_task_queue_names_stay_unique_after_renames(api, unique):
    """Renaming keeps a queue's Temporal task queue (its workers keep polling it), so a new queue that
    takes the old name must not get the same task queue: it would share backlog and workers."""
    old = unique()
    first = make_queue(api, old)
    assert api.patch(f"{V1}/worker-queues/{first['id']}", json={"name": unique()}).json()["task_queue_name"] == first["task_queue_name"]
    second = make_queue(api, old)
    assert second["task_queue_name"] != first["task_queue_name"]
    # same after an environment rename and a new environment with the old name
    env_name = unique("env")
    env = api.post(f"{V1}/environments", json={"name": env_name}).json()
    q1 = make_queue(api, "jobs", env["id"])
    api.patch(f"{V1}/environments/{env['id']}", json={"name": unique("env")})
    env2 = api.post(f"{V1}/environments", json={"name": env_name}).json()
    q2 = make_queue(api, "jobs", env2["id"])
    assert q2["task_queue_name"] != q1["task_queue_name"]
    names = [q["task_queue_name"] for q in api.get(f"{V1}/worker-queues").json()]
    assert len(names) == len(set(names))
    # the legacy registration by task queue name finds the right queue
    reg = api.post(f"{V1}/workers/register", json={"queue_name": second["task_queue_name"]}).json()
    assert reg["queue_id"] == second["id"]
