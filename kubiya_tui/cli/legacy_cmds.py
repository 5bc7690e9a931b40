"""Legacy task queues: listing them and migrating one to a worker queue without losing work."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Optional

import typer

from kubiya_tui.cli.app import app, command_group
from kubiya_tui.cli.common import OUTPUT, OutputFormat, call, confirm, emit, refuse_unless, require_writable, table
from kubiya_tui.columns import Column
from kubiya_tui.errors import UserError

if TYPE_CHECKING:  # imported where used: `--help` loads neither httpx nor pydantic
    from kubiya_tui.client.api import ApiClient

task_queues_app = command_group("Legacy task queues (being phased out: migrate them).")
app.add_typer(task_queues_app, name="task-queues")


def _migration_state(q: Any) -> str:
    return q.migration.state if q.migration else "legacy"


TASK_QUEUE_COLUMNS = (
    Column("name", "TASK QUEUE", 30, priority=1),
    Column("task_queue", "TEMPORAL TASK QUEUE", 40, priority=3),
    Column("depth", "DEPTH", 7, priority=1, numeric=True),
    Column("workers", "WORKERS", 7, priority=2, numeric=True),
    Column("state", "STATE", 9, priority=1),
)


@task_queues_app.command("list")
def task_queues_list(ctx: typer.Context, output: OutputFormat = OUTPUT) -> None:
    """Every legacy task queue, its workers and its migration state."""
    refuse_unless(ctx, "legacy")
    import asyncio

    async def work(api: ApiClient) -> list[tuple[Any, Any]]:
        queues = await api.list_task_queues()
        metrics = await asyncio.gather(*(api.task_queue_metrics(q.id) for q in queues))
        return list(zip(queues, metrics))

    rows = call(ctx, work)
    data = [{**q.model_dump(mode="json"), "metrics": m.model_dump(mode="json")} for q, m in rows]
    emit(
        data,
        output,
        lambda: table(
            TASK_QUEUE_COLUMNS,
            [
                {
                    "name": q.name,
                    "task_queue": q.task_queue_name,
                    "depth": m.task_queue_backlog if m.temporal_available else None,
                    "workers": q.active_workers,
                    "state": _migration_state(q),
                }
                for q, m in rows
            ],
        ),
    )


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


async def _wait(what: str, check: Any, timeout: float, every: float = 2.0) -> Any:
    import asyncio
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise UserError(f"gave up after {timeout:.0f} s waiting for {what}; run `kubiya-tui migrate` again to resume")
        await asyncio.sleep(every)


@app.command("migrate")
def migrate(
    ctx: typer.Context,
    task_queue: str = typer.Argument(..., metavar="TASK_QUEUE", help="Legacy task queue: id, name or Temporal task queue name."),
    env: str = typer.Option(..., "--env", help="Environment (id or name) for the new worker queue."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the new worker queue (default: the legacy name)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the migration to its end (default) or stop after creating the queue."),
    timeout: float = typer.Option(1800, "--timeout", min=1, help="How long to follow the migration, in seconds."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Migrate a legacy task queue to a worker queue.

    Creates the worker queue (name, description, tags and settings carried over) and shows its
    worker command; then waits for the new queue's first healthy worker, waits for every task
    still queued on the legacy path to finish, drains the legacy workers, and ends when the
    legacy queue is migrated (no backlog, no workers). Nothing queued on the legacy path is lost.
    """
    refuse_unless(ctx, "legacy")
    require_writable(ctx, "migrate a task queue")

    from kubiya_tui.client.api import ApiError

    async def work(api: ApiClient) -> dict[str, Any]:
        legacy = await api.resolve_task_queue(task_queue)
        if legacy.migration is None:
            target = await api.resolve_environment(env)
            confirm(
                f"Migrate legacy task queue {legacy.name!r} ({legacy.task_queue_name}) to a new worker queue "
                f"{name or legacy.name!r} in environment {target.name!r}?",
                yes=yes,
                refuse="refusing to migrate without confirmation: pass --yes",
            )
            result = await api.migrate_task_queue(legacy.id, target.id, name)
            queue, command = result.worker_queue, result.worker_command.command
            _say(f"created worker queue {queue.name!r} ({queue.id}); start its workers with:\n    {command}")
        else:
            queue = await api.get_queue(legacy.migration.worker_queue_id)
            command = (await api.worker_command(queue.id)).command
            _say(f"resuming: {legacy.name!r} is {legacy.migration.state} to worker queue {queue.name!r}")
        if not wait:
            return {"task_queue": legacy.model_dump(mode="json"), "worker_queue": queue.model_dump(mode="json"), "worker_command": command}

        async def new_queue_healthy() -> bool:
            return any(w.health == "healthy" for w in await api.queue_workers(queue.id))

        if not await new_queue_healthy():
            _say(f"waiting for a healthy worker on {queue.name!r} (run the command above)")
            await _wait(f"a healthy worker on {queue.name!r}", new_queue_healthy, timeout)
        _say(f"{queue.name!r} has a healthy worker; send new tasks there")

        async def legacy_backlog_empty() -> bool:
            metrics = await api.task_queue_metrics(legacy.id)
            if metrics.temporal_available and metrics.task_queue_backlog:
                _say(f"waiting for {metrics.task_queue_backlog} task(s) still queued on {legacy.task_queue_name}")
            return bool(metrics.temporal_available) and metrics.task_queue_backlog == 0

        await _wait("the legacy backlog to drain", legacy_backlog_empty, timeout)
        try:
            drained = await api.drain_task_queue_workers(legacy.id)
        except ApiError as exc:
            if exc.status != 409:
                raise
            _say(f"not draining yet: {exc.detail}")
            await _wait("the legacy backlog to drain", legacy_backlog_empty, timeout)
            drained = await api.drain_task_queue_workers(legacy.id)
        if drained:
            _say(f"draining {len(drained)} legacy worker(s): {', '.join(w.worker_id for w in drained)}")

        async def migrated() -> Any:
            current = await api.get_task_queue(legacy.id)
            return current if current.migration and current.migration.state == "migrated" else None

        final = await _wait("the legacy workers to finish and disconnect", migrated, timeout)
        _say(f"legacy task queue {legacy.name!r} is migrated to worker queue {queue.name!r}")
        return {"task_queue": final.model_dump(mode="json"), "worker_queue": queue.model_dump(mode="json"), "worker_command": command}

    result = call(ctx, work)
    emit(result, output, lambda: f"{result['task_queue']['name']}: {(result['task_queue'].get('migration') or {}).get('state', 'migrating')} -> worker queue {result['worker_queue']['name']}")
