"""The worker process: register, poll the queue on Temporal, run tasks, heartbeat, drain.

Lifecycle: ``POST /worker-queues/{id}/start`` gives the Temporal address and task queue;
the worker connects (retrying with backoff for a bounded time), polls, and heartbeats to
the control plane every ``heartbeat_interval``. A heartbeat answer of ``draining``, SIGTERM
or a first Ctrl+C drains it: polling stops at once, running tasks finish, it disconnects and
exits 0. A second Ctrl+C exits at once; what it held runs again on another worker if its
``max_attempts`` allows (see ``workflow.py``), else it fails as "worker lost".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import random
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Awaitable, TypeVar

import psutil
from pydantic import ValidationError
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from kubiya_tui import __version__
from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.errors import UserError
from kubiya_tui.models import MAX_TASK_TIMEOUT_SECONDS, HeartbeatRequest, WorkerRegistration
from kubiya_tui.temporal_env import TemporalTLS
from kubiya_tui.tasks import ACTIVITY_NAME, ATTEMPT_REPORT_SIGNAL, TaskContext, TaskFailed, get_kind, registry
from kubiya_tui.worker.workflow import KubiyaTaskWorkflow

if TYPE_CHECKING:
    from kubiya_tui.config import Settings

T = TypeVar("T")

log = logging.getLogger("kubiya_tui.worker")

DEFAULT_CONCURRENCY = 10
# Longer than the longest task a queue accepts, so a drain never cuts a task short.
DRAIN_GRACE = timedelta(seconds=MAX_TASK_TIMEOUT_SECONDS + 60)
ACTIVITY_HEARTBEAT_EVERY = 2.0
SDK_HEARTBEAT_INTERVAL = timedelta(seconds=10)
START_CONFIRM_TIMEOUT = timedelta(seconds=5)
"""How long the heartbeat that records an attempt's start may take (well inside the heartbeat timeout)."""
REPORT_FOR = timedelta(minutes=5)
"""How long a finished task's outcome is retried while Temporal does not take it (an outage)."""
REPORT_RPC_TIMEOUT = timedelta(seconds=10)
# Failures of a report that may pass: Temporal unreachable, overloaded or slow.
REPORT_RETRY = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
}


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
    temporal: TemporalOverride | None = None
    """The worker's own way to Temporal (a Temporal CLI profile, mTLS): over what registering gives."""


@dataclass(frozen=True)
class TemporalOverride:
    """What the worker's own settings say about reaching Temporal, over the control plane's answer.

    The namespace and the task queue are always the registration's; the address and the API key
    are the Temporal CLI profile's when it names them (the worker's own route to the same
    cluster: a private endpoint, a TLS-terminating proxy); TLS is this.
    """

    source: str
    """Where it came from, for the start-up line (never a key)."""
    address: str | None = None
    api_key: str | None = None
    tls: "bool | TemporalTLS" = False
    rpc_metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: "Settings") -> "TemporalOverride | None":
        """None unless the settings came from a Temporal CLI profile or carry TLS material."""
        if settings.temporal_source is None:
            return None
        named = settings.temporal_profile is not None
        return cls(
            source=settings.temporal_source,
            address=settings.temporal_address if named and not settings.temporal_address_defaulted else None,
            api_key=settings.temporal_api_key_value() if named else None,
            tls=settings.temporal_tls_config or settings.temporal_tls,
            rpc_metadata={k: v.get_secret_value() for k, v in settings.temporal_rpc_metadata.items()},
        )


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


@dataclass(frozen=True)
class Outcome:
    """How one attempt of a task ended on this worker."""

    ok: bool
    result: Any = None
    error: str | None = None
    error_type: str | None = None


