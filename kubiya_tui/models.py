"""Pydantic models of the worker-queue API contract, shared by the client and the server.

Request models (``*Create``, ``*Update``, ``*Request``) are strict: the local control plane
validates every body with them. Response models tolerate extra fields, because Kubiya's own
control plane sends more than the contract names.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from enum import Enum
from functools import lru_cache
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The words that need no pydantic live in kubiya_tui.vocabulary (the CLI declares its options with them).
from kubiya_tui.vocabulary import (  # noqa: F401  (re-exported)
    DRAIN_GRACE_SECONDS,
    FAILED_STATUSES,
    KUBIYA_LIVE_SECONDS,
    MAX_OBSERVED_INTERVAL,
    PRIORITY_NAMES,
    QUEUE_NAME_PATTERN,
    QUEUE_NAME_RULE,
    STALE_AFTER_INTERVALS,
    EnvironmentStatus,
    Platform,
    QueueStatus,
    WorkerHealth,
    WorkerStatus,
    derive_health,
    effective_interval,
    queue_name_problem,
)

# An environment is also a legacy task queue, polled on the Temporal task queue
# `<org>.<name>`: no quotes, backslashes or control characters, which Temporal's
# visibility and worker queries cannot match (docs: client/temporal_query.py).
ENVIRONMENT_NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029\"'\\]*$"
ENVIRONMENT_NAME_RULE = "environment names hold no quotes, backslashes or control characters"
# Largest integer SQLite stores; larger values are refused at validation, not at insert.
MAX_INT = 2**31 - 1
# Largest count or size a body may carry: every JSON parser reads integers up to it exactly.
MAX_SAFE_INT = 2**53 - 1
# Deepest nesting of objects and lists accepted in a request body.
MAX_JSON_DEPTH = 32


class Response(BaseModel):
    """Base of every model read from a control plane: unknown fields are kept, not refused."""

    # defer_build: a model's validator is built on its first use, not at import (a command
    # that reads queues builds 3 of the ~45 models; building all took ~60 ms of each start).
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


class Request(BaseModel):
    """Base of every request body: unknown fields are ignored, wrong types are refused."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _plain_json(cls, data: Any) -> Any:
        # Python's JSON parser accepts NaN, Infinity and lone UTF-16 surrogates ("\ud800"), none of
        # which can be answered back as JSON: refuse them anywhere in a body. Refuse deep nesting
        # too. Stored, any of these would break every later read that includes the object.
        if isinstance(data, dict):
            # Pydantic's lax mode reads true as 1 and "5" as 5: in a JSON body a number is a JSON number.
            for name, annotation in _number_fields(cls):
                value = data.get(name)
                if isinstance(value, (bool, str)) and _takes_number_only(annotation, value):
                    raise ValueError(f"{name} must be a JSON number, not {type(value).__name__}")
        stack = [(data, 0)]
        while stack:
            value, depth = stack.pop()
            if isinstance(value, str):
                _check_text(value)
            elif isinstance(value, float) and not math.isfinite(value):
                raise ValueError("NaN and Infinity are not valid JSON numbers")
            elif isinstance(value, (dict, list)):
                if depth >= MAX_JSON_DEPTH:
                    raise ValueError(f"JSON is nested more than {MAX_JSON_DEPTH} levels deep")
                if isinstance(value, dict):
                    stack.extend((key, depth) for key in value)
                    items = value.values()
                else:
                    items = value
                stack.extend((item, depth + 1) for item in items)
        return data

    @model_validator(mode="after")
    def _no_nul(self) -> "Request":
        # PostgreSQL text cannot hold a NUL character: a text field with one is refused on every
        # backend, so both answer the same (the OpenAPI says so with a pattern, openapi.py).
        # Free-form JSON (settings, metadata, inputs) may hold one: it is stored as JSON text,
        # where a NUL is the escape \u0000. After the fields' own checks, so a field that
        # refuses control characters says so itself.
        stack: list[Any] = list(self.__dict__.values())
        while stack:
            value = stack.pop()
            if isinstance(value, str):
                if "\x00" in value:
                    raise ValueError("text may not contain the NUL character (\\u0000)")
            elif isinstance(value, (list, tuple)):
                stack.extend(v for v in value if not isinstance(v, (dict, list)))
            elif isinstance(value, BaseModel):
                stack.extend(value.__dict__.values())
        return self


