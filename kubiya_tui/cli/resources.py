"""Headless commands over the control-plane API, grouped by what they act on.

Environments (``envs``); worker queues (``queues``, ``scale``, ``autoscale``,
``worker-command``, ``install-script``); workers (``workers``, ``drain``).

Every command takes ``-o table|json``; JSON is the API's objects as they came. A queue
argument is an id, a name, or ``environment/name``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any, List, Optional

import typer

from kubiya_tui import formatting as fmt
from kubiya_tui.cli.app import app, command_group
from kubiya_tui.cli.common import (
    OUTPUT,
    OutputFormat,
    call,
    capabilities,
    confirm,
    emit,
    key_values,
    refuse_unless,
    require_writable,
    short_id,
    table,
)
from kubiya_tui.columns import Column
from kubiya_tui.errors import UserError
from kubiya_tui.vocabulary import QUEUE_NAME_RULE, Platform, QueueStatus, queue_name_problem

if TYPE_CHECKING:  # imported where used: `--help` loads neither httpx nor pydantic
    from kubiya_tui.client.api import ApiClient
    from kubiya_tui.models import Environment, WorkerDetail, WorkerQueue

envs_app = command_group("Environments of the organization.")
queues_app = command_group("Worker queues: list, show, create, update, delete.")
workers_app = command_group("Workers registered with the control plane.")
app.add_typer(envs_app, name="envs")
app.add_typer(queues_app, name="queues")
app.add_typer(workers_app, name="workers")

QUEUE_ARG = typer.Argument(..., metavar="QUEUE", help="Queue id (or its first 8+ characters), name, or ENV/NAME.")


# ---------------------------------------------------------------------------- rendering


def _env_names(envs: list[Environment]) -> dict[str, str]:
    return {e.id: e.name for e in envs}


def _queue_label(q: WorkerQueue, env_names: dict[str, str]) -> str:
    return f"{q.environment_name or env_names.get(q.environment_id) or q.environment_id}/{q.name}"


def _workers_cell(q: WorkerQueue) -> str:
    return f"{q.active_workers}/{q.max_workers if q.max_workers is not None else 'any'}"


QUEUE_COLUMNS = (
    Column("queue", "QUEUE", 40, priority=1),
    Column("status", "STATUS", 11, priority=2),
    Column("workers", "WORKERS", 9, priority=1, numeric=True, meaning="live / most workers"),
    Column("wanted", "WANTED", 6, priority=4, numeric=True, meaning="the worker count asked for (scale)", hide_empty=True),
    Column("id", "ID", 36, priority=3),
)


def _queue_table(queues: list[WorkerQueue], env_names: dict[str, str]):  # type: ignore[no-untyped-def]
    # Ids are shortened like docker's so names fit 80 columns; any command takes the short form.
    return table(
        QUEUE_COLUMNS,
        (
            {
                "queue": _queue_label(q, env_names),
                "status": q.status,
                "workers": _workers_cell(q),
                "wanted": q.desired_workers,
                "id": short_id(q.id),
            }
            for q in queues
        ),
    )


def _queue_detail(q: WorkerQueue, env_names: dict[str, str]):  # type: ignore[no-untyped-def]
    return key_values(
        [
            ("id", q.id),
            ("name", q.name),
            ("environment", q.environment_name or env_names.get(q.environment_id) or q.environment_id),
            ("display name", q.display_name),
            ("description", q.description),
            ("status", q.status),
            ("live workers", q.active_workers),
            ("max workers", q.max_workers if q.max_workers is not None else "unlimited"),
            ("wanted workers", q.desired_workers),
            ("heartbeat", f"{q.heartbeat_interval}s"),
            ("task queue", q.task_queue_name),
            ("tags", q.tags),
            ("settings", q.settings),
            ("created", q.created_at.isoformat(timespec="seconds") if q.created_at else None),
            ("created by", q.created_by),
        ]
    )


WORKER_COLUMNS = (
    Column("worker", "WORKER", 36, priority=1),
    Column("queue", "QUEUE", 30, priority=1),
    Column("health", "HEALTH", 8, priority=1),
    Column("status", "STATUS", 12, priority=4),
    Column("tasks", "TASKS", 7, priority=3, numeric=True, meaning="tasks processed"),
    Column("beat", "BEAT", 6, priority=2, numeric=True, meaning="heartbeat age (none once a worker is gone)"),
    Column("started", "STARTED", 8, priority=5, meaning="when it registered (UTC)"),
    Column("host", "HOST", 24, priority=4),
    Column(
        "note", "NOTE", 30, priority=6, meaning="what else is known: a drain it ignores, its replacement, why it left",
        hide_empty=True,
    ),
)


def replaced_by(workers: list[WorkerDetail]) -> dict[str, str]:
    """Gone worker id -> the worker that replaced it (the rule: kubiya_tui.metrics.derive.replacements)."""
    from kubiya_tui.metrics.derive import Lifetime, replacements

    def stamp(value: Any) -> float | None:
        return value.timestamp() if value is not None else None

    return replacements(
        Lifetime(
            worker_id=w.worker_id,
            queue=w.queue_id,
            host=w.hostname or (w.system_info or {}).get("hostname"),
            healthy=w.health is not None and w.health.value == "healthy",
            gone=w.health is not None and w.health.value == "gone",
            registered_at=stamp(w.registered_at),
            left_at=stamp(w.disconnected_at) or stamp(w.last_heartbeat),
        )
        for w in workers
    )


def drain_ignored_note(requested_at: float | None, now: float | None = None) -> str:
    """What the console and ``workers list`` say of a worker that keeps running after a drain."""
    import time

    if requested_at is None:
        return "drain requested, worker ignores it"
    return f"drain requested {fmt.age((now or time.time()) - requested_at)} ago, worker ignores it"


def worker_order(w: WorkerDetail, queue_names: dict[str, str]) -> tuple:
    """Workers in a stable order: by queue, then when they registered (never by heartbeat, which moves)."""
    queue = w.queue_name or (queue_names.get(w.queue_id) if w.queue_id else None) or w.queue_id or ""
    started = w.registered_at.timestamp() if w.registered_at else float("inf")
    return (queue, started, w.worker_id)


def _worker_table(workers: list[WorkerDetail], queue_names: dict[str, str]):  # type: ignore[no-untyped-def]
    def host(w: WorkerDetail) -> str | None:
        return w.hostname or (w.system_info or {}).get("hostname")

    def queue(w: WorkerDetail) -> str | None:
        return w.queue_name or (queue_names.get(w.queue_id) if w.queue_id else None) or w.queue_id

    def gone(w: WorkerDetail) -> bool:
        return w.health is not None and w.health.value == "gone"

    def beat(w: WorkerDetail) -> str | None:
        # A gone worker's last heartbeat only gets older: no ticking age for it.
        if gone(w):
            return None
        return "never" if w.heartbeat_age_seconds is None else fmt.age(w.heartbeat_age_seconds)

    replacements = replaced_by(workers)

    def note(w: WorkerDetail) -> str | None:
        if w.drain_ignored:
            return drain_ignored_note(w.drain_requested_at.timestamp() if w.drain_requested_at else None)
        successor = replacements.get(w.worker_id)
        if successor:
            return f"replaced by {successor[:8]}"
        if gone(w) and w.disconnect_reason:
            return w.disconnect_reason
        return None

    ordered = sorted(workers, key=lambda w: worker_order(w, queue_names))
    columns = WORKER_COLUMNS
    if any(w.drain_ignored for w in workers):
        # A drain that is not honoured is news the operator must see: its note is kept at any width.
        columns = tuple(replace(c, priority=1, width=44) if c.key == "note" else c for c in WORKER_COLUMNS)
    return table(
        columns,
        (
            {
                "worker": short_id(w.worker_id),
                "queue": queue(w),
                "health": w.health.value if w.health else None,
                "status": w.status,
                "tasks": w.tasks_processed,
                "beat": beat(w),
                "started": w.registered_at.strftime("%H:%M:%S") if w.registered_at else None,
                "host": host(w),
                "note": note(w),
            }
            for w in ordered
        ),
    )


# ---------------------------------------------------------------------------- parsing options


def _parse_settings(pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that is JSON (a number, true, a list) is kept as such, else text."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--setting {pair!r} is not KEY=VALUE")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        out[key.strip()] = parsed
    return out


async def _queue_with_envs(api: ApiClient, queue: str) -> tuple[WorkerQueue, dict[str, str]]:
    import asyncio
    found, envs = await asyncio.gather(api.resolve_queue(queue), api.list_environments())
    return found, _env_names(envs)


# ---------------------------------------------------------------------------- envs


ENV_COLUMNS = (
    Column("name", "NAME", 40, priority=1),
    Column("status", "STATUS", 10, priority=2),
    Column("queues", "QUEUES", 6, priority=1, numeric=True),
    Column("id", "ID", 36, priority=3),
)


@envs_app.command("list")
def envs_list(ctx: typer.Context, output: OutputFormat = OUTPUT) -> None:
    """List the environments, with how many worker queues each holds."""
    import asyncio

    async def work(api: ApiClient) -> tuple[list[Environment], list[WorkerQueue]]:
        return await asyncio.gather(api.list_environments(), api.list_queues())

    envs, queues = call(ctx, work)
    counts: dict[str, int] = {}
    for q in queues:
        counts[q.environment_id] = counts.get(q.environment_id, 0) + 1
    emit(
        envs,
        output,
        lambda: table(
            ENV_COLUMNS,
            ({"name": e.name, "status": e.status, "queues": counts.get(e.id, 0), "id": e.id} for e in envs),
        ),
    )


# ---------------------------------------------------------------------------- queues


@queues_app.command("list")
def queues_list(
    ctx: typer.Context,
    env: Optional[str] = typer.Option(None, "--env", "-e", help="Only this environment (id or name)."),
    output: OutputFormat = OUTPUT,
) -> None:
    """List worker queues, oldest first."""

    async def work(api: ApiClient) -> tuple[list[WorkerQueue], list[Environment]]:
        envs = await api.list_environments()
        if env is None:
            return await api.list_queues(), envs
        chosen = await api.resolve_environment(env)
        return await api.list_queues(chosen.id), envs

    queues, envs = call(ctx, work)
    emit(queues, output, lambda: _queue_table(queues, _env_names(envs)))


@queues_app.command("show")
def queues_show(ctx: typer.Context, queue: str = QUEUE_ARG, output: OutputFormat = OUTPUT) -> None:
    """Show one worker queue."""
    found, env_names = call(ctx, lambda api: _queue_with_envs(api, queue))
    emit(found, output, lambda: _queue_detail(found, env_names))


@queues_app.command("create")
def queues_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help=QUEUE_NAME_RULE + "."),
    env: str = typer.Option("default", "--env", "-e", help="Environment (id or name)."),
    display_name: Optional[str] = typer.Option(None, "--display-name", help="Human-friendly name."),
    description: Optional[str] = typer.Option(None, "--description", help="What the queue is for."),
    max_workers: Optional[int] = typer.Option(None, "--max-workers", min=1, help="Most live workers (default: no limit)."),
    heartbeat_interval: Optional[int] = typer.Option(
        None, "--heartbeat-interval", min=10, max=300, help="Seconds between worker heartbeats (default 60)."
    ),
    tag: Optional[List[str]] = typer.Option(None, "--tag", help="A tag; repeat for more."),
    setting: Optional[List[str]] = typer.Option(None, "--setting", help="KEY=VALUE; repeat for more."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Create a worker queue in an environment."""
    problem = queue_name_problem(name)
    if problem:
        raise UserError(problem)
    require_writable(ctx, "create a worker queue")
    body: dict[str, Any] = {"name": name}
    for field, value in (
        ("display_name", display_name),
        ("description", description),
        ("max_workers", max_workers),
        ("heartbeat_interval", heartbeat_interval),
    ):
        if value is not None:
            body[field] = value
    if tag:
        body["tags"] = list(tag)
    if setting:
        body["settings"] = _parse_settings(setting)

    async def work(api: ApiClient) -> tuple[WorkerQueue, dict[str, str]]:
        chosen = await api.resolve_environment(env)
        return await api.create_queue(chosen.id, body), {chosen.id: chosen.name}

    created, env_names = call(ctx, work)
    emit(created, output, lambda: _queue_detail(created, env_names))