class TaskActivities:
    """The activity that runs every task, with this worker's tracker and queue settings.

    Its outcome is reported by this worker itself (asynchronous completion), so that a
    report Temporal cannot take yet is retried for ``REPORT_FOR`` (an outage of minutes),
    and one it no longer takes (the attempt timed out meanwhile) reaches the workflow as a
    signal instead of being lost: the workflow then uses that result rather than run the
    task again.
    """

    def __init__(self, tracker: TaskTracker) -> None:
        self.tracker = tracker
        self.queue_settings: dict[str, Any] = {}
        self.client: Client | None = None
        """The worker's Temporal client, which reports outcomes; until it is set, the SDK reports them."""
        self._reports: set[asyncio.Task] = set()

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
        attempt = int(payload.get("attempt") or info.attempt)
        ctx = TaskContext(task_id=task_id, attempt=attempt, queue_settings=self.queue_settings)
        started = {"started_by": self.client.identity if self.client is not None else None}
        if not await self._confirm_start(info, attempt, started):
            # Temporal has not recorded that this attempt runs here: it does not run, and the
            # workflow hands it to a worker again when its heartbeat times out (no details).
            activity.raise_complete_async()
        self.tracker.started(task_id)
        beating = asyncio.create_task(_heartbeat_activity(started))
        ok = False
        try:
            outcome = await self._execute(kind, data, ctx, timeout)
            ok = outcome.ok
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            if self.client is not None and details is not None and (details.not_found or details.timed_out):
                # Temporal no longer knows this attempt (its heartbeats did not arrive): say why it stops.
                self._in_background(self._signal(info, attempt, {"outcome": "interrupted"}))
            raise
        finally:
            beating.cancel()
            self.tracker.finished(task_id, ok)
        if self.client is None:
            if outcome.ok:
                return outcome.result
            raise ApplicationError(outcome.error or "task failed", type=outcome.error_type or "TaskFailed")
        # Temporal hears the outcome from this worker's own report (REPORT_FOR of retries), not from the SDK.
        self._in_background(self._report(info, attempt, outcome))
        activity.raise_complete_async()

    async def _confirm_start(self, info: activity.Info, attempt: int, started: dict[str, Any]) -> bool:
        """Have Temporal record, before the task runs, that this attempt started here.

        A task Temporal handed out that never reached a worker (a poll answer lost on a
        starved machine) then times out with no heartbeat details, and the workflow can
        tell it from a task that ran on a worker that died: only the first runs again.
        """
        if self.client is None:
            return True
        handle = self.client.get_async_activity_handle(task_token=info.task_token)
        try:
            await handle.heartbeat(started, rpc_timeout=START_CONFIRM_TIMEOUT)
            return True
        except Exception as exc:
            log.warning("task %s attempt %d not started: Temporal did not confirm it (%s)", info.workflow_id, attempt, _short(exc))
            return False

    async def _execute(self, kind: Any, data: Any, ctx: TaskContext, timeout: float) -> Outcome:
        try:
            return Outcome(ok=True, result=await asyncio.wait_for(kind.run(data, ctx), timeout))
        except asyncio.TimeoutError:
            return Outcome(ok=False, error=f"task timed out after {timeout:g} s", error_type="TaskTimeout")
        except TaskFailed as exc:
            log.info("task %s failed (attempt %d): %s", ctx.task_id, ctx.attempt, exc)
            return Outcome(ok=False, error=str(exc), error_type="TaskFailed")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}", error_type="TaskError")

    async def _report(self, info: activity.Info, attempt: int, outcome: Outcome) -> None:
        """Complete (or fail) the attempt in Temporal, retrying through an outage of up to REPORT_FOR."""
        assert self.client is not None
        handle = self.client.get_async_activity_handle(task_token=info.task_token)
        give_up = time.monotonic() + REPORT_FOR.total_seconds()
        delay = 0.5
        said = False
        while True:
            try:
                if outcome.ok:
                    await handle.complete(outcome.result, rpc_timeout=REPORT_RPC_TIMEOUT)
                else:
                    await handle.fail(
                        ApplicationError(outcome.error or "task failed", type=outcome.error_type or "TaskFailed"),
                        rpc_timeout=REPORT_RPC_TIMEOUT,
                    )
                if said:
                    log.warning("task %s attempt %d: outcome reported to Temporal", info.workflow_id, attempt)
                return
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    # The attempt timed out in Temporal meanwhile: the workflow hears the outcome by signal.
                    report = {"outcome": "completed" if outcome.ok else "failed", "result": outcome.result,
                              "error": outcome.error, "error_type": outcome.error_type}  # fmt: skip
                    await self._signal(info, attempt, report)
                    return
                if exc.status not in REPORT_RETRY:
                    log.warning("task %s attempt %d: Temporal refused its outcome: %s", info.workflow_id, attempt, _short(exc))
                    return
                error = _short(exc)
            except Exception as exc:
                error = _short(exc)
            if time.monotonic() + delay > give_up:
                log.warning(
                    "task %s attempt %d: gave up reporting its outcome after %.0f s: %s",
                    info.workflow_id, attempt, REPORT_FOR.total_seconds(), error,
                )  # fmt: skip
                return
            if not said:
                said = True
                log.warning(
                    "task %s attempt %d finished, but Temporal does not take its outcome (%s); retrying for up to %.0f s",
                    info.workflow_id, attempt, error, REPORT_FOR.total_seconds(),
                )  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _signal(self, info: activity.Info, attempt: int, report: dict[str, Any]) -> None:
        """Tell the task's workflow how an attempt ended, retrying through an outage of up to REPORT_FOR."""
        assert self.client is not None
        handle = self.client.get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id)
        body = {**report, "attempt": attempt, "worker": self.client.identity}
        give_up = time.monotonic() + REPORT_FOR.total_seconds()
        delay = 0.5
        while True:
            try:
                await handle.signal(ATTEMPT_REPORT_SIGNAL, body, rpc_timeout=REPORT_RPC_TIMEOUT)
                log.warning("task %s attempt %d: reported %s late, by signal", info.workflow_id, attempt, report["outcome"])
                return
            except RPCError as exc:
                if exc.status not in REPORT_RETRY:
                    log.warning(
                        "task %s attempt %d ended %s, but its workflow takes no report: %s",
                        info.workflow_id, attempt, report["outcome"], _short(exc),
                    )  # fmt: skip
                    return
                error = _short(exc)
            except Exception as exc:
                error = _short(exc)
            if time.monotonic() + delay > give_up:
                log.warning("task %s attempt %d: gave up its late report: %s", info.workflow_id, attempt, error)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _in_background(self, report: Any) -> None:
        task = asyncio.get_running_loop().create_task(report)
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def wait_for_reports(self, timeout: float) -> None:
        """Let the reports in flight finish (a drain), for at most ``timeout`` seconds."""
        if self._reports:
            await asyncio.wait(set(self._reports), timeout=timeout)


