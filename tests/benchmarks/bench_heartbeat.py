"""Heartbeat ingest of one control-plane process, measured open-loop.

Run from the repository root:

    python -m tests.benchmarks.bench_heartbeat

What it does:

* starts a Temporal dev server (``start_temporal``) and ``kubiya-tui serve`` on 127.0.0.1 on
  free ports, each with its own temporary data dir;
* registers 2,000 workers with ``POST /api/v1/worker-queues/{id}/start`` across 4 queues;
* drives ``POST /api/v1/workers/{id}/heartbeat`` with realistic bodies, rotating over the
  2,000 worker ids, OPEN-LOOP at fixed rates from a load generator in its own process:
  request *i* of a step is due at ``start + i / rate`` and is sent then whatever happened
  to earlier ones, and its latency is measured from that due time (no coordinated
  omission: a request that waits for a free connection is charged for the wait);
* steps the rate up (500 ... 3,000/s by default), holding each step for 20 s, and reports
  per step the achieved rate, p50/p99/max latency, errors and the CPU used by the server,
  by the generator and by everything else on the machine ("others": Temporal, and any
  other work; figures taken while others use a core are not this server's limit);
* does the same against a bare FastAPI app (defined here) whose endpoint writes one SQLite
  row, so the ratio ours/bare is visible;
* stops every process it started, by pid, also on Ctrl+C.

A step "holds" when every request was answered 200, p99 < 50 ms and the achieved rate is
at least 95 % of the target. The final line names the highest rate held by ours and by
the bare app and whether ours met the goal of 1,500 heartbeats/s.

The generator is a small HTTP/1.1 keep-alive client on raw asyncio protocols (uvloop when
installed) rather than httpx: httpx costs several times more CPU per request, and on a
2-core machine every cycle the generator burns is taken from the server it measures.
Its CPU use is printed per step so a saturated generator is visible.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
WORKERS = 2000
QUEUES = 4
DEFAULT_RATES = (500, 1000, 1500, 2000, 2500, 3000)
DEFAULT_DURATION = 20.0
P99_LIMIT_MS = 50.0
GOAL = 1500
MAX_CONNECTIONS = 512
DRAIN_SECONDS = 5.0
"""After a step's last due time, answers are awaited this long; the rest count as timeouts."""
SETTLE_SECONDS = 2.0
"""Pause between steps, so an overloaded step does not spill into the next."""
WARMUP_SECONDS = 3.0
WARMUP_RATE = 300


# ---------------------------------------------------------------------------- request bodies


