"""The worker process: register, poll the queue on Temporal, run tasks, heartbeat, drain.

Lifecycle: ``POST /worker-queues/{id}/start`` gives the Temporal address and task queue;
the worker connects (retrying with backoff for a bounded time), polls, and heartbeats to
the control plane every ``heartbeat_interval``. A heartbeat answer of ``draining``, SIGTERM
or a first Ctrl+C drains it: polling stops at once, running tasks finish, it disconnects and
exits 0. A second Ctrl+C exits at once; what it held stays in Temporal for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Awaitable, TypeVar

import psutil
from pydantic import ValidationError
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import Worker

from kubiya_tui import __version__
from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.errors import UserError
from kubiya_tui.models import MAX_TASK_TIMEOUT_SECONDS, HeartbeatRequest, WorkerRegistration
from kubiya_tui.tasks import ACTIVITY_NAME, TaskContext, TaskFailed, get_kind, registry
from kubiya_tui.worker.workflow import KubiyaTaskWorkflow

T = TypeVar("T")

log = logging.getLogger("kubiya_tui.worker")

DEFAULT_CONCURRENCY = 10
# Longer than the longest task a queue accepts, so a drain never cuts a task short.
DRAIN_GRACE = timedelta(seconds=MAX_TASK_TIMEOUT_SECONDS + 60)
ACTIVITY_HEARTBEAT_EVERY = 2.0
SDK_HEARTBEAT_INTERVAL = timedelta(seconds=10)


class WorkerStartError(UserError):
    """The worker cannot start: bad key, unknown or inactive queue, limit reached, no Temporal."""

    exit_code = 2


@dataclass
class WorkerOptions:
    control_plane_url: str
    api_key: str
    queue_id: str | None = None
    legacy_task_queue: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    temporal_connect_timeout: float = 30.0


@dataclass
class TaskTracker:
    """What this worker has done and is doing, for heartbeats."""

    concurrency: int
    processed: int = 0
    failed: int = 0
    running: dict[str, float] = field(default_factory=dict)
    durations_ms: deque = field(default_factory=lambda: deque(maxlen=200))

    def started(self, task_id: str) -> float:
        now = time.monotonic()
        self.running[task_id] = now
        return now

    def finished(self, task_id: str, ok: bool) -> None:
        began = self.running.pop(task_id, None)
        if began is not None:
            self.durations_ms.append((time.monotonic() - began) * 1000)
        if ok:
            self.processed += 1
        else:
            self.failed += 1

    def duration_summary(self) -> dict[str, float]:
        if not self.durations_ms:
            return {}
        ordered = sorted(self.durations_ms)
        return {
            "task_duration_avg_ms": round(sum(ordered) / len(ordered), 1),
            "task_duration_p50_ms": round(ordered[len(ordered) // 2], 1),
            "task_duration_p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
        }


def system_info(started: float) -> dict[str, Any]:
    mem = psutil.virtual_memory()
    return {
        "hostname": socket.gethostname(),
        "platform": sys.platform,
        "os_name": platform.system(),
        "os_version": platform.release(),
        "python_version": platform.python_version(),
        "sdk_version": __version__,
        "pid": os.getpid(),
        "cpu_count": os.cpu_count(),
        "cpu_percent": psutil.cpu_percent(interval=None),
        "memory_total": mem.total,
        "memory_used": mem.used,
        "memory_percent": mem.percent,
        "uptime_seconds": round(time.time() - started, 1),
    }


def capabilities() -> dict[str, Any]:
    return {"runtime": "kubiya-tui", "tools": sorted(registry()), "version": __version__}


class TaskActivities:
    """The activity that runs every task, with this worker's tracker and queue settings."""

    def __init__(self, tracker: TaskTracker) -> None:
        self.tracker = tracker
        self.queue_settings: dict[str, Any] = {}

    @activity.defn(name=ACTIVITY_NAME)
    async def run_task(self, payload: dict[str, Any]) -> Any:
        info = activity.info()
        task_id = str(payload.get("task_id") or info.workflow_id)
        try:
            kind = get_kind(str(payload.get("kind")))
        except KeyError as exc:
            raise ApplicationError(str(exc.args[0]), type="UnknownTaskKind", non_retryable=True) from None
        try:
            data = kind.input_model.model_validate(payload.get("input") or {})
        except ValidationError as exc:
            raise ApplicationError(f"invalid input: {exc.errors()[0]['msg']}", type="InvalidTaskInput", non_retryable=True) from None
        timeout = float(payload.get("timeout_seconds") or 300)
        ctx = TaskContext(task_id=task_id, attempt=info.attempt, queue_settings=self.queue_settings)
        self.tracker.started(task_id)
        beating = asyncio.create_task(_heartbeat_activity())
        ok = False
        try:
            result = await asyncio.wait_for(kind.run(data, ctx), timeout)
            ok = True
            return result
        except asyncio.TimeoutError:
            raise ApplicationError(f"task timed out after {timeout:g} s", type="TaskTimeout") from None
        except TaskFailed as exc:
            log.info("task %s failed (attempt %d): %s", task_id, info.attempt, exc)
            raise ApplicationError(str(exc), type="TaskFailed") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise ApplicationError(f"{type(exc).__name__}: {exc}", type="TaskError") from None
        finally:
            beating.cancel()
            self.tracker.finished(task_id, ok)


