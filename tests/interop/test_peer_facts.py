"""What Kubiya's control plane 1.0.2 really answers, checked on the running peer.

These tests pin the facts docs/api.md states about Kubiya's server (shapes, status codes,
auth forms, the meaning of its paths, how to tell it from kubiya-tui's). They pass today;
one failing means the peer changed and docs/api.md (and the client's tolerance) needs a look.
"""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from tests.helpers import make_queue, wait_for
from tests.interop.support import start_workflows, temporal_backlog, temporal_pollers

pytestmark = pytest.mark.timeout(300)

KUBIYA_WORKER_DETAIL_FIELDS = {
    "id", "worker_id", "status", "tasks_processed", "current_task_id",
    "last_heartbeat", "registered_at", "system_info", "logs", "worker_metadata",
}  # fmt: skip


def is_kubiya_control_plane(health: dict) -> bool:
    """The detection rule of docs/api.md: Kubiya's /api/health names its service."""
    return health.get("service") == "agent-control-plane"


@pytest.fixture(scope="module")
def kapi(kubiya_server):
    with kubiya_server.client() as client:
        yield client


def test_health_names_the_service_without_auth_and_tells_the_flavours_apart(kubiya_server, api) -> None:
    theirs = httpx.get(f"{kubiya_server.url}/api/health", timeout=10)
    assert theirs.status_code == 200
    body = theirs.json()
    assert body["status"] == "healthy" and set(body) == {"status", "service", "timestamp", "services"}
    assert is_kubiya_control_plane(body)
    ours = api.get("/api/health").json()
    assert not is_kubiya_control_plane(ours)


def test_openapi_title_and_version(kubiya_server, api) -> None:
    info = httpx.get(f"{kubiya_server.url}/api/openapi.json", timeout=30).json()["info"]
    # The version is the package's version.txt fallback, not the PyPI version 1.0.2.
    assert info == {
        "title": "Agent Control Plane API",
        "description": "Multi-tenant agent orchestration with Temporal workflows",
        "version": "0.6.0",
    }
    assert api.get("/api/openapi.json").json()["info"]["title"] == "kubiya-tui local control plane"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (lambda k: {"Authorization": f"Bearer {k}"}, 200),
        (lambda k: {"Authorization": f"UserKey {k}"}, 200),
        (lambda k: {"UserKey": k}, 200),
        (lambda k: {"Authorization": k}, 200),  # a bare token, no scheme
        (lambda k: {"Authorization": f"Baerer {k}"}, 200),  # a typo, accepted on purpose
        (lambda k: {"Authorization": f"bearer {k}"}, 401),  # the scheme is case-sensitive
        (lambda k: {}, 401),
    ],
    ids=["bearer", "userkey-scheme", "userkey-header", "bare", "baerer", "lowercase-bearer", "none"],
)
def test_auth_header_forms(kubiya_server, headers, status) -> None:
    answer = httpx.get(f"{kubiya_server.url}/api/v1/environments", headers=headers(kubiya_server.api_key), timeout=30)
    assert answer.status_code == status, answer.text
    if status == 401:
        assert set(answer.json()["detail"]) == {"error", "message", "hint"}


