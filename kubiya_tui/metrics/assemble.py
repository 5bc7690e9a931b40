"""From what the sources read to a Snapshot: where each number of a queue row is put together.

:func:`build_snapshot` is pure: no I/O, no clock (``now`` is given), nothing it is given is
changed. Per watched queue it takes the newest reading of each source and makes the row:

* **depth** (tasks waiting), backlog age, in/out rates and pollers: :func:`temporal_numbers`,
  from ``DescribeTaskQueue`` (``TemporalReader.queue_stats`` sums the workflow and activity
  task types); without Temporal, :func:`api_numbers` from the control plane's metrics endpoint.
* processed per minute, error rate, p50/p95 duration: :func:`outcome_numbers` from
  visibility; without Temporal, from the workers' counters and their own duration summaries.
* time to drain, capacity and the worker counts: :func:`build_snapshot` and :func:`worker_rows`.

Data kept from a source whose last poll failed is marked stale with its age.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from kubiya_tui.metrics import derive
from kubiya_tui.metrics.scheduler import Reading
from kubiya_tui.metrics.snapshot import QueueSnapshot, Snapshot, SourceState, WorkerCounts, WorkerSnapshot
from kubiya_tui.metrics.stuck import STUCK_AFTER_SECONDS, mark_stuck
from kubiya_tui.metrics.sources.outcomes import Outcome
from kubiya_tui.metrics.sources.registry import QueueRef, Registry, RegisteredWorker
from kubiya_tui.vocabulary import WorkerHealth

if TYPE_CHECKING:
    from kubiya_tui.client.temporal_types import QueueStats
    from kubiya_tui.models import WorkerQueueMetrics

MIN_RATE_WINDOW = 10.0
"""The shortest span a young queue's processing rate is taken over (at least one refresh interval)."""
GONE_KEEP_SECONDS = 600.0
"""A worker that said goodbye stays in snapshots (as gone) this long."""
LIVE = (WorkerHealth.healthy, WorkerHealth.draining)
"""Workers whose slots count as capacity, and whose duration summaries count (API-only)."""


@dataclass(frozen=True)
class SnapshotRules:
    """The collector's settings that the numbers depend on."""

    mode: str = "api+temporal"
    """api+temporal, api or temporal: which backends the collector reads."""
    window: float = 300.0
    """Seconds of closed executions that rates and error rates are taken over."""
    interval: float = 2.0
    stats_interval: float = 5.0
    poll_grace: float = 30.0
    """A newly registered worker gets this long to show up as a Temporal poller before it is flagged."""
    durations: bool = True
    """Whether durations are read (a ``duration_samples`` of 0 then means none closed)."""
    profile: str | None = None
    stuck_after: float = STUCK_AFTER_SECONDS
    """How long the oldest task waits, with free slots and nothing dispatched, before its queue is stuck."""

    @property
    def with_api(self) -> bool:
        return self.mode != "temporal"

    @property
    def with_temporal(self) -> bool:
        return self.mode != "api"


@dataclass(frozen=True)
class Readings:
    """What the sources hold at one moment (each keyed by task queue name, or by queue id for the API's)."""

    registry: Registry | None = None
    stats: Mapping[str, Reading[QueueStats]] = field(default_factory=dict)
    partitions: Mapping[str, Reading[int]] = field(default_factory=dict)
    temporal_workers: Mapping[str, Reading[list[dict]]] = field(default_factory=dict)
    outcomes: Mapping[str, Reading[Outcome]] = field(default_factory=dict)
    api_metrics: Mapping[str, Reading[WorkerQueueMetrics]] = field(default_factory=dict)
    """By queue id."""
    counters: Mapping[str, derive.CounterWindow] = field(default_factory=dict)
    """By queue id (API-only)."""
    api_failing: bool = False
    """The control plane's last poll failed: its data in rows is stale (well before the source reads "down")."""
    temporal_failing: bool = False
    """Temporal's last stats or visibility poll failed."""
    control_plane_version: str | None = None
    """What the control plane's ``/api/health`` says it runs."""


