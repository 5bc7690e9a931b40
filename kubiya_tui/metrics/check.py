"""Threshold checks on a snapshot, in the monitoring-plugin convention (Nagios, Icinga, Sensu...).

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. A value above its threshold is
critical; above ``warn_at`` (80 %) of it, a warning. A stuck queue (kubiya_tui.metrics.stuck:
tasks waiting ``stuck_after`` seconds or more, nothing dispatched, free slots) is critical,
checked by default with or without thresholds (``stuck_after`` None turns it off). UNKNOWN when a number cannot be told:
its source is down or stale, or a named queue does not exist. When several queues or
metrics disagree, the worst wins in the order CRITICAL > UNKNOWN > WARNING > OK: a known
critical is reported even while another number is unknown.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any, Sequence

from kubiya_tui.metrics.snapshot import QueueSnapshot, Snapshot, SourceStatus
from kubiya_tui.metrics.stuck import STUCK_AFTER_SECONDS, stuck_reason

DEFAULT_WARN_AT = 0.8


class Status(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


_SEVERITY = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


def worst(statuses: Sequence[Status]) -> Status:
    """CRITICAL > UNKNOWN > WARNING > OK."""
    return max(statuses, key=lambda s: _SEVERITY[s], default=Status.OK)


@dataclass(frozen=True)
class Thresholds:
    max_depth: float | None = None
    max_error_rate: float | None = None
    """A fraction, 0..1."""
    max_backlog_age: float | None = None
    """Seconds."""
    warn_at: float = DEFAULT_WARN_AT
    """Warning above this fraction of a threshold."""
    stuck_after: float | None = STUCK_AFTER_SECONDS
    """Seconds the oldest task may wait with free slots and nothing dispatched; None: stuck queues are not checked."""
    min_healthy_workers: int | None = None
    """Critical when a queue has fewer healthy workers than this."""

    def describe(self) -> str:
        parts = []
        if self.max_depth is not None:
            parts.append(f"depth <= {_num(self.max_depth)}")
        if self.max_error_rate is not None:
            parts.append(f"error rate <= {_pct(self.max_error_rate)}")
        if self.max_backlog_age is not None:
            parts.append(f"backlog age <= {_secs(self.max_backlog_age)}")
        if self.min_healthy_workers is not None:
            parts.append(f"healthy workers >= {self.min_healthy_workers}")
        if not parts:
            parts.append("sources up")
        if self.stuck_after is not None:
            parts.append("none stuck")
        return ", ".join(parts)


@dataclass(frozen=True)
class Finding:
    queue: str
    metric: str
    value: float | None
    warn: float | None
    crit: float | None
    status: Status
    message: str


@dataclass(frozen=True)
class CheckResult:
    status: Status
    summary: str
    """The one line a monitoring system shows: ``QUEUES STATUS - text | perfdata``."""
    findings: tuple[Finding, ...]

    @property
    def exit_code(self) -> int:
        return int(self.status)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.name,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "findings": [{**asdict(f), "status": f.status.name} for f in self.findings],
        }


def unknown(reason: str) -> CheckResult:
    """The result when nothing could be read at all."""
    return CheckResult(Status.UNKNOWN, f"QUEUES UNKNOWN - {_one_line(reason)}", ())


def label(q: QueueSnapshot) -> str:
    return f"{q.environment}/{q.name}" if q.environment else q.name


def select(snapshot: Snapshot, selectors: Sequence[str]) -> tuple[list[QueueSnapshot], list[str]]:
    """The queues named by the selectors (all when none) and the selectors that named nothing."""
    from kubiya_tui.metrics.sources.registry import queue_matches

    if not selectors:
        return list(snapshot.queues), []
    chosen: dict[str, QueueSnapshot] = {}
    missing = []
    for selector in selectors:
        found = [q for q in snapshot.queues if queue_matches(q, selector)]
        if not found:
            missing.append(selector)
        for q in found:
            chosen.setdefault(q.id, q)
    return list(chosen.values()), missing


def evaluate(snapshot: Snapshot | None, selectors: Sequence[str], thresholds: Thresholds) -> CheckResult:
    """Check the selected queues of a snapshot against the thresholds."""
    if snapshot is None:
        return unknown("no snapshot")
    registry_from = "api" if snapshot.mode != "temporal" else "temporal"
    numbers_from = "api" if snapshot.mode == "api" else "temporal"
    registry = snapshot.sources.get(registry_from)
    numbers_source = snapshot.sources.get(numbers_from)
    findings: list[Finding] = []
    queues, missing = select(snapshot, selectors)
    for selector in missing:
        if registry is not None and registry.status == SourceStatus.down and not snapshot.queues:
            why = f"cannot list queues: {registry.last_error or registry.name + ' down'}"
        else:
            why = "no such queue"
        findings.append(Finding(selector, "queue", None, None, None, Status.UNKNOWN, f"{selector}: {why}"))
    no_thresholds = (
        thresholds.max_depth is None
        and thresholds.max_error_rate is None
        and thresholds.max_backlog_age is None
        and thresholds.min_healthy_workers is None
    )
    for source in snapshot.sources.values():
        # Without thresholds the check is that every source answers; with them, only the sources they read.
        if source.status == SourceStatus.down and (no_thresholds or (source is registry and not queues and not missing)):
            findings.append(
                Finding("-", "source", None, None, None, Status.UNKNOWN, f"{source.name} down: {source.last_error or 'no answer'}")
            )
    for q in queues:
        name = label(q)
        numbers_stale = numbers_from in q.stale_sources
        if thresholds.stuck_after is not None and not numbers_stale:
            found = stuck_reason(q, thresholds.stuck_after)
            if found is not None:
                evidence, cause = found
                text = f"{name}: stuck ({evidence})" + (f": {cause}" if cause else "")
                findings.append(Finding(name, "stuck", q.backlog_age_seconds, None, thresholds.stuck_after, Status.CRITICAL, text))
        if thresholds.min_healthy_workers is not None:
            wanted, healthy = thresholds.min_healthy_workers, q.workers.healthy
            registry_stale = registry_from in q.stale_sources
            if registry_stale:
                findings.append(Finding(name, "workers_healthy", float(healthy), None, wanted, Status.UNKNOWN,
                                        f"{name}: healthy workers unknown: {registry_from} data stale"))  # fmt: skip
            elif healthy < wanted:
                findings.append(Finding(name, "workers_healthy", float(healthy), None, wanted, Status.CRITICAL,
                                        f"{name}: healthy workers {healthy} < {wanted}"))  # fmt: skip
            else:
                findings.append(Finding(name, "workers_healthy", float(healthy), None, wanted, Status.OK,
                                        f"{name}: healthy workers {healthy}"))  # fmt: skip
        why_stale = (numbers_source.last_error if numbers_source else None) or q.last_error or f"{numbers_from} data stale"
        metrics: list[tuple[str, float | None, float | None, Any]] = [
            ("depth", q.depth, thresholds.max_depth, _num),
            ("backlog_age", q.backlog_age_seconds, thresholds.max_backlog_age, _secs),
            ("error_rate", q.error_rate, thresholds.max_error_rate, _pct),
        ]
        for metric, value, limit, show in metrics:
            if limit is None:
                continue
            warn = limit * thresholds.warn_at
            words = metric.replace("_", " ")
            if metric == "error_rate" and value is None and q.closed_in_window == 0 and not numbers_stale:
                findings.append(Finding(name, metric, 0.0, warn, limit, Status.OK, f"{name}: no tasks closed in the window"))
                continue
            if value is None or numbers_stale:
                age = f" ({_secs(q.data_age_seconds)} old)" if value is not None and q.data_age_seconds is not None else ""
                reason = why_stale if numbers_stale or q.last_error else "not reported"
                findings.append(Finding(name, metric, value, warn, limit, Status.UNKNOWN, f"{name}: {words} unknown{age}: {reason}"))
                continue
            if value > limit:
                status, text = Status.CRITICAL, f"{name}: {words} {show(value)} > {show(limit)}"
            elif value > warn:
                status, text = Status.WARNING, f"{name}: {words} {show(value)} > {show(warn)} ({thresholds.warn_at:.0%} of {show(limit)})"
            else:
                status, text = Status.OK, f"{name}: {words} {show(value)}"
            findings.append(Finding(name, metric, float(value), warn, limit, status, text))
    overall = worst([f.status for f in findings])
    problems = [f for f in findings if f.status != Status.OK]
    problems.sort(key=lambda f: -_SEVERITY[f.status])
    if problems:
        text = "; ".join(f.message for f in problems[:4])
        if len(problems) > 4:
            text += f"; and {len(problems) - 4} more"
    else:
        n = len(queues)
        text = f"{n} queue{'s' if n != 1 else ''} within limits ({thresholds.describe()})"
    perf = " ".join(_perfdata(f) for f in findings if f.metric in ("depth", "backlog_age", "error_rate") and f.value is not None)
    summary = f"QUEUES {overall.name} - {text}" + (f" | {perf}" if perf else "")
    return CheckResult(overall, summary, tuple(findings))


# ---------------------------------------------------------------------------- parsing and formatting


def parse_rate(text: str) -> float:
    """``0.05`` or ``5%`` -> 0.05; ValueError (a sentence saying what is allowed) for anything else."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{text!r} is not a share of tasks: give a fraction (0.05) or a percentage (5%)") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a share of tasks: give a fraction (0.05) or a percentage (5%)")
    if not raw.endswith("%"):
        if value > 1:
            raise ValueError(f"{text!r} is above 1: give a fraction (0.05) or a percentage (5%)")
    if not 0 <= value <= 1:
        raise ValueError(f"{text!r} is not between 0 and 1 (0%-100%)")
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_seconds(text: str) -> float:
    """``90``, ``90s``, ``1.5m``, ``2h`` -> seconds; ValueError for anything else."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 90, 90s, 2m or 1h")
    value = float(match.group(1))
    return value * {None: 1, "ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _perfdata(f: Finding) -> str:
    name = f"{f.queue} {f.metric}".replace("'", "''")
    unit = "s" if f.metric == "backlog_age" else ""
    lo_hi = ";0;1" if f.metric == "error_rate" else ";0;"
    return f"'{name}'={_g(f.value)}{unit};{_g(f.warn)};{_g(f.crit)}{lo_hi}"


def _g(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _num(value: float) -> str:
    return f"{value:g}"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f}s" if value >= 10 else f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.1f}h"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]