def test_default_environment_appears_on_first_use(kubiya_server) -> None:
    token = kubiya_server.token_for(f"fresh-{uuid.uuid4().hex[:6]}")
    envs = httpx.get(f"{kubiya_server.url}/api/v1/environments", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert envs.status_code == 200
    (env,) = envs.json()
    assert (env["name"], env["status"]) == ("default", "active")
    assert {"worker_token", "active_workers", "execution_environment"} <= set(env)


def test_queue_shape_and_names(kapi) -> None:
    queue = make_queue(kapi, f"facts-{uuid.uuid4().hex[:6]}")
    assert queue["task_queue_name"] == queue["id"]
    assert "environment_name" not in queue and queue["active_workers"] == 0
    # No name pattern upstream: only 2-50 characters.
    env = queue["environment_id"]
    odd = kapi.post(f"/api/v1/environments/{env}/worker-queues", json={"name": "Has Upper Case"})
    assert odd.status_code == 201, odd.text
    taken = kapi.patch(f"/api/v1/worker-queues/{odd.json()['id']}", json={"name": queue["name"]})
    assert taken.status_code == 500  # a rename onto a taken name is an internal error upstream


def test_worker_command_parts_is_an_object(kapi) -> None:
    queue = make_queue(kapi, f"facts-{uuid.uuid4().hex[:6]}")
    answer = kapi.get(f"/api/v1/worker-queues/{queue['id']}/worker-command").json()
    assert answer["command"] == f"kubiya worker start --queue-id {queue['id']}"
    assert answer["command_parts"] == {"binary": "kubiya", "subcommand": "worker start", "flags": {"--queue-id": queue["id"]}}
    assert (answer["can_register"], answer["queue_status"], answer["active_workers"]) == (True, "active", 0)


def test_install_script_reads_only_deployment_type(kapi) -> None:
    queue = make_queue(kapi, f"facts-{uuid.uuid4().hex[:6]}")
    path = f"/api/v1/worker-queues/{queue['id']}/install-script"
    local = kapi.get(path)
    assert local.headers["content-type"].startswith("text/plain") and "Local Installation Script" in local.text
    assert "Local Installation Script" in kapi.get(path, params={"platform": "docker"}).text  # ignored
    assert "docker run" in kapi.get(path, params={"deployment_type": "docker"}).text
    assert "kind: Deployment" in kapi.get(path, params={"deployment_type": "kubernetes"}).text
    assert kapi.get(path, params={"deployment_type": "bogus"}).status_code == 422


def test_start_heartbeat_and_the_queue_workers_list(kapi, kubiya_server) -> None:
    queue = make_queue(kapi, f"facts-{uuid.uuid4().hex[:6]}", heartbeat_interval=15)
    info = {"hostname": "facts-host", "pid": 4242}
    start = kapi.post(f"/api/v1/worker-queues/{queue['id']}/start", json={"system_info": info, "worker_sdk_version": "x"})
    assert start.status_code == 200, start.text
    reg = start.json()
    assert reg["task_queue_name"] == queue["id"] and reg["heartbeat_interval"] == 15
    assert reg["temporal_host"] == kubiya_server.temporal_address and reg["temporal_api_key"] == ""
    assert {"litellm_api_url", "control_plane_sdk_version", "websocket_url", "redis_url"} <= set(reg)
    workers = f"/api/v1/worker-queues/{queue['id']}/workers"
    # Registered but not yet heartbeating: not listed, not counted.
    assert kapi.get(workers).json() == []
    assert kapi.get(f"/api/v1/worker-queues/{queue['id']}").json()["active_workers"] == 0
    beat = kapi.post(f"/api/v1/workers/{reg['worker_id']}/heartbeat", json={"status": "active"})
    assert (beat.status_code, beat.content) == (204, b"")
    (row,) = kapi.get(workers).json()
    assert set(row) == KUBIYA_WORKER_DETAIL_FIELDS  # no queue_id, no health, no age
    assert row["worker_id"] == reg["worker_id"] and row["last_heartbeat"]
    assert row["system_info"] is None  # /start's system_info is not kept; only a heartbeat's is
    assert kapi.get(f"/api/v1/worker-queues/{queue['id']}").json()["active_workers"] == 1
    kapi.post(f"/api/v1/workers/{reg['worker_id']}/heartbeat", json={"status": "busy", "system_info": info})
    (row,) = kapi.get(workers).json()
    assert (row["status"], row["system_info"]["pid"], row["system_info"]["hostname"]) == ("busy", 4242, "facts-host")


def test_heartbeats_and_disconnects_of_unknown_workers(kapi, kubiya_server, kubiya_sdk) -> None:
    nobody = str(uuid.uuid4())
    # Kubiya's own SDK reads a JSON body from every answer, so it fails on its server's 204.
    sdk = kubiya_sdk(kubiya_server.url, kubiya_server.api_key, "workers", "heartbeat_simple", nobody)
    assert sdk.error == "WorkerError" and "Expecting value" in sdk.message
    assert kapi.post(f"/api/v1/workers/{nobody}/heartbeat", json={}).status_code == 204
    assert kapi.post(f"/api/v1/workers/{nobody}/disconnect").status_code == 422  # a body is required
    assert kapi.post(f"/api/v1/workers/{nobody}/disconnect", json={}).status_code == 404


def test_start_on_another_orgs_queue_is_403(kapi, kubiya_server) -> None:
    queue = make_queue(kapi, f"facts-{uuid.uuid4().hex[:6]}")
    other = kubiya_server.token_for("interop-other")
    answer = httpx.post(
        f"{kubiya_server.url}/api/v1/worker-queues/{queue['id']}/start",
        headers={"Authorization": f"Bearer {other}"},
        json={},
        timeout=30,
    )
    assert answer.status_code == 403  # not 404: the queue's existence leaks
    assert httpx.get(
        f"{kubiya_server.url}/api/v1/worker-queues/{queue['id']}", headers={"Authorization": f"Bearer {other}"}, timeout=30
    ).status_code == 404


def test_workers_paths_mean_runners(kapi, kubiya_server) -> None:
    assert kapi.get("/api/v1/workers").json() == []  # runners come from Kubiya's cloud API, unreachable here
    some_worker_id = str(uuid.uuid4())
    one = kapi.get(f"/api/v1/workers/{some_worker_id}")
    assert one.status_code == 200
    assert one.json() == {
        "task_queue": f"{kubiya_server.organization}.{some_worker_id}",
        "organization_id": kubiya_server.organization,
        "runner_name": some_worker_id,
        "workers": [],
        "worker_count": 0,
        "approximate_backlog_count": None,
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/workers/{w}/drain"),
        ("POST", "/api/v1/worker-queues/{q}/scale"),
        ("PUT", "/api/v1/worker-queues/{q}/autoscale"),
        ("POST", "/api/v1/worker-queues/{q}/tasks"),
        ("GET", "/api/v1/tasks/{w}"),
        ("GET", "/api/v1/audit"),
    ],
)
def test_no_extension_endpoints(kapi, method, path) -> None:
    queue = make_queue(kapi, f"facts-{uuid.uuid4().hex[:6]}")
    answer = kapi.request(method, path.format(w=uuid.uuid4(), q=queue["id"]), json={"workers": 1})
    assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})