@dataclass
class _Row:
    """A queue row while it is put together: its numbers and what is stale in it."""

    numbers: dict[str, Any] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ages: list[float] = field(default_factory=list)
    """Ages of the data that is stale in this row."""


def build_snapshot(
    rules: SnapshotRules,
    watched: Sequence[QueueRef],
    readings: Readings,
    *,
    now: float,
    sources: dict[str, SourceState] | None = None,
    previous: Snapshot | None = None,
    refresh_ms: float | None = None,
) -> Snapshot:
    """The snapshot of the watched queues from the sources' readings at wall time ``now``.

    A row equal to the same queue's row in ``previous`` is that row's object (over 1,000s of
    queues, less heap churn every refresh); equal either way.
    """
    before = {q.id: q for q in previous.queues} if previous is not None else {}
    by_queue: dict[str, list[RegisteredWorker]] = {}
    if readings.registry is not None:
        for rw in readings.registry.workers:
            key = rw.queue_key
            if key is not None:
                by_queue.setdefault(key, []).append(rw)
    queues: list[QueueSnapshot] = []
    workers: list[WorkerSnapshot] = []
    for ref in watched:
        queue, its_workers = queue_row(rules, ref, by_queue.get(ref.id, []), readings, now)
        old = before.get(queue.id)
        queues.append(old if old == queue else queue)
        workers.extend(its_workers)
    queues.sort(key=lambda q: (q.legacy, q.environment or "", q.name, q.id))
    workers = ordered_workers(workers, queues)
    return Snapshot(
        taken_at=now,
        queues=tuple(queues),
        workers=tuple(workers),
        sources=dict(sources or {}),
        profile=rules.profile,
        mode=rules.mode,
        window_seconds=rules.window,
        refresh_ms=None if refresh_ms is None else round(refresh_ms, 1),
        control_plane_version=readings.control_plane_version,
        workers_read_at=readings.registry.workers_at if readings.registry is not None else None,
    )


def queue_row(
    rules: SnapshotRules, ref: QueueRef, registered: list[RegisteredWorker], readings: Readings, now: float
) -> tuple[QueueSnapshot, list[WorkerSnapshot]]:
    """One queue's row and its workers."""
    row = _Row()
    registry = readings.registry
    if rules.with_api and registry is not None and readings.api_failing:
        row.stale.append("api")
        row.ages.append(now - registry.at)
    seen = _Temporal()
    if rules.with_temporal:
        seen = temporal_numbers(row, ref, readings, rules, now)
        outcomes_stale = outcome_numbers(row, ref, readings, rules, now)
        if seen.stale or outcomes_stale:
            row.stale.append("temporal")
    else:
        api_numbers(row, ref, registered, readings, now)
    ttd, growing = derive.time_to_drain(
        row.numbers.get("depth"), row.numbers.get("add_rate_per_min"), row.numbers.get("dispatch_rate_per_min")
    )
    row.numbers["time_to_drain_seconds"] = _round(ttd, 1)
    row.numbers["growing"] = growing
    workers, counts, used, total = worker_rows(rules, ref, registered, registry, seen, now)
    if total:
        row.numbers["capacity_used"] = used
        row.numbers["capacity_total"] = total
    queue = QueueSnapshot(
        id=ref.id,
        name=ref.name,
        environment=ref.environment,
        task_queue_name=ref.task_queue_name,
        status=ref.status,
        legacy=ref.legacy,
        workers=counts,
        desired_workers=ref.desired_workers,
        max_workers=ref.max_workers,
        heartbeat_interval=ref.heartbeat_interval,
        autoscale=ref.autoscale,
        stale=bool(row.stale),
        stale_sources=tuple(row.stale),
        data_age_seconds=round(max(row.ages), 1) if row.ages else None,
        environment_id=ref.environment_id,
        description=ref.description,
        settings=ref.settings,
        tags=ref.tags,
        last_error=row.errors[0] if row.errors else None,
        **row.numbers,
    )
    return mark_stuck(queue, rules.stuck_after), workers


