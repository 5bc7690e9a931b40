"""Helpers of the interop tests: what Temporal itself says about a task queue, and a backlog made in it."""

from __future__ import annotations

import asyncio

from kubiya_tui.client.temporal import TemporalReader


def temporal_pollers(address: str, task_queue: str) -> set[str]:
    """Identities polling the task queue, as Temporal reports them."""

    async def read() -> set[str]:
        reader = TemporalReader(address)
        try:
            return set((await reader.queue_stats(task_queue)).poller_last_access)
        finally:
            await reader.close()

    return asyncio.run(read())


def temporal_backlog(address: str, task_queue: str) -> int:
    """Temporal's own approximate backlog of the task queue."""

    async def read() -> int:
        reader = TemporalReader(address)
        try:
            return (await reader.queue_stats(task_queue)).backlog
        finally:
            await reader.close()

    return asyncio.run(read())


def start_workflows(address: str, task_queue: str, count: int, prefix: str) -> None:
    """Start ``count`` workflows of a type nobody polls for on the task queue: a backlog Temporal counts."""
    from temporalio.client import Client

    async def go() -> None:
        client = await Client.connect(address, namespace="default")
        for i in range(count):
            await client.start_workflow("interop-backlog", id=f"{prefix}-{i}", task_queue=task_queue)

    asyncio.run(go())