@queues_app.command("update")
def queues_update(
    ctx: typer.Context,
    queue: str = QUEUE_ARG,
    name: Optional[str] = typer.Option(None, "--name", help="Rename the queue."),
    display_name: Optional[str] = typer.Option(None, "--display-name", help="Human-friendly name."),
    description: Optional[str] = typer.Option(None, "--description", help="What the queue is for."),
    max_workers: Optional[int] = typer.Option(None, "--max-workers", min=0, help="Most live workers; 0 = no limit."),
    heartbeat_interval: Optional[int] = typer.Option(
        None, "--heartbeat-interval", min=10, max=300, help="Seconds between worker heartbeats."
    ),
    status: Optional[QueueStatus] = typer.Option(None, "--status", help="active, inactive or maintenance."),
    tag: Optional[List[str]] = typer.Option(None, "--tag", help="Replace the tags; repeat for more."),
    setting: Optional[List[str]] = typer.Option(
        None, "--setting", help="KEY=VALUE merged into the queue's settings; repeat for more."
    ),
    output: OutputFormat = OUTPUT,
) -> None:
    """Change a worker queue; only the options given change."""
    if name is not None and (problem := queue_name_problem(name)):
        raise UserError(problem)
    changes: dict[str, Any] = {}
    for field, value in (
        ("name", name),
        ("display_name", display_name),
        ("description", description),
        ("heartbeat_interval", heartbeat_interval),
    ):
        if value is not None:
            changes[field] = value
    if max_workers is not None:
        changes["max_workers"] = max_workers or None
    if status is not None:
        changes["status"] = status.value
    if tag:
        changes["tags"] = list(tag)
    new_settings = _parse_settings(setting)
    if not changes and not new_settings:
        raise UserError("nothing to change: give at least one option (see 'kubiya-tui queues update -h')")
    require_writable(ctx, "update a worker queue")

    async def work(api: ApiClient) -> tuple[WorkerQueue, dict[str, str]]:
        found, env_names = await _queue_with_envs(api, queue)
        if new_settings:
            changes["settings"] = {**found.settings, **new_settings}
        return await api.update_queue(found.id, **changes), env_names

    updated, env_names = call(ctx, work)
    emit(updated, output, lambda: _queue_detail(updated, env_names))


