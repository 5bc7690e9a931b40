"""The control plane as a source: which queues exist, which workers are registered, their heartbeats.

``GET /worker-queues`` every refresh, ``GET /workers`` every ``workers_interval`` (heartbeats
come 10 s apart at best; a control plane without that endpoint is asked per queue) with
``GET /api/health`` (the control plane's version), and now and then ``GET /environments``. Bodies are parsed item by item into plain records, never
models: 2,000 workers are 2 MB of JSON.

Also here: which queues are watched (:func:`watched_queues`): those the control plane lists,
legacy task queues that live registered workers poll, and the profile's task queues.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence
from urllib.parse import quote

from kubiya_tui.metrics.ports import CapabilitiesView, ControlPlaneReader
from kubiya_tui.metrics.snapshot import WorkerSnapshot
from kubiya_tui.vocabulary import WorkerHealth, derive_health, effective_interval

ENVIRONMENTS_PATH = "/api/v1/environments"
ORG_WORKERS_PATH = "/api/v1/registered-workers"
"""Every worker of the organization in one call (kubiya-tui's; Kubiya's ``/workers`` means runners)."""

ENVIRONMENTS_INTERVAL = 300.0
"""Environment names are read again this often when a filter names environments."""
WORKERS_INTERVAL = 5.0
"""The worker list is read this often (heartbeats come every 10 s at best); the queue list every refresh."""


@dataclass(frozen=True)
class QueueRef:
    """A watched queue: from the control plane, a legacy task queue, or a profile's task_queues."""

    id: str
    name: str
    task_queue_name: str
    environment: str | None = None
    environment_id: str | None = None
    status: str = "active"
    legacy: bool = False
    desired_workers: int | None = None
    max_workers: int | None = None
    heartbeat_interval: int | None = None
    autoscale: dict[str, Any] | None = None
    description: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    created_at: float | None = None
    """When the control plane created the queue (epoch seconds); None when unknown (legacy, Temporal-only)."""

    @property
    def label(self) -> str:
        return f"{self.environment}/{self.name}" if self.environment else self.name


@dataclass(slots=True)
class RegisteredWorker:
    """A worker of the control plane's list: its snapshot as registered, plus what ageing it needs.

    ``worker`` holds what the control plane said (its ``queue_id`` is the registration's, None
    for a legacy worker); a snapshot sets the queue, age, slots and flags with ``replace``.
    Kept from poll to poll while the worker's heartbeat is the same; only ``health`` and
    ``heartbeat_age`` are brought up to date.
    """

    worker: WorkerSnapshot
    last_heartbeat: float | None
    left_at: float | None
    """When it disconnected (gone workers)."""
    environment_id: str | None
    health: WorkerHealth = WorkerHealth.healthy
    """As of the latest poll."""
    heartbeat_age: float | None = None
    """Seconds since its last heartbeat, as of the latest poll."""
    observed_interval: float | None = None
    """The interval it is seen to keep between heartbeats, when the control plane says (ours does)."""

    @property
    def queue_key(self) -> str | None:
        """The id of the watched queue it belongs to: its queue, or ``legacy:TASK_QUEUE``."""
        if self.worker.queue_id is not None:
            return self.worker.queue_id
        return f"legacy:{self.worker.task_queue_name}" if self.worker.task_queue_name else None


@dataclass(frozen=True)
class Registry:
    """One good answer of the control plane."""

    at: float
    """Wall time of the queue list."""
    queues: tuple[QueueRef, ...]
    workers: tuple[RegisteredWorker, ...]
    workers_at: float
    """Wall time of the worker list (read less often than queues: heartbeats are 10 s apart at best)."""
    watched: tuple[QueueRef, ...] = ()


