"""The fleet's live refresh: one poll loop per profile, so a profile that is down or slow delays only itself.

Each loop polls its member (``FleetMember.poll``: the collector of that profile's own
connection), posts ``FleetPolled`` and waits the member's interval, or less when woken
(``r``, a closed dialog). Like the one-profile poller it waits while a dialog is open or the
refresh is paused. It stands in for :class:`SnapshotPoller` (``console.poller``), so what the
console asks of a poller (``refresh_now``, ``source``, ``interval``) goes to the profile the
operator is on: the *active* member.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Sequence

from textual.screen import ModalScreen

from kubiya_tui.fleet import FleetMember
from kubiya_tui.metrics.snapshot import SnapshotSource
from kubiya_tui.tui.messages import FleetPolled
from kubiya_tui.tui.polling import DIALOG_WAIT_SECONDS

if TYPE_CHECKING:
    from kubiya_tui.tui.app import KubiyaConsole

log = logging.getLogger(__name__)

FLEET_GROUP = "fleet-poll"


class FleetPoller:
    """Polls every member on its own; see the module docstring."""

    def __init__(self, app: KubiyaConsole, members: Sequence[FleetMember]) -> None:
        self._app = app
        self.members: dict[str, FleetMember] = {m.name: m for m in members}
        self.active: str = members[0].name
        self._wake: dict[str, asyncio.Event] = {}
        self._force: set[str] = set()
        self._started = False
        self._epoch = 0.0

    @property
    def member(self) -> FleetMember:
        """The profile the operator is on (the row selected, the queue drilled into)."""
        return self.members[self.active]

    @property
    def source(self) -> SnapshotSource:
        return self.member.source

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._epoch = asyncio.get_running_loop().time()
        for member in self.members.values():
            self._wake[member.name] = asyncio.Event()
            self._app.run_worker(self._loop(member), name=f"poll {member.name}", group=FLEET_GROUP, exit_on_error=False)

    async def _loop(self, member: FleetMember) -> None:
        app = self._app
        wake = self._wake[member.name]
        clock = asyncio.get_running_loop().time
        while True:
            force = member.name in self._force
            self._force.discard(member.name)
            waiting = app.paused or (app.screen_stack and isinstance(app.screen, ModalScreen))
            if force or not waiting:
                await member.poll(force=force)
                app.post_message(FleetPolled(member.name))
                # The next poll at the next tick of one clock shared by every member (epoch + k x interval),
                # so profiles keep answering together and the screen draws them in one pass; a slow
                # profile skips to the tick after, never delaying the others.
                interval = member.source.interval
                delay = interval - ((clock() - self._epoch) % interval)
                if delay < 0.05:
                    delay += interval
            else:
                delay = DIALOG_WAIT_SECONDS if not app.paused else member.source.interval
            try:
                await asyncio.wait_for(wake.wait(), delay)
            except asyncio.TimeoutError:
                pass
            wake.clear()

    # -------------------------------------------------- what the console asks of a poller

    def poll(self, force: bool = False) -> None:
        if not self._started:
            self.start()
        elif force:
            self.refresh_now()

    def refresh_now(self) -> None:
        """Every profile polls at once, skipping its back-off."""
        for name, event in self._wake.items():
            self._force.add(name)
            event.set()

    def succeeded(self) -> None:
        pass

    def failed(self, error: BaseException | None) -> None:
        log.error("fleet poll failed: %r", error)

    def replace_source(self, source: SnapshotSource) -> None:
        pass

    def stop(self) -> None:
        self._app.workers.cancel_group(self._app, FLEET_GROUP)

    async def aclose(self) -> None:
        self.stop()
        for member in self.members.values():
            try:
                await member.aclose()
            except Exception:
                log.exception("closing profile %s", member.name)
