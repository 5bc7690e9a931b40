"""The console's source while its connection is made, once the first frame is on screen.

Building a connection loads the API client (httpx, pydantic's models), the Temporal SDK and the
history database: a third of a second or more before anything could be drawn. The console is
drawn first, over this source, and the connection is made right after (``KubiyaConsole``).
"""

from __future__ import annotations

import asyncio

from kubiya_tui.metrics.snapshot import Snapshot, SnapshotCallback, SnapshotSource


class Connecting:
    """No data yet; a refresh asked for meanwhile waits for the real source and is answered by it."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._real: SnapshotSource | None = None
        self._ready = asyncio.Event()

    def connected(self, source: SnapshotSource) -> None:
        """The real source exists: a refresh waiting here goes to it."""
        self._real = source
        self._ready.set()

    @property
    def interval(self) -> float:
        return self._interval

    def latest(self) -> Snapshot | None:
        return None

    async def refresh(self, *, force: bool = False) -> Snapshot:
        await self._ready.wait()
        assert self._real is not None
        return await self._real.refresh(force=force)

    def history(self, queue_id: str, metric: str, last: int | None = None) -> list[tuple[float, float]]:
        return []

    def request_refresh(self) -> None:
        return None

    async def run(self, callback: SnapshotCallback, stop_event: asyncio.Event) -> None:
        await stop_event.wait()

    async def aclose(self) -> None:
        return None
