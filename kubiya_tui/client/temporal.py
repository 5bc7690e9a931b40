"""Reads from Temporal that a queue console needs (see docs/temporal-notes.md).

Queue depth, backlog age and rates from DescribeTaskQueue (one call per task type), outcomes
from CountWorkflowExecutions grouped by status, and live workers from ListWorkers. Used by
the local control plane's metrics endpoint and by the console's collector.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Sequence

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeTaskQueueRequest,
    ListTaskQueuePartitionsRequest,
    ListWorkersRequest,
    ListWorkflowExecutionsRequest,
)
from temporalio.service import ConnectConfig, RPCError, RPCStatusCode, ServiceClient, TLSConfig

from kubiya_tui.client import temporal_query
from kubiya_tui.client.temporal_types import (  # re-exported: the reads' answers, plain data
    STATUS_NAMES,
    SYSTEM_TASK_QUEUE_PREFIX,
    WORKER_STATUS_NAMES,
    ClosedExecutions,
    ClosedScan,
    Discovery,
    Outcomes,
    QueueStats,
    TemporalRateLimited,
    TemporalUnavailable,
)
from kubiya_tui.temporal_env import TemporalTLS

if TYPE_CHECKING:
    from temporalio.client import Client

TASK_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


_UNREACHABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
}
"""Call failures that say Temporal is not reachable, rather than that it refused one call."""
PROBE_MAX_AGE = 2.0
"""Seconds a health probe's answer is reused: callers see Temporal go away within about this long."""
PROBE_TIMEOUT = 1.0


