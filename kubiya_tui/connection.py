"""The one place where settings become live clients: ``connect(settings) -> Connection``.

Every headless command, the console and the demo connect here, so each backend is reached
one way. A :class:`Connection` holds, without any I/O at connect time:

* ``api``: the :class:`ApiClient` of the control plane (None without an API key). Operations
  use it as is (idempotent calls retried); the collector reads through it with the poll
  policy (no retries: its pollers back off; a shorter timeout), over the same connections;
* ``temporal``: the :class:`TemporalReader` (None without a Temporal address); it connects
  on first use;
* ``source``: the collector over both, a :class:`SnapshotSource`, built on first use;
* ``capabilities``: what the control plane offers (:class:`CapabilitiesCache`), learned once
  on first ask and shared by everything on the connection.

An httpx client belongs to the event loop that uses it: one Connection per loop (the demo's
runner, on a loop of its own, has its own client).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.client.capabilities import Capabilities, CapabilitiesCache
from kubiya_tui.config import Settings
from kubiya_tui.errors import UserError
from kubiya_tui.metrics.collector import Collector, CollectorOptions
from kubiya_tui.metrics.history import History

if TYPE_CHECKING:
    from kubiya_tui.client.temporal import TemporalReader

__all__ = ["Capabilities", "CapabilitiesCache", "Connection", "HistoryMode", "connect"]

HistoryMode = Literal["auto", "disk", "memory", "off"]
"""Where the collector keeps history: ``disk`` ($XDG_STATE_HOME/kubiya-tui/history.sqlite),
``memory``, ``off`` (none), or ``auto``: disk unless KUBIYA_TUI_HISTORY is off, 0, false, no or memory."""

POLL_TIMEOUT_MARGIN = 2.0
"""A control-plane read of the collector may take this much longer than one Temporal call."""
RELAY_MAX_AGE = 5.0
"""Relayed Temporal readings may be this old (Temporal's own task queue statistics are cached about as long)."""
DURATION_PAGE = 200
"""Durations per task queue a relayed read asks for: one visibility page, as the collector reads directly."""
CAPABILITIES_TIMEOUT = 5.0
"""Learning the capabilities is never retried (it is tried again later) and gives up after this long."""


class Connection:
    """The live clients of one set of settings; see the module docstring. Close it with :meth:`aclose`."""

    def __init__(
        self,
        settings: Settings,
        api: ApiClient | None,
        temporal: TemporalReader | None,
        *,
        options: CollectorOptions,
        history: HistoryMode,
    ) -> None:
        self.settings = settings
        self.api = api
        self.temporal = temporal
        asking = api.with_policy(retries=0, timeout=CAPABILITIES_TIMEOUT) if api is not None else None
        self.capabilities = CapabilitiesCache(asking)
        """What the control plane offers: ``await capabilities.get()``, or ``capabilities.known`` (None until learned)."""
        self._options = options
        self._history = history
        self._source: Collector | None = None

    def __repr__(self) -> str:  # never shows a key
        return f"Connection(api={self.api!r}, temporal={self.temporal.address if self.temporal else None!r})"

    @property
    def source(self) -> Collector:
        """The collector over this connection's clients, built on first use.

        A UserError when there is nothing to watch: no API key and no Temporal address, or
        Temporal alone without the profile's ``task_queues``.
        """
        if self._source is None:
            self._source = self._make_source()
        return self._source

    def require_api(self) -> ApiClient:
        """The control-plane client; no key configured is a UserError saying where to put one."""
        if self.api is None:
            from kubiya_tui.locations import config_file

            raise UserError(
                f"no API key configured for {self.settings.api_url}: set KUBIYA_API_KEY, pass --api-key, "
                f"or set api_key_env/api_key_file in a profile in {config_file()}"
            )
        return self.api

    async def aclose(self) -> None:
        """Stop the collector (writing its history), then close the clients."""
        if self._source is not None:
            await self._source.aclose()
        await self.capabilities.aclose()
        if self.api is not None:
            try:
                await self.api.aclose()
            except Exception:
                pass
        if self.temporal is not None:
            try:
                await self.temporal.close()
            except Exception:
                pass

    async def __aenter__(self) -> "Connection":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _make_source(self) -> Collector:
        settings = self.settings
        if self.api is None and self.temporal is None:
            raise UserError(
                "nothing to watch: configure a control-plane API key (KUBIYA_API_KEY) or a Temporal "
                "address (TEMPORAL_ADDRESS, or temporal_address in a profile)"
            )
        options = self._options
        if self.api is None and not options.task_queues and not options.discover:
            raise UserError(
                f"no control-plane API key and no task_queues: without discovery a Temporal-only profile lists the "
                f"task queues to watch (task_queues = [\"...\"]) for {settings.temporal_address}"
            )
        reads = self.api.with_policy(retries=0, timeout=options.call_timeout + POLL_TIMEOUT_MARGIN) if self.api else None
        mode = self._history if self._history != "auto" else ("disk" if _history_on_disk() else "memory")
        interval = options.interval if options.interval is not None else settings.refresh_interval
        history = None if mode == "off" else _history_for(settings, interval, persist=mode == "disk", api=self.api is not None)
        return Collector(reads, self.temporal, options, history=history, capabilities=self.capabilities if reads else None)


def connect(
    settings: Settings, options: CollectorOptions | None = None, *, history: HistoryMode = "auto", relay: bool = False
) -> Connection:
    """The clients for resolved Settings: the API when a key is configured, Temporal when an address is.

    ``options`` tune the collector (the profile's task queues, name and refresh interval are
    filled in from the settings unless given); ``history`` says where it keeps history.
    ``relay``: read Temporal through the control plane when it offers that and reads the same
    Temporal (kubiya_tui/client/relay.py), so a one-shot command need not load the Temporal SDK;
    it is chosen at the first read. A bad control-plane URL is a UserError. Nothing is read or
    connected yet.
    """
    key = settings.api_key_value()
    api = None
    if key:
        try:
            api = ApiClient(settings.api_url, key)
        except ApiError as exc:
            raise UserError(str(exc)) from None
    temporal = None

    def direct() -> TemporalReader:
        from kubiya_tui.client.temporal import TemporalReader  # the Temporal SDK is loaded only when it is used

        return TemporalReader(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            api_key=settings.temporal_api_key_value(),
            tls=settings.temporal_tls_config or settings.temporal_tls,
            rpc_metadata={k: v.get_secret_value() for k, v in settings.temporal_rpc_metadata.items()},
        )

    if settings.temporal_address and not (relay and api is not None):
        temporal = direct()
    given = options or CollectorOptions()
    options = replace(
        given,
        interval=given.interval if given.interval is not None else settings.refresh_interval,
        task_queues=given.task_queues or tuple(settings.task_queues),
        profile=given.profile or settings.profile,
    )
    connection = Connection(settings, api, temporal, options=options, history=history)
    if settings.temporal_address and relay and api is not None:
        from kubiya_tui.client.relay import TemporalReads

        reads = api.with_policy(retries=0, timeout=options.source_timeout)
        connection.temporal = TemporalReads(  # type: ignore[assignment]
            reads, connection.capabilities, direct, settings.temporal_address, settings.temporal_namespace,
            window=options.window_seconds, durations=DURATION_PAGE if options.durations else 0,
            max_age=min(options.stats_interval, RELAY_MAX_AGE),
        )
    return connection


def _history_on_disk() -> bool:
    """Whether history goes to disk: yes unless KUBIYA_TUI_HISTORY says off, 0, false, no or memory."""
    return os.environ.get("KUBIYA_TUI_HISTORY", "").strip().lower() not in ("0", "off", "false", "no", "memory")


def _history_for(settings: Settings, interval: float, persist: bool, api: bool) -> History:
    """History scoped to what is watched, so consoles of other profiles sharing the file keep theirs apart."""
    from kubiya_tui.locations import state_dir

    parts = [settings.api_url if api else "", settings.temporal_address or "", settings.temporal_namespace]
    scope = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    path = state_dir() / "history.sqlite" if persist else None
    return History(interval, path=path, scope=scope)