@dataclass(frozen=True)
class Selection:
    """Which queues a collector watches: all, or those of some environments, or some named queues."""

    environments: frozenset[str] | None = None
    """Environment names or ids; None: every environment."""
    queues: tuple[str, ...] | None = None
    """Selectors (see :func:`queue_matches`); None: every queue."""

    def keeps(self, ref: QueueRef) -> bool:
        if self.environments and not ({ref.environment, ref.environment_id} & self.environments):
            return False
        if self.queues:
            return any(queue_matches(ref, s) for s in self.queues)
        return True

    def keeps_legacy(self, task_queue: str, environment_id: str | None, env_names: dict[str, str]) -> bool:
        if self.environments and environment_id not in self.environments and (
            env_names.get(environment_id or "") not in self.environments
        ):
            return False
        if self.queues and not any(s in (task_queue, f"legacy:{task_queue}") for s in self.queues):
            return False
        return True


def queue_matches(ref: Any, selector: str) -> bool:
    """Whether a queue is named by an id, an id prefix of 8+, a name, ENV/NAME or its task queue."""
    if selector in (ref.id, ref.name, ref.task_queue_name):
        return True
    if "/" in selector:
        env, _, name = selector.rpartition("/")
        if name == ref.name and env in (ref.environment, ref.environment_id):
            return True
    return len(selector) >= 8 and ref.id.startswith(selector)


def watched_queues(
    registry: Registry | None,
    task_queues: Sequence[str],
    *,
    with_control_plane: bool,
    selection: Selection,
    env_names: dict[str, str],
) -> list[QueueRef]:
    """Queues of the control plane, legacy task queues that live workers poll, the profile's task queues."""
    refs: list[QueueRef] = list(registry.queues) if registry is not None else []
    known = {r.task_queue_name for r in refs}
    if registry is not None:
        for rw in registry.workers:
            w = rw.worker
            tq = w.task_queue_name
            if w.queue_id is not None or not tq or tq in known or rw.health == WorkerHealth.gone:
                continue
            if not selection.keeps_legacy(tq, rw.environment_id, env_names):
                continue
            known.add(tq)
            refs.append(
                QueueRef(
                    id=f"legacy:{tq}",
                    name=tq,
                    task_queue_name=tq,
                    environment=env_names.get(rw.environment_id or ""),
                    environment_id=rw.environment_id,
                    legacy=True,
                )
            )
    for tq in task_queues:
        if tq not in known:
            known.add(tq)
            refs.append(QueueRef(id=f"tq:{tq}" if with_control_plane else tq, name=tq, task_queue_name=tq))
    return refs


