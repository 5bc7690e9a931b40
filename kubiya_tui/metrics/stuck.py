"""A stuck queue: tasks wait while its workers have room, and Temporal hands out nothing.

The rule (one for the console, ``top`` and ``check``): a queue is **stuck** when

* tasks are waiting (depth > 0) and the oldest has waited ``after`` seconds or more
  (STUCK_AFTER_SECONDS, 30 s, by default; ``check --stuck-after`` moves it);
* Temporal dispatches nothing (its dispatch rate under NO_DISPATCH_PER_MIN);
* the queue has live workers (healthy or draining) and free slots on its healthy ones (or
  slots that nobody reports).

A queue with no worker at all is not stuck (its workers column says so), nor one whose slots
are all busy (it is saturated), nor one whose backlog moves. The numbers must be fresh: a row
with numbers from an earlier poll (a source down) is never called stuck. The cause is given when the numbers
tell it: every worker draining, no poller on the task queue, healthy workers that do not
poll, or pollers on a versioned build (they take only their build's tasks).
"""

from __future__ import annotations

from dataclasses import replace

from kubiya_tui import formatting as fmt
from kubiya_tui.metrics.snapshot import QueueSnapshot

STUCK_AFTER_SECONDS = 30.0
"""How long the oldest waiting task must have waited, with nothing dispatched, before a queue is stuck."""
NO_DISPATCH_PER_MIN = 0.5
"""Temporal dispatch rates under this many tasks a minute count as none (its rate decays to zero)."""


def stuck_reason(q: QueueSnapshot, after: float = STUCK_AFTER_SECONDS) -> tuple[str, str | None] | None:
    """(evidence, cause or None) when the queue is stuck by the rule above; None when it is not."""
    if q.stale or q.status != "active":
        return None
    depth, age, dispatch = q.depth, q.backlog_age_seconds, q.dispatch_rate_per_min
    if not depth or age is None or dispatch is None or age < after or dispatch >= NO_DISPATCH_PER_MIN:
        return None
    w = q.workers
    if w.healthy + w.draining == 0:
        return None
    if q.capacity_total is not None and q.capacity_used is not None and w.healthy and q.capacity_used >= q.capacity_total:
        return None
    if w.healthy and q.capacity_total:
        slots = f"{q.capacity_total - (q.capacity_used or 0)} of {q.capacity_total} slots free on {_workers(w.healthy)}"
    elif w.healthy:
        slots = f"{_workers(w.healthy)}, slots not reported"
    else:
        slots = f"{_workers(w.draining, 'draining')}"
    evidence = f"{depth:,} waiting, oldest {fmt.age(age)}; none dispatched; {slots}"
    return evidence, _cause(q)


def _cause(q: QueueSnapshot) -> str | None:
    w = q.workers
    if w.healthy == 0 and w.draining:
        return "every worker is draining: they take no new task (scale up, or wait for the runner's replacements)"
    if q.pollers == 0:
        return f"no poller on its task queue {q.task_queue_name}: its workers are registered but none polls Temporal"
    if w.not_polling:
        return f"{w.not_polling} of {_workers(w.healthy)} do not poll its task queue {q.task_queue_name}"
    if q.versioned_builds:
        builds = ", ".join(q.versioned_builds)
        return f"its pollers use worker versioning (build {builds}): tasks of another build are not handed to them"
    return None


def _workers(n: int, state: str = "healthy") -> str:
    return f"{n} {state} worker{'s' if n != 1 else ''}"


def mark_stuck(q: QueueSnapshot, after: float = STUCK_AFTER_SECONDS) -> QueueSnapshot:
    """The row with its stuck state, evidence and cause set (the same object when nothing changes)."""
    found = stuck_reason(q, after)
    if found is None:
        return replace(q, stuck=False, stuck_evidence=None, stuck_cause=None) if q.stuck else q
    evidence, cause = found
    return replace(q, stuck=True, stuck_evidence=evidence, stuck_cause=cause)
