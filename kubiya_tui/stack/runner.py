"""The runner: a local scaler that keeps each queue at its wanted number of worker processes.

Every ``interval`` seconds it reads the queues and workers from the control plane and
reconciles:

- a queue's ``desired_workers`` (set by ``POST /worker-queues/{id}/scale``) is the number
  of worker processes it wants; ``None`` means the runner leaves the queue alone;
- too few: start worker processes with the queue's worker command (``GET worker-command``),
  run with this interpreter, the API key in their environment, their output in
  ``DATA_DIR/workers/<queue>/<worker id>.log``; never more than the queue's ``max_workers``;
- too many: drain the newest (``POST /workers/{id}/drain`` and SIGTERM): a draining worker
  takes no new task, finishes what it holds and exits 0, so nothing is lost;
- a worker that dies on its own (exit code not 0) is restarted after an exponential,
  capped backoff; one that exits 0 (drained by an operator) is replaced at once;
- a queue with an autoscale policy gets its ``desired_workers`` set by the runner itself,
  between the policy's bounds, from the queue's backlog age and depth, with a cool-down;
  each decision goes through the scale endpoint with its reason, so it lands in the audit log.

The runner counts only the worker processes it started itself: workers started elsewhere
are neither counted nor drained (they do count against ``max_workers``).

Several runners (on several hosts, through several control-plane replicas) may run for one
organization: one acts, the others stand by. Acting takes the ``runner`` lease of the
control plane (a row in its database, ``POST /api/v1/leases/runner``), renewed on every
pass; autoscaling takes the ``autoscaler`` lease, and every decision carries it, so the
control plane refuses the decision of a runner that lost it. A runner that dies stops
renewing: another takes over once its lease expires (``lease_ttl``), and the cool-down of
every queue starts from the queue's ``last_scaled_at`` (in the database), so no decision
is made twice. A runner that finds its lease taken drains the workers it started. On a
control plane without leases (404) the runner acts alone, as one runner per control plane.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kubiya_tui.client.api import ApiClient, ApiError
from kubiya_tui.models import Lease, ScaleResult, WorkerDetail, WorkerQueue
from kubiya_tui.stack.processes import ManagedProcess, kill_now, spawn

log = logging.getLogger("kubiya_tui.runner")

DEFAULT_INTERVAL = 2.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
# A worker that ran this long before dying starts a fresh backoff sequence.
STABLE_AFTER = 60.0
# A worker being retired before it registered gets this long to register (so its drain is
# clean and its registration does not linger as stale) before it is sent SIGTERM anyway.
REGISTER_WAIT = 20.0
COMMAND_CACHE_SECONDS = 60.0
# Scale down only while the remaining workers would stay below this share of their slots.
SCALE_DOWN_UTILIZATION = 0.75
DEFAULT_SLOTS = 10
RUNNER_LEASE = "runner"
AUTOSCALER_LEASE = "autoscaler"
DEFAULT_LEASE_TTL = 15.0
"""Seconds a runner's lease lasts unrenewed: how soon a standby runner takes over from a dead one."""


# ---------------------------------------------------------------------------- state


@dataclass
class WorkerProcess:
    """A worker process this runner started."""

    queue_id: str
    queue_name: str
    seq: int
    process: ManagedProcess
    started_at: float  # monotonic
    started_wall: float  # epoch seconds
    worker_id: str | None = None
    retiring: bool = False
    retire_since: float | None = None
    signaled: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class QueueState:
    """What the runner remembers about one queue between two passes."""

    workers: list[WorkerProcess] = field(default_factory=list)
    crashes: int = 0
    next_start_at: float = 0.0
    last_scale_at: float = -math.inf
    empty_since: float | None = None
    command: list[str] | None = None
    command_at: float = -math.inf
    note: str | None = None


@dataclass(frozen=True)
class ScaleDecision:
    workers: int
    reason: str


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "queue"


def worker_argv(command_parts: list[str], python: str = sys.executable) -> list[str]:
    """The worker command to run: a leading ``kubiya-tui`` becomes this interpreter's ``-m kubiya_tui``."""
    if command_parts and Path(command_parts[0]).name == "kubiya-tui":
        return [python, "-m", "kubiya_tui", *command_parts[1:]]
    return list(command_parts)