async def _heartbeat_activity(started: dict[str, Any]) -> None:
    """Tell Temporal the task's worker is alive; a dead worker's task moves on within seconds.

    Every beat carries ``started`` (Temporal keeps the last beat's details): a timed-out
    attempt with details ran on a worker; one without never reached one.
    """
    while True:
        activity.heartbeat(started)
        await asyncio.sleep(ACTIVITY_HEARTBEAT_EVERY)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


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
                self.activities.client = client
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
            await self.activities.wait_for_reports(REPORT_FOR.total_seconds())
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
        from kubiya_tui.client.temporal import connect_problem

        runtime = Runtime(telemetry=TelemetryConfig(), worker_heartbeat_interval=SDK_HEARTBEAT_INTERVAL)
        deadline = time.monotonic() + self.options.temporal_connect_timeout
        delay = 0.5
        last = ""
        own = self.options.temporal
        address = (own.address if own else None) or reg.temporal_host
        api_key = (own.api_key if own else None) or reg.temporal_api_key or None
        tls: bool | Any = bool(api_key)
        mtls = False
        if own is not None and own.tls:
            tls = own.tls.to_sdk() if isinstance(own.tls, TemporalTLS) else True
            mtls = isinstance(own.tls, TemporalTLS) and own.tls.mutual
        if own is not None:
            say(f"Temporal through {own.source}: {address}{' with a client certificate' if mtls else ''}")
        while True:
            try:
                return await asyncio.wait_for(
                    Client.connect(
                        address,
                        namespace=reg.temporal_namespace,
                        api_key=api_key,
                        tls=tls,
                        rpc_metadata=own.rpc_metadata if own else {},
                        runtime=runtime,
                        identity=reg.worker_id,
                    ),
                    timeout=10,
                )
            except Exception as exc:
                last = connect_problem(exc, tls=bool(tls), mtls=mtls)
            if time.monotonic() + delay > deadline:
                raise WorkerStartError(
                    f"cannot reach Temporal at {address} (namespace {reg.temporal_namespace}) "
                    f"after {self.options.temporal_connect_timeout:g} s: {last}"
                )
            log.warning("Temporal at %s not reachable yet (%s); retrying in %.1f s", address, last, delay)
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
            say("Ctrl+C: draining; press Ctrl+C again to exit at once (unfinished tasks run again elsewhere if they have attempts left)")
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
        await self._send_heartbeat(api, reg, draining=self._drain.is_set())
        # A random phase: a fleet started together would otherwise beat all at once, every interval.
        await asyncio.sleep(random.uniform(0, interval))
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