@lru_cache(maxsize=None)
def _number_fields(model: type[BaseModel]) -> tuple[tuple[str, Any], ...]:
    """(field name, annotation) of each field of a request model that takes a number."""
    return tuple(
        (name, field.annotation)
        for name, field in model.model_fields.items()
        if any(m in (int, float) for m in _members(field.annotation))
    )


def _members(annotation: Any) -> list[Any]:
    """The types a field annotation admits: unions and Annotated unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _takes_number_only(annotation: Any, value: bool | str) -> bool:
    """Whether a bool or string ``value`` is for a field that wants a number there (int, float, or a literal)."""
    members = _members(annotation)
    if not any(m in (int, float) for m in members):
        return False
    if isinstance(value, bool):
        return bool not in members
    literals = {v for m in members if get_origin(m) is Literal for v in get_args(m)}
    return str not in members and value not in literals and not any(isinstance(m, type) and issubclass(m, Enum) for m in members)


def Unset(schema: dict[str, Any] | None = None, **constraints: Any) -> Any:
    """A field of a PATCH body that may be left out but never set to null: its schema is not nullable.

    ``schema`` adds keywords to the field's JSON schema (a pattern that a validator checks).
    """

    def without_default(field_schema: dict[str, Any]) -> None:
        field_schema.pop("default", None)
        field_schema.update(schema or {})

    return Field(default=None, json_schema_extra=without_default, **constraints)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (a lone surrogate such as \\ud800 is not)") from None


# ---------------------------------------------------------------------------- enums: kubiya_tui.vocabulary


# ---------------------------------------------------------------------------- environments

Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=50)]
"""At most 50 tags of 1-100 characters each."""


def _check_environment_name(name: str | None) -> str | None:
    if name is not None and not re.fullmatch(ENVIRONMENT_NAME_PATTERN, name):
        raise ValueError(ENVIRONMENT_NAME_RULE + " (it is part of a Temporal task queue name)")
    return name


class EnvironmentCreate(Request):
    name: str = Field(min_length=2, max_length=100, json_schema_extra={"pattern": ENVIRONMENT_NAME_PATTERN})
    display_name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    tags: Tags = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)

    _name = field_validator("name")(_check_environment_name)


class EnvironmentUpdate(Request):
    """Any field of EnvironmentCreate, plus status; display_name and description may be cleared with null."""

    name: str = Unset({"pattern": ENVIRONMENT_NAME_PATTERN}, min_length=2, max_length=100)
    display_name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    tags: Tags = Unset()
    settings: dict[str, Any] = Unset()
    status: EnvironmentStatus = Unset()

    _name = field_validator("name")(_check_environment_name)


class Environment(Response):
    id: str
    organization_id: str
    name: str
    display_name: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    status: str = "ready"
    created_at: datetime | None = None
    updated_at: datetime | None = None


# ---------------------------------------------------------------------------- worker queues


class AutoscalePolicy(Request):
    """Scale a queue's workers between min and max to keep the oldest backlog task young."""

    min_workers: int = Field(ge=0, le=1000)
    max_workers: int = Field(ge=1, le=1000)
    target_backlog_age_seconds: float = Field(gt=0, le=86400)
    cooldown_seconds: float = Field(default=30, ge=0, le=3600)

    @model_validator(mode="after")
    def _bounds(self) -> "AutoscalePolicy":
        if self.min_workers > self.max_workers:
            raise ValueError("min_workers must not exceed max_workers")
        return self


class WorkerQueueCreate(Request):
    name: str = Field(min_length=2, max_length=50, pattern=QUEUE_NAME_PATTERN)
    display_name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    max_workers: int | None = Field(default=None, ge=1, le=10000)
    heartbeat_interval: int = Field(default=60, ge=10, le=300)
    tags: Tags = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)