def backoff_delay(crashes: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds before the next start after ``crashes`` crashes in a row: base, 2 base, 4 base... at most cap."""
    if crashes <= 0:
        return 0.0
    return min(cap, base * 2 ** (crashes - 1))


def _pid_of(row: WorkerDetail) -> int | None:
    for source in (row.system_info or {}, row.worker_metadata or {}):
        pid = source.get("pid")
        if isinstance(pid, int):
            return pid
    return None


def _host_of(row: WorkerDetail) -> str | None:
    return row.hostname or (row.system_info or {}).get("hostname")


def _live(row: WorkerDetail) -> bool:
    health = row.health.value if row.health is not None else None
    return health in ("healthy", "draining")


# ---------------------------------------------------------------------------- autoscaling


def autoscale_decision(
    policy: dict[str, Any],
    current: int,
    *,
    queue_max: int | None,
    backlog: int,
    backlog_age: float,
    empty_for: float | None,
    slots_used: int,
    slots_per_worker: float,
    since_last_scale: float,
) -> ScaleDecision | None:
    """What an autoscale policy wants now, or None to keep the current count.

    Up: when tasks wait longer than the target backlog age (or wait with no worker), by the
    ratio of age to target (at least one more, at most double). Down: once the queue has been
    empty for a cool-down, to what the slots in use need. Never outside the policy's bounds
    (and the queue's max_workers); never twice within a cool-down, except to enter the bounds.
    """
    lo = int(policy.get("min_workers", 0))
    hi = int(policy.get("max_workers", lo))
    if queue_max is not None:
        hi = min(hi, queue_max)
    lo = min(lo, hi)
    target = float(policy.get("target_backlog_age_seconds") or 1.0)
    cooldown = float(policy.get("cooldown_seconds", 30.0))
    if current < lo:
        return ScaleDecision(lo, f"below the policy's minimum of {lo}")
    if current > hi:
        return ScaleDecision(hi, f"above the policy's maximum of {hi}")
    if since_last_scale < cooldown:
        return None
    if backlog > 0 and (current == 0 or backlog_age > target):
        if current >= hi:
            return None
        if current == 0:
            want = max(lo, 1)
        else:
            want = max(current + 1, min(current * 2, math.ceil(current * backlog_age / target)))
        want = min(hi, want)
        return ScaleDecision(
            want,
            f"backlog age {backlog_age:.1f}s over target {target:g}s with {backlog} task(s) waiting",
        )
    if backlog == 0 and empty_for is not None and empty_for >= cooldown and current > lo:
        per = max(1.0, slots_per_worker)
        need = math.ceil(slots_used / (per * SCALE_DOWN_UTILIZATION)) if slots_used else 0
        want = max(lo, need)
        if want < current:
            return ScaleDecision(
                want, f"queue empty for {empty_for:.0f}s with {slots_used} task slot(s) in use"
            )
    return None


# ---------------------------------------------------------------------------- the runner


class Runner:
    """Keeps the control plane's queues at their wanted worker counts with local processes.

    ``api`` is used from the event loop that runs :meth:`run`. ``api_key`` goes to the
    workers' environment. ``queues`` limits the runner to these queue ids or names.
    """

    def __init__(
        self,
        api: ApiClient,
        api_key: str,
        data_dir: Path,
        *,
        interval: float = DEFAULT_INTERVAL,
        queues: list[str] | None = None,
        worker_args: list[str] | None = None,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        backoff_base: float = BACKOFF_BASE,
        backoff_cap: float = BACKOFF_CAP,
        stop_grace: float = 30.0,
        max_starting: int | None = None,
        parent_death_signal: int | None = None,
        on_event: Callable[[str], None] | None = None,
        lease_ttl: float | None = None,
        holder: str | None = None,
    ) -> None:
        self.api = api
        self.api_key = api_key
        self.data_dir = Path(data_dir)
        self.interval = interval
        self.only = set(queues or [])
        self.worker_args = list(worker_args or [])
        self.python = python
        self.base_env = dict(env if env is not None else os.environ)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stop_grace = stop_grace
        self.max_starting = max_starting
        self.parent_death_signal = parent_death_signal
        self.on_event = on_event
        self.states: dict[str, QueueState] = {}
        self.passes = 0
        self.last_error: str | None = None
        self._seq = 0
        self._hostname = socket.gethostname()
        self._hurry = threading.Event()
        self._lock = threading.Lock()
        self.lease_ttl = max(lease_ttl or DEFAULT_LEASE_TTL, 3 * interval)
        self.holder = holder or f"{self._hostname}:{os.getpid()}:{os.urandom(3).hex()}"
        """Who this runner is in the leases: host, pid and a random part (a restarted runner is another)."""
        self.leases: dict[str, Lease | None] = {}
        """The leases this runner holds now, by name (None: another holder has it)."""
        self.leases_supported = True
        self.acting = False

    # ------------------------------------------------------------------ reporting

    def _event(self, message: str) -> None:
        log.info("%s", message)
        if self.on_event is not None:
            try:
                self.on_event(message)
            except Exception:  # a reporting failure never stops the runner
                log.exception("event callback failed")

    def _note(self, state: QueueState, note: str | None) -> None:
        """Say a lasting condition once, not on every pass."""
        if note != state.note:
            state.note = note
            if note:
                self._event(note)

    def processes(self) -> list[ManagedProcess]:
        """Every worker process this runner started and has not yet seen exit (thread-safe)."""
        with self._lock:
            return [w.process for s in self.states.values() for w in s.workers]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per queue name: running (not retiring) and retiring processes."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for state in self.states.values():
                for w in state.workers:
                    c = out.setdefault(w.queue_name, {"running": 0, "retiring": 0})
                    c["retiring" if w.retiring else "running"] += 1
        return out

    def hurry(self) -> None:
        """Make a shutdown in progress stop waiting for drains (thread-safe)."""
        self._hurry.set()

    def kill_all(self) -> None:
        """SIGKILL every worker process at once (an emergency; thread-safe)."""
        kill_now(self.processes())

    # ------------------------------------------------------------------ main loop

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile every ``interval`` seconds until ``stop`` is set, then stop every worker."""
        try:
            while not stop.is_set():
                try:
                    await self.reconcile_once()
                    if self.last_error:
                        self._event(f"control plane reachable again ({self.api.base_url})")
                    self.last_error = None
                except ApiError as exc:
                    if str(exc) != self.last_error:
                        self._event(f"reconcile failed: {exc}")
                    self.last_error = str(exc)
                except Exception as exc:  # never let one bad pass end the runner
                    log.exception("reconcile pass failed")
                    self.last_error = f"{type(exc).__name__}: {exc}"
                try:
                    await asyncio.wait_for(stop.wait(), self.interval)
                except asyncio.TimeoutError:
                    pass
        finally:
            await self.shutdown()
            await self.release_leases()

    async def _take_lease(self, name: str) -> bool:
        """Take or renew a lease for this pass; True when this runner may act under it."""
        if not self.leases_supported:
            return True
        try:
            lease = await self.api.acquire_lease(name, self.holder, self.lease_ttl)
        except ApiError as exc:
            if exc.status == 404 and name == RUNNER_LEASE:
                self.leases_supported = False
                self._event("the control plane has no leases: this runner acts alone (run only one per control plane)")
                return True
            raise
        had = self.leases.get(name)
        self.leases[name] = lease
        if lease is not None and (had is None or had.token != lease.token):
            self._event(f"took the {name} lease (token {lease.token}): this runner acts")
        elif lease is None and had is not None:
            self._event(f"lost the {name} lease: another runner acts now")
        return lease is not None

    async def reconcile_once(self) -> None:
        acting = await self._take_lease(RUNNER_LEASE)
        if acting != self.acting:
            if not acting:
                self._event(f"standing by: another runner holds the {RUNNER_LEASE} lease")
            self.acting = acting
        if not acting:
            await self._stand_by()
            return
        queues, rows = await asyncio.gather(self.api.list_queues(), self.api.list_workers())
        now = time.monotonic()
        self.passes += 1
        autoscaling = any(q.autoscale for q in queues) and await self._take_lease(AUTOSCALER_LEASE)
        wanted = [q for q in queues if self._selected(q)]
        rows_by_queue: dict[str, list[WorkerDetail]] = {}
        for row in rows:
            if row.queue_id:
                rows_by_queue.setdefault(row.queue_id, []).append(row)
        with self._lock:
            for q in wanted:
                self.states.setdefault(q.id, QueueState())
        for queue_id, state in self.states.items():
            self._learn_ids(state, rows_by_queue.get(queue_id, []))
            await self._reap(state, now)
        starts: list[list[Any]] = []
        for q in wanted:
            state = self.states[q.id]
            if q.autoscale and autoscaling:
                await self._autoscale(q, state, rows_by_queue.get(q.id, []), now)
            else:
                state.empty_since = None
            count = await self._converge(q, state, rows_by_queue.get(q.id, []), now)
            if count:
                starts.append([q, state, count])
        self._start_some(starts, now)
        # Queues deleted, or no longer selected: their workers go.
        present = {q.id for q in wanted}
        for queue_id, state in list(self.states.items()):
            if queue_id not in present:
                for w in state.workers:
                    self._retire(w, now, "its queue is gone")
                if not state.workers:
                    with self._lock:
                        del self.states[queue_id]
        for state in self.states.values():
            await self._signal_retiring(state, now)

    async def _stand_by(self) -> None:
        """Another runner acts: drain every worker this one started (it may have held the lease before)."""
        now = time.monotonic()
        for state in self.states.values():
            await self._reap(state, now)
            for w in state.workers:
                self._retire(w, now, "another runner holds the lease")
            await self._signal_retiring(state, now)

    async def release_leases(self) -> None:
        """Give up the leases this runner holds, so a standby takes over without waiting."""
        for name, lease in list(self.leases.items()):
            if lease is not None:
                try:
                    await asyncio.wait_for(self.api.release_lease(name, self.holder), 3)
                except (ApiError, asyncio.TimeoutError) as exc:
                    log.warning("could not release the %s lease: %s", name, exc)
                self.leases[name] = None

    def _selected(self, q: WorkerQueue) -> bool:
        if not self.only:
            return True
        env = q.environment_name or ""
        return bool({q.id, q.name, f"{env}/{q.name}"} & self.only)

    # ------------------------------------------------------------------ bookkeeping

    def _learn_ids(self, state: QueueState, rows: list[WorkerDetail]) -> None:
        """Match registrations to our processes by pid and host (the worker reports both)."""
        unknown = [w for w in state.workers if w.worker_id is None]
        if not unknown:
            return
        for w in unknown:
            for row in rows:
                if _pid_of(row) != w.pid:
                    continue
                host = _host_of(row)
                if host and host != self._hostname:
                    continue
                if row.registered_at is not None and row.registered_at.timestamp() < w.started_wall - 5:
                    continue  # an older process that had the same pid
                w.worker_id = row.worker_id
                self._rename_log(w)
                break

    def _log_dir(self, queue_name: str) -> Path:
        return self.data_dir / "workers" / _safe_name(queue_name)

    def _rename_log(self, w: WorkerProcess) -> None:
        old = w.process.log_path
        if old is None or w.worker_id is None:
            return
        new = old.with_name(f"{_safe_name(w.worker_id)}.log")
        try:
            os.replace(old, new)  # the open file keeps being written under its new name
            w.process.log_path = new
        except OSError:
            pass

    async def _reap(self, state: QueueState, now: float) -> None:
        for w in list(state.workers):
            code = w.process.proc.poll()
            if code is None:
                continue
            w.process.stop(grace=0)  # closes the log
            with self._lock:
                state.workers.remove(w)
            who = f"worker {w.worker_id or f'pid {w.pid}'} of {w.queue_name}"
            if w.retiring:
                self._event(f"{who} exited {code} after draining")
            elif code == 0:
                self._event(f"{who} exited 0 (drained); it will be replaced if the queue still wants it")
            else:
                ran = now - w.started_at
                state.crashes = 1 if ran >= STABLE_AFTER else state.crashes + 1
                delay = backoff_delay(state.crashes, self.backoff_base, self.backoff_cap)
                state.next_start_at = max(state.next_start_at, now + delay)
                self._event(
                    f"{who} died with exit code {code} after {ran:.0f}s; restarting in {delay:.0f}s "
                    f"(log: {w.process.log_path})"
                )
                await self._report_gone(w, code, "crashed")

    async def _report_gone(self, w: WorkerProcess, code: int | None, reason: str) -> None:
        """Tell the control plane that a worker which could not say goodbye itself is gone."""
        if w.worker_id is None or code == 0:
            return
        try:
            await asyncio.wait_for(self.api.disconnect(w.worker_id, reason=reason, exit_code=code), 3)
        except (ApiError, asyncio.TimeoutError) as exc:
            log.warning("could not mark worker %s disconnected: %s", w.worker_id, exc)

    # ------------------------------------------------------------------ reconciling

    async def _converge(self, q: WorkerQueue, state: QueueState, rows: list[WorkerDetail], now: float) -> int:
        """Retire what is too many; answer how many workers the queue should get started now."""
        desired = q.desired_workers
        if desired is None:
            return 0  # nobody asked for a count: leave the queue alone
        running = [w for w in state.workers if not w.retiring]
        if len(running) > desired:
            extra = sorted(running, key=lambda w: w.started_at, reverse=True)[: len(running) - desired]
            for w in extra:
                self._retire(w, now, f"scale {q.name} to {desired}")
            return 0
        missing = desired - len(running)
        if missing <= 0:
            self._note(state, None)
            return 0
        if q.status != "active":
            self._note(state, f"queue {q.name} is {q.status}: not starting workers")
            return 0
        if q.max_workers is not None:
            ours = {w.worker_id for w in state.workers if w.worker_id}
            outside = sum(1 for r in rows if _live(r) and r.worker_id not in ours)
            room = q.max_workers - outside - len(state.workers)
            if room < missing:
                self._note(
                    state,
                    f"queue {q.name} wants {desired} workers but allows {q.max_workers} "
                    f"({outside} elsewhere, {len(state.workers)} here): starting {max(0, room)}",
                )
            missing = min(missing, max(0, room))
        if missing <= 0:
            return 0
        if now < state.next_start_at:
            return 0  # backing off after a crash
        if await self._command(q, state, now) is None:
            return 0
        self._note(state, None)
        return missing

    def _start_some(self, starts: list[list[Any]], now: float) -> None:
        """Start the workers wanted, one queue after another, at most ``max_starting`` starting at once.

        A worker spends a second or two of CPU starting; on a small machine, many at once
        starve everything else (the console on the same machine, the workers already running).
        """
        budget = sum(n for _, _, n in starts)
        if self.max_starting:
            starting = sum(
                1
                for state in self.states.values()
                for w in state.workers
                if w.worker_id is None and not w.retiring and now - w.started_at < REGISTER_WAIT and w.process.alive()
            )
            budget = min(budget, max(0, self.max_starting - starting))
        while budget > 0 and any(plan[2] > 0 for plan in starts):
            for plan in starts:
                q, state, left = plan
                if left > 0 and budget > 0 and state.command is not None:
                    self._start(q, state, state.command, now)
                    plan[2] -= 1
                    budget -= 1
                elif state.command is None:
                    plan[2] = 0

    async def _command(self, q: WorkerQueue, state: QueueState, now: float) -> list[str] | None:
        if state.command is None or now - state.command_at > COMMAND_CACHE_SECONDS:
            try:
                answer = await self.api.worker_command(q.id)
            except ApiError as exc:
                self._note(state, f"cannot get the worker command of {q.name}: {exc}")
                return None
            parts = answer.argv
            if not parts:
                import shlex

                parts = shlex.split(answer.command)
            state.command = worker_argv(parts, self.python)
            state.command_at = now
        return state.command

    def _start(self, q: WorkerQueue, state: QueueState, command: list[str], now: float) -> WorkerProcess:
        self._seq += 1
        folder = self._log_dir(q.name)
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / f"starting-{os.getpid()}-{self._seq}.log"
        env = {**self.base_env, "KUBIYA_API_KEY": self.api_key, "PYTHONUNBUFFERED": "1"}
        proc = spawn(
            f"worker:{q.name}",
            [*command, *self.worker_args],
            log_path,
            env,
            parent_death_signal=self.parent_death_signal,
        )
        w = WorkerProcess(
            queue_id=q.id,
            queue_name=q.name,
            seq=self._seq,
            process=proc,
            started_at=now,
            started_wall=time.time(),
        )
        with self._lock:
            state.workers.append(w)
        self._event(f"started a worker for {q.name} (pid {proc.pid}, log {folder})")
        return w

    def _retire(self, w: WorkerProcess, now: float, why: str) -> None:
        if not w.retiring:
            w.retiring = True
            w.retire_since = now
            self._event(f"draining worker {w.worker_id or f'pid {w.pid}'} of {w.queue_name} ({why})")

    async def _signal_retiring(self, state: QueueState, now: float) -> None:
        for w in state.workers:
            if not w.retiring or w.signaled:
                continue
            if w.worker_id is None and now - (w.retire_since or now) < REGISTER_WAIT and w.process.alive():
                continue  # let it register first, so that it drains and disconnects cleanly
            if w.worker_id is not None:
                try:
                    await self.api.drain_worker(w.worker_id)
                except ApiError as exc:
                    log.warning("drain of worker %s through the API failed: %s", w.worker_id, exc)
            # SIGTERM drains at once; the API's drain alone waits for the next heartbeat.
            self._sigterm(w)
            w.signaled = True

    @staticmethod
    def _sigterm(w: WorkerProcess) -> None:
        try:
            os.killpg(w.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(w.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    # ------------------------------------------------------------------ autoscaling

    async def _autoscale(self, q: WorkerQueue, state: QueueState, rows: list[WorkerDetail], now: float) -> None:
        policy = q.autoscale or {}
        current = q.desired_workers
        if current is None:
            current = sum(1 for w in state.workers if not w.retiring)
        try:
            metrics = await self.api.queue_metrics(q.id)
        except ApiError as exc:
            self._note(state, f"autoscale of {q.name} paused: cannot read its metrics: {exc}")
            return
        if metrics.temporal_available is False:
            self._note(state, f"autoscale of {q.name} paused: {metrics.temporal_error or 'Temporal unavailable'}")
            return
        backlog = int(metrics.task_queue_backlog or 0)
        age = float(metrics.task_queue_backlog_age_seconds or 0.0)
        if backlog > 0:
            state.empty_since = None
        elif state.empty_since is None:
            state.empty_since = now
        live = [r for r in rows if _live(r)]
        used = sum(r.slots_used or 0 for r in live)
        capacities = [(r.slots_used or 0) + (r.slots_available or 0) for r in live]
        capacities = [c for c in capacities if c > 0]
        per_worker = sum(capacities) / len(capacities) if capacities else DEFAULT_SLOTS
        decision = autoscale_decision(
            policy,
            current,
            queue_max=q.max_workers,
            backlog=backlog,
            backlog_age=age,
            empty_for=None if state.empty_since is None else now - state.empty_since,
            slots_used=used,
            slots_per_worker=per_worker,
            since_last_scale=self._since_last_scale(q, state, now),
        )
        if decision is None or decision.workers == q.desired_workers:
            return
        verb = "up" if decision.workers > current else "down"
        reason = f"autoscale {verb} {current} -> {decision.workers}: {decision.reason}"
        try:
            await self.api.scale_queue(q.id, decision.workers, reason=reason, lease=self.leases.get(AUTOSCALER_LEASE))
        except ApiError as exc:
            if exc.status == 409 and "lease" in str(exc):
                self.leases[AUTOSCALER_LEASE] = None
                self._event(f"autoscale of {q.name} not made: the {AUTOSCALER_LEASE} lease was lost ({exc})")
                return
            self._note(state, f"autoscale of {q.name} to {decision.workers} refused: {exc}")
            return
        state.last_scale_at = now
        q.desired_workers = decision.workers
        self._event(f"{q.name}: {reason}")

    @staticmethod
    def _since_last_scale(q: WorkerQueue, state: QueueState, now: float) -> float:
        """Seconds since the queue's wanted count last changed: by this runner, or as the control
        plane recorded it (a decision of a runner that held the lease before counts too)."""
        since = now - state.last_scale_at
        if q.last_scaled_at is not None:
            since = min(since, max(0.0, time.time() - q.last_scaled_at.timestamp()))
        return since

    # ------------------------------------------------------------------ stopping

    async def shutdown(self, grace: float | None = None) -> None:
        """Drain every worker this runner started: SIGTERM, wait up to the grace, then SIGKILL."""
        grace = self.stop_grace if grace is None else grace
        workers = [w for s in self.states.values() for w in s.workers]
        if not workers:
            return
        self._event(f"stopping {len(workers)} worker(s): draining (up to {grace:.0f}s)")
        if any(w.worker_id is None for w in workers):
            try:
                rows = await asyncio.wait_for(self.api.list_workers(), 3)
            except (ApiError, asyncio.TimeoutError):
                rows = []
            for state in self.states.values():
                self._learn_ids(state, [r for r in rows if r.queue_id in {w.queue_id for w in state.workers}])
        for w in workers:
            if w.process.alive():
                self._sigterm(w)
        deadline = time.monotonic() + grace
        while any(w.process.alive() for w in workers):
            if self._hurry.is_set() or time.monotonic() >= deadline:
                left = [w for w in workers if w.process.alive()]
                self._event(f"{len(left)} worker(s) still draining: killing them")
                kill_now(w.process for w in left)
                break
            await asyncio.sleep(0.1)
        for w in workers:
            w.process.stop(grace=5)
        for w in workers:
            if not self._hurry.is_set():
                await self._report_gone(w, w.process.proc.returncode, "stopped by the runner")
        with self._lock:
            for state in self.states.values():
                state.workers.clear()