def ordered_workers(workers: list[WorkerSnapshot], queues: Sequence[QueueSnapshot]) -> list[WorkerSnapshot]:
    """Workers in a stable order (their queue's, then when they registered), each gone one linked to its replacement.

    Never by heartbeat: rows must not move on every refresh. Pollers no registration accounts
    for come after a queue's registered workers.
    """
    place = {q.id: i for i, q in enumerate(queues)}
    ordered = sorted(
        workers,
        key=lambda w: (place.get(w.queue_id or "", len(place)), w.registered_at is None, w.registered_at or 0.0, w.worker_id),
    )
    links = derive.replacements(
        derive.Lifetime(
            worker_id=w.worker_id,
            queue=w.queue_id,
            host=w.hostname,
            healthy=w.health == WorkerHealth.healthy and not w.polling_not_registered,
            gone=w.health == WorkerHealth.gone,
            registered_at=w.registered_at,
            left_at=w.left_at,
        )
        for w in ordered
    )
    if not links and not any(w.replaced_by for w in ordered):
        return ordered
    return [w if w.replaced_by == links.get(w.worker_id) else replace(w, replaced_by=links.get(w.worker_id)) for w in ordered]


@dataclass(frozen=True)
class _Temporal:
    """What Temporal's stats said about a queue's pollers, for its worker rows."""

    stats: Reading[QueueStats] | None = None
    polling: frozenset[str] = frozenset()
    """Identities that poll the queue now."""
    workers: tuple[dict, ...] = ()
    """ListWorkers answers for the queue."""
    fresh: bool = False
    """The stats are recent and their poll went well: flags may be raised from them."""
    stale: bool = False


def temporal_numbers(row: _Row, ref: QueueRef, readings: Readings, rules: SnapshotRules, now: float) -> _Temporal:
    """Depth, backlog age, in/out rates, priorities, pollers and partitions of a queue, from Temporal.

    **depth** is ``approximate_backlog_count`` of the workflow plus activity task types; the
    rates are per minute (Temporal's are per second).
    """
    tq = ref.task_queue_name
    stale = readings.temporal_failing
    stats = readings.stats.get(tq)
    found = _Temporal(stats=stats)
    if stats is not None and stats.value is not None and stats.at is not None:
        st = stats.value
        if stats.error:
            stale = True
            row.errors.append(stats.error)
        if stale:
            row.ages.append(now - stats.at)
        tw = readings.temporal_workers.get(tq)
        workers = tuple(tw.value or ()) if tw is not None and tw.value is not None else ()
        polling = derive.live_identities(st.poller_last_access, stats.at, workers)
        fresh = not stale and not stats.error and (now - stats.at) < max(3 * rules.stats_interval, 30.0)
        row.numbers.update(
            depth=st.backlog,
            backlog_age_seconds=round(st.backlog_age_seconds, 3),
            add_rate_per_min=round(st.add_rate_per_second * 60, 3),
            dispatch_rate_per_min=round(st.dispatch_rate_per_second * 60, 3),
            priority_backlog={int(k): int(v) for k, v in sorted(st.backlog_by_priority.items()) if v},
            pollers=len(polling),
            versioned_builds=tuple(sorted({b for i, b in st.versioned_builds.items() if i in polling})),
        )
        found = _Temporal(stats=stats, polling=frozenset(polling), workers=workers, fresh=fresh)
    elif stats is not None and stats.error:
        row.errors.append(stats.error)
    parts = readings.partitions.get(tq)
    if parts is not None and parts.value is not None:
        row.numbers["partitions"] = parts.value
    return replace(found, stale=stale)


