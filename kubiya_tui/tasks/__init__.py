"""Task kinds: what a task of each kind takes as input and how a worker runs it.

The control plane validates a submission against the kind's input model, so a bad task is
refused with 422 at submission rather than discovered by a worker. Built in: ``sleep``,
``http``, ``shell``. More kinds come from the entry-point group ``kubiya_tui.tasks``: each
entry point names a :class:`TaskKind` instance.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Awaitable, Callable

import kubiya_tui.client  # noqa: F401,I001  (first: httpx without its command-line tool)
import httpx
from pydantic import BaseModel, ConfigDict, Field

from kubiya_tui.models import Request

ENTRY_POINT_GROUP = "kubiya_tui.tasks"
MAX_OUTPUT_TAIL = 4096
# The Temporal names that the control plane starts and the worker registers.
WORKFLOW_NAME = "KubiyaTask"
ACTIVITY_NAME = "kubiya_run_task"
ATTEMPT_REPORT_SIGNAL = "attempt_report"
"""The signal by which a worker tells a task's workflow how an attempt ended, when Temporal no longer takes its completion."""


class TaskFailed(Exception):
    """The task ran and failed; the message is what an operator sees as its error."""


@dataclass(frozen=True)
class TaskContext:
    """What a running task may know about where it runs."""

    task_id: str
    attempt: int
    queue_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskKind:
    """A kind of task: a name, a pydantic input model and an async function that runs it."""

    name: str
    input_model: type[BaseModel]
    run: Callable[[Any, TaskContext], Awaitable[dict[str, Any]]]
    description: str = ""
    requires_setting: str | None = None
    """A queue setting that must be true for this kind to be accepted (``allow_shell``)."""


class _Input(Request):
    """A task kind's input: a request body part, checked like one (JSON numbers), with no unknown fields."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- sleep


class SleepInput(_Input):
    seconds: float = Field(default=1.0, ge=0, le=3600)
    fail_ratio: float = Field(default=0.0, ge=0, le=1)


async def run_sleep(data: SleepInput, ctx: TaskContext) -> dict[str, Any]:
    if data.seconds:
        await asyncio.sleep(data.seconds)
    if data.fail_ratio and random.random() < data.fail_ratio:
        raise TaskFailed(f"simulated failure (fail_ratio {data.fail_ratio})")
    return {"slept_seconds": data.seconds}


# ---------------------------------------------------------------------------- http


_LABEL = r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)"
HTTP_URL_PATTERN = (
    rf"^https?://(?:(?:{_LABEL}\.)*[A-Za-z](?:-?[A-Za-z0-9]+)*|{_OCTET}(?:\.{_OCTET}){{3}})"
    rf"(?::{_PORT})?(?:[/?#][A-Za-z0-9\-._~!$&'()*+,;=:@/?#%]*)?$"
)
"""An http(s) URL with a DNS name (its last label starting with a letter) or an IPv4 address, an
optional port, and a path, query and fragment of URL characters. The API publishes it as the
url's pattern, so a client knows beforehand which URLs are taken."""


class HttpInput(_Input):
    url: str = Field(max_length=2083, pattern=HTTP_URL_PATTERN)
    method: str = Field(default="GET", pattern=r"^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$")
    timeout: float = Field(default=30.0, gt=0, le=600)
    body: str | None = Field(default=None, max_length=1_000_000)
    headers: dict[str, str] = Field(default_factory=dict)


async def run_http(data: HttpInput, ctx: TaskContext) -> dict[str, Any]:
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=data.timeout, follow_redirects=True) as client:
            response = await client.request(data.method, str(data.url), content=data.body, headers=data.headers)
    except httpx.HTTPError as exc:
        raise TaskFailed(f"{data.method} {data.url} failed: {type(exc).__name__}: {exc}") from None
    result = {
        "status": response.status_code,
        "size": len(response.content),
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
    }
    if response.status_code >= 500:
        raise TaskFailed(f"{data.method} {data.url} answered {response.status_code}")
    return result


# ---------------------------------------------------------------------------- shell


class ShellInput(_Input):
    command: str = Field(min_length=1, max_length=100_000)
    timeout: float = Field(default=60.0, gt=0, le=3600)
    cwd: str | None = None


async def run_shell(data: ShellInput, ctx: TaskContext) -> dict[str, Any]:
    if ctx.queue_settings.get("allow_shell") is not True:
        raise TaskFailed("shell tasks are not allowed on this queue (settings.allow_shell is not true)")
    proc = await asyncio.create_subprocess_shell(
        data.command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=data.cwd,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), data.timeout)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()
        raise TaskFailed(f"command timed out after {data.timeout:g} s") from None
    result = {
        "exit_code": proc.returncode,
        "stdout_tail": stdout[-MAX_OUTPUT_TAIL:].decode(errors="replace"),
        "stderr_tail": stderr[-MAX_OUTPUT_TAIL:].decode(errors="replace"),
    }
    if proc.returncode != 0:
        tail = result["stderr_tail"].strip().splitlines()[-1:] or [""]
        raise TaskFailed(f"command exited with {proc.returncode}: {tail[0][:300]}")
    return result


BUILTIN_KINDS = (
    TaskKind("sleep", SleepInput, run_sleep, "Sleep, then succeed (or fail at fail_ratio): for demos and load."),
    TaskKind("http", HttpInput, run_http, "An HTTP request; the result is status and size."),
    TaskKind(
        "shell",
        ShellInput,
        run_shell,
        "A shell command; exit code and output tails. Only on queues with settings.allow_shell: true.",
        requires_setting="allow_shell",
    ),
)


@lru_cache(maxsize=1)
def registry() -> dict[str, TaskKind]:
    """Every known kind: built-ins first, then entry points (a broken plugin is skipped)."""
    kinds = {kind.name: kind for kind in BUILTIN_KINDS}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            kind = ep.load()
        except Exception:
            continue
        if isinstance(kind, TaskKind) and kind.name not in kinds:
            kinds[kind.name] = kind
    return kinds


def get_kind(name: str) -> TaskKind:
    kinds = registry()
    if name not in kinds:
        raise KeyError(f"unknown task kind {name!r}; known kinds: {', '.join(sorted(kinds))}")
    return kinds[name]
