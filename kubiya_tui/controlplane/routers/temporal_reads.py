"""``GET /api/v1/temporal-reads``: the organization's task queues as Temporal sees them, relayed (temporal_relay.py).

``POST`` takes the same request as a JSON body, for a caller that names more task queues than a
request line carries (a `check` of 200 queues of an organization of 1,000 reads those 200).
"""

from __future__ import annotations

from typing import Annotated, Any, List

from fastapi import APIRouter, Query, Request
from pydantic import ConfigDict, Field, StringConstraints

from kubiya_tui.controlplane.deps import V1, Auth, Caller
from kubiya_tui.client.relay import TASK_QUEUE_NAME_PATTERN
from kubiya_tui.controlplane.temporal_relay import MAX_AGE_LIMIT, TemporalRelay
from kubiya_tui.models import Request as RequestBody

router = APIRouter(tags=["temporal reads"])

MAX_NAMED_TASK_QUEUES = 20
"""Task queues a request may name; with none named the answer covers all of the organization's.
The bound keeps any request of this schema inside the request line an HTTP server takes (~64 KB)."""
MAX_POSTED_TASK_QUEUES = 2000
"""Task queues a POST may name (with names of up to 500 characters, inside the 1 MB body limit)."""
TaskQueueName = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=TASK_QUEUE_NAME_PATTERN)]
"""A task queue name as a query may carry it: 1 to 1000 printable ASCII characters, no spaces."""
# The bounds of a request's settings, the same in the GET's query and the POST's body.
WINDOW = dict(default=300.0, ge=60, le=86400, description="Seconds of closed executions to scan.")
DURATIONS = dict(default=200, ge=0, le=1000, description="Durations kept per task queue (newest first).")
MAX_AGE = dict(default=5.0, ge=0, le=MAX_AGE_LIMIT, description="Seconds a reading may be old.")


class TemporalReadsRequest(RequestBody):
    """The body of ``POST /api/v1/temporal-reads``: the query of the GET, with any number of task queues up to the bound.

    A request body as every other (a number is a JSON number, not ``false``), but a misspelt field is refused:
    it would silently read with a default instead."""

    model_config = ConfigDict(extra="forbid")
    task_queues: List[TaskQueueName] = Field(
        min_length=1,
        max_length=MAX_POSTED_TASK_QUEUES,
        description="Only these task queues (the caller's own; others are listed in not_owned).",
    )
    window: float = Field(**WINDOW)
    durations: int = Field(**DURATIONS)
    max_age: float = Field(**MAX_AGE)


def get_relay(request: Request) -> TemporalRelay:
    """The app's relay of Temporal reads."""
    return request.app.state.temporal_relay


@router.get(f"{V1}/temporal-reads")
async def temporal_reads(
    request: Request,
    task_queue: List[TaskQueueName] = Query(
        default=[],
        max_length=MAX_NAMED_TASK_QUEUES,
        description="Only these task queues (the caller's own; others are listed in not_owned); none: all of the organization's.",
    ),
    window: float = Query(**WINDOW),
    durations: int = Query(**DURATIONS),
    max_age: float = Query(**MAX_AGE),
    who: Caller = Auth,
) -> dict[str, Any]:
    """DescribeTaskQueue of each task queue, the workers Temporal sees on them, and the window's closed executions.

    Only the caller's organization's task queues (its worker queues', its environments'
    legacy ones); readings at most ``max_age`` seconds old are shared between callers.
    """
    return await get_relay(request).read(
        who.org, task_queue or None, window=window, durations_per_queue=durations, max_age=max_age
    )


@router.post(f"{V1}/temporal-reads")
async def temporal_reads_of(body: TemporalReadsRequest, request: Request, who: Caller = Auth) -> dict[str, Any]:
    """The GET's document for the task queues the body names (a read: nothing is written)."""
    return await get_relay(request).read(
        who.org, body.task_queues, window=body.window, durations_per_queue=body.durations, max_age=body.max_age
    )