class TemporalReader:
    """A lazily connected Temporal client that reconnects on its own after a failure."""

    def __init__(
        self,
        address: str,
        namespace: str = "default",
        api_key: str | None = None,
        tls: "bool | TemporalTLS" = False,
        connect_timeout: float = 3.0,
        retry_after: float = 2.0,
        probe_max_age: float = PROBE_MAX_AGE,
        probe_timeout: float = PROBE_TIMEOUT,
        rpc_metadata: Mapping[str, str] | None = None,
    ) -> None:
        """``tls``: True for TLS with the system's roots, a :class:`TemporalTLS` for a CA, a server
        name or a client certificate (mTLS); an API key always means TLS."""
        self.address = address
        self.namespace = namespace
        self._api_key = api_key
        self._tls: bool | TLSConfig = tls.to_sdk() if isinstance(tls, TemporalTLS) else (bool(tls) or bool(api_key))
        self.mtls = isinstance(tls, TemporalTLS) and tls.mutual
        """Whether a client certificate is presented."""
        self._rpc_metadata = dict(rpc_metadata or {})
        self._connect_timeout = connect_timeout
        self._retry_after = retry_after
        self._service: ServiceClient | None = None
        self._client: Client | None = None
        self._last_failure = 0.0
        self._last_error: str | None = None
        self._connecting = asyncio.Lock()
        self._probe_max_age = probe_max_age
        self._probe_timeout = probe_timeout
        self._probed_at: float | None = None
        self._probe_ok = False
        self._probing: asyncio.Future[bool] | None = None

    @property
    def last_error(self) -> str | None:
        return self._last_error

    async def service(self) -> ServiceClient:
        """The connected service client, which every read here uses; raises TemporalUnavailable."""
        if self._service is not None:
            return self._service
        async with self._connecting:
            if self._service is not None:
                return self._service
            if time.monotonic() - self._last_failure < self._retry_after and self._last_error:
                raise TemporalUnavailable(self._last_error)
            try:
                self._service = await asyncio.wait_for(
                    ServiceClient.connect(
                        ConnectConfig(
                            target_host=self.address, api_key=self._api_key, tls=self._tls, rpc_metadata=self._rpc_metadata
                        )
                    ),
                    self._connect_timeout,
                )
            except Exception as exc:  # any connect failure means "unavailable" to callers
                self._last_failure = time.monotonic()
                self._last_error = f"Temporal unreachable at {self.address}: {connect_problem(exc, tls=bool(self._tls), mtls=self.mtls)}"
                raise TemporalUnavailable(self._last_error) from None
            self._last_error = None
            return self._service

    async def client(self) -> Client:
        """A temporalio Client over the same connection (starting workflows: the control plane).

        The reads use :meth:`service` alone: temporalio.client, ~40 % of the SDK's import time,
        is imported only here, so a one-shot `check` never loads it.
        """
        if self._client is None:
            service = await self.service()
            from temporalio.client import Client

            if self._client is None:
                self._client = Client(service, namespace=self.namespace)
        return self._client

    async def available(self) -> bool:
        """Whether Temporal answers: a health check of at most ``probe_timeout`` seconds, its answer reused
        for ``probe_max_age`` seconds and shared by concurrent callers. A failed call in between counts as down."""
        if self._probed_at is not None and time.monotonic() - self._probed_at < self._probe_max_age:
            return self._probe_ok
        if self._probing is None or self._probing.done():
            self._probing = asyncio.ensure_future(self._probe())
        return await asyncio.shield(self._probing)

    async def _probe(self) -> bool:
        try:
            service = await self.service()
            ok = await service.check_health(
                retry=False, timeout=timedelta(seconds=self._probe_timeout)
            )
            if not ok:
                self._last_error = f"Temporal at {self.address} is up but its workflow service is not serving"
        except TemporalUnavailable:
            ok = False
        except Exception as exc:
            self._failed(exc)
            ok = False
        else:
            if ok:
                self._last_error = None
        self._probe_ok = ok
        self._probed_at = time.monotonic()
        return ok

    def _failed(self, exc: BaseException) -> TemporalUnavailable:
        self._last_failure = time.monotonic()
        if isinstance(exc, asyncio.TimeoutError):
            reason = "no answer in time"
        else:
            reason = _short(exc)
        self._last_error = f"Temporal call to {self.address} failed: {reason}"
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.RESOURCE_EXHAUSTED:
            return TemporalRateLimited(self._last_error)
        if not isinstance(exc, RPCError) or exc.status in _UNREACHABLE:
            # Callers of available() skip Temporal until the next probe.
            self._probe_ok = False
            self._probed_at = self._last_failure
        return TemporalUnavailable(self._last_error)

    async def close(self) -> None:
        """Drop the connection (the SDK has no close call): its native parts go while Python still runs.

        Short-lived commands call this before exiting, so the native client is not torn down
        during interpreter shutdown (see docs/temporal-notes.md, "Known sharp edges").
        """
        import gc

        self._client = None
        self._service = None
        gc.collect()
        await asyncio.sleep(0)

    async def queue_stats(self, task_queue: str, timeout: float = 3.0, *, retry: bool = True) -> QueueStats:
        """Depth, age and rates of a task queue. Describing an unknown name creates it."""
        service = await self.service()
        try:
            answers = await asyncio.gather(
                *(
                    service.workflow_service.describe_task_queue(
                        DescribeTaskQueueRequest(
                            namespace=self.namespace,
                            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                            task_queue_type=task_type,
                            report_stats=True,
                        ),
                        retry=retry,
                        timeout=timedelta(seconds=timeout),
                    )
                    for task_type in TASK_TYPES
                )
            )
        except Exception as exc:
            raise self._failed(exc) from None
        backlog = 0
        age = 0.0
        add = dispatch = 0.0
        last_access: dict[str, float] = {}
        by_priority: dict[int, int] = {}
        builds: dict[str, str] = {}
        per_type = []
        for answer in answers:
            stats = answer.stats
            backlog += stats.approximate_backlog_count
            per_type.append(stats.approximate_backlog_count)
            age = max(age, stats.approximate_backlog_age.ToTimedelta().total_seconds())
            add += stats.tasks_add_rate
            dispatch += stats.tasks_dispatch_rate
            for key, pstats in answer.stats_by_priority_key.items():
                by_priority[key] = by_priority.get(key, 0) + pstats.approximate_backlog_count
            for poller in answer.pollers:
                seen = poller.last_access_time.seconds + poller.last_access_time.nanos / 1e9
                last_access[poller.identity] = max(last_access.get(poller.identity, 0.0), seen)
                build = _versioned_build(poller)
                if build:
                    builds[poller.identity] = build
        return QueueStats(
            backlog=backlog,
            backlog_age_seconds=age,
            add_rate_per_second=add,
            dispatch_rate_per_second=dispatch,
            pollers=len(last_access),
            poller_identities=tuple(sorted(last_access)),
            backlog_by_priority=by_priority,
            poller_last_access=last_access,
            workflow_backlog=per_type[0],
            activity_backlog=per_type[1],
            versioned_builds=builds,
        )

    async def partitions(self, task_queue: str, timeout: float = 3.0, *, retry: bool = False) -> int:
        """How many partitions the queue has (the larger of its workflow and activity counts).

        ``ListTaskQueuePartitions`` answers from the server's configuration and loads nothing.
        """
        service = await self.service()
        try:
            answer = await service.workflow_service.list_task_queue_partitions(
                ListTaskQueuePartitionsRequest(
                    namespace=self.namespace,
                    task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                ),
                retry=retry,
                timeout=timedelta(seconds=timeout),
            )
        except Exception as exc:
            raise self._failed(exc) from None
        return max(len(answer.workflow_task_queue_partitions), len(answer.activity_task_queue_partitions))

    async def closed_executions(
        self,
        task_queue: str,
        window_seconds: float = 300.0,
        limit: int = 200,
        timeout: float = 3.0,
        *,
        retry: bool = False,
    ) -> ClosedExecutions:
        """One visibility page of the executions closed in the window, newest first."""
        service = await self.service()
        query = _built(temporal_query.closed_on, task_queue, _since(window_seconds))
        try:
            answer = await service.workflow_service.list_workflow_executions(
                ListWorkflowExecutionsRequest(namespace=self.namespace, page_size=limit, query=query),
                retry=retry,
                timeout=timedelta(seconds=timeout),
            )
        except Exception as exc:
            raise self._failed(exc) from None
        by_status: dict[str, int] = {}
        durations: list[float] = []
        for info in answer.executions:
            status = STATUS_NAMES.get(info.status, "Unknown")
            by_status[status] = by_status.get(status, 0) + 1
            if info.HasField("close_time") and info.HasField("start_time"):
                began = info.start_time.seconds + info.start_time.nanos / 1e9
                ended = info.close_time.seconds + info.close_time.nanos / 1e9
                durations.append(max(0.0, ended - began))
        return ClosedExecutions(
            window_seconds=window_seconds,
            by_status=by_status,
            durations_seconds=tuple(durations),
            complete=not answer.next_page_token and len(answer.executions) < limit,
        )

    async def closed_scan(
        self,
        task_queues: Sequence[str],
        window_seconds: float = 300.0,
        *,
        durations_per_queue: int = 200,
        max_executions: int = 5000,
        page_size: int = 1000,
        timeout: float = 3.0,
        retry: bool = False,
        before_page: Callable[[], Awaitable[None]] | None = None,
    ) -> ClosedScan:
        """The executions of these task queues closed in the window, in one paged visibility scan, bucketed by task queue.

        Per queue: statuses of all of them, and the durations of the newest ``durations_per_queue``.
        The scan pages newest first and stops after ``max_executions`` (``complete`` False);
        ``before_page`` is awaited before each page (a caller's rate limit).
        """
        service = await self.service()
        query = _built(temporal_query.closed_on_any, list(task_queues), _since(window_seconds))
        by_queue: dict[str, tuple[dict[str, int], list[float]]] = {tq: ({}, []) for tq in task_queues}
        token = b""
        seen = calls = 0
        while True:
            if before_page is not None:
                await before_page()
            try:
                answer = await service.workflow_service.list_workflow_executions(
                    ListWorkflowExecutionsRequest(
                        namespace=self.namespace, page_size=page_size, query=query, next_page_token=token
                    ),
                    retry=retry,
                    timeout=timedelta(seconds=timeout),
                )
            except Exception as exc:
                raise self._failed(exc) from None
            calls += 1
            for info in answer.executions:
                bucket = by_queue.get(info.task_queue)
                if bucket is None:  # the query names these queues only; anything else is not ours to count
                    continue
                by_status, durations = bucket
                status = STATUS_NAMES.get(info.status, "Unknown")
                by_status[status] = by_status.get(status, 0) + 1
                if len(durations) < durations_per_queue and info.HasField("close_time") and info.HasField("start_time"):
                    began = info.start_time.seconds + info.start_time.nanos / 1e9
                    ended = info.close_time.seconds + info.close_time.nanos / 1e9
                    durations.append(max(0.0, ended - began))
            seen += len(answer.executions)
            token = answer.next_page_token
            if not token or seen >= max_executions:
                break
        complete = not token
        return ClosedScan(
            window_seconds=window_seconds,
            queues={
                tq: ClosedExecutions(window_seconds, by_status, tuple(durations), complete)
                for tq, (by_status, durations) in by_queue.items()
            },
            complete=complete,
            calls=calls,
        )

    async def outcomes(
        self, task_queue: str, window_seconds: float = 300.0, timeout: float = 3.0, *, retry: bool = True
    ) -> Outcomes:
        """Closed workflow executions per status within the window."""
        service = await self.service()
        query = _built(temporal_query.outcomes_on, task_queue, _since(window_seconds))
        try:
            answer = await service.workflow_service.count_workflow_executions(
                CountWorkflowExecutionsRequest(namespace=self.namespace, query=query),
                retry=retry,
                timeout=timedelta(seconds=timeout),
            )
        except Exception as exc:
            raise self._failed(exc) from None
        by_status: dict[str, int] = {}
        for group in answer.groups:
            status = group.group_values[0].data.decode().strip('"') if group.group_values else "Unknown"
            by_status[status] = by_status.get(status, 0) + group.count
        return Outcomes(window_seconds=window_seconds, by_status=by_status)

    async def discover_task_queues(
        self,
        window_seconds: float = 3600.0,
        *,
        known: Sequence[str] = (),
        max_queues: int = 500,
        rounds: int = 10,
        page_size: int = 500,
        timeout: float = 5.0,
    ) -> Discovery:
        """The task queues of the namespace that have open executions, closed ones within the window, or workers.

        Visibility has no "distinct task queues" (GROUP BY takes only ExecutionStatus), so this reads
        pages of executions, each excluding the queues already found (``TaskQueue NOT IN``): a busy
        queue cannot hide a quiet one, and every round finds at least one new queue or ends the search.
        ``known`` (an earlier search's queues) are excluded from the start and kept in the answer.
        Temporal's own queues (``temporal-sys-*``) are excluded from the search and left out of the answer.
        """
        service = await self.service()
        since = _since(window_seconds)
        found: dict[str, None] = dict.fromkeys(list(known)[:max_queues])
        complete = True
        try:
            for _ in range(rounds):
                query = _built(temporal_query.recent_executions, since, list(found))
                answer = await service.workflow_service.list_workflow_executions(
                    ListWorkflowExecutionsRequest(namespace=self.namespace, page_size=page_size, query=query),
                    retry=False,
                    timeout=timedelta(seconds=timeout),
                )
                new = [e.task_queue for e in answer.executions if e.task_queue and e.task_queue not in found]
                found.update(dict.fromkeys(new))
                if len(found) >= max_queues:
                    complete = False
                    break
                if not new or not answer.next_page_token:
                    break
            else:
                complete = False
        except Exception as exc:
            raise self._failed(exc) from None
        from_workers: list[str] = []
        listed = True
        try:
            for worker in await self.list_workers(None, timeout):
                if worker["task_queue"] and worker["status_name"] != "Shutdown":
                    from_workers.append(worker["task_queue"])
        except TemporalUnavailable:
            listed = False  # ListWorkers is newer than visibility; its absence is no outage
        queues = [q for q in found if not q.startswith(SYSTEM_TASK_QUEUE_PREFIX)][:max_queues]
        from_workers = [q for q in from_workers if not q.startswith(SYSTEM_TASK_QUEUE_PREFIX)]
        return Discovery(
            from_executions=tuple(queues),
            from_workers=tuple(sorted(set(from_workers))),
            complete=complete,
            workers_listed=listed,
        )

    async def workers(self, task_queue: str, timeout: float = 3.0, *, retry: bool = True) -> list[dict]:
        """Workers that heartbeat to Temporal for this task queue (SDK worker heartbeats)."""
        return await self.list_workers(_built(temporal_query.workers_on, task_queue), timeout, retry=retry)

    async def list_workers(
        self, query: str | None = None, timeout: float = 3.0, *, retry: bool = False, page_size: int = 200
    ) -> list[dict]:
        """Workers that heartbeat to Temporal, all of the namespace when ``query`` is None.

        ``query`` comes from ``temporal_query`` (``workers_on``), never from formatting.

        Each is a dict: identity, instance_key, task_queue, host_name, process_id, status
        (the enum's number) and status_name (``Running``, ``ShuttingDown``, ``Shutdown``),
        heartbeat_age_seconds, and activity and workflow slots and task counts.
        """
        service = await self.service()
        out: list[dict] = []
        token = b""
        try:
            while True:
                answer = await service.workflow_service.list_workers(
                    ListWorkersRequest(
                        namespace=self.namespace,
                        page_size=page_size,
                        next_page_token=token,
                        query=query or "",
                    ),
                    retry=retry,
                    timeout=timedelta(seconds=timeout),
                )
                for info in answer.workers_info:
                    hb = info.worker_heartbeat
                    out.append(
                        {
                            "identity": hb.worker_identity,
                            "instance_key": hb.worker_instance_key,
                            "task_queue": hb.task_queue,
                            "host_name": hb.host_info.host_name,
                            "process_id": hb.host_info.process_id,
                            "status": hb.status,
                            "heartbeat_age_seconds": hb.elapsed_since_last_heartbeat.ToTimedelta().total_seconds(),
                            "activity_slots_used": hb.activity_task_slots_info.current_used_slots,
                            "activity_slots_available": hb.activity_task_slots_info.current_available_slots,
                            "activity_processed": hb.activity_task_slots_info.total_processed_tasks,
                            "activity_failed": hb.activity_task_slots_info.total_failed_tasks,
                            "status_name": WORKER_STATUS_NAMES.get(hb.status, "Unknown"),
                            "workflow_slots_used": hb.workflow_task_slots_info.current_used_slots,
                            "workflow_slots_available": hb.workflow_task_slots_info.current_available_slots,
                        }
                    )
                token = answer.next_page_token
                if not token:
                    return out
        except Exception as exc:
            raise self._failed(exc) from None


