"""Alerts: a profile's thresholds (``[[profiles.NAME.alerts]]``) checked on every snapshot, and what is firing since when.

Each rule is turned into ``check``'s :class:`Thresholds` and its queues checked with
``check.evaluate`` (one rule engine for the console, ``check`` and the status line): a
WARNING or CRITICAL finding is an alert. A number that cannot be told (its source down, the
queue's data stale) changes nothing: what was firing keeps firing, with its old ``since``,
until the number is known again.

:class:`AlertBook` keeps the firing alerts of every profile and answers the changes of each
update (fired, escalated, eased, resolved; acknowledged by the operator); the caller writes
them to the history database (``kubiya_tui.alertlog``) and tells the operator.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from kubiya_tui import alertlog
from kubiya_tui.metrics.check import Status, Thresholds, evaluate, label
from kubiya_tui.metrics.snapshot import QueueSnapshot, Snapshot
from kubiya_tui.metrics.stuck import STUCK_AFTER_SECONDS

ALERT_METRICS = ("depth", "backlog_age", "error_rate", "stuck", "workers_healthy")
"""Findings of ``check`` that can be alerts (not ``queue`` or ``source``: those are the header's)."""
LEVELS = {Status.CRITICAL: "critical", Status.WARNING: "warning"}
RANK = {"warning": 1, "critical": 2}


def thresholds_of(rule: Any) -> Thresholds:
    """``check``'s thresholds for one AlertRule (kubiya_tui.config)."""
    return Thresholds(
        max_depth=rule.max_depth,
        max_error_rate=rule.max_error_rate,
        max_backlog_age=rule.max_backlog_age,
        warn_at=rule.warn_at,
        stuck_after=None if rule.stuck_off else (rule.stuck_after if rule.stuck_after is not None else STUCK_AFTER_SECONDS),
        min_healthy_workers=rule.min_healthy_workers,
    )


def queue_matches_pattern(q: QueueSnapshot, pattern: str) -> bool:
    """A glob or a name against NAME, ENV/NAME, the task queue and the id."""
    names = (q.name, label(q), q.task_queue_name, q.id)
    if any(ch in pattern for ch in "*?["):
        return any(fnmatch.fnmatchcase(n, pattern) for n in names)
    return pattern in names


def matching(snapshot: Snapshot, patterns: Sequence[str]) -> list[QueueSnapshot]:
    return [q for q in snapshot.queues if any(queue_matches_pattern(q, p) for p in patterns)]


@dataclass(frozen=True)
class Breach:
    queue_id: str
    queue: str
    metric: str
    level: str
    message: str


def breaches(snapshot: Snapshot, rules: Sequence[Any]) -> tuple[dict[tuple[str, str], Breach], set[tuple[str, str]]]:
    """What the rules find now: breaches by (queue id, metric), the worst when rules overlap; and the (queue id, metric) that cannot be told."""
    found: dict[tuple[str, str], Breach] = {}
    unknown: set[tuple[str, str]] = set()
    for rule in rules:
        queues = matching(snapshot, rule.queues)
        if not queues:
            continue
        by_label = {label(q): q for q in queues}
        # Only the rule's queues, all selected: one pass over them (selectors would be a pass per queue).
        result = evaluate(replace(snapshot, queues=tuple(queues)), [], thresholds_of(rule))
        for f in result.findings:
            q = by_label.get(f.queue)
            if q is None or f.metric not in ALERT_METRICS:
                continue
            key = (q.id, f.metric)
            if f.status is Status.UNKNOWN:
                unknown.add(key)
                continue
            level = LEVELS.get(f.status)
            if level is None:
                continue
            if rule.level == "warning":
                level = "warning"
            old = found.get(key)
            if old is None or RANK[level] > RANK[old.level]:
                found[key] = Breach(q.id, f.queue, f.metric, level, f.message)
    return found, unknown


@dataclass(frozen=True)
class Alert:
    profile: str
    queue_id: str
    queue: str
    metric: str
    level: str
    message: str
    since: float
    acknowledged: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.profile, self.queue_id, self.metric)