class RegistrySource:
    """Polls the control plane's queues, workers and environments into a :class:`Registry`."""

    def __init__(
        self,
        api: ControlPlaneReader,
        *,
        task_queues: Sequence[str],
        selection: Selection,
        workers_interval: float,
        semaphore: asyncio.Semaphore,
        capabilities: CapabilitiesView | None,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        on_workers: Callable[[Registry, float], None] | None = None,
    ) -> None:
        self.api = api
        self.task_queues = tuple(task_queues)
        self.selection = selection
        self.workers_interval = workers_interval
        self._sem = semaphore
        self._capabilities = capabilities
        self._clock = clock
        self._mono = monotonic
        self._on_workers = on_workers
        self.registry: Registry | None = None
        self.control_plane_version: str | None = None
        """The kubiya-tui version the control plane's ``/api/health`` reports; workers on another one are flagged."""
        self.env_names: dict[str, str] = {}
        self._workers: dict[str, tuple[tuple, RegisteredWorker]] = {}
        self._qrefs: dict[str, QueueRef] = {}
        self._workers_read = -1e18
        self._envs_read = -1e18
        self._workers_endpoint = True

    def _org_workers_list(self) -> bool:
        """Whether to read every worker in one ``GET /workers`` (else one call per queue)."""
        if not self._workers_endpoint:
            return False
        if self._capabilities is None:
            return True
        known = self._capabilities.known
        if known is None:
            return True  # until known, try it: a 404 says no
        return known.org_workers_list

    async def poll(self, force: bool) -> str | None:
        """One poll: the queue list, and the worker list when due; answers None (a Poller's work)."""
        from kubiya_tui.client.api import ApiError

        previous = self.registry
        if previous is not None and self._capabilities is not None and self._capabilities.known is None:
            # Learned from the second poll on, whatever the worker list said (a 404 there is what
            # Kubiya's server answers): a one-shot `check` or `top` (one poll) never pays for it. A
            # first poll's health read that names the control plane has taught them already (offer_health).
            self._capabilities.learn_soon()
        want_workers = force or previous is None or self._mono() - self._workers_read >= self.workers_interval
        # Environments are read beside the queue list when a selection names them (by name or id).
        envs_due = bool(self.selection.environments) and self._mono() - self._envs_read > ENVIRONMENTS_INTERVAL
        envs_raw: bytes | BaseException | None = None
        workers_raw: bytes | None = None
        if want_workers and self._org_workers_list():
            queues_raw, answer, health_raw, envs_raw = await asyncio.gather(
                self.api.get_raw("/api/v1/worker-queues"),
                self.api.get_raw(ORG_WORKERS_PATH),
                self.api.get_raw("/api/health"),
                self.api.get_raw(ENVIRONMENTS_PATH) if envs_due else _nothing(),
                return_exceptions=True,
            )
            self._note_control_plane_version(health_raw)
            if isinstance(queues_raw, BaseException):
                raise queues_raw
            if isinstance(answer, ApiError) and answer.status in (404, 405):
                # This control plane has no org-wide worker list after all: ask per queue from now on.
                self._workers_endpoint = False
            elif isinstance(answer, BaseException):
                raise answer
            else:
                workers_raw = answer
        else:
            queues_raw, envs_raw = await asyncio.gather(
                self.api.get_raw("/api/v1/worker-queues"),
                self.api.get_raw(ENVIRONMENTS_PATH) if envs_due else _nothing(),
                return_exceptions=True,
            )
            if isinstance(queues_raw, BaseException):
                raise queues_raw
        now = self._clock()
        refs = [r for q in json_list(queues_raw, "/api/v1/worker-queues", "worker_queues", "queues") if (r := self._queue_ref(q))]
        if envs_raw is None and any(r.environment is None and r.environment_id for r in refs):
            try:
                envs_raw = await self.api.get_raw(ENVIRONMENTS_PATH)
            except ApiError as exc:
                envs_raw = exc
        if isinstance(envs_raw, BaseException) and not isinstance(envs_raw, ApiError):
            raise envs_raw
        if isinstance(envs_raw, bytes):  # a failed read (ApiError) leaves the names known so far
            try:  # raw, as the queue list: a poll builds no pydantic model
                envs = list(json_list(envs_raw, ENVIRONMENTS_PATH, "environments"))
            except ApiError:
                pass
            else:
                self.env_names.update({e["id"]: e["name"] for e in envs if isinstance(e.get("id"), str) and isinstance(e.get("name"), str)})
                self._envs_read = self._mono()
                refs = [
                    replace(r, environment=self.env_names.get(r.environment_id or "")) if r.environment is None else r
                    for r in refs
                ]
        refs = [r for r in refs if self.selection.keeps(r)]
        workers: Iterable[dict] | None = None
        if workers_raw is not None:
            workers = json_list(workers_raw, ORG_WORKERS_PATH, "workers")
        elif want_workers:
            workers = await self._workers_per_queue(refs)
        if workers is not None:
            wanted = {r.id for r in refs}
            rows = tuple(row for w in workers if (row := self._registered(w, now, wanted)) is not None)
            self._workers_read = self._mono()
            if len(self._workers) > len(rows):
                seen = {row.worker.worker_id for row in rows}
                self._workers = {k: v for k, v in self._workers.items() if k in seen}
            workers_at = now
        else:
            assert previous is not None
            rows, workers_at = previous.workers, previous.workers_at
        registry = Registry(at=now, queues=tuple(refs), workers=rows, workers_at=workers_at)
        watched = watched_queues(
            registry, self.task_queues, with_control_plane=True, selection=self.selection, env_names=self.env_names
        )
        self.registry = replace(registry, watched=tuple(watched))
        if workers is not None and self._on_workers is not None:
            self._on_workers(self.registry, now)
        return None

    def _note_control_plane_version(self, answer: bytes | BaseException) -> None:
        """The version in a ``/api/health`` answer, read with the worker list; a failed read keeps the last one."""
        try:
            health = json.loads(answer) if isinstance(answer, bytes) else None
            version = health.get("version") if health is not None else None
        except (ValueError, AttributeError):
            health = version = None
        if self._capabilities is not None and health is not None:
            self._capabilities.offer_health(health)
        if isinstance(version, str) and version:
            self.control_plane_version = version

    async def _workers_per_queue(self, refs: Iterable[QueueRef]) -> list[dict]:
        async def one(ref: QueueRef) -> list[dict]:
            async with self._sem:
                path = f"/api/v1/worker-queues/{quote(ref.id, safe='')}/workers"
                listed = list(json_list(await self.api.get_raw(path), path, "workers"))
            for w in listed:
                # Kubiya's server names no queue: it is the one asked about.
                if w.get("queue_id") is None:
                    w["queue_id"] = ref.id
                if w.get("heartbeat_interval") is None and ref.heartbeat_interval:
                    w["heartbeat_interval"] = ref.heartbeat_interval
            return listed

        answers = await asyncio.gather(*(one(r) for r in refs))
        return [w for batch in answers for w in batch]

    def _queue_ref(self, q: dict) -> QueueRef | None:
        queue_id, name = q.get("id"), q.get("name")
        if not isinstance(queue_id, str) or not isinstance(name, str):
            return None
        env_id = q.get("environment_id")
        env_name = q.get("environment_name")
        if env_name and env_id:
            self.env_names.setdefault(env_id, env_name)
        ref = QueueRef(
            id=queue_id,
            name=name,
            task_queue_name=q.get("task_queue_name") or queue_id,
            environment=env_name or self.env_names.get(env_id or ""),
            environment_id=env_id,
            status=q.get("status") or "active",
            desired_workers=q.get("desired_workers"),
            max_workers=q.get("max_workers"),
            heartbeat_interval=q.get("heartbeat_interval"),
            autoscale=q.get("autoscale"),
            description=q.get("description"),
            settings=q.get("settings") or {},
            tags=tuple(q.get("tags") or ()),
            created_at=epoch(q.get("created_at")),
        )
        # An unchanged queue keeps its old object: fewer long-lived allocations, less heap churn.
        before = self._qrefs.get(queue_id)
        if before == ref:
            return before
        self._qrefs[queue_id] = ref
        return ref

    def _registered(self, w: dict, now: float, wanted: set[str]) -> RegisteredWorker | None:
        """The record of one worker of a watched queue (or of a legacy task queue); None for others."""
        worker_id = w.get("worker_id") or w.get("id")
        if not isinstance(worker_id, str):
            return None
        queue_id = w.get("queue_id")
        if queue_id is not None and queue_id not in wanted:
            return None
        key = (
            w.get("last_heartbeat"),
            w.get("status"),
            w.get("desired_state"),
            queue_id,
            w.get("disconnected_at"),
            w.get("tasks_processed"),
            w.get("tasks_failed"),
            w.get("slots_used"),
            w.get("drain_ignored"),
            w.get("observed_heartbeat_interval"),
        )
        cached = self._workers.get(worker_id)
        if cached is not None and cached[0] == key:
            rw = cached[1]
        else:
            rw = parse_worker(worker_id, w)
            self._workers[worker_id] = (key, rw)
        age = w.get("heartbeat_age_seconds")
        if not isinstance(age, (int, float)):
            age = None if rw.last_heartbeat is None else max(0.0, now - rw.last_heartbeat)
        rw.heartbeat_age = age
        known = self._capabilities.known if self._capabilities is not None else None
        rw.health = derive_health(
            rw.worker.status,
            rw.worker.desired_state,
            age,
            effective_interval(rw.worker.heartbeat_interval, rw.observed_interval),
            stale_after=known.stale_after if known is not None else None,
            drain_ignored=rw.worker.drain_ignored,
        )
        return rw


