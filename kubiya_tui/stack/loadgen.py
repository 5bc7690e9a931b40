"""A load generator: paced ``sleep`` tasks submitted to queues through the control-plane API.

Open loop: submissions follow the clock, not the completions, so a queue that cannot keep
up grows a backlog (which is the point of a demo). Each queue has a rate in tasks per
second, a task duration (varied around its mean), a failure ratio (the task fails on
purpose with that probability), a priority, and optional bursts (the rate multiplied for a
few seconds every so often). Bounded in time; the result says what was submitted and what
the control plane refused.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from kubiya_tui.client.api import ApiClient, ApiError

log = logging.getLogger("kubiya_tui.loadgen")

TICK = 0.25
MAX_IN_FLIGHT = 16
MAX_BATCH = 1000


@dataclass
class LoadSpec:
    """The load for one queue."""

    queue_id: str
    name: str
    rate: float
    """Tasks per second, on average (outside bursts)."""
    seconds_per_task: float = 1.0
    """Mean duration of a task; each submission varies it by +/- ``jitter`` of itself."""
    fail_ratio: float = 0.0
    priority: int | str = "normal"
    jitter: float = 0.5
    burst_every: float = 0.0
    """Seconds between the starts of two bursts; 0 means no bursts."""
    burst_seconds: float = 0.0
    burst_factor: float = 1.0
    burst_offset: float = 0.0
    """When the first burst starts, in seconds after the load starts."""
    timeout_seconds: float = 300.0

    def rate_at(self, t: float) -> float:
        """Tasks per second at ``t`` seconds after the start."""
        if self.burst_every > 0 and self.burst_seconds > 0 and t >= self.burst_offset:
            if (t - self.burst_offset) % self.burst_every < self.burst_seconds:
                return self.rate * self.burst_factor
        return self.rate


@dataclass
class LoadStats:
    """What happened to one queue's load."""

    queue: str
    submitted: int = 0
    refused: int = 0
    unsent: int = 0
    """Tasks that were due but not sent because too many submissions were still waiting."""
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "submitted": self.submitted,
            "refused": self.refused,
            "unsent": self.unsent,
            "errors": dict(self.errors),
            "seconds": round(self.elapsed, 1),
            "rate_per_second": round(self.submitted / self.elapsed, 2) if self.elapsed else 0.0,
        }

    def summary(self) -> str:
        rate = self.submitted / self.elapsed if self.elapsed else 0.0
        line = (
            f"load on {self.queue}: submitted {self.submitted}, refused {self.refused} "
            f"in {self.elapsed:.1f}s ({rate:.1f}/s)"
        )
        if self.unsent:
            line += f", {self.unsent} not sent (the control plane was too slow)"
        if self.errors:
            first = max(self.errors, key=self.errors.get)  # type: ignore[arg-type]
            line += f"; most frequent refusal: {first}"
        return line


class LoadGenerator:
    """Submits the load of several queues until a duration passes or ``stop`` is set."""

    def __init__(
        self,
        api: ApiClient,
        specs: list[LoadSpec],
        *,
        tick: float = TICK,
        max_in_flight: int = MAX_IN_FLIGHT,
        seed: int | None = None,
    ) -> None:
        self.api = api
        self.specs = specs
        self.tick = tick
        self.max_in_flight = max_in_flight
        self.random = random.Random(seed)
        self.stats = {s.queue_id: LoadStats(queue=s.name) for s in specs}
        self._in_flight: set[asyncio.Task] = set()

    def totals(self) -> dict[str, int]:
        return {
            "submitted": sum(s.submitted for s in self.stats.values()),
            "refused": sum(s.refused for s in self.stats.values()),
            "unsent": sum(s.unsent for s in self.stats.values()),
        }

    async def run(self, duration: float | None = None, stop: asyncio.Event | None = None) -> dict[str, LoadStats]:
        """Submit until ``duration`` seconds passed (None: until ``stop``); waits for sends in flight."""
        stop = stop or asyncio.Event()
        started = time.monotonic()
        due = {s.queue_id: 0.0 for s in self.specs}
        sent = {s.queue_id: 0 for s in self.specs}
        last = 0.0
        try:
            while not stop.is_set():
                t = time.monotonic() - started
                if duration is not None and t >= duration:
                    break
                step = t - last
                last = t
                for spec in self.specs:
                    # The integral of the rate over the step: what the clock says is due by now.
                    due[spec.queue_id] += spec.rate_at(t) * step
                    count = math.floor(due[spec.queue_id]) - sent[spec.queue_id]
                    if count > 0:
                        sent[spec.queue_id] += count
                        self._submit(spec, count)
                wait = self.tick
                if duration is not None:
                    wait = max(0.0, min(wait, duration - (time.monotonic() - started)))
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except asyncio.TimeoutError:
                    pass
        finally:
            if self._in_flight:
                _, pending = await asyncio.wait(self._in_flight, timeout=10)
                for task in pending:
                    task.cancel()
            elapsed = time.monotonic() - started
            for stats in self.stats.values():
                stats.elapsed = elapsed
        return self.stats

    def _submit(self, spec: LoadSpec, count: int) -> None:
        stats = self.stats[spec.queue_id]
        if len(self._in_flight) >= self.max_in_flight:
            stats.unsent += count
            return
        while count > 0:
            batch = min(count, MAX_BATCH)
            count -= batch
            seconds = max(0.0, spec.seconds_per_task * (1 + self.random.uniform(-spec.jitter, spec.jitter)))
            body = {
                "kind": "sleep",
                "input": {"seconds": round(seconds, 3), "fail_ratio": spec.fail_ratio},
                "priority": spec.priority,
                "timeout_seconds": spec.timeout_seconds,
                "count": batch,
            }
            task = asyncio.create_task(self._send(spec, stats, body, batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _send(self, spec: LoadSpec, stats: LoadStats, body: dict[str, Any], count: int) -> None:
        # A key per submission: the client's retries of it (no answer, 502-504) never start it twice.
        key = f"loadgen-{uuid.uuid4()}"
        try:
            answer = await self.api.submit_task(spec.queue_id, body, idempotency_key=key)
        except ApiError as exc:
            stats.refused += count
            key = f"{exc.status} {exc.detail}" if exc.status else exc.detail
            stats.errors[key[:200]] = stats.errors.get(key[:200], 0) + count
            log.warning("submission to %s refused: %s", spec.name, exc)
            return
        stats.submitted += len(answer.get("ids") or []) or count
