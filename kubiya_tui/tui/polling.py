"""Live refresh: the poll that asks the snapshot source for the next snapshot, and each worker's heartbeat history.

One poll at a time: the next one is scheduled only once the previous one has finished, so a
slow backend slows the refresh down and never piles polls up. The collector backs off each of
its sources on its own; a poll that fails here is tried again after the source's interval, and
its error stays in the banner until a poll succeeds.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Iterable, Mapping

from textual.screen import ModalScreen
from textual.timer import Timer

from kubiya_tui.metrics.snapshot import Snapshot, SnapshotSource
from kubiya_tui.tui.messages import SnapshotReady

if TYPE_CHECKING:
    from kubiya_tui.tui.app import KubiyaConsole

log = logging.getLogger(__name__)

POLL_GROUP = "poll"
"""The worker group of polls: a failure in it is a failed refresh, not a failed operation."""
DIALOG_WAIT_SECONDS = 0.5
"""While a dialog is open the refresh waits, looking again this often."""


class SnapshotPoller:
    """Polls the console's snapshot source: never two at once, not while paused, not under an open dialog."""

    def __init__(self, app: KubiyaConsole, source: SnapshotSource) -> None:
        self._app = app
        self.source = source
        self._timer: Timer | None = None

    def poll(self, force: bool = False) -> None:
        """Start a poll now (replacing one under way); its snapshot arrives as a SnapshotReady message."""
        self._app.run_worker(self._poll(force), name="poll", group=POLL_GROUP, exclusive=True, exit_on_error=False)

    async def _poll(self, force: bool) -> None:
        # ``force`` (the ``r`` key) asks a collector to skip its back-off and poll every source now.
        snapshot = await self.source.refresh(force=force)
        self._app.post_message(SnapshotReady(snapshot))

    def refresh_now(self) -> None:
        """Poll at once, skipping the wait and any back-off of the source."""
        self._cancel_timer()
        self.poll(force=True)

    def succeeded(self) -> None:
        """A poll's snapshot arrived: clear the error and schedule the next poll."""
        self._app.poll_error = None
        self._schedule(self.source.interval)

    def failed(self, error: BaseException | None) -> None:
        """A poll raised: say why in the banner and try again after the source's interval."""
        self._app.poll_error = str(error) or type(error).__name__
        self._schedule(self.source.interval)

    def replace_source(self, source: SnapshotSource) -> None:
        """Poll ``source`` from now on (another profile); the caller starts the first poll."""
        self._cancel_timer()
        self.source = source

    def stop(self) -> None:
        """Stop polling (whoever owns the source closes it)."""
        self._cancel_timer()

    async def aclose(self) -> None:
        """Stop polling and close the source."""
        self._cancel_timer()
        try:
            await self.source.aclose()
        except Exception:
            log.exception("closing the snapshot source")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _schedule(self, delay: float) -> None:
        self._cancel_timer()
        self._timer = self._app.set_timer(delay, self._due)

    def _due(self) -> None:
        self._timer = None
        app = self._app
        if app.paused or not app.is_running or not app.screen_stack:
            # Nothing to refresh while paused (resuming polls at once), or while the app is closing.
            return
        if isinstance(app.screen, ModalScreen):
            # Refresh waits while a dialog is open, so what it shows does not move under the operator.
            self._schedule(DIALOG_WAIT_SECONDS)
            return
        self.poll()


class HeartbeatHistory:
    """Each worker's recent heartbeat arrival times (newest last), for its detail screen.

    A heartbeat is recorded when it arrives (the time it was sent moves), not at every refresh.
    """

    RING = 20
    """Arrivals kept per worker."""
    SAME_SECONDS = 1.0
    """Two refreshes whose heartbeat times are closer than this saw the same heartbeat (ages are rounded)."""

    def __init__(self) -> None:
        self._rings: dict[str, deque[float]] = {}

    def record(self, snapshot: Snapshot, previous: Snapshot | None) -> None:
        """Note the heartbeats ``snapshot`` shows that ``previous`` (the one shown before it) had not."""
        if previous is not None and (
            snapshot.taken_at == previous.taken_at
            # The same reading of the control plane's workers: the same heartbeats (5,000 workers: ~4 ms saved).
            or (snapshot.workers_read_at is not None and snapshot.workers_read_at == previous.workers_read_at)
        ):
            return
        rings, taken_at = self._rings, snapshot.taken_at
        for worker in snapshot.workers:
            age = worker.heartbeat_age_seconds
            if age is None:
                continue
            arrived = taken_at - age
            ring = rings.get(worker.worker_id)
            if ring is None:
                ring = rings[worker.worker_id] = deque(maxlen=self.RING)
                ring.append(arrived)
            elif arrived - ring[-1] > self.SAME_SECONDS:
                ring.append(arrived)

    def arrivals(self, worker_id: str) -> list[float]:
        """When the worker's recent heartbeats arrived, oldest first."""
        return list(self._rings.get(worker_id, ()))

    def seed(self, arrivals: Mapping[str, Iterable[float]]) -> None:
        """Start from known arrival times (recorded data), oldest first per worker."""
        for worker_id, times in arrivals.items():
            self._rings[worker_id] = deque(times, maxlen=self.RING)

    def clear(self) -> None:
        """Forget every worker (another profile: other workers)."""
        self._rings.clear()
