"""Helpers shared by the end-to-end tests: queues, task submission, waiting with a deadline."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import httpx

from kubiya_tui.client.temporal import TemporalReader


def make_queue(api: httpx.Client, name: str, **fields: Any) -> dict:
    env = next(e for e in api.get("/api/v1/environments").json() if e["name"] == "default")
    body = {"name": name, "heartbeat_interval": 10, **fields}
    answer = api.post(f"/api/v1/environments/{env['id']}/worker-queues", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def submit(api: httpx.Client, queue_id: str, count: int = 1, **body: Any) -> list[str]:
    answer = api.post(f"/api/v1/worker-queues/{queue_id}/tasks", json={"kind": "sleep", "count": count, **body})
    assert answer.status_code == 201, answer.text
    return answer.json()["ids"]


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def outcomes(temporal_address: str, task_queue: str) -> dict[str, int]:
    """How the task queue's workflows ended in the last hour, counted by status, as Temporal tells it."""

    async def read() -> dict[str, int]:
        return (await TemporalReader(temporal_address).outcomes(task_queue, window_seconds=3600)).by_status

    return asyncio.run(read())


def queue_with_waiting_tasks(api: httpx.Client, temporal_address: str, name: str, count: int) -> dict:
    """A new queue with ``count`` tasks waiting (no worker polls it), once Temporal counts them in its backlog."""
    queue = make_queue(api, name)
    submit(api, queue["id"], count=count, input={"seconds": 0})

    async def backlog() -> int:
        reader = TemporalReader(temporal_address)
        try:
            return (await reader.queue_stats(queue["task_queue_name"], retry=False)).backlog
        finally:
            await reader.close()

    deadline = time.monotonic() + 30
    while asyncio.run(backlog()) != count:
        assert time.monotonic() < deadline, f"Temporal never counted the {count} tasks"
        time.sleep(0.5)
    return queue


def toasts(app: Any) -> list[str]:
    """The notifications a Textual app shows on screen, as the operator reads them (title and message)."""
    return [str(toast.render()) for toast in app.screen.query("Toast")]