async def _heartbeat_activity() -> None:
    """Tell Temporal the task's worker is alive; a dead worker's task moves on within seconds."""
    while True:
        activity.heartbeat()
        await asyncio.sleep(ACTIVITY_HEARTBEAT_EVERY)


class WorkerRuntime:
    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.tracker = TaskTracker(concurrency=options.concurrency)
        self.activities = TaskActivities(self.tracker)
        self.registration: WorkerRegistration | None = None
        self.drain_reason: str | None = None
        self._drain = asyncio.Event()
        self._interrupts = 0
        self._started = time.time()
        self._config_version: str | None = None

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        # Signals first: a SIGTERM while registering or connecting drains (exits 0), never kills.
        self._install_signals()
        async with ApiClient(self.options.control_plane_url, self.options.api_key) as api:
            self.registration = reg = await self._until_drained(self._register(api))
            if reg is None:
                say(f"stopped before registering ({self.drain_reason})")
                return 0
            say(
                f"worker {reg.worker_id} registered on queue {reg.queue_name!r} "
                f"(task queue {reg.task_queue_name}, Temporal {reg.temporal_host}/{reg.temporal_namespace})"
            )
            try:
                await self._load_settings(api)
                client = await self._until_drained(self._connect_temporal(reg))
            except BaseException as exc:
                await self._disconnect(api, "error", 2, str(exc))
                raise
            if client is None:
                await self._disconnect(api, self.drain_reason or "shutdown", 0, None)
                say(f"worker {reg.worker_id} stopped before polling ({self.drain_reason}) and disconnected")
                return 0
            worker = Worker(
                client,
                task_queue=reg.task_queue_name,
                workflows=[KubiyaTaskWorkflow],
                activities=[self.activities.run_task],
                max_concurrent_activities=self.options.concurrency,
                identity=reg.worker_id,
                graceful_shutdown_timeout=DRAIN_GRACE,
                disable_eager_activity_execution=True,
            )
            polling = asyncio.create_task(worker.run())
            beating = asyncio.create_task(self._heartbeat_loop(api, reg))
            drained = asyncio.create_task(self._drain.wait())
            done, _ = await asyncio.wait({polling, drained}, return_when=asyncio.FIRST_COMPLETED)
            if polling in done and polling.exception() is not None:
                beating.cancel()
                error = f"worker stopped: {polling.exception()}"
                await self._disconnect(api, "error", 1, error)
                raise WorkerStartError(error, exit_code=1)
            say(f"draining ({self.drain_reason}): polling stopped, {len(self.tracker.running)} task(s) finishing")
            await self._send_heartbeat(api, reg, draining=True)
            await worker.shutdown()
            drained.cancel()
            beating.cancel()
            await self._send_heartbeat(api, reg, draining=True)
            await self._disconnect(api, self.drain_reason or "shutdown", 0, None)
            say(f"worker {reg.worker_id} drained and disconnected ({self.tracker.processed} processed, {self.tracker.failed} failed)")
            return 0

    async def _register(self, api: ApiClient) -> WorkerRegistration:
        body = {
            "worker_sdk_version": __version__,
            "system_info": system_info(self._started),
            "control_plane_url": self.options.control_plane_url,
            "capabilities": capabilities(),
            "worker_metadata": {"concurrency": self.options.concurrency},
        }
        try:
            if self.options.legacy_task_queue:
                return await api.legacy_register(
                    {"queue_name": self.options.legacy_task_queue, "capabilities": capabilities(), "hostname": socket.gethostname()}
                )
            return await api.start_worker(self.options.queue_id or "", body)
        except ApiError as exc:
            raise WorkerStartError(_registration_problem(exc, self.options)) from None

    async def _load_settings(self, api: ApiClient) -> None:
        reg = self.registration
        if reg is None or reg.queue_id is None:
            return
        try:
            config = await api.queue_config(reg.queue_id)
        except ApiError as exc:
            log.warning("could not read queue settings: %s", exc)
            return
        self.activities.queue_settings = dict(config.get("settings") or {})
        self._config_version = config.get("config_version")

    async def _connect_temporal(self, reg: WorkerRegistration) -> Client:
        runtime = Runtime(telemetry=TelemetryConfig(), worker_heartbeat_interval=SDK_HEARTBEAT_INTERVAL)
        deadline = time.monotonic() + self.options.temporal_connect_timeout
        delay = 0.5
        last = ""
        while True:
            try:
                return await asyncio.wait_for(
                    Client.connect(
                        reg.temporal_host,
                        namespace=reg.temporal_namespace,
                        api_key=reg.temporal_api_key or None,
                        tls=bool(reg.temporal_api_key),
                        runtime=runtime,
                        identity=reg.worker_id,
                    ),
                    timeout=10,
                )
            except Exception as exc:
                last = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            if time.monotonic() + delay > deadline:
                raise WorkerStartError(
                    f"cannot reach Temporal at {reg.temporal_host} (namespace {reg.temporal_namespace}) "
                    f"after {self.options.temporal_connect_timeout:g} s: {last}"
                )
            log.warning("Temporal at %s not reachable yet (%s); retrying in %.1f s", reg.temporal_host, last, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _until_drained(self, step: Awaitable[T]) -> T | None:
        """Run a start-up step, or None when a drain (SIGTERM, Ctrl+C) is asked for first."""
        work = asyncio.ensure_future(step)
        drained = asyncio.create_task(self._drain.wait())
        try:
            await asyncio.wait({work, drained}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            drained.cancel()
        if work.done():
            return work.result()
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        return None

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_drain, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self._on_interrupt)

    def _on_interrupt(self) -> None:
        self._interrupts += 1
        if self._interrupts == 1:
            say("Ctrl+C: draining; press Ctrl+C again to exit at once (unfinished tasks stay in Temporal)")
            self.request_drain("interrupted")
        else:
            say("second Ctrl+C: exiting now")
            os._exit(130)

    def request_drain(self, reason: str) -> None:
        if not self._drain.is_set():
            self.drain_reason = reason
            self._drain.set()

    # ------------------------------------------------------------------ heartbeats

    async def _heartbeat_loop(self, api: ApiClient, reg: WorkerRegistration) -> None:
        interval = max(1, reg.heartbeat_interval)
        while True:
            await self._send_heartbeat(api, reg, draining=self._drain.is_set())
            await asyncio.sleep(interval)

    def heartbeat_body(self, draining: bool) -> HeartbeatRequest:
        running = list(self.tracker.running)
        used = len(running)
        status = "draining" if draining else ("busy" if used else "idle")
        return HeartbeatRequest(
            status=status,
            tasks_processed=self.tracker.processed,
            tasks_failed=self.tracker.failed,
            current_task_id=running[0] if running else None,
            current_task_ids=running,
            slots_used=used,
            slots_available=max(0, self.options.concurrency - used),
            system_info=system_info(self._started),
            capabilities=capabilities(),
            worker_metadata={
                "concurrency": self.options.concurrency,
                "pid": os.getpid(),
                **self.tracker.duration_summary(),
            },
        )

    async def _send_heartbeat(self, api: ApiClient, reg: WorkerRegistration, draining: bool) -> None:
        try:
            answer = await api.heartbeat(reg.worker_id, self.heartbeat_body(draining))
        except ApiError as exc:
            log.warning("heartbeat failed: %s", exc)
            return
        if answer.desired_state == "draining":
            self.request_drain("drained by the control plane")
        if answer.config_version and answer.config_version != self._config_version:
            await self._load_settings(api)

    async def _disconnect(self, api: ApiClient, reason: str, exit_code: int | None, error: str | None) -> None:
        if self.registration is None:
            return
        try:
            await api.disconnect(self.registration.worker_id, reason=reason, exit_code=exit_code, error_message=error)
        except ApiError as exc:
            log.warning("disconnect failed: %s", exc)


def _registration_problem(exc: ApiError, options: WorkerOptions) -> str:
    target = f"task queue {options.legacy_task_queue!r}" if options.legacy_task_queue else f"queue {options.queue_id!r}"
    if exc.status == 0:
        return str(exc)
    if exc.status == 401:
        return f"the control plane at {options.control_plane_url} rejected the API key (check KUBIYA_API_KEY)"
    if exc.status == 404:
        return f"{target} not found at {options.control_plane_url} (or it belongs to another organization)"
    return f"cannot register on {target}: {exc.detail}"


def say(message: str) -> None:
    """A line for the operator watching the worker (stderr, timestamped)."""
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def run_worker(options: WorkerOptions) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kubiya_tui").setLevel(logging.INFO)
    # The SDK logs every failed task with a traceback; the worker logs one line of its own instead.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    return asyncio.run(WorkerRuntime(options).run())