def test_metrics_never_read_temporal(kapi, temporal_server) -> None:
    queue = make_queue(kapi, f"facts-{uuid.uuid4().hex[:6]}")
    start_workflows(temporal_server.address, queue["task_queue_name"], 3, f"facts-{queue['id']}")
    wait_for(lambda: temporal_backlog(temporal_server.address, queue["task_queue_name"]) == 3, 30, "Temporal's backlog of 3")
    metrics = kapi.get(f"/api/v1/worker-queues/{queue['id']}/metrics").json()
    assert (metrics["task_queue_backlog"], metrics["task_queue_pollers"], metrics["tasks_pending"]) == (0, 0, 0)


def test_config_version_is_a_full_sha256(kapi) -> None:
    queue = make_queue(kapi, f"facts-{uuid.uuid4().hex[:6]}")
    config = kapi.get(f"/api/v1/worker-queues/{queue['id']}/config").json()
    assert re.fullmatch(r"[0-9a-f]{64}", config["config_version"])
    assert (config["environment_name"], config["recommended_package_version"]) == ("default", "1.0.2")


def test_what_kubiyas_worker_calls_and_reports(kapi, kubiya_server, start_kubiya_worker, temporal_server) -> None:
    """Kubiya's worker on Kubiya's server: the requests it makes (from the server's access log), its identity, its system_info."""
    queue = make_queue(kapi, f"facts-{uuid.uuid4().hex[:6]}", heartbeat_interval=10)
    log_offset = kubiya_server.log_path.stat().st_size
    worker = start_kubiya_worker(kubiya_server.url, kubiya_server.api_key, queue["id"], heartbeat_interval=10)
    rows = wait_for(lambda: kapi.get(f"/api/v1/worker-queues/{queue['id']}/workers").json(), 90, f"its heartbeat (log: {worker.log_path})")
    (row,) = rows
    assert (row["system_info"]["pid"], row["system_info"]["hostname"]) == (worker.pid, worker.hostname)
    assert {"cwd", "supported_runtimes", "docker_available", "disk_total", "uptime_seconds", "sdk_version"} <= {
        k for k, v in row["system_info"].items() if v is not None
    }
    assert row["logs"], "a full heartbeat carries the worker's recent log lines"
    pollers = wait_for(lambda: temporal_pollers(temporal_server.address, queue["task_queue_name"]), 30, "its poller")
    assert pollers == {worker.temporal_identity}
    time.sleep(12)  # one more heartbeat, and the WebSocket retries
    worker.stop()
    with open(kubiya_server.log_path, "rb") as log:
        log.seek(log_offset)
        appended = log.read().decode(errors="replace")
    calls = set()  # every request while the worker lived (this test's own polling aside)
    for found in re.finditer(r'"(\w+) (/\S*?)(?: HTTP/[\d.]+)?" (\d{3})', appended):
        path = found[2].replace(queue["id"], "{queue_id}").replace(row["worker_id"], "{worker_id}")
        calls.add(f"{found[1]} {path} {found[3]}")
    assert calls - {"GET /api/v1/worker-queues/{queue_id}/workers 200"} == {
        "POST /api/v1/worker-queues/{queue_id}/start 200",
        "POST /api/v1/workers/{worker_id}/heartbeat 204",
        "WebSocket /api/v1/ws/workers/{worker_id} 403",  # /start offers a WebSocket the app does not serve
    }


