"""Every operation of the published OpenAPI, called with a second organization's key on the first's ids.

The operations come from the running server's ``/api/openapi.json``, so an endpoint added
later is walked too: its path parameters must name a known kind of id, or this test says
which one to teach it. Each call on another organization's object must answer 404 and
change nothing (the first organization reads its state before and after with its own
key); calls on nothing of the first organization's must show none of its ids.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import ControlPlane

pytestmark = pytest.mark.slow

V1 = "/api/v1"
OTHER_ORG = "walk-intruder"

# Body fields that name another object by id or name, per request model: sent foreign on the
# intruder's own path too, so the body alone must not reach the first organization's object.
FOREIGN_BODY_FIELDS = {
    "SimpleHeartbeatRequest": {"worker_id": "worker"},
    "MigrateRequest": {"environment_id": "environment"},
    "LegacyRegisterRequest": {"queue_name": "task_queue", "environment_name": "environment_name"},
}
# Valid values for required body fields that are not ids.
EXAMPLES = {
    "name": "walk-made",
    "kind": "sleep",
    "workers": 1,
    "min_workers": 0,
    "max_workers": 1,
    "target_backlog_age_seconds": 10,
}


def _resolve(spec: dict, schema: dict) -> dict:
    if "$ref" in schema:
        return _resolve(spec, spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    for key in ("anyOf", "oneOf"):
        if key in schema and "properties" not in schema:
            return _resolve(spec, next(s for s in schema[key] if s.get("type") != "null"))
    return schema


def _model_name(schema: dict) -> str | None:
    for candidate in (schema, *schema.get("anyOf", ()), *schema.get("oneOf", ())):
        if "$ref" in candidate:
            return candidate["$ref"].rsplit("/", 1)[1]
    return None


def _value(spec: dict, name: str, schema: dict) -> Any:
    schema = _resolve(spec, schema)
    if name in EXAMPLES:
        return EXAMPLES[name]
    kind = schema.get("type")
    if kind == "string":
        value = "walk-value"
        assert "pattern" not in schema or re.fullmatch(schema["pattern"].strip("^$"), value), f"teach EXAMPLES {name!r}"
        return value
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    return {"boolean": False, "object": {}, "array": []}.get(kind)


def body_for(spec: dict, operation: dict, ids: dict[str, str]) -> tuple[Any, str | None]:
    """A valid body for an operation (None when it takes none), with id fields from ``ids``; and its model's name."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None, None
    model = _model_name(content["schema"])
    schema = _resolve(spec, content["schema"])
    body = {name: _value(spec, name, prop) for name, prop in schema.get("properties", {}).items() if name in schema.get("required", ())}
    for field, kind in FOREIGN_BODY_FIELDS.get(model or "", {}).items():
        body[field] = ids[kind]
    if model == "LegacyRegisterRequest":
        body.pop("environment_name")  # one target at a time: the queue name first
    return body, model


SHARED_FILE = "distribution_file"
"""The served wheel: the same file for every organization, so no organization's object."""
LEASE = "lease"
"""A lease's name: each organization has its own lease of a name, so the intruder's call reaches its own."""
RUNNER = "runner"
"""A runner's name (Kubiya's ``/workers/{runner_name}``): the task queue ``<org>.<runner>`` of the caller's own organization."""


def path_kind(path: str, param: str) -> str:
    """Which kind of object a path parameter names."""
    kinds = {"env_id": "environment", "queue_id": "queue", "task_queue_id": "task_queue_env", "worker_id": "worker", "task_id": "task",
             "filename": SHARED_FILE, "name": LEASE, "runner_name": RUNNER}  # fmt: skip
    assert param in kinds, f"the walk knows no id kind for path parameter {param!r} of {path}: teach path_kind"
    return kinds[param]


VOLATILE = {"heartbeat_age_seconds", "health", "updated_at_age"}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def state(api: httpx.Client, objects: dict[str, str]) -> dict:
    """Everything the first organization can read about its objects, through its own key."""
    reads = [
        f"{V1}/environments", f"{V1}/worker-queues", f"{V1}/registered-workers", f"{V1}/workers", f"{V1}/task-queues", f"{V1}/audit?limit=1000",
        f"{V1}/environments/{objects['environment']}", f"{V1}/worker-queues/{objects['queue']}",
        f"{V1}/worker-queues/{objects['queue']}/config", f"{V1}/worker-queues/{objects['queue']}/workers",
        f"{V1}/task-queues/{objects['task_queue_env']}", f"{V1}/task-queues/{objects['task_queue_env']}/workers",
        f"{V1}/registered-workers/{objects['worker']}", f"{V1}/registered-workers/{objects['legacy_worker']}",
        f"{V1}/leases/{objects[LEASE]}",
    ]  # fmt: skip
    return {path: _clean(api.get(path).json()) for path in reads}