def parse_worker(worker_id: str, w: dict) -> RegisteredWorker:
    """One worker of a control-plane answer (a JSON object of docs/api-contract.md) as a record."""
    system_info = w.get("system_info") if isinstance(w.get("system_info"), dict) else {}
    ids = w.get("current_task_ids") or ([w["current_task_id"]] if w.get("current_task_id") else [])
    queue_id = w.get("queue_id")
    worker = WorkerSnapshot(
        worker_id=worker_id,
        queue_id=queue_id,
        queue_name=w.get("queue_name"),
        health=WorkerHealth.healthy,
        status=str(w.get("status") or "active"),
        hostname=w.get("hostname") or system_info.get("hostname"),
        slots_used=int_or_none(w.get("slots_used")),
        slots_available=int_or_none(w.get("slots_available")),
        processed=int_or_none(w.get("tasks_processed")) or 0,
        failed=int_or_none(w.get("tasks_failed")) or 0,
        current_task_ids=tuple(str(i) for i in ids),
        desired_state=w.get("desired_state"),
        registered_at=epoch(w.get("registered_at")),
        system_info=system_info,
        capabilities=w.get("capabilities") if isinstance(w.get("capabilities"), dict) else {},
        metadata=w.get("worker_metadata") if isinstance(w.get("worker_metadata"), dict) else {},
        heartbeat_interval=float(w.get("heartbeat_interval") or 60),
        task_queue_name=w.get("task_queue_name") or (w.get("queue_name") if queue_id is None else None),
        source="api",
        version=str_or_none(system_info.get("sdk_version")),
        drain_requested_at=epoch(w.get("drain_requested_at")),
        drain_ignored=w.get("drain_ignored") is True,
    )
    observed = w.get("observed_heartbeat_interval")
    return RegisteredWorker(
        worker=worker,
        last_heartbeat=epoch(w.get("last_heartbeat")),
        left_at=epoch(w.get("disconnected_at")),
        environment_id=w.get("environment_id"),
        observed_interval=float(observed) if isinstance(observed, (int, float)) and not isinstance(observed, bool) else None,
    )