def test_legacy_registration_and_simple_heartbeat(kapi, kubiya_server) -> None:
    reg = kapi.post("/api/v1/workers/register", json={"environment_name": "legacy-env", "hostname": "h1"})
    assert reg.status_code == 200, reg.text
    body = reg.json()
    assert set(body) == {
        "worker_id", "worker_token", "environment_name", "temporal_namespace",
        "temporal_host", "temporal_api_key", "organization_id", "control_plane_url",
    }  # fmt: skip
    assert body["environment_name"] == f"{kubiya_server.organization}.legacy-env"  # the task queue, org-prefixed
    assert "legacy-env" in [e["name"] for e in kapi.get("/api/v1/environments").json()]  # created on the fly
    assert kapi.post("/api/v1/workers/register", json={"queue_name": "x"}).status_code == 422
    simple = "/api/v1/workers/heartbeat"
    assert kapi.post(simple, json={"worker_id": body["worker_id"]}).status_code == 422  # environment_name required
    assert kapi.post(simple, json={"worker_id": body["worker_id"], "environment_name": "legacy-env"}).status_code == 204


def test_worker_id_start_hands_out_a_fixed_namespace(kapi) -> None:
    queue = make_queue(kapi, f"facts-{uuid.uuid4().hex[:6]}")
    worker_id = kapi.post(f"/api/v1/worker-queues/{queue['id']}/start", json={}).json()["worker_id"]
    answer = kapi.post(f"/api/v1/workers/{worker_id}/start", json={"system_info": {"pid": 1}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["temporal_namespace"] == "agent-control-plane.lpagu"  # hard-coded upstream ("TEMPORARY")
    assert body["task_queue_name"] == f"{queue['organization_id']}.default.{queue['name']}"  # not the queue id /start gives


def test_legacy_task_queues_are_environments(kapi) -> None:
    listed = kapi.get("/api/v1/task-queues").json()
    default = next(q for q in listed if q["name"] == "default")
    assert {"worker_token", "priority", "policy_ids", "active_workers"} <= set(default)
    assert kapi.get(f"/api/v1/task-queues/{default['id']}/workers").json() == []  # always empty upstream
    command = kapi.get(f"/api/v1/task-queues/{default['id']}/worker-command").json()
    assert command["command_parts"]["flags"] == {"--token": default["worker_token"], "--task-queue": "default"}
    for path in ("metrics", "tasks"):
        assert kapi.get(f"/api/v1/task-queues/{default['id']}/{path}").status_code in (404, 405)
