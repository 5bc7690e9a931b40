"""The published OpenAPI document, made to say what the server does.

FastAPI describes routes and models; this module adds what it cannot know: every error
status an operation answers with the body it carries (routes name their own 400, 404,
409 and 503 with :func:`errors`; 401, 404 for a path id, 413 and 422 follow from how
every route works and are added here), the API-key security schemes, and task
submissions per kind (each kind's own input model, from the task registry the server
runs with). ``tests/fuzz`` holds the document to the server's answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from kubiya_tui.models import Lease
from kubiya_tui.tasks import registry

# ---------------------------------------------------------------------------- error bodies


class ErrorMessage(BaseModel):
    """The body of a 400, 404, 409, 413 or 503: what went wrong, in a sentence."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    """Where: ``["body", "name"]``, ``["query", "limit"]``, ``["path", "queue_id"]``."""
    msg: str
    type: str


class ValidationFailed(BaseModel):
    """The body of a 422: one entry per refused field (the refused value is not echoed)."""

    detail: list[FieldError]


class UnauthorizedDetail(BaseModel):
    error: str
    message: str
    hint: str


class Unauthorized(BaseModel):
    """The body of a 401: the key is missing, malformed or unknown."""

    detail: UnauthorizedDetail


class TasksNotStarted(BaseModel):
    error: str
    message: str
    started: list[str]
    """Ids of the tasks that did start before Temporal refused the rest."""


class LeaseRefused(BaseModel):
    error: str
    """``lease held`` (another holder has it) or ``lease lost`` (a decision under a lease no longer held)."""
    message: str
    lease: Lease | None = None
    """The lease as held now (``lease held``)."""


class LeaseConflict(BaseModel):
    """The body of a 409 about a lease: a sentence, or the refusal with the lease as held."""

    detail: str | LeaseRefused


class TemporalFailed(BaseModel):
    """The body of a 503 from a task operation: Temporal did not answer or refused."""

    detail: str | TasksNotStarted


_DESCRIPTIONS = {
    400: "Refused in the object's current state (the default environment or queue, live workers, an inactive queue).",
    401: "Missing, malformed or unknown API key.",
    404: "No such object in the caller's organization.",
    409: "Conflicts with what exists: a name taken, a limit reached, a migration already under way.",
    413: "The request body is larger than 1 MiB.",
    422: "A parameter or the body is invalid.",
    503: "Temporal did not answer or refused the call.",
}
_MODELS: dict[int, type[BaseModel]] = {
    400: ErrorMessage,
    401: Unauthorized,
    404: ErrorMessage,
    409: ErrorMessage,
    413: ErrorMessage,
    422: ValidationFailed,
    503: ErrorMessage,
}


def errors(*statuses: int, temporal: bool = False, lease: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for the error statuses it raises itself (``temporal``: its 503 body
    may also say which tasks started; ``lease``: its 409 may be a lease refusal)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = TemporalFailed if status == 503 and temporal else LeaseConflict if status == 409 and lease else _MODELS[status]
        out[status] = {"model": model, "description": _DESCRIPTIONS[status]}
    return out


def submit_responses(described: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """A task submission's ``responses=``: the error bodies of 400, 409 and 503, worded as ``described`` says."""
    out = errors(400, 409, 503, temporal=True)
    for status, response in described.items():
        out[status] = {**out.get(status, {}), **response}
    return out


# ---------------------------------------------------------------------------- the document

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer <key>` (or `UserKey <key>`)."},
    "userKey": {"type": "apiKey", "in": "header", "name": "UserKey", "description": "An API key in a `UserKey` header."},
}
PUBLIC_PATHS = {"/api/health"}
"""Operations that need no key."""


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/api/openapi.json``) the completed document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                openapi_version=app.openapi_version,
            )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


PARSER_REFUSAL = (
    "The request line and headers are over 80 KB: the server's HTTP parser refuses them, with a line of text, "
    "before any route reads them."
)
"""Every operation's 400 that no route raises: uvicorn's parser (httptools) stops at 80 KB of request line and
headers. A valid request stays far below it (the longest, 20 task queue names of 1,000 characters, is ~61 KB)."""
_PARSER_400 = {"text/plain": {"schema": {"type": "string"}}}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the errors every operation can answer, the security schemes and per-kind task bodies."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorMessage, ValidationFailed, Unauthorized):
        _add_model(schemas, model)
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    document["components"]["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in document["paths"].items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses["413"] = _response(413)
            has_input = bool(operation.get("parameters")) or "requestBody" in operation
            if has_input:
                responses["422"] = _response(422)
            else:
                responses.pop("422", None)
            if any(p.get("in") == "path" for p in operation.get("parameters", ())):
                responses.setdefault("404", _response(404))
            if path in PUBLIC_PATHS:
                operation["security"] = []
            else:
                operation["security"] = [{"bearer": []}, {"userKey": []}]
                responses["401"] = _response(401)
            for status, answer in responses.items():
                # An error a route declared by description only (a full disk, say) gets the error body.
                if status[:1] in "45" and "content" not in answer:
                    answer["content"] = _response(413)["content"]
            if "400" in responses:  # the route's own refusal, and the parser's
                responses["400"]["description"] += " Or: " + PARSER_REFUSAL
                responses["400"]["content"].update(_PARSER_400)
            else:
                responses["400"] = {"description": PARSER_REFUSAL, "content": dict(_PARSER_400)}
            operation["responses"] = dict(sorted(responses.items()))
    if "TaskSubmit" in schemas:
        _task_kinds(schemas)
    _text_without_nul(document)
    return document


NO_NUL = "^[^\\u0000]*$"
"""The pattern of every free text field of a request: no NUL character (PostgreSQL text cannot hold one)."""


def _text_without_nul(document: dict[str, Any]) -> None:
    """Give every string of a request body that has no pattern, enum or format of its own the NUL-free
    pattern (models.Request._no_nul refuses a NUL there); free-form JSON values are left open."""
    schemas = document["components"]["schemas"]
    seen: set[str] = set()
    todo = [
        content["schema"]
        for operations in document["paths"].values()
        for operation in operations.values()
        for content in operation.get("requestBody", {}).get("content", {}).values()
    ]
    while todo:
        node = todo.pop()
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                todo.append(schemas.get(name))
            continue
        if node.get("type") == "string" and not ({"pattern", "enum", "const", "format"} & node.keys()):
            node["pattern"] = NO_NUL
        todo.extend(node.get("properties", {}).values())
        for key in ("anyOf", "oneOf", "allOf"):
            todo.extend(node.get(key, ()))
        items = node.get("items")
        if isinstance(items, dict) and (items.get("type") == "string" or "$ref" in items):
            todo.append(items)  # lists of text or of models, as the validator reads them


def _response(status: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{_MODELS[status].__name__}"}}},
    }


def _add_model(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas[model.__name__] = schema


def _task_kinds(schemas: dict[str, Any]) -> None:
    """A task submission per kind: ``kind`` one of the kinds this server runs, ``input`` that kind's model."""
    submit = schemas["TaskSubmit"]
    variants = []
    for name, kind in sorted(registry().items()):
        _add_model(schemas, kind.input_model)
        variant: dict[str, Any] = {
            "properties": {
                "kind": {"const": name, "description": kind.description},
                "input": {"$ref": f"#/components/schemas/{kind.input_model.__name__}"},
            }
        }
        if any(field.is_required() for field in kind.input_model.model_fields.values()):
            variant["required"] = ["input"]
        variants.append(variant)
    submit["properties"]["kind"] = {"type": "string", "enum": sorted(registry()), "title": "Kind"}
    submit["oneOf"] = variants
