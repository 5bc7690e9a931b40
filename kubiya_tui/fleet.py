"""Several profiles at once (``--all-profiles``, ``--profiles a,b,c``): one member per profile, each on its own connection.

A :class:`FleetMember` is one profile: its settings, its own :class:`Connection` (so its own
clients, collector, back-off and history), its snapshot source, its colour, ``danger`` mark,
read-only setting and alert rules, and what its last poll gave (snapshot, error, latency).
Members are polled independently: the console runs one poll loop per member
(``tui/fleet_poller.py``) and the headless commands :func:`refresh_fleet` them concurrently,
each with its own deadline, so one profile down neither blanks nor slows the others.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from kubiya_tui.errors import UserError
from kubiya_tui.metrics.snapshot import Snapshot, SnapshotSource

if TYPE_CHECKING:
    # The settings (pydantic) and the connection are loaded when a fleet is opened: a console given
    # its source (one profile's FleetMember, a recorded fleet) starts without them.
    from kubiya_tui.client.api import ApiClient
    from kubiya_tui.config import Settings
    from kubiya_tui.connection import Connection, HistoryMode
    from kubiya_tui.metrics.collector import CollectorOptions

DANGER_COLOR = "#e0393e"
"""The frame of a ``danger`` profile without a colour of its own."""


@dataclass
class FleetMember:
    """One profile of the fleet; see the module docstring."""

    name: str
    source: SnapshotSource
    settings: Settings | None = None
    connection: Connection | None = None
    api: ApiClient | None = None
    color: str | None = None
    danger: bool = False
    read_only: bool = False
    read_only_reason: str = ""
    rules: Sequence[Any] = ()
    bell: bool = True
    api_key: str | None = None
    snapshot: Snapshot | None = None
    error: str | None = None
    """Why the last poll failed (the collector raised), until one succeeds."""
    latency_ms: float | None = None
    """How long the last poll took."""
    polled_at: float | None = None
    """``time.monotonic()`` when the last poll ended."""
    warnings: list[str] = field(default_factory=list)

    @property
    def frame_color(self) -> str | None:
        """The colour that frames the profile's rows and dialogs: its own, else red when it is ``danger``."""
        return self.color or (DANGER_COLOR if self.danger else None)

    async def poll(self, *, force: bool = False, complete: bool = False, timeout: float | None = None) -> Snapshot | None:
        """One refresh of this member: its snapshot, or None (and ``error`` set) when the source raised or timed out."""
        started = time.monotonic()
        try:
            if complete:
                call = self.source.refresh(force=force, complete=True)  # type: ignore[call-arg]
            else:
                call = self.source.refresh(force=force)
            snapshot = await (asyncio.wait_for(call, timeout) if timeout else call)
        except asyncio.TimeoutError:
            self.error = f"no answer within {timeout:g}s"
            snapshot = None
        except (UserError, Exception) as exc:  # one profile failing is that profile's error, never the fleet's
            self.error = str(exc) or type(exc).__name__
            snapshot = None
        else:
            self.error = None
            self.snapshot = snapshot
        self.latency_ms = (time.monotonic() - started) * 1000
        self.polled_at = time.monotonic()
        return snapshot

    async def aclose(self) -> None:
        if self.connection is not None:
            await self.connection.aclose()
        else:
            await self.source.aclose()  # type: ignore[attr-defined]


def member_of(settings: Settings, connection: Connection, *, read_only: bool = False) -> FleetMember:
    """A member over an open connection of one profile's settings."""
    name = settings.profile or "default"
    return FleetMember(
        name=name,
        source=connection.source,
        settings=settings,
        connection=connection,
        api=connection.api,
        color=settings.color,
        danger=settings.danger,
        read_only=read_only or settings.read_only,
        read_only_reason="--read-only" if read_only else f"profile {name!r}",
        rules=tuple(settings.alerts),
        bell=settings.alert_bell,
        api_key=settings.api_key_value(),
        warnings=list(settings.warnings),
    )


def open_fleet(
    names: str | None = None,
    *,
    read_only: bool = False,
    options: CollectorOptions | None = None,
    history: HistoryMode = "auto",
) -> list[FleetMember]:
    """A member per profile of ``--profiles`` (``names``, comma-separated) or of the whole file (None).

    Each profile is read as the file has it, without environment overrides (KUBIYA_API_KEY,
    TEMPORAL_ADDRESS...: they would point every profile at one server). A profile that cannot be set up (a key file missing, nothing to watch) is a UserError
    naming it: the config is the operator's to fix, before anything is polled. Nothing is read yet.
    """
    from kubiya_tui.config import load_config, profile_names, resolve_settings
    from kubiya_tui.connection import connect

    config = load_config()
    members: list[FleetMember] = []
    try:
        for name in profile_names(names, config=config):
            try:
                settings = resolve_settings(name, config=config, environment=False)
                connection = connect(settings, options, history=history)
                connection.source  # noqa: B018 - "nothing to watch" is found now, not at the first poll
            except UserError as exc:
                text = str(exc)
                raise UserError(text if repr(name) in text else f"profile {name!r}: {text}") from None
            members.append(member_of(settings, connection, read_only=read_only))
    except BaseException:
        for member in members:
            _close_soon(member)
        raise
    return members


def _close_soon(member: FleetMember) -> None:
    try:
        asyncio.get_running_loop().create_task(member.aclose())
    except RuntimeError:
        asyncio.run(member.aclose())


async def refresh_fleet(members: Sequence[FleetMember], *, timeout: float, complete: bool = False) -> None:
    """Poll every member at once, each with its own deadline; a member that fails keeps its error."""
    await asyncio.gather(*(m.poll(force=True, complete=complete, timeout=timeout) for m in members))


async def close_fleet(members: Sequence[FleetMember]) -> None:
    await asyncio.gather(*(m.aclose() for m in members), return_exceptions=True)


def totals(snapshot: Snapshot | None) -> dict[str, Any]:
    """A profile's totals over its queues: queues, depth, done/min, error rate, healthy/all workers, stuck."""
    from kubiya_tui.vocabulary import FAILED_STATUSES

    queues = snapshot.queues if snapshot else ()
    closed = sum(sum(q.closed_by_status.values()) for q in queues)
    failed = sum(q.closed_by_status.get(s, 0) for q in queues for s in FAILED_STATUSES)
    return {
        "queues": len(queues),
        "depth": sum(q.depth or 0 for q in queues),
        "processed_per_min": round(sum(q.processed_per_min or 0 for q in queues), 3),
        "error_rate": round(failed / closed, 4) if closed else None,
        "workers_healthy": sum(q.workers.healthy for q in queues),
        "workers": sum(q.workers.total for q in queues),
        "stuck": sum(1 for q in queues if q.stuck),
    }


def state_of(member: FleetMember) -> str:
    """``ok``, ``degraded`` (a source down or slow), ``down`` (every source down, or the poll failed) or ``waiting``."""
    snapshot = member.snapshot
    if member.error and snapshot is None:
        return "down"
    if snapshot is None:
        return "waiting"
    states = [s.status.value for s in snapshot.sources.values() if s.status.value != "off"]
    if member.error or (states and all(s == "down" for s in states)):
        return "down"
    if any(s in ("down", "slow") for s in states):
        return "degraded"
    return "ok"
