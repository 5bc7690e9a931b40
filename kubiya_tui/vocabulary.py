"""The API's words that need no pydantic: enums, name rules, priority names, the worker health rule.

``kubiya_tui.models`` re-exports every name here; this module exists so that the CLI can
declare its options (``--status``, ``--platform``, a queue name's help) without importing
pydantic and the API's models (``kubiya-tui --help`` loads only what it shows), and the
collector judges workers without them (a one-shot ``check`` builds no model). It imports
nothing but the standard library.
"""

from __future__ import annotations

import re
from enum import Enum

FAILED_STATUSES = ("Failed", "TimedOut")
"""The closed-execution statuses that count as failed in an error rate: (Failed + TimedOut) / closed."""

QUEUE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
QUEUE_NAME_RULE = "2 to 50 lowercase letters (a-z), digits and '-', starting with a letter or a digit"
"""QUEUE_NAME_PATTERN and the name's length, in words (for error messages and help)."""


def queue_name_problem(name: str) -> str | None:
    """What is wrong with a queue name, in words; None when it is allowed."""
    if not 2 <= len(name) <= 50:
        why = f"it is {len(name)} character{'s' if len(name) != 1 else ''} long"
    elif re.fullmatch(QUEUE_NAME_PATTERN, name):
        return None
    else:
        bad = list(dict.fromkeys(c for c in name if not (c.isascii() and (c.islower() or c.isdigit() or c == "-"))))
        if bad:
            shown = [repr(c) for c in bad[:5]]
            why = "it has " + (", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0])
        else:
            why = "it starts with '-'"
    return f"queue name {name!r} is not allowed: {why}; use {QUEUE_NAME_RULE}"


class EnvironmentStatus(str, Enum):
    pending = "pending"
    provisioning = "provisioning"
    ready = "ready"
    active = "active"
    inactive = "inactive"
    error = "error"
    archived = "archived"


class QueueStatus(str, Enum):
    active = "active"
    inactive = "inactive"
    maintenance = "maintenance"


class WorkerStatus(str, Enum):
    active = "active"
    idle = "idle"
    busy = "busy"
    draining = "draining"
    offline = "offline"
    disconnected = "disconnected"


class WorkerHealth(str, Enum):
    """What an operator needs to know about a worker, derived from heartbeat age and state."""

    healthy = "healthy"
    stale = "stale"
    draining = "draining"
    gone = "gone"


class Platform(str, Enum):
    local = "local"
    docker = "docker"
    kubernetes = "kubernetes"


PRIORITY_NAMES = {"high": 1, "normal": 3, "low": 5}
"""A task's priority by name (Temporal's priority keys: 1 first, 5 last)."""


# ---------------------------------------------------------------------------- derived state

STALE_AFTER_INTERVALS = 2.5
"""A worker is stale once its last heartbeat is older than this many heartbeat intervals."""
KUBIYA_LIVE_SECONDS = 150.0
"""Kubiya's control plane's rule: a worker is live while its last heartbeat is younger than this."""
MAX_OBSERVED_INTERVAL = 300.0
"""The longest heartbeat interval a worker may be seen to keep and still be judged by it (Kubiya's full-heartbeat period)."""
DRAIN_GRACE_SECONDS = 5.0
"""After a drain, a worker gets one heartbeat interval plus this long to say it drains."""


def effective_interval(queue_interval: float | None, observed: float | None) -> float:
    """The heartbeat interval a worker is judged by: the queue's, or the longer one it is seen to keep (bounded).

    Kubiya's worker beats at its own interval (60 s by default) whatever the queue says; a worker
    that keeps a longer interval than its queue's is not stale between two of its beats.
    """
    base = float(queue_interval or 60.0)
    if observed is None or observed <= base:
        return base
    return min(float(observed), max(base, MAX_OBSERVED_INTERVAL))


def drain_ignored(
    status: str | None,
    desired_state: str | None,
    drain_requested_at: float | None,
    last_heartbeat: float | None,
    interval: float,
) -> bool:
    """A drain asked of a worker that still heartbeats as running one interval (plus grace) after it was asked.

    A worker that honours drains says ``draining`` in its next heartbeat after the answer that
    asked it (kubiya-tui's at once); Kubiya's worker never reads heartbeat answers.
    """
    if desired_state != "draining" or drain_requested_at is None or last_heartbeat is None:
        return False
    if status in ("draining", "disconnected", "offline"):
        return False
    return last_heartbeat - drain_requested_at > interval + DRAIN_GRACE_SECONDS


def derive_health(
    status: str | None,
    desired_state: str | None,
    heartbeat_age: float | None,
    interval: float,
    *,
    stale_after: float | None = None,
    drain_ignored: bool = False,
) -> WorkerHealth:
    """Health from heartbeat age, not reported status: a killed worker never says it died.

    ``stale_after`` (seconds) replaces the 2.5 x interval rule (Kubiya's server: 150 s). A
    worker that ignores a drain is not ``draining``: it is judged like any running worker.
    """
    if status in ("disconnected", "offline"):
        return WorkerHealth.gone
    limit = stale_after if stale_after is not None else STALE_AFTER_INTERVALS * interval
    if heartbeat_age is None or heartbeat_age > limit:
        return WorkerHealth.stale
    if status == "draining" or (desired_state == "draining" and not drain_ignored):
        return WorkerHealth.draining
    return WorkerHealth.healthy
