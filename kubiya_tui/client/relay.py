"""Temporal read through the control plane: ``GET /api/v1/temporal-reads`` (kubiya_tui/controlplane/temporal_relay.py).

:class:`RelayedTemporal` answers the collector's Temporal reads (the
:class:`~kubiya_tui.metrics.ports.TemporalStatsReader` port) from one document of the
control plane, which reads the caller's own task queues from the Temporal it uses. A
one-shot `check` or `top` then makes one HTTP call instead of loading the Temporal SDK and
making a DescribeTaskQueue per queue.

:class:`TemporalReads` chooses, at the first read, between that relay and a direct
:class:`~kubiya_tui.client.temporal.TemporalReader`: the relay when the control plane offers it
and reads the same Temporal (address and namespace) that the settings name, directly
otherwise (Kubiya's control plane, another Temporal, the relay down, ``direct=True``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence
from urllib.parse import urlencode

from kubiya_tui.client.temporal_types import (
    ClosedExecutions,
    ClosedScan,
    Discovery,
    Outcomes,
    QueueStats,
    TemporalRateLimited,
    TemporalUnavailable,
)

if TYPE_CHECKING:
    from kubiya_tui.client.capabilities import CapabilitiesCache
    from kubiya_tui.client.temporal import TemporalReader
    from kubiya_tui.client.api import ApiClient as ControlPlaneReader

PATH = "/api/v1/temporal-reads"
MAX_NAMED = 20
"""Task queues a GET names at most (the relay's rule); more are named in the body of a POST."""
MAX_POSTED = 2000
"""Task queues a POST names at most (the relay's rule); more, and the request names none (all of them)."""
TASK_QUEUE_NAME_PATTERN = r"^[!-~]{1,1000}$"
"""A task queue name a request can name: printable ASCII without spaces, at most 1000 characters."""
_NAME = re.compile(TASK_QUEUE_NAME_PATTERN)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def same_temporal(address: str, namespace: str, theirs: dict[str, Any]) -> bool:
    """Whether the control plane's Temporal (its document's ``temporal``) is the one of these settings."""
    if theirs.get("namespace") != namespace or not isinstance(theirs.get("address"), str):
        return False
    mine, other = address.strip().lower(), theirs["address"].strip().lower()
    if mine == other:
        return True
    my_host, _, my_port = mine.rpartition(":")
    host, _, port = other.rpartition(":")
    return my_port == port and my_host in LOOPBACK_HOSTS and host in LOOPBACK_HOSTS


def _stats(data: dict[str, Any]) -> QueueStats:
    return QueueStats(
        backlog=int(data.get("backlog") or 0),
        backlog_age_seconds=float(data.get("backlog_age_seconds") or 0.0),
        add_rate_per_second=float(data.get("add_rate_per_second") or 0.0),
        dispatch_rate_per_second=float(data.get("dispatch_rate_per_second") or 0.0),
        pollers=int(data.get("pollers") or 0),
        poller_identities=tuple(data.get("poller_identities") or ()),
        backlog_by_priority={int(k): int(v) for k, v in (data.get("backlog_by_priority") or {}).items()},
        poller_last_access={str(k): float(v) for k, v in (data.get("poller_last_access") or {}).items()},
        workflow_backlog=int(data.get("workflow_backlog") or 0),
        activity_backlog=int(data.get("activity_backlog") or 0),
        versioned_builds={str(k): str(v) for k, v in (data.get("versioned_builds") or {}).items()},
    )


def _owned(doc: dict[str, Any], tq: str) -> bool:
    """Whether the document speaks for ``tq`` as one of the organization's task queues."""
    covered = doc.get("task_queues")
    return tq not in doc["not_owned"] and (covered is None or tq in covered)


def _closed(window: float, data: dict[str, Any]) -> ClosedExecutions:
    return ClosedExecutions(
        window_seconds=window,
        by_status={str(k): int(v) for k, v in (data.get("by_status") or {}).items()},
        durations_seconds=tuple(float(d) for d in data.get("durations_seconds") or ()),
        complete=bool(data.get("complete", True)),
    )


def _raise(error: str, rate_limited: bool) -> None:
    raise (TemporalRateLimited if rate_limited else TemporalUnavailable)(error)


class RelayedTemporal:
    """The collector's Temporal reads from the control plane's relay; documents are reused for ``max_age`` seconds."""

    def __init__(
        self,
        api: ControlPlaneReader,
        address: str,
        namespace: str,
        *,
        window: float = 300.0,
        durations: int = 200,
        max_age: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self._address = address
        self._namespace = namespace
        self.window = window
        self.durations = durations
        self.max_age = max_age
        self._mono = monotonic
        self._docs: dict[tuple[tuple[str, ...], float], tuple[float, dict[str, Any]]] = {}
        self._fetching: dict[tuple[tuple[str, ...], float], asyncio.Future[dict[str, Any]]] = {}
        self._latest: dict[str, Any] | None = None
        self.requests = 0
        """HTTP requests made (the tests read it)."""
        self._post_refused = False
        """The control plane has no POST /temporal-reads (older): many task queues are asked for as all of them."""

    @property
    def address(self) -> str:
        return self._address

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def last_error(self) -> str | None:
        return None if self._latest is None else self._latest.get("error")

    async def document(self, task_queues: Sequence[str], window: float | None = None) -> dict[str, Any]:
        """The relay's document of these task queues (one request for concurrent askers; reused while fresh)."""
        key = (tuple(sorted(set(task_queues))), float(window or self.window))
        held = self._docs.get(key)
        if held is not None and self._mono() - held[0] <= self.max_age:
            return held[1]
        for (tqs, w), (at, doc) in self._docs.items():  # a fresh document of more queues answers for fewer
            if w == key[1] and self._mono() - at <= self.max_age and set(key[0]) <= set(tqs):
                return doc
        pending = self._fetching.get(key)
        if pending is None:
            pending = self._fetching[key] = asyncio.ensure_future(self._fetch(key))
            pending.add_done_callback(lambda _f: self._fetching.pop(key, None))
        return await asyncio.shield(pending)

    async def _fetch(self, key: tuple[tuple[str, ...], float]) -> dict[str, Any]:
        from kubiya_tui.client.api import ApiError  # loaded with the API client this relay reads through

        tqs, window = key
        # More task queues than a request may name (or a name a query cannot carry): ask for all of the
        # organization's; the answer then holds these among them. Past what a URL carries, they go in a
        # POST's body (a control plane without it, older, answers 404 or 405: then all of them, by GET).
        nameable = all(_NAME.fullmatch(tq) for tq in tqs)
        posted = nameable and MAX_NAMED < len(tqs) <= MAX_POSTED and not self._post_refused
        named = nameable and len(tqs) <= MAX_NAMED
        settings = {"window": window, "durations": self.durations, "max_age": self.max_age}
        query = urlencode([(k, f"{v:g}") for k, v in settings.items()] + ([("task_queue", tq) for tq in tqs] if named else []))
        self.requests += 1
        try:
            if posted:
                try:
                    body = await self.api.post_read_raw(PATH, {"task_queues": list(tqs), **settings})
                except ApiError as exc:
                    if exc.status not in (404, 405):
                        raise
                    self._post_refused = True
                    body = await self.api.get_raw(f"{PATH}?{query}")
            else:
                body = await self.api.get_raw(f"{PATH}?{query}")
            doc = json.loads(body)
        except Exception as exc:
            raise TemporalUnavailable(f"the control plane's relay of Temporal did not answer: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("queues"), dict):
            raise TemporalUnavailable("the control plane's relay of Temporal answered something else than its document")
        # As sets, asked of once per task queue read. A server without ``task_queues`` (older) covers
        # whatever it was asked for; then only ``not_owned`` marks another organization's names.
        doc["not_owned"] = frozenset(doc.get("not_owned") or ())
        covered = doc.get("task_queues")
        doc["task_queues"] = frozenset(covered) if isinstance(covered, list) else None
        self._docs[key] = (self._mono(), doc)
        self._latest = doc
        return doc

    async def prefetch(self, task_queues: Sequence[str]) -> None:
        """Read these task queues in one request (the collector says what it is about to read)."""
        if task_queues:
            await self.document(task_queues)

    async def available(self) -> bool:
        return self._latest is None or bool(self._latest.get("temporal", {}).get("available"))

    async def service(self) -> RelayedTemporal:
        """Fails at once (TemporalUnavailable) when the last document said Temporal is down."""
        if self._latest is not None and not self._latest["temporal"].get("available"):
            raise TemporalUnavailable(self._latest.get("error") or f"Temporal at {self._address} is unavailable")
        return self

    async def close(self) -> None:
        self._docs.clear()

    def _checked(self, doc: dict[str, Any], tq: str) -> None:
        if not doc.get("temporal", {}).get("available"):
            raise TemporalUnavailable(doc.get("error") or f"Temporal at {self._address} is unavailable")
        if not _owned(doc, tq):
            raise TemporalUnavailable(f"{tq} is not a task queue of this organization")

    async def queue_stats(self, task_queue: str, timeout: float = 3.0, *, retry: bool = True) -> QueueStats:
        doc = await self.document([task_queue])  # a fresh document of the whole poll answers
        self._checked(doc, task_queue)
        entry = doc["queues"].get(task_queue)
        if entry is None:
            raise TemporalUnavailable(f"the relay has no reading of {task_queue}")
        if entry.get("error"):
            _raise(entry["error"], bool(entry.get("rate_limited")))
        return _stats(entry.get("stats") or {})

    async def partitions(self, task_queue: str, timeout: float = 3.0, *, retry: bool = False) -> int:
        raise TemporalUnavailable("partitions are not relayed by the control plane")

    async def closed_scan(
        self, task_queues: Sequence[str], window_seconds: float = 300.0, *, durations_per_queue: int = 200,
        max_executions: int = 5000, page_size: int = 1000, timeout: float = 3.0, retry: bool = False,
        before_page: Callable[[], Awaitable[None]] | None = None,
    ) -> ClosedScan:  # fmt: skip
        doc = await self.document(task_queues, window_seconds)
        closed = doc.get("closed")
        if task_queues:
            self._checked(doc, task_queues[0])
        if closed is None or closed.get("error") or closed.get("queues") is None:
            _raise((closed or {}).get("error") or "the relay has no closed executions", bool((closed or {}).get("rate_limited")))
        found = closed["queues"]
        # An owned queue the scan did not mention closed nothing in the window; another organization's is left out (unknown).
        queues = {tq: _closed(window_seconds, found.get(tq) or {}) for tq in task_queues if _owned(doc, tq)}
        return ClosedScan(window_seconds=window_seconds, queues=queues, complete=True, calls=0)

    async def closed_executions(
        self, task_queue: str, window_seconds: float = 300.0, limit: int = 200, timeout: float = 3.0, *, retry: bool = False
    ) -> ClosedExecutions:
        scan = await self.closed_scan([task_queue], window_seconds)
        page = scan.queues[task_queue]
        return ClosedExecutions(window_seconds, page.by_status, page.durations_seconds[:limit], page.complete)

    async def outcomes(self, task_queue: str, window_seconds: float = 300.0, timeout: float = 3.0, *, retry: bool = True) -> Outcomes:
        scan = await self.closed_scan([task_queue], window_seconds)
        return Outcomes(window_seconds=window_seconds, by_status=scan.queues[task_queue].by_status)

    async def workers(self, task_queue: str, timeout: float = 3.0, *, retry: bool = True) -> list[dict]:
        doc = await self.document([task_queue])  # a fresh document of the whole poll answers
        self._checked(doc, task_queue)
        return list(self._workers(doc).get(task_queue, []))

    async def list_workers(
        self, query: str | None = None, timeout: float = 3.0, *, retry: bool = False, page_size: int = 200
    ) -> list[dict]:
        """The workers on the task queues of the latest document (the relay answers only for the caller's own)."""
        if query is not None:
            raise TemporalUnavailable("only the workers of whole task queues are relayed")
        doc = self._latest
        if doc is None:
            raise TemporalUnavailable("the relay has not been read yet")
        return [w for workers in self._workers(doc).values() for w in workers]

    def _workers(self, doc: dict[str, Any]) -> dict[str, list[dict]]:
        listed = doc.get("workers")
        if listed is None or listed.get("error"):
            text = (listed or {}).get("error") or "the relay has no worker list"
            # "unimplemented" in the message tells the collector that the server has no ListWorkers.
            raise TemporalUnavailable(("unimplemented: " if (listed or {}).get("unsupported") else "") + text)
        return listed.get("by_task_queue") or {}

    async def discover_task_queues(self, *args: Any, **kwargs: Any) -> Discovery:
        raise TemporalUnavailable("task queue discovery is not relayed (the control plane lists the queues)")


class TemporalReads:
    """The relay when the control plane offers it and reads the same Temporal, else the SDK reader; chosen at the first read."""

    def __init__(
        self,
        api: ControlPlaneReader,
        capabilities: CapabilitiesCache,
        direct: Callable[[], TemporalReader],
        address: str,
        namespace: str,
        *,
        window: float = 300.0,
        durations: int = 200,
        max_age: float = 5.0,
    ) -> None:
        self._api = api
        self._capabilities = capabilities
        self._direct = direct
        self._address = address
        self._namespace = namespace
        self._relay = RelayedTemporal(api, address, namespace, window=window, durations=durations, max_age=max_age)
        self._chosen: Any = None
        self._choosing: asyncio.Lock | None = None
        self.why_direct: str | None = None
        """Why the reads go to Temporal directly (None while relayed or not yet chosen)."""

    @property
    def address(self) -> str:
        return self._address

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def relayed(self) -> bool:
        return self._chosen is self._relay

    @property
    def reads_partitions(self) -> bool:
        """The relay reads no partitions (a third more calls for a detail); a direct reader does."""
        return not self.relayed

    @property
    def calls_per_queue(self) -> bool:
        """Whether each queue's read is a call to Temporal (paced); relayed, all are answered by one document."""
        return not self.relayed

    @property
    def last_error(self) -> str | None:
        return getattr(self._chosen, "last_error", None)

    async def _reader(self, task_queues: Sequence[str] = ()) -> Any:
        if self._chosen is not None:
            return self._chosen
        if self._choosing is None:
            self._choosing = asyncio.Lock()
        async with self._choosing:
            if self._chosen is None:
                self._chosen = await self._choose(task_queues)
        return self._chosen

    async def _choose(self, task_queues: Sequence[str]) -> Any:
        caps = await self._capabilities.get()
        if not caps.temporal_reads:
            return self._go_direct("the control plane does not relay Temporal reads")
        if not task_queues:
            return self._go_direct("nothing to read yet")
        try:
            doc = await self._relay.document(task_queues)
        except TemporalUnavailable as exc:
            return self._go_direct(str(exc))
        theirs = doc.get("temporal") or {}
        if not theirs.get("available"):
            return self._go_direct("the control plane cannot reach its Temporal")
        if not same_temporal(self._address, self._namespace, theirs):
            return self._go_direct("the control plane reads another Temporal than this profile names")
        return self._relay

    def _go_direct(self, why: str) -> TemporalReader:
        self.why_direct = why
        return self._direct()

    async def prefetch(self, task_queues: Sequence[str]) -> None:
        reader = await self._reader(task_queues)
        if reader is self._relay:
            await self._relay.prefetch(task_queues)

    async def service(self) -> Any:
        if self._chosen is None:
            return self  # nothing chosen before the first read (prefetch or a queue's read) chooses
        return await self._chosen.service()

    async def available(self) -> bool:
        return True if self._chosen is None else await self._chosen.available()

    async def queue_stats(self, task_queue: str, *args: Any, **kwargs: Any) -> QueueStats:
        return await (await self._reader([task_queue])).queue_stats(task_queue, *args, **kwargs)

    async def partitions(self, task_queue: str, *args: Any, **kwargs: Any) -> int:
        return await (await self._reader([task_queue])).partitions(task_queue, *args, **kwargs)

    async def closed_scan(self, task_queues: Sequence[str], *args: Any, **kwargs: Any) -> ClosedScan:
        return await (await self._reader(task_queues)).closed_scan(task_queues, *args, **kwargs)

    async def closed_executions(self, task_queue: str, *args: Any, **kwargs: Any) -> ClosedExecutions:
        return await (await self._reader([task_queue])).closed_executions(task_queue, *args, **kwargs)

    async def outcomes(self, task_queue: str, *args: Any, **kwargs: Any) -> Outcomes:
        return await (await self._reader([task_queue])).outcomes(task_queue, *args, **kwargs)

    async def workers(self, task_queue: str, *args: Any, **kwargs: Any) -> list[dict]:
        return await (await self._reader([task_queue])).workers(task_queue, *args, **kwargs)

    async def list_workers(self, *args: Any, **kwargs: Any) -> list[dict]:
        return await (await self._reader()).list_workers(*args, **kwargs)

    async def discover_task_queues(self, *args: Any, **kwargs: Any) -> Discovery:
        return await (await self._reader()).discover_task_queues(*args, **kwargs)

    async def close(self) -> None:
        if self._chosen is not None:
            await self._chosen.close()