class WorkerQueueUpdate(Request):
    """Any field of WorkerQueueCreate, plus status; display_name, description and max_workers (unlimited)
    may be cleared with null."""

    name: str = Unset(min_length=2, max_length=50, pattern=QUEUE_NAME_PATTERN)
    display_name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    max_workers: int | None = Field(default=None, ge=1, le=10000)
    heartbeat_interval: int = Unset(ge=10, le=300)
    tags: Tags = Unset()
    settings: dict[str, Any] = Unset()
    status: QueueStatus = Unset()


class WorkerQueue(Response):
    id: str
    organization_id: str
    environment_id: str
    name: str
    display_name: str | None = None
    description: str | None = None
    status: str = "active"
    max_workers: int | None = None
    heartbeat_interval: int = 60
    tags: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str | None = None
    active_workers: int = 0
    task_queue_name: str | None = None
    # Extensions of the local control plane (absent upstream).
    environment_name: str | None = None
    desired_workers: int | None = None
    autoscale: dict[str, Any] | None = None
    last_scaled_at: datetime | None = None
    """When ``desired_workers`` last changed (an autoscaler's cool-down starts there)."""


class CommandParts(Response):
    """A worker command in parts, as Kubiya's control plane answers it (and ours, on the same path):
    ``{"binary": "kubiya", "subcommand": "worker start", "flags": {"--queue-id": ID}}``."""

    binary: str
    subcommand: str = ""
    flags: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    @property
    def argv(self) -> list[str]:
        """The command as argv: the binary, the subcommand's words, each flag and its value."""
        out = [self.binary, *self.subcommand.split()]
        for flag, value in self.flags.items():
            if value is True or value is None:
                out.append(flag)
            elif value is not False:
                out += [flag, str(value)]
        return out


def _argv_of(parts: "CommandParts | list[str] | None") -> list[str]:
    if isinstance(parts, CommandParts):
        return parts.argv
    return list(parts or [])


class WorkerCommand(Response):
    queue_id: str
    command: str
    command_parts: CommandParts | list[str] = Field(default_factory=list)
    """Kubiya's object (``binary``, ``subcommand``, ``flags``), or a list of argv (older kubiya-tui servers)."""
    can_register: bool = True
    queue_status: str = "active"
    active_workers: int = 0
    max_workers: int | None = None
    # Extension: where the worker's kubiya-tui comes from (the wheel the control plane serves, or an index).
    package: str | None = None

    @property
    def argv(self) -> list[str]:
        """``command_parts`` as argv, whichever shape it came in (empty when the server sent none)."""
        return _argv_of(self.command_parts)


class QueueConfig(Response):
    queue_id: str | None = None
    config_version: str | None = None


