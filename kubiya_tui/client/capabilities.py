"""What a control plane can do: its flavour and the endpoints it has, learned once per connection.

This is the one place that answers "does this control plane have X?". The rest of the
product asks a :class:`CapabilitiesCache` (``Connection.capabilities``) instead of guessing
from a 404, and shows :meth:`Capabilities.refusal` when the answer is no.

The flavour comes from ``GET /api/health`` (no key needed): its ``service`` field is
``"agent-control-plane"`` on Kubiya's control plane and ``"kubiya-tui"`` on ours. An older
server without that field is told by the title of its OpenAPI document.

* ``kubiya-tui``: this project's local control plane: every endpoint of docs/api.md.
* ``kubiya``: Kubiya's own control plane (``kubiya-control-plane-api``): no drain, scale,
  autoscale, tasks or audit; its ``GET /workers`` means runners, so workers are read per
  queue; a worker is live while its heartbeat is younger than 150 s (its rule).
* ``unknown``: anything else: what it has is read from the paths of its OpenAPI document,
  or every feature is tried (and a refusal is shown as the server's error).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

from kubiya_tui.vocabulary import KUBIYA_LIVE_SECONDS

if TYPE_CHECKING:
    from kubiya_tui.client.api import ApiClient

log = logging.getLogger("kubiya_tui.client")

Flavour = Literal["kubiya-tui", "kubiya", "unknown"]

LOCAL_TITLE = "kubiya-tui local control plane"
"""The OpenAPI title of this project's control plane (kubiya_tui/controlplane/app.py)."""
LOCAL_SERVICE = "kubiya-tui"
"""The ``service`` of this project's ``/api/health``."""
KUBIYA_SERVICE = "agent-control-plane"
"""The ``service`` of Kubiya's ``/api/health`` (kubiya-control-plane-api 1.0.2)."""
KUBIYA_TITLES = ("agent control plane api",)
"""OpenAPI titles of Kubiya's control plane (lower case), for a health answer without ``service``."""

FEATURE_ENDPOINTS: dict[str, tuple[str, str]] = {
    "drain": ("post", "/api/v1/workers/{}/drain"),
    "scale": ("post", "/api/v1/worker-queues/{}/scale"),
    "autoscale": ("put", "/api/v1/worker-queues/{}/autoscale"),
    "tasks": ("post", "/api/v1/worker-queues/{}/tasks"),
    "audit": ("get", "/api/v1/audit"),
    "org_workers_list": ("get", "/api/v1/registered-workers"),
    "legacy": ("get", "/api/v1/task-queues"),
    "temporal_reads": ("get", "/api/v1/temporal-reads"),
}
"""Each feature and the endpoint (method, path with ``{}`` for a parameter) that provides it."""

KUBIYA_REFUSALS: dict[str, str] = {
    "drain": "Kubiya's control plane has no drain API; stop the worker's process instead "
    "(a kubiya-tui worker drains on SIGTERM; Kubiya's own worker stops at once)",
    "scale": "Kubiya's control plane has no scale API; start or stop workers yourself "
    "(`kubiya-tui worker-command QUEUE` prints the command that starts one)",
    "autoscale": "Kubiya's control plane has no autoscale API; scale the workers' deployment yourself "
    "(e.g. a Kubernetes autoscaler on the Deployment of `kubiya-tui install-script QUEUE -p kubernetes`)",
    "tasks": "Kubiya's control plane has no task API; submit work through Kubiya itself "
    "(its agents and workflows run on these queues)",
    "audit": "Kubiya's control plane has no audit API; nothing to show here",
    "legacy": "Kubiya's legacy task queues are its environments (`kubiya-tui envs list`); "
    "their metrics, tasks and migration are kubiya-tui's own extensions",
    "org_workers_list": "Kubiya's GET /api/v1/workers lists runners, not workers; workers are read per queue",
    "temporal_reads": "Kubiya's control plane does not relay Temporal reads; Temporal is read directly",
}
"""Why each feature is refused on Kubiya's control plane, and what to do instead (one line each)."""

