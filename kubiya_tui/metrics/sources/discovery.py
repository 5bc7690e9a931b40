"""Temporal-only mode: the task queues a namespace has, found in Temporal itself.

Without a control plane nothing lists the queues, so the collector asks Temporal: the task
queues of executions that are open or closed within ``DISCOVERY_WINDOW`` (visibility,
``TemporalReader.discover_task_queues``; the query is built in ``client/temporal_query.py``)
and of workers that heartbeat (ListWorkers, where the server has it). The profile's own
``task_queues`` are watched whatever is found. The search runs every ``DISCOVERY_INTERVAL``
and looks only for queues it has not found yet (the found ones are excluded from the query):
a new queue shows up within about that long, and a queue once found stays listed while the
console runs (with depth 0 once it is idle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from kubiya_tui.metrics.ports import TemporalStatsReader
from kubiya_tui.metrics.scheduler import Tracker

if TYPE_CHECKING:
    from kubiya_tui.client.temporal_types import Discovery

DISCOVERY_INTERVAL = 30.0
"""Seconds between two searches for task queues."""
DISCOVERY_WINDOW = 3600.0
"""A queue with executions closed within this long (or open ones) is found."""
MAX_DISCOVERED = 500
"""At most this many queues are found (the profile's are watched on top of them)."""


class DiscoverySource:
    """Finds the task queues of a namespace, for a collector without a control plane."""

    def __init__(
        self,
        temporal: TemporalStatsReader,
        *,
        tracker: Tracker,
        window: float = DISCOVERY_WINDOW,
        max_queues: int = MAX_DISCOVERED,
        call_timeout: float = 5.0,
        monotonic: Callable[[], float],
    ) -> None:
        self.temporal = temporal
        self.tracker = tracker
        self.window = window
        self.max_queues = max_queues
        self.call_timeout = call_timeout
        self._mono = monotonic
        self.found: Discovery | None = None
        """The latest answer (kept through a failed search)."""
        self.version = 0
        """Bumped whenever the set of queues found changes."""

    @property
    def task_queues(self) -> tuple[str, ...]:
        return self.found.task_queues if self.found is not None else ()

    async def poll(self, force: bool) -> str | None:
        """One search; a Poller's work. A partial answer (ListWorkers missing, the limit reached) says so."""
        known = self.found.from_executions if self.found is not None else ()
        found = await self.temporal.discover_task_queues(
            self.window, known=known, max_queues=self.max_queues, timeout=self.call_timeout
        )
        if self.found is None or found.task_queues != self.found.task_queues:
            self.version += 1
        self.found = found
        if not found.complete:
            return f"found the first {self.max_queues} task queues; more may exist (name them in the profile's task_queues)"
        return None