class LeaseClaim(Request):
    """Extension: the lease a change is made under; refused (409) unless it is still held so."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z][a-z0-9-]*$")
    holder: str = Field(min_length=1, max_length=200)
    token: int = Field(ge=1)


class ScaleRequest(Request):
    workers: int = Field(ge=0, le=10000)
    # Extension: why (an autoscaler's decision, say); written to the audit entry.
    reason: str | None = Field(default=None, max_length=500)
    # Extension: an autoscaler's decision carries its lease, so one that lost it changes nothing.
    lease: LeaseClaim | None = None


class LeaseRequest(Request):
    """Take or renew a lease: who asks, and for how long."""

    holder: str = Field(min_length=1, max_length=200)
    ttl_seconds: float = Field(ge=1, le=3600)


class Lease(Response):
    """Extension: who acts where only one may (``runner``, ``autoscaler``) in an organization, until when."""

    name: str
    holder: str
    token: int
    acquired_at: datetime | None = None
    expires_at: datetime | None = None
    held: bool = True
    """Whether the caller of the request holds it (False in a 409's ``lease``)."""


class ScaleResult(Response):
    queue_id: str
    desired_workers: int
    active_workers: int = 0
    max_workers: int | None = None


# ---------------------------------------------------------------------------- workers


class SystemInfo(Response):
    hostname: str | None = None
    platform: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    python_version: str | None = None
    sdk_version: str | None = None
    pid: int | None = None
    cpu_count: int | None = None
    cpu_percent: float | None = None
    memory_total: int | None = None
    memory_used: int | None = None
    memory_percent: float | None = None
    uptime_seconds: float | None = None


class SystemInfoIn(Request):
    """System info as a worker reports it; numbers are bounded so they fit the store."""

    hostname: str | None = Field(default=None, max_length=255)
    platform: str | None = Field(default=None, max_length=255)
    os_name: str | None = Field(default=None, max_length=255)
    os_version: str | None = Field(default=None, max_length=255)
    python_version: str | None = Field(default=None, max_length=255)
    sdk_version: str | None = Field(default=None, max_length=255)
    pid: int | None = Field(default=None, ge=0, le=MAX_INT)
    cpu_count: int | None = Field(default=None, ge=0, le=100000)
    cpu_percent: float | None = Field(default=None, ge=0, le=100000)
    memory_total: int | None = Field(default=None, ge=0, le=MAX_SAFE_INT)
    memory_used: int | None = Field(default=None, ge=0, le=MAX_SAFE_INT)
    memory_percent: float | None = Field(default=None, ge=0, le=100)
    uptime_seconds: float | None = Field(default=None, ge=0, le=1e10)


class WorkerStartRequest(Request):
    worker_sdk_version: str | None = Field(default=None, max_length=100)
    system_info: SystemInfoIn | None = None
    control_plane_url: str | None = Field(default=None, max_length=2000)
    # Extension: what the worker can run (runtime, tools), shown on the Work Queues page.
    capabilities: dict[str, Any] = Field(default_factory=dict)
    worker_metadata: dict[str, Any] = Field(default_factory=dict)


class WorkerRegistration(Response):
    worker_id: str
    task_queue_name: str
    temporal_namespace: str
    temporal_host: str
    temporal_api_key: str | None = None
    organization_id: str
    control_plane_url: str | None = None
    heartbeat_interval: int = 60
    queue_id: str | None = None
    queue_name: str | None = None
    environment_name: str | None = None


class LegacyRegisterRequest(Request):
    """Either the Work Queues page's form (``queue_name``) or the upstream server's (``environment_name``)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["queue_name"]}, {"required": ["environment_name"]}]})

    worker_id: str | None = Field(default=None, min_length=1, max_length=200)
    queue_name: str = Unset(min_length=1, max_length=300)
    capabilities: dict[str, Any] = Field(default_factory=dict)
    environment_name: str = Unset(min_length=1, max_length=100)
    hostname: str | None = Field(default=None, max_length=255)
    worker_metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_target(self) -> "LegacyRegisterRequest":
        if not self.queue_name and not self.environment_name:
            raise ValueError("either queue_name or environment_name is required")
        return self


class HeartbeatRequest(Request):
    status: WorkerStatus = WorkerStatus.active
    tasks_processed: int = Field(default=0, ge=0, le=MAX_SAFE_INT)
    current_task_id: str | None = Field(default=None, max_length=300)
    worker_metadata: dict[str, Any] = Field(default_factory=dict)
    system_info: SystemInfoIn | None = None
    logs: list[str] | None = Field(default=None, max_length=1000)
    queue_name: str | None = Field(default=None, max_length=300)
    # Extensions sent by this project's worker.
    tasks_failed: int | None = Field(default=None, ge=0, le=MAX_SAFE_INT)
    current_task_ids: list[str] | None = Field(default=None, max_length=10000)
    slots_used: int | None = Field(default=None, ge=0, le=100000)
    slots_available: int | None = Field(default=None, ge=0, le=100000)
    capabilities: dict[str, Any] | None = None


class SimpleHeartbeatRequest(HeartbeatRequest):
    worker_id: str = Field(min_length=1, max_length=200)


class HeartbeatAnswer(Response):
    worker_id: str | None = None
    desired_state: Literal["running", "draining"] | str = "running"
    config_version: str | None = None


class DisconnectRequest(Request):
    reason: str = Field(default="shutdown", max_length=500)
    exit_code: int | None = Field(default=None, ge=-MAX_INT, le=MAX_INT)
    error_message: str | None = Field(default=None, max_length=10000)


class WorkerDetail(Response):
    id: str
    worker_id: str
    queue_id: str | None = None
    status: str = "active"
    tasks_processed: int = 0
    tasks_failed: int = 0
    current_task_id: str | None = None
    last_heartbeat: datetime | None = None
    registered_at: datetime | None = None
    system_info: dict[str, Any] | None = None
    worker_metadata: dict[str, Any] = Field(default_factory=dict)
    # Extensions of the local control plane.
    queue_name: str | None = None
    environment_id: str | None = None
    task_queue_name: str | None = None
    hostname: str | None = None
    desired_state: str | None = None
    health: WorkerHealth | None = None
    heartbeat_age_seconds: float | None = None
    heartbeat_interval: int | None = None
    capabilities: dict[str, Any] = Field(default_factory=dict)
    current_task_ids: list[str] = Field(default_factory=list)
    slots_used: int | None = None
    slots_available: int | None = None
    disconnected_at: datetime | None = None
    disconnect_reason: str | None = None
    observed_heartbeat_interval: float | None = None
    """Seconds between its last two heartbeats: the interval it is seen to keep (health is judged by it, bounded)."""
    drain_requested_at: datetime | None = None
    """When a drain was asked of it (None when none is)."""
    drain_ignored: bool = False
    """A drain was asked more than one heartbeat interval (plus grace) ago, and it still beats as running."""

    @field_validator("last_heartbeat", "registered_at", "disconnected_at", "drain_requested_at", mode="before")
    @classmethod
    def _empty_time(cls, value: Any) -> Any:
        # Kubiya's server sends "" for a time it does not know.
        return None if value == "" else value


class TaskQueuePoller(Response):
    """One poller of a Temporal task queue, as ``GET /api/v1/workers[/{runner}]`` lists it (Kubiya's shape)."""

    identity: str
    last_access_time: datetime | None = None
    rate_per_second: float | None = None


class TaskQueueInfo(Response):
    """``GET /api/v1/workers/{runner_name}``: a runner's Temporal task queue ``<org>.<runner>`` and its pollers.

    Kubiya's meaning of the path, kept by kubiya-tui's server (its SDK's ``workers.get``/``list``)."""

    task_queue: str
    organization_id: str
    runner_name: str
    workers: list[TaskQueuePoller] = Field(default_factory=list)
    worker_count: int = 0
    approximate_backlog_count: int | None = None


# ---------------------------------------------------------------------------- metrics and audit


class WorkerQueueMetrics(Response):
    queue_id: str
    active_workers: int = 0
    idle_workers: int = 0
    busy_workers: int = 0
    total_workers: int = 0
    tasks_processed_24h: int = 0
    tasks_failed_24h: int = 0
    tasks_pending: int = 0
    avg_task_duration_ms: float | None = None
    error_rate_percent: float = 0.0
    last_error_at: datetime | None = None
    task_queue_backlog: int = 0
    task_queue_pollers: int = 0
    last_activity_at: datetime | None = None
    updated_at: datetime | None = None
    # Extensions of the local control plane.
    stale_workers: int | None = None
    draining_workers: int | None = None
    task_queue_backlog_age_seconds: float | None = None
    tasks_add_rate_per_min: float | None = None
    tasks_dispatch_rate_per_min: float | None = None
    temporal_available: bool | None = None
    temporal_error: str | None = None


class AuditEntry(Response):
    id: int | str
    organization_id: str
    actor: str | None = None
    action: str
    target_type: str | None = None
    target_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None


class ServiceHealth(Response):
    """``GET /api/health``: whether the control plane (and its Temporal) answers."""

    status: str
    version: str | None = None
    temporal: str | None = None
    """ok, or unavailable (from a health check at most a few seconds old)."""
    temporal_error: str | None = None
    storage: str | None = None
    """ok, or why writes are refused: full, read-only, failing."""


# ---------------------------------------------------------------------------- tasks

MAX_TASK_TIMEOUT_SECONDS = 3600


IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
IDEMPOTENCY_KEY_RULE = "1-255 printable ASCII characters, no spaces"


class TaskSubmit(Request):
    """A task for a queue: a Temporal workflow on the queue's task queue."""

    kind: str = Field(min_length=1, max_length=100)
    input: dict[str, Any] = Field(default_factory=dict)
    priority: Annotated[int, Field(ge=1, le=5)] | Literal["high", "normal", "low"] = "normal"
    timeout_seconds: float = Field(default=300, gt=0, le=MAX_TASK_TIMEOUT_SECONDS)
    max_attempts: int = Field(default=1, ge=1, le=20)
    """Executions of the task that may start, whatever ends them (a failure, a lost worker)."""
    count: int = Field(default=1, ge=1, le=1000)
    # The rule is in the schema too; the validator words the refusal.
    idempotency_key: str | None = Field(default=None, json_schema_extra={"pattern": IDEMPOTENCY_KEY.pattern})
    """Like the Idempotency-Key header: a retry with the same key gets the first answer and starts nothing."""

    @field_validator("idempotency_key")
    @classmethod
    def _idempotency_key(cls, value: str | None) -> str | None:
        if value is not None and not IDEMPOTENCY_KEY.fullmatch(value):
            raise ValueError(f"an idempotency key is {IDEMPOTENCY_KEY_RULE}")
        return value

    @property
    def priority_key(self) -> int:
        return PRIORITY_NAMES[self.priority] if isinstance(self.priority, str) else self.priority


class TaskAttempt(Response):
    """One execution of a task that ended without its result, and why."""

    attempt: int
    outcome: str
    """failed, timed out, worker lost, completion not reported, interrupted."""
    error: str | None = None
    worker: str | None = None


class TaskStatus(str, Enum):
    """A task list's status filter: open (queued or running, as Temporal lists them) or how it closed."""

    queued = "queued"
    running = "running"
    open = "open"
    completed = "completed"
    failed = "failed"
    timed_out = "timed_out"
    canceled = "canceled"
    terminated = "terminated"


class TaskInfo(Response):
    id: str
    queue_id: str | None = None
    kind: str | None = None
    status: str
    """pending, not_started, queued, running, completed, failed, timed_out, canceled, terminated."""
    priority: int | None = None
    attempts: int | None = None
    """Executions that started."""
    max_attempts: int | None = None
    attempt_log: list[TaskAttempt] | None = None
    """Each execution that ended without the task's result, oldest first."""
    worker: str | None = None
    result: Any = None
    error: str | None = None
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None


class TaskSubmitted(Response):
    id: str
    ids: list[str]
    queue_id: str
    kind: str
    priority: int
    status: str = "queued"


# ---------------------------------------------------------------------------- legacy task queues


class TaskQueueCreate(EnvironmentCreate):
    """A legacy task queue: upstream keeps these as environment-level queues."""

    priority: int | None = Field(default=None, ge=1, le=10)


class TaskQueueUpdate(EnvironmentUpdate):
    priority: int | None = Field(default=None, ge=1, le=10)


class Migration(Response):
    state: str
    """migrating (new worker queue made, legacy backlog or workers left) or migrated."""
    worker_queue_id: str
    started_at: datetime | None = None
    completed_at: datetime | None = None
    started_by: str | None = None


class LegacyTaskQueue(Environment):
    """Upstream's task queue is an environment seen through ``/task-queues``, with its workers and migration."""

    priority: int | None = None
    created_by: str | None = None
    worker_token: str | None = None
    task_queue_name: str | None = None
    active_workers: int = 0
    idle_workers: int = 0
    busy_workers: int = 0
    legacy: bool = True
    migration: Migration | None = None


class LegacyWorkerCommand(Response):
    task_queue_name: str
    command: str
    command_parts: CommandParts | list[str] = Field(default_factory=list)
    namespace_status: str = "ready"
    can_register: bool = True
    worker_token: str | None = None

    @property
    def argv(self) -> list[str]:
        """``command_parts`` as argv, whichever shape it came in."""
        return _argv_of(self.command_parts)


class MigrateRequest(Request):
    environment_id: str = Field(min_length=1, max_length=200)
    """Where the new worker queue goes (id or name)."""
    name: str | None = Field(default=None, min_length=2, max_length=50, pattern=QUEUE_NAME_PATTERN)
    """Name of the new worker queue; default: the legacy queue's name made queue-safe."""
    max_workers: int | None = Field(default=None, ge=1, le=10000)
    heartbeat_interval: int = Field(default=60, ge=10, le=300)


class MigrationResult(Response):
    task_queue: LegacyTaskQueue
    worker_queue: WorkerQueue
    worker_command: WorkerCommand
