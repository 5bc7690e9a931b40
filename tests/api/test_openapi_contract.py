"""The published OpenAPI against the server that publishes it (a real `kubiya-tui serve`): the quick,
deterministic part of what the fuzz suite (tests/fuzz) checks at length.

Everything here is generated from ``/api/openapi.json``: an operation added later is covered.
"""

from __future__ import annotations

import re
import httpx
import pytest

from kubiya_tui import models
from kubiya_tui.tasks import registry
from kubiya_tui.controlplane.openapi import NO_NUL, PARSER_REFUSAL
from tests.conftest import ControlPlane

pytestmark = pytest.mark.slow

V1 = "/api/v1"
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def spec(control_plane: ControlPlane) -> dict:
    return httpx.get(f"{control_plane.url}/api/openapi.json").json()


def operations(spec: dict):
    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            yield path, method.upper(), operation


def test_every_operation_documents_the_errors_every_route_can_answer(spec):
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        label = f"{method} {path}"
        assert "413" in responses, label
        params = operation.get("parameters", [])
        if params or "requestBody" in operation:
            assert responses["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ValidationFailed"}, label
        else:
            assert "422" not in responses, label
        if any(p["in"] == "path" for p in params):
            assert "404" in responses, label
        if path == "/api/health":
            assert operation["security"] == [] and "401" not in responses
        else:
            assert operation["security"] and "401" in responses, label
        # A request line and headers over 80 KB: uvicorn's parser answers 400 with a line of text, before any route.
        assert responses["400"]["content"]["text/plain"] == {"schema": {"type": "string"}}, label
        assert PARSER_REFUSAL in responses["400"]["description"], label
        for status, answer in responses.items():
            if status.startswith(("4", "5")) and (status != "400" or "application/json" in answer["content"]):
                assert answer["content"]["application/json"]["schema"]["$ref"].startswith("#/components/schemas/"), label


def test_a_request_line_over_the_parsers_limit_is_the_documented_400(control_plane, spec):
    """What the fuzzer found: task queue names of ~1,000 non-ASCII characters each, far over 80 KB percent-encoded."""
    import socket

    host, port = control_plane.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /api/v1/temporal-reads?task_queue=" + b"%C3%A9" * 40_000 + b" HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")  # fmt: skip
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"text/plain" in head.lower(), head
    assert "400" in spec["paths"]["/api/v1/temporal-reads"]["get"]["responses"]
    # Well under it, the route answers: 20 names of 1,000 characters is ~21 KB, a 200.
    with control_plane.client() as api:
        assert api.get("/api/v1/temporal-reads", params={"task_queue": ["a" * 1000] * 20}).status_code == 200