# ---------------------------------------------------------------------------- plain values

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


async def _nothing() -> None:
    """Stands in a gather for a read that is not due."""
    return None


def json_list(content: bytes, path: str, *keys: str) -> Iterator[dict]:
    """The objects of a JSON list, parsed one at a time (a big list never exists whole in memory).

    A body that is an object wrapping the list (``{"workers": [...]}``) is parsed whole.
    A malformed body is an ApiError naming the path.
    """
    from kubiya_tui.client.api import ApiError

    try:
        text = content.decode("utf-8")
        i = _WS.match(text, 0).end()  # type: ignore[union-attr]
        if not text.startswith("[", i):
            data = json.loads(text)
            if isinstance(data, dict):
                data = next((data[k] for k in (*keys, "items", "data", "results") if isinstance(data.get(k), list)), None)
            if not isinstance(data, list):
                raise ValueError("expected a JSON list")
            yield from (item for item in data if isinstance(item, dict))
            return
        i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
        if text.startswith("]", i):
            return
        while True:
            item, i = _DECODER.raw_decode(text, i)
            if isinstance(item, dict):
                yield item
            i = _WS.match(text, i).end()  # type: ignore[union-attr]
            mark = text[i : i + 1]
            if mark == ",":
                i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
            elif mark == "]":
                return
            else:
                raise ValueError(f"unexpected {mark!r} at character {i}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(200, "not a JSON list", message=f"unexpected answer from the control plane ({path}): {exc}") from None


def epoch(value: Any) -> float | None:
    """An ISO 8601 time (naive means UTC) or a number as epoch seconds; None for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