def _built(build: Callable[..., str], *args: Any) -> str:
    """A query from the builder; a value Temporal cannot search for is a failed call, not a crash."""
    try:
        return build(*args)
    except ValueError as exc:
        raise TemporalUnavailable(f"cannot query Temporal: {exc}") from None


def _since(window_seconds: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=window_seconds)


def connect_problem(exc: BaseException, *, tls: bool, mtls: bool = False) -> str:
    """One line for a failed connect. TLS failures say what to check: the SDK's own text is a chain of causes.

    A TLS 1.3 server that refuses the client's certificate (or its absence) closes the connection
    after the handshake, so the client sees only an early end of stream: that is said as a "may".
    """
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer in time"
    text = " ".join(str(exc).split())
    low = text.lower()
    if "unknownissuer" in low or "unknown issuer" in low or "invalidcertificate" in low or "certificate verify" in low:
        return "the server's TLS certificate is not trusted: set the server CA certificate (and server name) of the Temporal profile"
    if tls and ("invalidcontenttype" in low or "invalid content type" in low or "wrong version" in low or "corrupt message" in low):
        return "TLS is on but the server does not speak TLS at this address"
    closed = any(
        s in low
        for s in ("close_notify", "broken pipe", "brokenpipe", "connection reset", "connectionreset", "connectionaborted",
                  "unexpectedeof", "handshakefailure", "certificaterequired", "operation was canceled")
    )  # fmt: skip
    if closed and ("transport error" in low or "after connection" in low):
        if not tls:
            return "the server closed the connection: it may expect TLS (a Temporal CLI profile's [tls], or TEMPORAL_TLS=true)"
        if not mtls:
            return (
                "the server closed the connection after the TLS handshake: it may require a client certificate (mTLS), "
                "and none is configured (tls.client_cert_path and client_key_path of the Temporal CLI profile)"
            )
        return "the server closed the connection after the TLS handshake: it may not accept this client certificate"
    return _short(exc)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _versioned_build(poller: Any) -> str | None:
    """The build id of a poller that uses worker versioning (or a worker deployment); None for an unversioned one."""
    caps = poller.worker_version_capabilities
    if caps.use_versioning and caps.build_id:
        return caps.build_id
    options = poller.deployment_options
    # WORKER_VERSIONING_MODE_VERSIONED is 2 (1 is unversioned).
    if options.build_id and options.worker_versioning_mode == 2:
        return options.build_id
    return None