def _template(path: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")


def test_a_method_a_path_does_not_serve_is_405_with_the_documented_methods(control_plane, spec):
    with control_plane.client() as api:
        for path, ops in spec["paths"].items():
            concrete = re.sub(r"{[^}]+}", "some-id", path)
            documented = {m.upper() for m in ops}
            expected = sorted(documented | ({"HEAD"} if "GET" in documented else set()))
            # GET /workers/register is GET /workers/{worker_id} of a worker named "register": served.
            served_elsewhere = {
                m.upper() for other, other_ops in spec["paths"].items() if other != path and _template(other).match(concrete) for m in other_ops
            }
            for method in sorted(HTTP_METHODS - documented - served_elsewhere) + ["OPTIONS", "TRACE"]:
                answer = api.request(method, concrete)
                assert answer.status_code == 405, (method, path, answer.status_code)
                assert answer.headers["allow"] == ", ".join(expected), (method, path)


def _query_params(spec: dict):
    for path, method, operation in operations(spec):
        for param in operation.get("parameters", []):
            if param["in"] == "query":
                yield path, method, param["name"]


def test_an_empty_query_value_is_a_422_naming_the_parameter(control_plane, spec, unique):
    """`?status=` is neither "no filter" nor a value: it is refused, for every query parameter alike."""
    with control_plane.client() as api:
        env = api.post(f"{V1}/environments", json={"name": unique("empty")}).json()
        queue = api.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": unique()}).json()
        ids = {"queue_id": queue["id"], "task_queue_id": env["id"], "env_id": env["id"], "name": "a-lease"}
        found = list(_query_params(spec))
        assert {name for *_, name in found} >= {"status", "limit", "action", "platform", "force"}
        for path, method, name in found:
            concrete = re.sub(r"{([^}]+)}", lambda m: ids[m.group(1)], path)
            answer = api.request(method, concrete, params={name: ""})
            assert answer.status_code == 422, (method, path, name, answer.text)
            assert [e["loc"] for e in answer.json()["detail"]] == [["query", name]], answer.text


def _resolve(spec: dict, schema: dict) -> dict:
    if "$ref" in schema:
        return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _nullable(spec: dict, schema: dict) -> bool:
    schema = _resolve(spec, schema)
    return schema.get("type") == "null" or any(_nullable(spec, s) for s in schema.get("anyOf", ()))


PATCHES = {
    f"{V1}/environments/{{env_id}}": "EnvironmentUpdate",
    f"{V1}/worker-queues/{{queue_id}}": "WorkerQueueUpdate",
    f"{V1}/task-queues/{{task_queue_id}}": "TaskQueueUpdate",
}


def test_a_field_takes_null_exactly_when_the_schema_says_it_is_nullable(control_plane, spec, unique):
    """Each PATCH field, sent as null: refused with a 422 at that field when the schema does not allow null,
    taken when it does."""
    with control_plane.client() as api:
        env = api.post(f"{V1}/environments", json={"name": unique("nulls")}).json()
        queue = api.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": unique()}).json()
        ids = {"env_id": env["id"], "queue_id": queue["id"], "task_queue_id": env["id"]}
        for path, model in PATCHES.items():
            body = spec["paths"][path]["patch"]["requestBody"]["content"]["application/json"]["schema"]
            assert body == {"$ref": f"#/components/schemas/{model}"}
            concrete = re.sub(r"{([^}]+)}", lambda m: ids[m.group(1)], path)
            for field, schema in spec["components"]["schemas"][model]["properties"].items():
                answer = api.patch(concrete, json={field: None})
                if _nullable(spec, schema):
                    assert answer.status_code == 200, (path, field, answer.text)
                else:
                    assert answer.status_code == 422, (path, field, answer.text)
                    assert [e["loc"] for e in answer.json()["detail"]] == [["body", field]], answer.text


REQUEST_MODELS = [
    m
    for m in vars(models).values()
    if isinstance(m, type) and issubclass(m, models.Request) and m is not models.Request
] + [kind.input_model for kind in registry().values()]


@pytest.mark.parametrize("model", REQUEST_MODELS, ids=lambda m: m.__name__)
def test_additional_properties_in_the_schema_match_what_the_model_does_with_them(spec, model):
    schema = spec["components"]["schemas"].get(model.__name__)
    if schema is None:
        pytest.skip(f"{model.__name__} is not a request body of this API")
    forbids = model.model_config.get("extra") == "forbid"
    assert schema.get("additionalProperties", True) is (not forbids)


def test_task_bodies_are_described_per_kind_with_each_kinds_input(spec):
    submit = spec["components"]["schemas"]["TaskSubmit"]
    assert submit["properties"]["kind"]["enum"] == sorted(registry())
    variants = {v["properties"]["kind"]["const"]: v for v in submit["oneOf"]}
    assert set(variants) == set(registry())
    http = spec["components"]["schemas"]["HttpInput"]
    assert http["additionalProperties"] is False and http["properties"]["url"]["pattern"].startswith("^https?://")
    assert variants["http"]["required"] == ["input"] and "required" not in variants["sleep"]
    tags = spec["components"]["schemas"]["EnvironmentCreate"]["properties"]["tags"]
    assert tags["maxItems"] == 50 and tags["items"] == {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NO_NUL}
    name = spec["components"]["schemas"]["EnvironmentCreate"]["properties"]["name"]
    assert name["pattern"] == models.ENVIRONMENT_NAME_PATTERN


def test_numbers_in_a_body_are_json_numbers(control_plane, unique):
    """Pydantic's lax mode would take true for 1 and "5" for 5; the schema says integer, and so does the server."""
    with control_plane.client() as api:
        env = api.post(f"{V1}/environments", json={"name": unique("numbers")}).json()
        queue = api.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": unique()}).json()
        before = api.get(f"{V1}/worker-queues/{queue['id']}").json()
        for body in ({"workers": True}, {"workers": "2"}):
            assert api.post(f"{V1}/worker-queues/{queue['id']}/scale", json=body).status_code == 422
        for body in ({"max_workers": True}, {"heartbeat_interval": "30"}):
            assert api.patch(f"{V1}/worker-queues/{queue['id']}", json=body).status_code == 422
        assert api.get(f"{V1}/worker-queues/{queue['id']}").json() == before
        taken = api.post(f"{V1}/worker-queues/{queue['id']}/scale", json={"workers": 2.0})
        assert taken.status_code == 202 and taken.json()["desired_workers"] == 2


def test_text_fields_say_they_hold_no_nul_and_free_form_json_may(spec, control_plane: ControlPlane, unique):
    """PostgreSQL text holds no NUL: a text field with one is refused (and documented so); free-form
    JSON is stored as JSON text, where a NUL is an escape, so it is kept as sent on both backends."""
    create = spec["components"]["schemas"]["EnvironmentCreate"]["properties"]
    assert re.fullmatch(NO_NUL, "fine") and not re.fullmatch(NO_NUL, "a\x00b")
    assert [t.get("pattern") for t in create["description"]["anyOf"]] == [NO_NUL, None]
    assert "pattern" not in str(create["settings"])
    with control_plane.client() as c:
        refused = c.post("/api/v1/environments", json={"name": unique("nul"), "description": "a\x00b"})
        assert refused.status_code == 422 and "NUL" in refused.text
        kept = c.post("/api/v1/environments", json={"name": unique("nul"), "settings": {"k\x00": ["v\x00"]}})
        assert kept.status_code == 201, kept.text
        assert c.get(f"/api/v1/environments/{kept.json()['id']}").json()["settings"] == {"k\x00": ["v\x00"]}