@queues_app.command("delete")
def queues_delete(
    ctx: typer.Context,
    queue: str = QUEUE_ARG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Delete a worker queue (refused while it has live workers)."""
    require_writable(ctx, "delete a worker queue")
    found, env_names = call(ctx, lambda api: _queue_with_envs(api, queue))
    label = _queue_label(found, env_names)
    confirm(
        f"Delete worker queue {label} ({found.id})?",
        yes=yes,
        refuse=f"refusing to delete worker queue {label} without confirmation: no terminal to ask on; pass --yes",
    )
    call(ctx, lambda api: api.delete_queue(found.id))
    result = {"deleted": True, "id": found.id, "name": found.name, "environment": label.rsplit("/", 1)[0]}
    emit(result, output, lambda: f"deleted worker queue {label} ({found.id})")


# ---------------------------------------------------------------------------- queues: scaling


def _current_workers(q: WorkerQueue) -> int:
    return q.desired_workers if q.desired_workers is not None else q.active_workers


MAX_SCALE = 10000


@app.command()
def scale(
    ctx: typer.Context,
    queue: str = typer.Argument(..., metavar="QUEUE", help="Queue id (or 8+ first characters), name, or ENV/NAME."),
    workers: int = typer.Argument(..., metavar="N", help=f"How many workers the queue should have: 0 to {MAX_SCALE}."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Set how many workers a queue should have; the runner starts or drains workers to match."""
    refuse_unless(ctx, "scale")
    if workers < 0:
        raise UserError(f"cannot scale to {workers} workers: a worker count is 0 or more (0 stops every worker of the queue)")
    if workers > MAX_SCALE:
        raise UserError(f"cannot scale to {workers} workers: at most {MAX_SCALE}")
    require_writable(ctx, "scale a worker queue")
    found: WorkerQueue = call(ctx, lambda api: api.resolve_queue(queue))
    label = f"{found.environment_name}/{found.name}" if found.environment_name else found.name
    current = _current_workers(found)
    if found.max_workers is not None and workers > found.max_workers:
        raise UserError(f"queue {label} allows at most {found.max_workers} workers (max_workers); refusing {workers}")
    confirm(
        f"scale queue {label} from {current} to {workers} workers?",
        yes=yes,
        refuse=f"refusing to scale queue {label} without confirmation: no terminal to ask on; pass --yes",
    )
    result = call(ctx, lambda api: api.scale_queue(found.id, workers))
    note = ""
    if found.autoscale:
        note = " (note: an autoscale policy is on; it will move the count within its bounds)"
    emit(
        result,
        output,
        lambda: f"queue {label}: wanted workers {current} -> {result.desired_workers} "
        f"({result.active_workers} live now){note}",
    )


@app.command()
def autoscale(
    ctx: typer.Context,
    queue: str = typer.Argument(..., metavar="QUEUE", help="Queue id (or 8+ first characters), name, or ENV/NAME."),
    min_workers: Optional[int] = typer.Option(None, "--min", min=0, max=1000, help="Fewest workers."),
    max_workers: Optional[int] = typer.Option(None, "--max", min=1, max=1000, help="Most workers."),
    target_backlog_age: Optional[float] = typer.Option(
        None, "--target-backlog-age", min=0.001, max=86400, help="Seconds the oldest waiting task may wait."
    ),
    cooldown: float = typer.Option(30.0, "--cooldown", min=0, max=3600, help="Seconds between two decisions."),
    off: bool = typer.Option(False, "--off", help="Remove the policy (the wanted count stays where it is)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Scale a queue's workers on its backlog age, between --min and --max (applied by the runner)."""
    refuse_unless(ctx, "autoscale")
    require_writable(ctx, "change a queue's autoscale policy")
    given = [v is not None for v in (min_workers, max_workers, target_backlog_age)]
    if off and any(given):
        raise UserError("--off takes no --min, --max or --target-backlog-age")
    if not off and not all(given):
        raise UserError("give --min, --max and --target-backlog-age (or --off)")
    if not off and min_workers > max_workers:  # type: ignore[operator]
        raise UserError(f"--min {min_workers} is more than --max {max_workers}")
    found: WorkerQueue = call(ctx, lambda api: api.resolve_queue(queue))
    label = f"{found.environment_name}/{found.name}" if found.environment_name else found.name
    if off:
        question = f"turn off autoscaling of queue {label}?"
    else:
        question = (
            f"autoscale queue {label} between {min_workers} and {max_workers} workers "
            f"(target backlog age {target_backlog_age:g}s, cool-down {cooldown:g}s)?"
        )
    confirm(
        question,
        yes=yes,
        refuse=f"refusing to change autoscaling of queue {label} without confirmation: no terminal to ask on; pass --yes",
    )
    if off:
        updated = call(ctx, lambda api: api.clear_autoscale(found.id))
    else:
        policy = {
            "min_workers": min_workers,
            "max_workers": max_workers,
            "target_backlog_age_seconds": target_backlog_age,
            "cooldown_seconds": cooldown,
        }
        updated = call(ctx, lambda api: api.set_autoscale(found.id, policy))

    def render() -> Any:
        if updated.autoscale is None:
            return f"queue {label}: autoscaling off; wanted workers stay at {updated.desired_workers}"
        p = updated.autoscale
        return key_values(
            [
                ("queue", label),
                ("min workers", p.get("min_workers")),
                ("max workers", p.get("max_workers")),
                ("target backlog age", f"{p.get('target_backlog_age_seconds'):g}s"),
                ("cool-down", f"{p.get('cooldown_seconds'):g}s"),
                ("wanted workers now", updated.desired_workers),
                ("applied by", "the runner (kubiya-tui runner, or the demo's)"),
            ]
        )

    emit(updated, output, render)


# ---------------------------------------------------------------------------- queues: starting workers


@app.command("worker-command")
def worker_command(ctx: typer.Context, queue: str = QUEUE_ARG, output: OutputFormat = OUTPUT) -> None:
    """Print the shell command that starts a worker for a queue."""

    async def work(api: ApiClient):  # type: ignore[no-untyped-def]
        found = await api.resolve_queue(queue)
        return await api.worker_command(found.id), found

    command, found = call(ctx, work)
    if output == OutputFormat.table and not command.can_register:
        reason = (
            f"it is {command.queue_status}"
            if command.queue_status != "active"
            else f"it has its maximum of {command.max_workers} live workers"
        )
        print(f"kubiya-tui: note: queue {found.name!r} accepts no new worker now: {reason}", file=sys.stderr)
    emit(command, output, lambda: command.command)


@app.command("install-script")
def install_script(
    ctx: typer.Context,
    queue: str = QUEUE_ARG,
    platform: Platform = typer.Option(Platform.local, "--platform", "-p", help="local, docker or kubernetes."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Print a script that installs and starts a worker for a queue."""

    async def work(api: ApiClient) -> tuple[str, WorkerQueue]:
        found = await api.resolve_queue(queue)
        return await api.install_script(found.id, platform), found

    script, found = call(ctx, work)
    emit({"queue_id": found.id, "platform": platform.value, "script": script}, output, lambda: script)


# ---------------------------------------------------------------------------- workers


@workers_app.command("list")
def workers_list(
    ctx: typer.Context,
    queue: Optional[str] = typer.Option(None, "--queue", "-q", help="Only this queue (id, name or ENV/NAME)."),
    output: OutputFormat = OUTPUT,
) -> None:
    """List workers, with their health from heartbeat age."""
    import asyncio

    caps = capabilities(ctx)

    async def work(api: ApiClient) -> tuple[list[WorkerDetail], dict[str, str]]:
        if queue is None:
            if caps.org_workers_list:
                workers, queues = await asyncio.gather(api.list_workers(), api.list_queues())
                return workers, {q.id: q.name for q in queues}
            # Kubiya's control plane lists workers per queue only (its GET /workers means runners).
            queues = await api.list_queues()
            batches = await asyncio.gather(
                *(api.queue_workers(q.id, stale_after=caps.stale_after, heartbeat_interval=q.heartbeat_interval) for q in queues)
            )
            return [w for batch in batches for w in batch], {q.id: q.name for q in queues}
        found = await api.resolve_queue(queue)
        listed = await api.queue_workers(found.id, stale_after=caps.stale_after, heartbeat_interval=found.heartbeat_interval)
        return listed, {found.id: found.name}

    workers, queue_names = call(ctx, work)
    emit(workers, output, lambda: _worker_table(workers, queue_names))


# ---------------------------------------------------------------------------- workers: drain


async def resolve_worker(api: ApiClient, worker: str) -> WorkerDetail:
    """A worker by id, or by a unique id prefix of at least 8 characters (the tables' short ids)."""
    from kubiya_tui.client.api import MIN_ID_PREFIX, ApiError

    try:
        return await api.get_worker(worker)
    except ApiError as exc:
        if exc.status != 404 or len(worker) < MIN_ID_PREFIX:
            raise
    matches = [w for w in await api.list_workers() if w.worker_id.startswith(worker)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ApiError(404, f"worker {worker!r} not found", message=f"no worker with id or id prefix {worker!r}")
    live = [w for w in matches if w.health is None or w.health.value != "gone"]
    if len(live) == 1:
        return live[0]
    raise ApiError(409, "ambiguous", message=f"{len(matches)} workers have ids starting with {worker!r}; give more of the id")


@app.command()
def drain(
    ctx: typer.Context,
    worker: str = typer.Argument(..., metavar="WORKER_ID", help="Worker id (or its first 8+ characters)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Drain a worker: it takes no new task, finishes what it holds, and exits. Nothing is lost."""
    refuse_unless(ctx, "drain")
    require_writable(ctx, "drain a worker")
    found: WorkerDetail = call(ctx, lambda api: resolve_worker(api, worker))
    host = found.hostname or (found.system_info or {}).get("hostname")
    where = f" on queue {found.queue_name}" if found.queue_name else ""
    on = f" (host {host})" if host else ""
    if found.health is not None and found.health.value == "gone":
        raise UserError(f"worker {found.worker_id}{where} is already gone ({found.status})")
    confirm(
        f"drain worker {found.worker_id}{where}{on}?",
        yes=yes,
        refuse=f"refusing to drain worker {found.worker_id} without confirmation: no terminal to ask on; pass --yes",
    )
    result = call(ctx, lambda api: api.drain_worker(found.worker_id))
    emit(
        result,
        output,
        lambda: f"worker {result.worker_id}{where}: draining; it finishes what it holds and exits "
        "(a runner that still wants the worker starts a replacement)",
    )