def outcome_numbers(row: _Row, ref: QueueRef, readings: Readings, rules: SnapshotRules, now: float) -> bool:
    """Closed executions, processed per minute, error rate and durations of a queue, from visibility.

    Answers whether they are stale (kept from before a failed read).
    """
    reading = readings.outcomes.get(ref.task_queue_name)
    if reading is None or reading.value is None or reading.at is None:
        return False
    oc = reading.value
    closed = sum(oc.by_status.values())
    # A queue younger than the window closed its executions over its age, not the whole window.
    span = derive.rate_window(rules.window, reading.at, ref.created_at, max(MIN_RATE_WINDOW, rules.interval))
    row.numbers.update(
        closed_by_status=dict(oc.by_status),
        closed_in_window=closed,
        processed_per_min=round(derive.per_minute(closed, span), 3),
        error_rate=_round(derive.error_rate(oc.by_status), 4),
    )
    if oc.samples:
        row.numbers.update(
            duration_p50_seconds=_round(oc.p50, 3),
            duration_p95_seconds=_round(oc.p95, 3),
            duration_samples=oc.samples,
            duration_source="temporal",
        )
    elif rules.durations:
        row.numbers.update(duration_samples=0, duration_source="temporal")
    if reading.error:
        row.errors.append(reading.error)
        row.ages.append(now - reading.at)
        return True
    return False


def api_numbers(row: _Row, ref: QueueRef, registered: list[RegisteredWorker], readings: Readings, now: float) -> None:
    """Without Temporal: the control plane's metrics of the queue, the workers' counters and durations."""
    reading = readings.api_metrics.get(ref.id)
    if reading is not None and reading.value is not None and reading.at is not None:
        m = reading.value
        if reading.error and "api" not in row.stale:
            row.stale.append("api")
        if reading.error or "api" in row.stale:
            row.ages.append(now - reading.at)
        if reading.error:
            row.errors.append(reading.error)
        if m.temporal_available:
            row.numbers.update(
                depth=m.task_queue_backlog,
                backlog_age_seconds=m.task_queue_backlog_age_seconds,
                add_rate_per_min=m.tasks_add_rate_per_min,
                dispatch_rate_per_min=m.tasks_dispatch_rate_per_min,
                pollers=m.task_queue_pollers,
            )
        elif m.temporal_error:
            row.errors.append(m.temporal_error)
    counter = readings.counters.get(ref.id)
    if counter is not None:
        per_min, rate, closed = counter.rates()
        row.numbers.update(processed_per_min=_round(per_min, 3), error_rate=_round(rate, 4), closed_in_window=closed)
    live_meta = [rw.worker.metadata for rw in registered if rw.health in LIVE]
    p50, p95 = derive.merge_worker_durations(live_meta)
    if p50 is not None or p95 is not None:
        row.numbers.update(
            duration_p50_seconds=_round(p50, 3),
            duration_p95_seconds=_round(p95, 3),
            duration_source="workers",
            duration_samples=sum(1 for m in live_meta if m.get("task_duration_p50_ms") is not None),
        )