def heartbeat_body(n: int, worker_no: int) -> bytes:
    """A heartbeat as this project's worker sends it; numbers move with the round ``n``."""
    body = {
        "status": "busy",
        "tasks_processed": n * 3 + worker_no % 7,
        "tasks_failed": n // 50,
        "current_task_ids": [f"task-{worker_no}-{n}-{k}" for k in range(3)],
        "slots_used": 3,
        "slots_available": 7,
        "system_info": {
            "hostname": f"bench-host-{worker_no % 100}",
            "platform": "linux",
            "os_name": "Linux",
            "os_version": "6.1.0",
            "python_version": "3.11.7",
            "sdk_version": "0.1.0",
            "pid": 10000 + worker_no,
            "cpu_count": 8,
            "cpu_percent": round(5 + (n * 7 + worker_no) % 90 + 0.5, 1),
            "memory_total": 16 * 1024**3,
            "memory_used": 6 * 1024**3 + (n % 1000) * 4096,
            "memory_percent": 37.5,
            "uptime_seconds": 3600.0 + n,
        },
        "worker_metadata": {
            "runtime": "python",
            "worker_version": "0.1.0",
            "task_duration_avg_ms": 120.0 + (n % 40),
            "concurrency": 10,
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------- load generator


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, gen: "_Generator") -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.due = 0.0
        self.busy = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, due: float) -> None:
        self.busy = True
        self.due = due
        self.transport.write(request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self.buf[:head_end]).lower()
        length = 0
        at = head.find(b"content-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at)
            length = int(head[at + 15 : line_end if line_end >= 0 else len(head)])
        if len(self.buf) < head_end + 4 + length:
            return
        status = int(head[9:12])
        del self.buf[: head_end + 4 + length]
        self.busy = False
        self.gen.done(self, status, b"connection: close" in head)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy:
            self.busy = False
            self.gen.done(self, -1, True)
        else:
            self.gen.forget(self)


class _Generator:
    """Sends requests on schedule over a pool of connections and records latencies."""

    def __init__(self, host: str, port: int, path_fmt: str, key: str, workers: list[str]) -> None:
        self.host, self.port = host, port
        self.path_fmt = path_fmt
        self.head_fmt = (
            "POST {path} HTTP/1.1\r\nHost: " + f"{host}:{port}" + "\r\nAuthorization: Bearer " + key
            + "\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n\r\n"
        )
        self.workers = workers
        self.idle: deque[_Conn] = deque()
        self.conns: set[_Conn] = set()
        self.opening = 0
        self.waiting: deque[tuple[bytes, float]] = deque()
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.outstanding = 0
        self.record = True
        self.t0 = 0.0
        self.worst: dict[int, float] = {}
        """The slowest answer per 100 ms of due times, for --verbose."""

    def request(self, index: int, n_round: int) -> bytes:
        worker_no = index % len(self.workers)
        body = heartbeat_body(n_round, worker_no)
        path = self.path_fmt.format(worker_id=self.workers[worker_no])
        return self.head_fmt.format(path=path, n=len(body)).encode() + body

    def dispatch(self, request: bytes, due: float) -> None:
        self.outstanding += 1
        while self.idle:
            conn = self.idle.popleft()
            if not conn.closed:
                conn.send(request, due)
                return
        self.waiting.append((request, due))
        if len(self.conns) + self.opening < MAX_CONNECTIONS:
            self.opening += 1
            asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Conn(self), self.host, self.port)
        except OSError as exc:
            self.opening -= 1
            if self.waiting:
                self.waiting.popleft()
                self._error(f"connect: {type(exc).__name__}")
            return
        self.opening -= 1
        self.conns.add(conn)
        self._next(conn)

    def _next(self, conn: _Conn) -> None:
        if self.waiting:
            request, due = self.waiting.popleft()
            conn.send(request, due)
        else:
            self.idle.append(conn)

    def _error(self, kind: str) -> None:
        self.outstanding -= 1
        if self.record:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def done(self, conn: _Conn, status: int, close: bool) -> None:
        latency = time.perf_counter() - conn.due
        if status == 200:
            self.outstanding -= 1
            if self.record:
                self.latencies.append(latency)
                bucket = int((conn.due - self.t0) * 10)
                if latency > self.worst.get(bucket, 0.0):
                    self.worst[bucket] = latency
        else:
            self._error("connection lost" if status < 0 else f"HTTP {status}")
        if close or conn.closed:
            self.forget(conn)
            if conn.transport is not None and not conn.closed:
                conn.transport.close()
        else:
            self._next(conn)

    def forget(self, conn: _Conn) -> None:
        self.conns.discard(conn)

    async def warm(self, count: int) -> None:
        for _ in range(min(count, MAX_CONNECTIONS)):
            self.opening += 1
            await self._open()

    def close_all(self) -> int:
        """Drop every connection and every request not yet answered; answers how many were dropped."""
        lost = self.outstanding
        for conn in list(self.conns):
            conn.busy = False
            if conn.transport is not None:
                conn.transport.close()
        self.conns.clear()
        self.idle.clear()
        self.waiting.clear()
        self.outstanding = 0
        return lost

    async def run(self, rate: float, start_wall: float, duration: float, part: int, share: int) -> dict[str, Any]:
        """One step: ``rate`` requests/s from ``start_wall`` (epoch seconds) for ``duration`` s.

        With ``share`` generators, this one (``part``) sends requests part, part + share, ...
        of the step, due at their place in the common schedule.
        """
        phase = part / share
        await asyncio.sleep(max(0.0, start_wall - time.time()))
        self.latencies, self.errors, self.record, self.worst = [], {}, True, {}
        cpu0 = time.process_time()
        t0 = self.t0 = time.perf_counter()
        total = int(rate * duration)
        interval = 1.0 / rate
        lag_max = 0.0
        i = 0
        while i < total:
            now = time.perf_counter()
            while i < total and t0 + (i + phase) * interval <= now:
                due = t0 + (i + phase) * interval
                lag_max = max(lag_max, now - due)
                index = i * share + part
                self.dispatch(self.request(index, index // len(self.workers)), due)
                i += 1
            if i < total:
                await asyncio.sleep(max(0.0, t0 + (i + phase) * interval - time.perf_counter()))
        sent_end = time.perf_counter()
        deadline = sent_end + DRAIN_SECONDS
        while self.outstanding > 0 and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        last = time.perf_counter()
        timeouts = self.close_all()
        if timeouts:
            self.errors["no answer within 5 s of the step's end"] = timeouts
        cpu = time.process_time() - cpu0
        return {
            "rate": rate,
            "sent": total,
            "send_seconds": sent_end - t0,
            "elapsed": last - t0,
            "send_lag_max_ms": lag_max * 1000,
            "latencies_us": [int(x * 1e6) for x in self.latencies],
            "errors": self.errors,
            "cpu_seconds": cpu,
            "worst_ms_by_100ms": {k: round(v * 1000, 1) for k, v in sorted(self.worst.items())},
        }


async def _generate(config: dict[str, Any]) -> list[dict[str, Any]]:
    gen = _Generator(LOOPBACK, config["port"], config["path"], config["key"], config["workers"])
    share, part = config["share"], config["part"]
    results = []
    # Warm-up, not recorded: connections, the server's caches, the first page-ins.
    warm = config.get("warmup")
    if warm:
        await gen.warm(32)
        await gen.run(warm["rate"] / share, warm["start"], warm["duration"], part, share)
    for step in config["steps"]:
        await gen.warm(32)
        result = await gen.run(step["rate"] / share, step["start"], step["duration"], part, share)
        result["rate"] = step["rate"]
        results.append(result)
    return results


def generator_main(config_file: str, out_file: str) -> None:
    config = json.loads(Path(config_file).read_text())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = asyncio.run(_generate(config))
    Path(out_file).write_text(json.dumps(results))


# ---------------------------------------------------------------------------- the bare baseline


def bare_app(db_path: str) -> Any:
    """A plain FastAPI app: the same route, one SQLite row written per request."""
    from fastapi import FastAPI

    db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS heartbeats (worker_id TEXT PRIMARY KEY, at REAL, body TEXT)")
    app = FastAPI()

    @app.post("/api/v1/workers/{worker_id}/heartbeat")
    async def heartbeat(worker_id: str, body: dict[str, Any]) -> dict[str, Any]:
        db.execute(
            "INSERT INTO heartbeats VALUES (?,?,?) ON CONFLICT (worker_id) DO UPDATE SET at=excluded.at, body=excluded.body",
            (worker_id, time.time(), json.dumps(body)),
        )
        return {"worker_id": worker_id, "desired_state": "running", "config_version": None}

    return app


def bare_main(port: int, db_path: str) -> None:
    import uvicorn

    # The same uvicorn settings as `kubiya-tui serve`.
    uvicorn.run(bare_app(db_path), host=LOOPBACK, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5)


# ---------------------------------------------------------------------------- the orchestrator


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k] / 1000.0


def _cpu_seconds(pid: int) -> float:
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.Error:
        return float("nan")


def _busy_seconds() -> float:
    """CPU seconds all processes of the machine have used so far."""
    import psutil

    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)