RETRY_AFTER_SECONDS = 30.0
"""After a failed attempt to learn (control plane unreachable), the next one waits this long."""


@dataclass(frozen=True)
class Capabilities:
    """What one control plane offers. The defaults are those of an ``unknown`` control plane: everything is tried."""

    flavour: Flavour = "unknown"
    version: str | None = None
    """The version its health endpoint reports, if any."""
    drain: bool = True
    """``POST /workers/{id}/drain``: a worker finishes what it holds and exits."""
    scale: bool = True
    """``POST /worker-queues/{id}/scale``: a wanted worker count."""
    autoscale: bool = True
    """``PUT/DELETE /worker-queues/{id}/autoscale``: an autoscale policy."""
    tasks: bool = True
    """``POST/GET /worker-queues/{id}/tasks``: submit and list tasks."""
    audit: bool = True
    """``GET /audit``: the control plane's audit log."""
    org_workers_list: bool = True
    """``GET /registered-workers``: every worker of the organization in one call (else one call per queue)."""
    legacy: bool = True
    """``/task-queues``: legacy task queues and their migration."""
    temporal_reads: bool = True
    """``GET /temporal-reads``: the organization's task queues as Temporal sees them, read by the control plane."""
    stale_after: float | None = None
    """The server's own liveness rule in seconds (Kubiya: 150); None: 2.5 x the heartbeat interval."""

    @classmethod
    def of_local(cls, version: str | None = None) -> "Capabilities":
        """This project's control plane: everything."""
        return cls(flavour="kubiya-tui", version=version)

    @classmethod
    def of_kubiya(cls, version: str | None = None) -> "Capabilities":
        """Kubiya's control plane (kubiya-control-plane-api 1.0.2): docs/api.md §3 and §7."""
        return cls(
            flavour="kubiya",
            version=version,
            drain=False,
            scale=False,
            autoscale=False,
            tasks=False,
            audit=False,
            org_workers_list=False,
            legacy=False,
            temporal_reads=False,
            stale_after=KUBIYA_LIVE_SECONDS,
        )

    @classmethod
    def without_control_plane(cls) -> "Capabilities":
        """No control plane configured (a Temporal-only connection): nothing to operate."""
        keep = ("flavour", "version", "stale_after")
        return cls(**{f.name: False for f in fields(cls) if f.name not in keep})

    def refusal(self, feature: str) -> str | None:
        """Why this control plane cannot do ``feature`` (one line, with what to do instead); None when it can."""
        if getattr(self, feature, True):
            return None
        if self.flavour == "kubiya":
            return KUBIYA_REFUSALS.get(feature, f"Kubiya's control plane has no {feature} API")
        what = FEATURE_ENDPOINTS.get(feature)
        endpoint = f" ({what[0].upper()} {what[1].replace('{}', '{id}')})" if what else ""
        return f"this control plane has no {feature} API{endpoint}"


def capabilities_from(health: Mapping[str, Any] | None, openapi: Mapping[str, Any] | None) -> Capabilities:
    """The capabilities that a health answer and an OpenAPI document show (either may be missing)."""
    version = health.get("version") if isinstance(health, Mapping) and isinstance(health.get("version"), str) else None
    service = health.get("service") if isinstance(health, Mapping) else None
    if service == LOCAL_SERVICE:
        return Capabilities.of_local(version)
    if service == KUBIYA_SERVICE:
        return Capabilities.of_kubiya(version)
    info = openapi.get("info") if isinstance(openapi, Mapping) else None
    title = info.get("title") if isinstance(info, Mapping) and isinstance(info.get("title"), str) else ""
    if title == LOCAL_TITLE:
        return Capabilities.of_local(version)
    if title.lower() in KUBIYA_TITLES:
        return Capabilities.of_kubiya(version)
    flavour: Flavour = "kubiya" if "kubiya" in title.lower() else "unknown"
    paths = openapi.get("paths") if isinstance(openapi, Mapping) else None
    if not isinstance(paths, Mapping) or not paths:
        return Capabilities(flavour=flavour, version=version)
    offered = {(method.lower(), _shape(path)) for path, ops in paths.items() if isinstance(ops, Mapping) for method in ops}
    has = {name: (method, path) in offered for name, (method, path) in FEATURE_ENDPOINTS.items()}
    return Capabilities(flavour=flavour, version=version, **has)


