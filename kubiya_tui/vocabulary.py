"""The API's words that need no pydantic: enums, name rules, priority names.

``kubiya_tui.models`` re-exports every name here; this module exists so that the CLI can
declare its options (``--status``, ``--platform``, a queue name's help) without importing
pydantic and the API's models (``kubiya-tui --help`` loads only what it shows). It imports
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