def _register_workers(url: str, key: str) -> list[str]:
    import httpx

    async def go() -> list[str]:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            envs = (await client.get("/api/v1/environments")).raise_for_status().json()
            env_id = next(e["id"] for e in envs if e["name"] == "default")
            queue_ids = []
            for q in range(QUEUES):
                r = await client.post(
                    f"/api/v1/environments/{env_id}/worker-queues",
                    json={"name": f"bench-{q}", "heartbeat_interval": 30, "tags": ["bench"]},
                )
                queue_ids.append(r.raise_for_status().json()["id"])
            ids: list[str] = []

            async def start(k: int) -> None:
                r = await client.post(
                    f"/api/v1/worker-queues/{queue_ids[k % QUEUES]}/start",
                    json={
                        "worker_sdk_version": "0.1.0",
                        "system_info": {"hostname": f"bench-host-{k % 100}", "platform": "linux", "cpu_count": 8},
                        "capabilities": {"runtime": "python"},
                    },
                )
                ids.append(r.raise_for_status().json()["worker_id"])

            for first in range(0, WORKERS, 50):
                await asyncio.gather(*(start(k) for k in range(first, min(first + 50, WORKERS))))
            return ids

    return asyncio.run(go())


def _run_load(
    name: str, server_pid: int, port: int, key: str, workers: list[str], rates: list[int], duration: float,
    generators: int, work: Path,
) -> list[dict[str, Any]]:
    """Drive the steps from ``generators`` processes; answers one merged row per step."""
    t = time.time() + 3.0
    warmup = {"rate": WARMUP_RATE, "start": t, "duration": WARMUP_SECONDS}
    t += WARMUP_SECONDS + DRAIN_SECONDS / 5 + SETTLE_SECONDS
    steps = []
    for rate in rates:
        steps.append({"rate": rate, "start": t, "duration": duration})
        # Room for the drain of an overloaded step before the next one starts.
        t += duration + DRAIN_SECONDS + SETTLE_SECONDS + 1.0
    procs: list[subprocess.Popen] = []
    outs = []
    try:
        for part in range(generators):
            config = {
                "port": port, "path": "/api/v1/workers/{worker_id}/heartbeat", "key": key,
                "workers": workers, "share": generators, "part": part, "steps": steps, "warmup": warmup,
            }
            cfg = work / f"{name}-gen{part}.json"
            cfg.write_text(json.dumps(config))
            out = work / f"{name}-gen{part}.out.json"
            outs.append(out)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.benchmarks.bench_heartbeat", "_generate", str(cfg), str(out)],
                    cwd=Path(__file__).resolve().parents[2],
                    stdin=subprocess.DEVNULL,
                )
            )
        server_cpu, busy_cpu = [], []
        for step in steps:
            time.sleep(max(0.0, step["start"] - time.time()))
            c0, b0 = _cpu_seconds(server_pid), _busy_seconds()
            time.sleep(max(0.0, step["start"] + step["duration"] - time.time()))
            server_cpu.append((_cpu_seconds(server_pid) - c0) / step["duration"])
            busy_cpu.append((_busy_seconds() - b0) / step["duration"])
            print(f"  [{name}] step {step['rate']}/s sent", flush=True)
        for p in procs:
            try:
                p.wait(timeout=DRAIN_SECONDS + SETTLE_SECONDS + 60)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"load generator {p.pid} did not finish") from None
            if p.returncode != 0:
                raise RuntimeError(f"load generator {p.pid} failed with exit code {p.returncode}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    parts = [json.loads(o.read_text()) for o in outs]
    rows = []
    for s, step in enumerate(steps):
        lat = sorted(x for part in parts for x in part[s]["latencies_us"])
        errors: dict[str, int] = {}
        for part in parts:
            for kind, n in part[s]["errors"].items():
                errors[kind] = errors.get(kind, 0) + n
        elapsed = max(part[s]["elapsed"] for part in parts)
        rows.append(
            {
                "rate": step["rate"],
                "sent": sum(part[s]["sent"] for part in parts),
                "ok": len(lat),
                "achieved": len(lat) / max(elapsed, step["duration"]),
                "p50": _percentile(lat, 0.50),
                "p99": _percentile(lat, 0.99),
                "max": lat[-1] / 1000.0 if lat else float("nan"),
                "errors": sum(errors.values()),
                "error_kinds": errors,
                "server_cpu": server_cpu[s] * 100,
                "gen_cpu": sum(part[s]["cpu_seconds"] for part in parts) / step["duration"] * 100,
                "busy_cpu": busy_cpu[s] * 100,
                "send_lag_max_ms": max(part[s]["send_lag_max_ms"] for part in parts),
                "slow_windows": sorted(
                    {
                        (int(k) / 10, v)
                        for part in parts
                        for k, v in part[s]["worst_ms_by_100ms"].items()
                        if v >= P99_LIMIT_MS
                    }
                ),
            }
        )
        rows[-1]["held"] = (
            rows[-1]["errors"] == 0
            and rows[-1]["ok"] == rows[-1]["sent"]
            and rows[-1]["p99"] < P99_LIMIT_MS
            and rows[-1]["achieved"] >= 0.95 * step["rate"]
        )
    return rows


def _print_table(title: str, rows: list[dict[str, Any]], verbose: bool = False) -> None:
    print(f"\n{title}")
    print(
        f"{'target/s':>9} {'sent':>7} {'ok':>7} {'achieved/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f" {'errors':>7} {'server CPU':>10} {'gen CPU':>8} {'others':>7}  held"
    )
    for r in rows:
        print(
            f"{r['rate']:>9} {r['sent']:>7} {r['ok']:>7} {r['achieved']:>10.0f} {r['p50']:>8.1f} {r['p99']:>8.1f}"
            f" {r['max']:>8.1f} {r['errors']:>7} {r['server_cpu']:>9.0f}% {r['gen_cpu']:>7.0f}%"
            f" {max(0.0, r['busy_cpu'] - r['server_cpu'] - r['gen_cpu']):>6.0f}%  {'yes' if r['held'] else 'no'}"
        )
        if verbose and r["slow_windows"]:
            print(f"{'':>9} answers >= {P99_LIMIT_MS:.0f} ms (s into the step: worst ms): "
                  + ", ".join(f"{t:.1f}: {v:.0f}" for t, v in r["slow_windows"][:40]))
            print(f"{'':>9} generator's worst lag behind schedule: {r['send_lag_max_ms']:.1f} ms")
        if r["error_kinds"]:
            print(f"{'':>9} errors: " + ", ".join(f"{k}: {n}" for k, n in sorted(r["error_kinds"].items())))
    sys.stdout.flush()


def _held(rows: list[dict[str, Any]]) -> int:
    return max((r["rate"] for r in rows if r["held"]), default=0)


def _check_persisted(db: Path, since: float) -> tuple[int, int]:
    """Workers whose last heartbeat landed during the run, and all workers (read-only look)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        fresh = con.execute("SELECT COUNT(*) FROM workers WHERE last_heartbeat >= ?", (since,)).fetchone()[0]
        total = con.execute("SELECT COUNT(*) FROM workers").fetchone()[0]
        return fresh, total
    finally:
        con.close()


def _stop(procs: list[Any]) -> None:
    for proc in reversed(procs):
        try:
            proc.stop()
        except Exception as exc:  # noqa: BLE001 - keep stopping the others
            print(f"could not stop {proc.name} (pid {proc.pid}): {exc}", file=sys.stderr)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_heartbeat", description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)), help="comma-separated steps, per second")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION, help="seconds per step")
    parser.add_argument("--generators", type=int, default=1, help="load-generator processes (the rate is split)")
    parser.add_argument("--only", choices=("ours", "bare"), help="measure only one of the two servers")
    parser.add_argument("--verbose", action="store_true", help="also show when in each step answers took >= 50 ms")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir (logs, SQLite files)")
    args = parser.parse_args(argv)
    rates = [int(x) for x in args.rates.split(",") if x.strip()]

    from kubiya_tui.controlplane.store import new_api_key
    from kubiya_tui.stack.processes import ManagedProcess, free_port, spawn, start_control_plane, start_temporal, wait_for_port

    # Ctrl+C and SIGTERM both unwind through the finally below, which stops everything.
    signal.signal(signal.SIGTERM, _interrupt)
    cores = os.cpu_count() or 0
    work = Path(tempfile.mkdtemp(prefix="kubiya-bench-"))
    started: list[ManagedProcess] = []
    results: dict[str, list[dict[str, Any]]] = {}
    print(f"heartbeat ingest benchmark: {cores} cores, steps {rates}/s x {args.duration:.0f} s, "
          f"{WORKERS} workers, {args.generators} generator process(es), data in {work}", flush=True)
    load = os.getloadavg()[0]
    if load > 0.5 * cores:
        print(f"warning: the machine is busy (load average {load:.1f} on {cores} cores); the figures will show "
              "that work's interference (column 'others')", flush=True)
    try:
        temporal, address = start_temporal(work / "temporal")
        started.append(temporal)
        print(f"Temporal dev server: pid {temporal.pid} on {address}", flush=True)

        if args.only in (None, "ours"):
            key = new_api_key()
            cp, url = start_control_plane(work / "control-plane", address, api_key=key)
            started.append(cp)
            port = int(url.rsplit(":", 1)[1])
            print(f"control plane (kubiya-tui serve): pid {cp.pid} on {url}", flush=True)
            t0 = time.time()
            workers = _register_workers(url, key)
            print(f"registered {len(workers)} workers across {QUEUES} queues in {time.time() - t0:.1f} s", flush=True)
            since = time.time()
            results["ours"] = _run_load("ours", cp.pid, port, key, workers, rates, args.duration, args.generators, work)
            fresh, total = _check_persisted(work / "control-plane" / "control-plane.sqlite", since)
            print(f"  persisted: {fresh} of {total} workers have a heartbeat from this run in SQLite", flush=True)
            cp.stop()
            started.remove(cp)

        if args.only in (None, "bare"):
            port = free_port()
            bare_dir = work / "bare"
            bare_dir.mkdir()
            bare = spawn(
                "bare-fastapi",
                [sys.executable, "-m", "tests.benchmarks.bench_heartbeat", "_bare", str(port), str(bare_dir / "bare.sqlite")],
                bare_dir / "bare.log",
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            )
            started.append(bare)
            wait_for_port(LOOPBACK, port, 30, bare.proc)
            print(f"bare FastAPI + SQLite app: pid {bare.pid} on http://{LOOPBACK}:{port}", flush=True)
            fake = [f"bare-worker-{k:04d}" for k in range(WORKERS)]
            results["bare"] = _run_load("bare", bare.pid, port, "unused", fake, rates, args.duration, args.generators, work)
            bare.stop()
            started.remove(bare)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the processes this benchmark started", file=sys.stderr)
        return 130
    finally:
        _stop(started)
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)

    if "ours" in results:
        _print_table("control plane (kubiya-tui serve), POST /api/v1/workers/{id}/heartbeat:", results["ours"], args.verbose)
    if "bare" in results:
        _print_table("bare FastAPI app writing one SQLite row, same generator:", results["bare"], args.verbose)
    print(f"\ncores: {cores}; a step holds with 0 errors, p99 < {P99_LIMIT_MS:.0f} ms and >= 95 % of its rate "
          f"for {args.duration:.0f} s")
    ours = _held(results["ours"]) if "ours" in results else None
    bare_held = _held(results["bare"]) if "bare" in results else None
    parts = []
    if ours is not None:
        verdict = "MET" if ours >= GOAL else "NOT MET"
        parts.append(f"ours held {ours} heartbeats/s (goal >= {GOAL}/s: {verdict})")
    if bare_held is not None:
        parts.append(f"bare FastAPI+SQLite held {bare_held}/s")
    if ours is not None and bare_held:
        parts.append(f"ours/bare = {ours / bare_held:.2f}")
    print(f"RESULT: {'; '.join(parts)}; {cores} cores")
    return 0 if ours is None or ours >= GOAL else 1


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "_generate":
        generator_main(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "_bare":
        bare_main(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(main())