def worker_rows(
    rules: SnapshotRules,
    ref: QueueRef,
    registered: list[RegisteredWorker],
    registry: Registry | None,
    temporal: "_Temporal",
    now: float,
) -> tuple[list[WorkerSnapshot], WorkerCounts, int, int]:
    """A queue's workers (registered, and pollers no registration accounts for), their counts and slots."""
    by_identity = {w["identity"]: w for w in temporal.workers if w.get("identity")}
    out: list[WorkerSnapshot] = []
    healthy = stale = draining = not_polling = unregistered = 0
    used = total = 0
    since_poll = now - registry.workers_at if registry is not None else 0.0
    known = set()
    for rw in registered:
        w = rw.worker
        # Its poller is the one of its worker id, or of pid@hostname (Kubiya's worker): one row, not two.
        identities = derive.worker_identities(w.worker_id, w.system_info)
        known.update(identities)
        health = rw.health
        left = None
        if health == WorkerHealth.gone:
            left = rw.left_at
            if left is None and rw.heartbeat_age is not None and registry is not None:
                left = registry.workers_at - rw.heartbeat_age
            if left is None or now - left > GONE_KEEP_SECONDS:
                continue
        elif health == WorkerHealth.healthy:
            healthy += 1
        elif health == WorkerHealth.stale:
            stale += 1
        elif health == WorkerHealth.draining:
            draining += 1
        registered_age = now - w.registered_at if w.registered_at is not None else None
        flag = rules.with_temporal and derive.registered_not_polling(
            health, identities, registered_age, temporal.polling, temporal.fresh, rules.poll_grace
        )
        not_polling += flag
        slots_used, slots_free = w.slots_used, w.slots_available
        tw = next((by_identity[i] for i in identities if i in by_identity), None)
        if slots_used is None and tw is not None:
            slots_used, slots_free = tw.get("activity_slots_used"), tw.get("activity_slots_available")
        if health in LIVE and slots_used is not None and slots_free is not None:
            used += slots_used
            total += slots_used + slots_free
        out.append(
            replace(
                w,
                queue_id=ref.id,
                queue_name=ref.name,
                health=health,
                heartbeat_age_seconds=None if rw.heartbeat_age is None else round(rw.heartbeat_age + since_poll, 1),
                hostname=w.hostname or (tw or {}).get("host_name") or None,
                slots_used=slots_used,
                slots_available=slots_free,
                registered_not_polling=flag,
                task_queue_name=ref.task_queue_name,
                left_at=left,
            )
        )
    stats = temporal.stats
    if rules.with_temporal and stats is not None and stats.value is not None:
        last_access = stats.value.poller_last_access
        identities = set(temporal.polling) if temporal.fresh else set()
        if not rules.with_api:
            identities |= set(last_access) | set(by_identity)
        for identity in sorted(identities - known):
            tw = by_identity.get(identity)
            if tw is not None:
                health = WorkerHealth(derive.temporal_only_health(tw.get("status_name"), tw.get("heartbeat_age_seconds")))
                hb_age = tw.get("heartbeat_age_seconds")
            else:
                seen = last_access.get(identity) or 0.0
                hb_age = max(0.0, now - seen) if seen else None
                health = WorkerHealth.healthy if identity in temporal.polling else WorkerHealth.stale
            if not rules.with_api:
                if health == WorkerHealth.gone:
                    continue
                healthy += health == WorkerHealth.healthy
                stale += health == WorkerHealth.stale
                draining += health == WorkerHealth.draining
            else:
                unregistered += 1
            slots_used = tw.get("activity_slots_used") if tw else None
            slots_free = tw.get("activity_slots_available") if tw else None
            if not rules.with_api and health in LIVE and slots_used is not None and slots_free is not None:
                used += slots_used
                total += slots_used + slots_free
            out.append(
                WorkerSnapshot(
                    worker_id=identity,
                    queue_id=ref.id,
                    queue_name=ref.name,
                    health=health,
                    status=tw.get("status_name", "polling").lower() if tw else "polling",
                    heartbeat_age_seconds=None if hb_age is None else round(hb_age, 1),
                    hostname=(tw or {}).get("host_name") or None,
                    slots_used=slots_used,
                    slots_available=slots_free,
                    processed=int((tw or {}).get("activity_processed") or 0),
                    failed=int((tw or {}).get("activity_failed") or 0),
                    polling_not_registered=rules.with_api,
                    task_queue_name=ref.task_queue_name,
                    source="temporal",
                )
            )
    counts = WorkerCounts(
        healthy=healthy,
        stale=stale,
        draining=draining,
        total=healthy + stale + draining,
        not_polling=not_polling,
        unregistered=unregistered,
    )
    return out, counts, used, total


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
