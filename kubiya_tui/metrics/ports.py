"""What the collector needs from its backends, as typed protocols.

:class:`kubiya_tui.client.api.ApiClient` is a :class:`ControlPlaneReader` and
:class:`kubiya_tui.client.temporal.TemporalReader` a :class:`TemporalStatsReader`; unit
tests pass fakes of the same shape. :class:`CapabilitiesView` is what the collector asks
about the control plane before using an endpoint that not every control plane has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable, Protocol, Sequence

if TYPE_CHECKING:  # types only: importing the Temporal SDK is left to whoever connects to Temporal
    from kubiya_tui.client.capabilities import Capabilities
    from kubiya_tui.client.temporal_types import ClosedExecutions, ClosedScan, Discovery, Outcomes, QueueStats
    from kubiya_tui.models import Environment, WorkerQueueMetrics


class ControlPlaneReader(Protocol):
    """The control-plane reads of the collector (with its own poll policy: no retries, short timeout)."""

    @property
    def base_url(self) -> str: ...

    async def get_raw(self, path: str) -> bytes:
        """The body of a GET, unparsed (big lists are parsed item by item)."""
        ...

    async def list_environments(self) -> list[Environment]: ...

    async def queue_metrics(self, queue_id: str) -> WorkerQueueMetrics: ...


class TemporalStatsReader(Protocol):
    """The Temporal reads of the collector (docs/temporal-notes.md)."""

    @property
    def address(self) -> str: ...

    @property
    def namespace(self) -> str: ...

    async def service(self) -> object:
        """The connected service client; raises when Temporal cannot be reached (the poll fails at once)."""
        ...

    async def queue_stats(self, task_queue: str, timeout: float = 3.0, *, retry: bool = True) -> QueueStats: ...

    async def partitions(self, task_queue: str, timeout: float = 3.0, *, retry: bool = False) -> int: ...

    async def closed_executions(
        self, task_queue: str, window_seconds: float = 300.0, limit: int = 200, timeout: float = 3.0, *, retry: bool = False
    ) -> ClosedExecutions: ...

    # Optional, like closed_scan: ``async def prefetch(task_queues)``, what a poll is about to read,
    # which a reader that reads in bulk (the control plane's relay, client/relay.py) reads in one go.

    async def closed_scan(
        self, task_queues: Sequence[str], window_seconds: float = 300.0, *, durations_per_queue: int = 200,
        max_executions: int = 5000, page_size: int = 1000, timeout: float = 3.0, retry: bool = False,
        before_page: Callable[[], Awaitable[None]] | None = None,
    ) -> ClosedScan:
        """Several queues' closed executions in one paged scan (a reader without it is read queue by queue)."""
        ...

    async def outcomes(self, task_queue: str, window_seconds: float = 300.0, timeout: float = 3.0, *, retry: bool = True) -> Outcomes: ...

    async def workers(self, task_queue: str, timeout: float = 3.0, *, retry: bool = True) -> list[dict]: ...

    async def list_workers(
        self, query: str | None = None, timeout: float = 3.0, *, retry: bool = False, page_size: int = 200
    ) -> list[dict]: ...

    async def discover_task_queues(
        self, window_seconds: float = 3600.0, *, known: Sequence[str] = (), max_queues: int = 500, rounds: int = 10,
        page_size: int = 500, timeout: float = 5.0,
    ) -> Discovery:
        """The namespace's task queues (Temporal-only mode: ``metrics/sources/discovery.py``)."""
        ...


class CapabilitiesView(Protocol):
    """What the control plane is known to offer, without waiting to learn it."""

    @property
    def known(self) -> Capabilities | None:
        """The learned capabilities, or None while they are being learned (or could not be)."""
        ...

    def learn_soon(self) -> None:
        """Start learning them in the background, once (a no-op when known or under way)."""
        ...