@pytest.fixture(scope="module")
def world(control_plane_factory) -> dict:
    """Two organizations with one of everything each: environment, worker queue (with autoscale), legacy
    task queue, a worker, a legacy worker and a task."""
    cp: ControlPlane = control_plane_factory()
    orgs = {}
    for org, key in (("first", cp.api_key), ("intruder", cp.key_for(OTHER_ORG))):
        with cp.client(key) as api:
            env = api.post(f"{V1}/environments", json={"name": f"walk-{org}-env"}).json()
            queue = api.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": f"walk-{org}-q", "max_workers": 5}).json()
            api.put(f"{V1}/worker-queues/{queue['id']}/autoscale", json={"min_workers": 0, "max_workers": 2, "target_backlog_age_seconds": 30})
            legacy = api.post(f"{V1}/task-queues", json={"name": f"walk-{org}-legacy"}).json()
            worker = api.post(f"{V1}/worker-queues/{queue['id']}/start", json={}).json()
            legacy_worker = api.post(f"{V1}/workers/register", json={"queue_name": legacy["task_queue_name"]}).json()
            task = api.post(f"{V1}/worker-queues/{queue['id']}/tasks", json={"kind": "sleep"}).json()
            assert api.post(f"{V1}/leases/walk-lease", json={"holder": f"walk-{org}-runner", "ttl_seconds": 3600}).status_code == 200
            orgs[org] = {
                "key": key,
                "environment": env["id"],
                "environment_name": env["name"],
                "queue": queue["id"],
                "task_queue_env": legacy["id"],
                "task_queue": legacy["task_queue_name"],
                "worker": worker["worker_id"],
                "legacy_worker": legacy_worker["worker_id"],
                "task": task["id"],
                "worker_task_queue": queue["task_queue_name"],
                SHARED_FILE: (api.get(f"{V1}/distribution").json() or {}).get("filename") or "kubiya_tui.whl",
                LEASE: "walk-lease",
                RUNNER: "default",
            }
    with httpx.Client(base_url=cp.url, timeout=30) as anonymous:
        spec = anonymous.get("/api/openapi.json").json()
    return {"cp": cp, "spec": spec, **orgs}


def calls(spec: dict, first: dict, intruder: dict):
    """(label, method, path, body, foreign): every operation, on the first's ids and, where a body names
    an object, on the intruder's own path with the first's object in the body."""
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            params = re.findall(r"{(\w+)}", template)
            on_first = template
            on_own = template
            for param in params:
                kind = path_kind(template, param)
                on_first = on_first.replace(f"{{{param}}}", first[kind])
                on_own = on_own.replace(f"{{{param}}}", intruder[kind])
            neutral_body, model = body_for(spec, operation, intruder)
            foreign_body, _ = body_for(spec, operation, first)
            label = f"{method.upper()} {template}"
            owned = [p for p in params if path_kind(template, p) not in (SHARED_FILE, LEASE, RUNNER)]
            if params and not owned:
                yield label, method, on_first, neutral_body, False
            elif params:
                yield label, method, on_first, neutral_body, True
            if model in FOREIGN_BODY_FIELDS:
                yield f"{label} (body)", method, on_own, foreign_body, True
                if model == "LegacyRegisterRequest":
                    yield f"{label} (environment)", method, on_own, {"environment_name": first["environment_name"]}, True
            if not params and model not in FOREIGN_BODY_FIELDS:
                yield label, method, on_first, neutral_body, False


def test_every_operation_on_another_organizations_objects_is_404_and_changes_nothing(world):
    cp, spec, first, intruder = world["cp"], world["spec"], world["first"], world["intruder"]
    secrets = [v for k, v in first.items() if k not in ("key", "environment_name", SHARED_FILE, LEASE, RUNNER)]
    walked = []
    with cp.client(first["key"]) as own, cp.client(intruder["key"]) as other:
        for label, method, path, body, foreign in calls(spec, first, intruder):
            before = state(own, first)
            answer = other.request(method.upper(), path, json=body) if body is not None else other.request(method.upper(), path)
            after = state(own, first)
            walked.append(label)
            assert after == before, f"{label} as the intruder changed the first organization's state"
            if foreign:
                assert answer.status_code == 404, f"{label} as the intruder: {answer.status_code} {answer.text[:300]}"
            else:
                assert answer.status_code < 500, f"{label}: {answer.status_code} {answer.text[:300]}"
            sent = f"{path} {body}"
            leaked = [s for s in secrets if s in answer.text and s not in sent]
            assert not leaked, f"{label} as the intruder shows the first organization's {leaked}"
    operations = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}
    assert operations <= {w.split(" (")[0] for w in walked}
    for needed in ("/drain", "/scale", "/autoscale", "/migrate", "/disconnect", "/drain-workers"):
        assert any(needed in w and "{" in w for w in walked), needed