@dataclass(frozen=True)
class AlertChange:
    at: float
    change: str
    """fired, escalated, eased, resolved or acknowledged."""
    alert: Alert

    def event(self) -> alertlog.Event:
        a = self.alert
        return alertlog.Event(self.at, a.profile, a.queue, a.queue_id, a.metric, a.level, self.change, a.message)

    @property
    def new(self) -> bool:
        """The operator should be told (toast, bell): an alert fired or got worse."""
        return self.change in ("fired", "escalated")


class AlertBook:
    """The firing alerts of every profile, updated from snapshots; see the module docstring."""

    def __init__(self) -> None:
        self.firing: dict[tuple[str, str, str], Alert] = {}
        self._levels: dict[tuple[str, str], str] | None = None
        """The worst level per (profile, queue id), rebuilt after a change (tables ask it for every row)."""

    def update(self, profile: str, snapshot: Snapshot, rules: Sequence[Any], now: float | None = None) -> list[AlertChange]:
        """Check ``snapshot`` of ``profile`` against its rules; answers what changed."""
        now = time.time() if now is None else now
        self._levels = None
        found, unknown = breaches(snapshot, rules) if rules else ({}, set())
        listed = {q.id for q in snapshot.queues}
        changes: list[AlertChange] = []
        for key, alert in list(self.firing.items()):
            if key[0] != profile:
                continue
            qm = (key[1], key[2])
            breach = found.pop(qm, None)
            if breach is None:
                if qm in unknown or (key[1] in listed and _stale(snapshot, key[1])):
                    continue  # cannot tell now: it keeps firing
                del self.firing[key]
                changes.append(AlertChange(now, "resolved", alert))
                continue
            if breach.level != alert.level:
                change = "escalated" if RANK[breach.level] > RANK[alert.level] else "eased"
                updated = replace(alert, level=breach.level, message=breach.message,
                                  acknowledged=alert.acknowledged and change == "eased")  # fmt: skip
                self.firing[key] = updated
                changes.append(AlertChange(now, change, updated))
            elif breach.message != alert.message:
                self.firing[key] = replace(alert, message=breach.message)  # the value moved: not a change worth a line
        for breach in found.values():
            alert = Alert(profile, breach.queue_id, breach.queue, breach.metric, breach.level, breach.message, now)
            self.firing[alert.key] = alert
            changes.append(AlertChange(now, "fired", alert))
        return changes

    def acknowledge(self, keys: Iterable[tuple[str, str, str]], now: float | None = None) -> list[AlertChange]:
        now = time.time() if now is None else now
        self._levels = None
        changes = []
        for key in keys:
            alert = self.firing.get(key)
            if alert is not None and not alert.acknowledged:
                self.firing[key] = acked = replace(alert, acknowledged=True)
                changes.append(AlertChange(now, "acknowledged", acked))
        return changes

    def alerts(self, profile: str | None = None) -> list[Alert]:
        """Firing alerts, critical first, then the oldest."""
        chosen = [a for a in self.firing.values() if profile is None or a.profile == profile]
        return sorted(chosen, key=lambda a: (-RANK[a.level], a.since, a.profile, a.queue, a.metric))

    def level_of(self, profile: str, queue_id: str) -> str | None:
        """The worst level firing on a queue, or None."""
        levels = self._levels
        if levels is None:
            levels = self._levels = {}
            for (p, q, _), alert in self.firing.items():
                old = levels.get((p, q))
                if old is None or RANK[alert.level] > RANK[old]:
                    levels[(p, q)] = alert.level
        return levels.get((profile, queue_id))

    def firing_rows(self, profile: str) -> list[tuple[str, str, str, str, float, str, bool]]:
        """The profile's firing alerts as ``alertlog.write`` stores them."""
        return [(a.queue_id, a.metric, a.queue, a.level, a.since, a.message, a.acknowledged) for a in self.alerts(profile)]


def _stale(snapshot: Snapshot, queue_id: str) -> bool:
    q = snapshot.queue(queue_id)
    return q is not None and q.stale
