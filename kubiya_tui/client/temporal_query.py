"""Every Temporal visibility and ListWorkers query of kubiya-tui, built in one place.

All organizations of a control plane share one Temporal namespace, so the queries that
select a queue's executions or workers are the wall between them. Nothing else formats
such a query: callers pass values (a task queue name, a status, a time) and get a query
string whose every value is a quoted literal of Temporal's visibility grammar (an SQL
subset): double quotes around it, and a backslash before each backslash and double quote
inside it; newlines and tabs are written as escapes. A NUL cannot be carried at all
(Temporal hands it on raw to the visibility store's SQL, which fails): a value holding
one is refused with ``ValueError``. Attribute names and operators come only from this
module, never from a caller.

What this cannot fix, and the control plane's names therefore avoid (worker queues poll
their id, environment names hold none of these; ``controlplane/naming.py``): however it
is quoted, Temporal 1.32's SQL visibility stores (the dev server's SQLite among them)
match no value that holds a double quote, a backslash or a control character, and its
worker registry none that holds a quote of either kind. Such a query selects nothing:
it fails closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

EXECUTION_STATUSES = ("Running", "Completed", "Failed", "Canceled", "Terminated", "ContinuedAsNew", "TimedOut")
"""Values of the ``ExecutionStatus`` search attribute."""

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b"}


def literal(value: str) -> str:
    """``value`` as a string literal of Temporal's query grammar: Temporal reads back exactly ``value``."""
    if not isinstance(value, str):
        raise TypeError(f"a query value must be text, not {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("Temporal cannot search for a value that holds a NUL character")
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def time_literal(when: datetime) -> str:
    """A moment as an RFC 3339 literal in UTC (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return literal(when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))


def executions_on(task_queue: str, status: str | None = None) -> str:
    """Visibility query: the executions of one task queue, optionally with one ``ExecutionStatus``."""
    query = f"TaskQueue = {literal(task_queue)}"
    if status is not None:
        if status not in EXECUTION_STATUSES:
            raise ValueError(f"unknown execution status {status!r}; one of {', '.join(EXECUTION_STATUSES)}")
        query += f" AND ExecutionStatus = {literal(status)}"
    return query


def closed_on(task_queue: str, since: datetime) -> str:
    """Visibility query: the executions of one task queue that closed after ``since``."""
    return f"{executions_on(task_queue)} AND CloseTime > {time_literal(since)}"


def outcomes_on(task_queue: str, since: datetime) -> str:
    """Count query: executions of one task queue closed after ``since``, grouped by status."""
    return f"{closed_on(task_queue, since)} GROUP BY ExecutionStatus"


def recent_executions(since: datetime, excluding: Sequence[str] = ()) -> str:
    """Visibility query: every execution of the namespace that is open or closed after ``since``, except those
    of the task queues in ``excluding`` (a Temporal-only console discovers task queues with it, page by page)."""
    query = f"(ExecutionStatus = {literal('Running')} OR CloseTime > {time_literal(since)})"
    names = list(dict.fromkeys(excluding))
    if names:
        query += f" AND TaskQueue NOT IN ({', '.join(literal(n) for n in names)})"
    return query


def closed_on_any(task_queues: Sequence[str], since: datetime) -> str:
    """Visibility query: the executions of any of these task queues that closed after ``since``.

    One scan of several queues' closed executions (the caller buckets them by task queue),
    selecting no execution of a queue that is not named: the wall between organizations holds.
    """
    names = list(dict.fromkeys(task_queues))
    if not names:
        raise ValueError("no task queue to select")
    if len(names) == 1:
        return closed_on(names[0], since)
    return f"TaskQueue IN ({', '.join(literal(name) for name in names)}) AND CloseTime > {time_literal(since)}"


def workers_on(task_queue: str) -> str:
    """ListWorkers query: the workers that heartbeat for one task queue."""
    return f"TaskQueue = {literal(task_queue)}"
