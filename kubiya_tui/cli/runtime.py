"""Commands that run things: the worker process and task submission."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from kubiya_tui.cli.app import app, command_group
from kubiya_tui import formatting as fmt
from kubiya_tui.cli.common import (
    OUTPUT,
    OutputFormat,
    Shortened,
    call,
    emit,
    key_values,
    parse_priority,
    refuse_unless,
    settings,
    table,
)
from kubiya_tui.columns import Column
from kubiya_tui.errors import UserError

worker_app = command_group("Run a worker that polls a queue on Temporal.")
app.add_typer(worker_app, name="worker")


@worker_app.command("start")
def worker_start(
    ctx: typer.Context,
    queue_id: Optional[str] = typer.Option(None, "--queue-id", help="The worker queue to serve (its id)."),
    task_queue: Optional[str] = typer.Option(
        None, "--task-queue", help="Legacy mode: register on a legacy task queue by its Temporal name."
    ),
    concurrency: int = typer.Option(10, "--concurrency", min=1, max=1000, help="Tasks run at once, at most."),
    control_plane_url: Optional[str] = typer.Option(
        None,
        "--control-plane-url",
        envvar=["KUBIYA_CONTROL_PLANE_BASE_URL", "CONTROL_PLANE_URL"],
        help="Control-plane base URL (env: KUBIYA_CONTROL_PLANE_BASE_URL or CONTROL_PLANE_URL).",
    ),
    temporal_connect_timeout: float = typer.Option(
        30.0, "--temporal-connect-timeout", min=1, max=3600, help="How long to keep retrying Temporal at start."
    ),
    temporal_profile: Optional[str] = typer.Option(
        None,
        "--temporal-profile",
        help="Reach Temporal as this Temporal CLI profile says (temporal.toml: address, API key, TLS/mTLS); "
        "env: TEMPORAL_PROFILE. The namespace and task queue are always the queue's.",
    ),
) -> None:
    """Start a worker: exactly the command that `worker-command` returns.

    The API key and the control-plane URL come, like every command's, from the global
    --api-key / --api-url, KUBIYA_API_KEY / KUBIYA_CONTROL_PLANE_BASE_URL, or the --profile
    (--control-plane-url, the worker command's own flag, wins over them all).
    """
    from kubiya_tui.config import DEFAULT_API_URL
    from kubiya_tui.worker.runtime import TemporalOverride, WorkerOptions, run_worker

    if bool(queue_id) == bool(task_queue):
        raise UserError("give exactly one of --queue-id (a worker queue) or --task-queue (a legacy task queue)")
    found = settings(ctx, temporal_profile=temporal_profile)
    api_key = found.api_key_value()
    if not api_key:
        where = f"profile {found.profile!r} has none; " if found.profile else ""
        raise UserError(f"no API key: {where}set KUBIYA_API_KEY to a key of the queue's organization (or use --profile)")
    control_plane_url = control_plane_url or found.api_url
    if not control_plane_url or (found.profile is None and control_plane_url == DEFAULT_API_URL and not _url_given(ctx)):
        raise UserError("no control-plane URL: pass --control-plane-url, set KUBIYA_CONTROL_PLANE_BASE_URL or use --profile")
    options = WorkerOptions(
        control_plane_url=control_plane_url.rstrip("/"),
        api_key=api_key,
        queue_id=queue_id,
        legacy_task_queue=task_queue,
        concurrency=concurrency,
        temporal_connect_timeout=temporal_connect_timeout,
        temporal=TemporalOverride.from_settings(found),
    )
    sys.exit(run_worker(options))


def _url_given(ctx: typer.Context) -> bool:
    """Whether the global --api-url named the control plane."""
    return bool((ctx.find_root().obj or {}).get("api_url"))


# ---------------------------------------------------------------------------- tasks

tasks_app = command_group("Submit tasks to a queue and look them up.")
app.add_typer(tasks_app, name="tasks")


def _parse_input(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--input is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(value, dict):
        raise UserError("--input must be a JSON object, such as '{\"seconds\": 1}'")
    return value


@tasks_app.command("submit")
def tasks_submit(
    ctx: typer.Context,
    queue: str = typer.Argument(..., metavar="QUEUE", help="Queue id (or 8+ first characters), name, or ENV/NAME."),
    kind: str = typer.Option(..., "--kind", help="Task kind: sleep, http, shell, or a plugin's."),
    input_json: str = typer.Option("{}", "--input", help="Task input as a JSON object."),
    priority: str = typer.Option("normal", "--priority", help="high, normal, low, or 1 (first) to 5 (last)."),
    timeout_seconds: float = typer.Option(300, "--timeout", min=0.001, max=3600, help="Task timeout in seconds."),
    max_attempts: int = typer.Option(1, "--max-attempts", min=1, max=20, help="Attempts before the task fails."),
    count: int = typer.Option(1, "--count", min=1, max=100000, help="Submit this many identical tasks."),
    idempotency_key: Optional[str] = typer.Option(
        None,
        "--idempotency-key",
        help="Run the same command again with the same key (within 24 h) and it answers the same ids, starting nothing"
        " twice. Default: a new key, so retries of this command's own calls are safe.",
    ),
    output: OutputFormat = OUTPUT,
) -> None:
    """Submit tasks to a worker queue; prints their ids."""
    refuse_unless(ctx, "tasks")
    import uuid

    from kubiya_tui.models import IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_RULE

    key = idempotency_key if idempotency_key is not None else f"cli-{uuid.uuid4()}"
    # Batches of 1000 take "<key>.<n>" from the second on: still at most 255 characters.
    if not IDEMPOTENCY_KEY.fullmatch(key) or len(key) > 248:
        raise UserError(f"--idempotency-key must be 1-248 printable ASCII characters without spaces ({IDEMPOTENCY_KEY_RULE})")
    body = {
        "kind": kind,
        "input": _parse_input(input_json),
        "priority": parse_priority(priority),
        "timeout_seconds": timeout_seconds,
        "max_attempts": max_attempts,
    }

    async def work(api):  # type: ignore[no-untyped-def]
        found = await api.resolve_queue(queue)
        ids: list[str] = []
        left = count
        batch_no = 0
        while left:
            batch = min(left, 1000)
            batch_key = key if batch_no == 0 else f"{key}.{batch_no}"
            answer = await api.submit_task(found.id, {**body, "count": batch}, idempotency_key=batch_key)
            ids.extend(answer["ids"])
            left -= batch
            batch_no += 1
        return found, ids

    found, ids = call(ctx, work)
    data = {"queue_id": found.id, "queue": found.name, "kind": kind, "count": len(ids), "ids": ids, "idempotency_key": key}
    emit(data, output, lambda: "\n".join(ids) if len(ids) <= 20 else f"submitted {len(ids)} {kind} tasks to {found.name}")


TASK_COLUMNS = (
    Column("task", "TASK", 14, priority=1, meaning="task id (the first characters; -o wide shows it whole)"),
    Column("kind", "KIND", 12, priority=2),
    Column("status", "STATUS", 10, priority=1),
    Column("prio", "PRIO", 4, priority=3, numeric=True),
    Column("submitted", "SUBMITTED", 9, priority=2),
    Column("closed", "CLOSED", 8, priority=2),
)
TASK_ID_SHOWN = 14
"""Characters of a task id in a table: ``task-`` and 8 of its hex digits, cut like the console's."""


def _task_rows(tasks: list[dict]) -> list[dict]:
    return [
        {
            "task": Shortened(fmt.short_id(t.get("id"), TASK_ID_SHOWN), t.get("id") or ""),
            "kind": t.get("kind"),
            "status": t.get("status"),
            "prio": t.get("priority"),
            "submitted": _when(t.get("submitted_at")),
            "closed": _when(t.get("closed_at")),
        }
        for t in tasks
    ]


def _when(value: str | None) -> str | None:
    return value[11:19] if value else None


@tasks_app.command("list")
def tasks_list(
    ctx: typer.Context,
    queue: str = typer.Argument(..., metavar="QUEUE", help="Queue id (or 8+ first characters), name, or ENV/NAME."),
    status: Optional[str] = typer.Option(
        None, "--status", help="queued, running, completed, failed, timed_out, canceled, terminated."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="How many, newest first."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Recent tasks of a queue, from Temporal visibility."""
    refuse_unless(ctx, "tasks")

    async def work(api):  # type: ignore[no-untyped-def]
        found = await api.resolve_queue(queue)
        return await api.list_tasks(found.id, status=status, limit=limit)

    tasks = call(ctx, work)
    emit(tasks, output, lambda: table(TASK_COLUMNS, _task_rows(tasks)))


@tasks_app.command("show")
def tasks_show(
    ctx: typer.Context,
    task_id: str = typer.Argument(..., metavar="TASK_ID", help="Task id (task-...)."),
    output: OutputFormat = OUTPUT,
) -> None:
    """One task: status, attempts, worker, result or error."""
    refuse_unless(ctx, "tasks")
    task = call(ctx, lambda api: api.get_task(task_id))
    emit(task, output, lambda: key_values(task.items()))
