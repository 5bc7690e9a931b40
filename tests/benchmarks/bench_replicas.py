"""Heartbeat ingest on each registry backend and on two replicas, measured open-loop, in one run.

Run from the repository root:

    python -m tests.benchmarks.bench_replicas [--rate 1000] [--duration 20]

Three set-ups, one after the other, each on a fresh registry with a Temporal dev server:

* one replica on SQLite (the default data dir file);
* one replica on PostgreSQL (a database made for the run on 127.0.0.1:5432, dropped after);
* two replicas on one PostgreSQL database, the load split between them.

Each registers 2,000 workers, then the load generator of ``bench_heartbeat`` (raw asyncio
HTTP/1.1, request *i* due at ``start + i / rate`` whatever happened to earlier ones,
latency from the due time) sends heartbeats at ``--rate`` per second for ``--duration``
seconds after a warm-up. A set-up holds when every heartbeat was answered 200, p99 < 50 ms
and the achieved rate is at least 95 % of the target.

Reported per set-up: p50/p99/max, errors, the CPU of the replicas, of PostgreSQL (every
``postgres`` process of the machine: the server is shared) and of the generator, the CPU per
heartbeat (replicas alone, and replicas + PostgreSQL), the load average before and after,
and the ratio of two replicas to one on PostgreSQL. On a 2-core machine the generator, the
database, Temporal and the replicas share the cores: the figures are what this machine gave.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.bench_heartbeat import (
    DRAIN_SECONDS,
    P99_LIMIT_MS,
    SETTLE_SECONDS,
    WARMUP_RATE,
    WARMUP_SECONDS,
    WORKERS,
    _busy_seconds,
    _cpu_seconds,
    _percentile,
    _register_workers,
)

POSTGRES_ADMIN = os.environ.get("KUBIYA_TUI_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DEFAULT_RATE = 1000
REPO = Path(__file__).resolve().parents[2]


def _postgres_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL process of the machine."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and proc.info["name"].startswith("postgres"):
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total


def _admin_sql(sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_ADMIN)

    async def run() -> None:
        conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username, database=url.database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _load(name: str, pids: list[int], ports: list[int], key: str, workers: list[str], rate: int, duration: float, work: Path) -> dict[str, Any]:
    """One step at ``rate``/s, the schedule split over one generator per port."""
    start = time.time() + 3.0
    warmup = {"rate": WARMUP_RATE, "start": start, "duration": WARMUP_SECONDS}
    step = {"rate": rate, "start": start + WARMUP_SECONDS + DRAIN_SECONDS / 5 + SETTLE_SECONDS, "duration": duration}
    procs, outs = [], []
    try:
        for part, port in enumerate(ports):
            config = {
                "port": port, "path": "/api/v1/workers/{worker_id}/heartbeat", "key": key, "workers": workers,
                "share": len(ports), "part": part, "steps": [step], "warmup": warmup,
            }  # fmt: skip
            cfg = work / f"{name}-gen{part}.json"
            cfg.write_text(json.dumps(config))
            outs.append(work / f"{name}-gen{part}.out.json")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.benchmarks.bench_heartbeat", "_generate", str(cfg), str(outs[-1])],
                    cwd=REPO,
                    stdin=subprocess.DEVNULL,
                )
            )
        time.sleep(max(0.0, step["start"] - time.time()))
        c0 = sum(_cpu_seconds(p) for p in pids)
        pg0, b0, load0 = _postgres_cpu(), _busy_seconds(), os.getloadavg()[0]
        time.sleep(max(0.0, step["start"] + duration - time.time()))
        server = (sum(_cpu_seconds(p) for p in pids) - c0) / duration
        pg = (_postgres_cpu() - pg0) / duration
        busy = (_busy_seconds() - b0) / duration
        load1 = os.getloadavg()[0]
        for p in procs:
            p.wait(timeout=DRAIN_SECONDS + SETTLE_SECONDS + 60)
            if p.returncode != 0:
                raise RuntimeError(f"load generator {p.pid} failed with exit code {p.returncode}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    parts = [json.loads(o.read_text())[0] for o in outs]
    lat = sorted(x for part in parts for x in part["latencies_us"])
    errors: dict[str, int] = {}
    for part in parts:
        for kind, n in part["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
    elapsed = max(part["elapsed"] for part in parts)
    sent = sum(part["sent"] for part in parts)
    ok = len(lat)
    row = {
        "setup": name,
        "rate": rate,
        "sent": sent,
        "ok": ok,
        "achieved": ok / max(elapsed, duration),
        "p50": _percentile(lat, 0.50),
        "p99": _percentile(lat, 0.99),
        "max": lat[-1] / 1000.0 if lat else float("nan"),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "replicas_cpu": server * 100,
        "postgres_cpu": pg * 100,
        "gen_cpu": sum(part["cpu_seconds"] for part in parts) / duration * 100,
        "busy_cpu": busy * 100,
        "us_per_hb": server * duration / max(ok, 1) * 1e6,
        "us_per_hb_with_db": (server + pg) * duration / max(ok, 1) * 1e6,
        "load_before": load0,
        "load_after": load1,
    }
    row["held"] = row["errors"] == 0 and ok == sent and row["p99"] < P99_LIMIT_MS and row["achieved"] >= 0.95 * rate
    return row


def _setup(name: str, replicas: int, database_url: str | None, address: str, rate: int, duration: float, work: Path) -> dict[str, Any]:
    from kubiya_tui.controlplane.store import new_api_key
    from kubiya_tui.stack.processes import start_control_plane

    key = new_api_key()
    env = {"KUBIYA_TUI_DATABASE_URL": database_url} if database_url else None
    started = []
    try:
        for i in range(replicas):
            started.append(start_control_plane(work / f"{name}-{i}", address, api_key=key, extra_env=env))
        urls = [u for _, u in started]
        print(f"[{name}] {replicas} replica(s): " + ", ".join(f"pid {p.pid} on {u}" for p, u in started), flush=True)
        workers = _register_workers(urls[0], key)
        print(f"[{name}] registered {len(workers)} workers; {rate}/s for {duration:.0f} s", flush=True)
        return _load(name, [p.pid for p, _ in started], [int(u.rsplit(":", 1)[1]) for u in urls], key, workers, rate, duration, work)
    finally:
        for proc, _ in started:
            proc.stop()


def _print(rows: list[dict[str, Any]], cores: int) -> None:
    print(f"\nheartbeat ingest, {WORKERS} workers, open loop, {cores} cores")
    print(
        f"{'set-up':<22} {'target/s':>8} {'achieved/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6}"
        f" {'replicas':>8} {'postgres':>8} {'gen':>5} {'us/hb':>6} {'+db':>6} {'load':>10}  held"
    )
    for r in rows:
        print(
            f"{r['setup']:<22} {r['rate']:>8} {r['achieved']:>10.0f} {r['p50']:>7.1f} {r['p99']:>7.1f} {r['max']:>7.1f}"
            f" {r['errors']:>6} {r['replicas_cpu']:>7.0f}% {r['postgres_cpu']:>7.0f}% {r['gen_cpu']:>4.0f}%"
            f" {r['us_per_hb']:>6.0f} {r['us_per_hb_with_db']:>6.0f} {r['load_before']:>4.1f}->{r['load_after']:<4.1f}"
            f"  {'yes' if r['held'] else 'no'}"
        )
        if r["error_kinds"]:
            print("    errors: " + ", ".join(f"{k}: {n}" for k, n in sorted(r["error_kinds"].items())))
    one = next((r for r in rows if r["setup"] == "1 replica, PostgreSQL"), None)
    two = next((r for r in rows if r["setup"] == "2 replicas, PostgreSQL"), None)
    if one and two:
        print(
            f"\ntwo replicas / one (PostgreSQL): achieved {two['achieved'] / one['achieved']:.2f}, p99"
            f" {two['p99'] / one['p99']:.2f}, replica CPU per heartbeat {two['us_per_hb'] / one['us_per_hb']:.2f}"
        )
    print("us/hb: CPU of the replicas per heartbeat answered; +db: with PostgreSQL's CPU (all of the machine's).")
    sys.stdout.flush()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_replicas", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE, help="heartbeats per second in each set-up")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds the rate is held")
    args = parser.parse_args(argv)

    from kubiya_tui.stack.processes import start_temporal

    signal.signal(signal.SIGTERM, _interrupt)
    cores = os.cpu_count() or 0
    work = Path(tempfile.mkdtemp(prefix="kubiya-bench-replicas-"))
    print(f"replicas benchmark: {cores} cores, load average {os.getloadavg()[0]:.1f}, data in {work}", flush=True)
    databases: list[str] = []
    temporal = None
    rows = []
    try:
        temporal, address = start_temporal(work / "temporal")
        rows.append(_setup("1 replica, SQLite", 1, None, address, args.rate, args.duration, work))
        for name, count in (("1 replica, PostgreSQL", 1), ("2 replicas, PostgreSQL", 2)):
            db = f"kty_bench_{secrets.token_hex(4)}"
            _admin_sql(f'CREATE DATABASE "{db}"')
            databases.append(db)
            url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{db}"
            rows.append(_setup(name, count, url, address, args.rate, args.duration, work))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the processes this benchmark started", file=sys.stderr)
        return 130
    finally:
        if temporal is not None:
            temporal.stop()
        for db in databases:
            _admin_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    _print(rows, cores)
    return 0


if __name__ == "__main__":
    sys.exit(main())