def _shape(path: str) -> str:
    """A templated path with its parameter names dropped: ``/workers/{worker_id}`` -> ``/workers/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


async def learn_capabilities(api: "ApiClient") -> Capabilities:
    """Ask a control plane what it is. Raises ApiError when it cannot be reached at all.

    ``/api/health`` first: its ``service`` names both known control planes. Only a server
    that does not say what it is costs the OpenAPI document too (Kubiya's is ~1 s to serve).
    """
    from kubiya_tui.client.api import ApiError

    health: dict[str, Any] | None = None
    try:
        health = _json_object(await api.get_raw("/api/health"))
    except ApiError as exc:
        if exc.status == 0:
            raise  # unreachable: nothing learned, try again later
    if health is not None and health.get("service") in (LOCAL_SERVICE, KUBIYA_SERVICE):
        return capabilities_from(health, None)
    openapi: dict[str, Any] | None = None
    try:
        openapi = _json_object(await api.get_raw("/api/openapi.json"))
    except ApiError as exc:
        if exc.status == 0:
            raise
    return capabilities_from(health, openapi)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class CapabilitiesCache:
    """A control plane's capabilities, learned once and shared by everything on one connection.

    :meth:`get` waits for them (learning them on first use); :attr:`known` answers at once
    (None until learned). A failed attempt is not remembered: it is tried again after
    RETRY_AFTER_SECONDS, and meanwhile :meth:`get` answers the ``unknown`` defaults.
    """

    def __init__(self, api: "ApiClient | None", *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._api = api
        self._mono = monotonic
        self._known: Capabilities | None = None if api is not None else Capabilities.without_control_plane()
        self._learning: asyncio.Task[Capabilities | None] | None = None
        self._failed_at: float | None = None

    @property
    def known(self) -> Capabilities | None:
        """The learned capabilities, or None while they are not learned yet."""
        return self._known

    async def get(self) -> Capabilities:
        """The capabilities, learning them first if nobody has yet; never raises."""
        if self._known is not None:
            return self._known
        task = self._start()
        if task is not None:
            await asyncio.shield(task)
        return self._known or Capabilities()

    def offer_health(self, health: Any) -> None:
        """An ``/api/health`` answer read by someone else (the registry reads it each worker poll):
        enough to know the capabilities when it names a known control plane, saving a request."""
        if self._known is None and isinstance(health, dict) and health.get("service") in (LOCAL_SERVICE, KUBIYA_SERVICE):
            self._known = capabilities_from(health, None)

    def learn_soon(self) -> None:
        """Start learning in the background (from a running event loop); a no-op when known or under way."""
        if self._known is None:
            self._start()

    def _start(self) -> "asyncio.Task[Capabilities | None] | None":
        if self._learning is not None and not self._learning.done():
            return self._learning
        if self._failed_at is not None and self._mono() - self._failed_at < RETRY_AFTER_SECONDS:
            return None
        self._learning = asyncio.get_running_loop().create_task(self._learn())
        return self._learning

    async def _learn(self) -> Capabilities | None:
        assert self._api is not None
        try:
            self._known = await learn_capabilities(self._api)
        except Exception as exc:  # unreachable or broken: the defaults stand in until the next attempt
            log.info("cannot learn the control plane's capabilities yet: %s", exc)
            self._failed_at = self._mono()
            return None
        self._failed_at = None
        log.info("control plane %s: %s", self._api.base_url, self._known)
        return self._known

    async def aclose(self) -> None:
        """Stop a learning attempt under way."""
        if self._learning is not None and not self._learning.done():
            self._learning.cancel()
            try:
                await self._learning
            except BaseException:
                pass
