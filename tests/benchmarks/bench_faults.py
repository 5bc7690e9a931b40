"""A control plane under a realistic fleet: 2,000 workers heartbeating every 30 s, a console and `check`.

Run from the repository root:

    python -m tests.benchmarks.bench_faults            # 3 minutes
    python -m tests.benchmarks.bench_faults --duration 60

What it does:

* starts a Temporal dev server and ``kubiya-tui serve`` on free ports (own temp data dirs),
  registers 2,000 workers over 4 queues (heartbeat interval 30 s);
* sends their heartbeats open-loop with bench_heartbeat's cheap sender: each worker once
  every 30 s at its own phase (about 67/s), or with ``--aligned`` all 2,000 at once every
  30 s (a fleet started together); latency is measured from each heartbeat's due time
  (no coordinated omission);
* runs a console-like collector (the console's Collector, API and Temporal, refreshing
  every 2 s) in its own process, and ``kubiya-tui check -o json`` in a loop (5 s apart), as
  cron would;
* samples every second (in its own process) the server's CPU, the whole machine's CPU and load average, and the
  processes that used the most CPU, so a latency spike can be put on the control plane
  (its own CPU high) or on the machine (others busy while the server is not);
* reports per 30 s window: heartbeats, p50/p99/max, errors, server and machine CPU, load,
  `check` and collector refresh times; then the slowest seconds and who used the CPU then.

Everything it starts is stopped by pid, also on Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.bench_heartbeat import LOOPBACK, _Generator, _register_workers

WORKERS = 2000
INTERVAL = 30.0
WINDOW = 30.0
CHECK_PAUSE = 5.0
DEFAULT_DURATION = 180.0
ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------- heartbeats, open loop


class _Recorder(_Generator):
    """bench_heartbeat's raw HTTP/1.1 sender (cheap per request), keeping each answer's due time too."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.samples: list[tuple[float, float, int]] = []

    def done(self, conn: Any, status: int, close: bool) -> None:
        self.samples.append((conn.due - self.t0, time.perf_counter() - conn.due, status))
        super().done(conn, status, close)


async def heartbeats(port: int, key: str, workers: list[str], duration: float, aligned: bool = False) -> list[tuple[float, float, int]]:
    """(due offset s, latency s, status) of every heartbeat, open loop: worker k is due at k * INTERVAL / WORKERS
    + n * INTERVAL, or (``aligned``) every worker at once every INTERVAL, as a fleet started together."""
    gen = _Recorder(LOOPBACK, port, "/api/v1/workers/{worker_id}/heartbeat", key, workers)
    await gen.warm(64)
    rounds = int(duration // INTERVAL) + 1
    schedule = sorted(
        ((n * INTERVAL + (0.0 if aligned else k * INTERVAL / len(workers))), k, n)
        for n in range(rounds)
        for k in range(len(workers))
    )
    t0 = gen.t0 = time.perf_counter()
    gen.record = True
    for offset, k, n in schedule:
        if offset >= duration:
            break
        due = t0 + offset
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        gen.dispatch(gen.request(k, n), due)
    await asyncio.sleep(max(0.0, t0 + duration - time.perf_counter()))
    deadline = time.perf_counter() + 30
    while gen.outstanding > 0 and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    lost = gen.close_all()
    gen.samples.extend((duration, float("nan"), -1) for _ in range(lost))
    return gen.samples


# ---------------------------------------------------------------------------- the console and check


def collector_main(url: str, key: str, address: str, out_file: str, duration: float) -> None:
    """The console's data path without the screen: Collector.run every 2 s, refresh times to ``out_file``."""
    from kubiya_tui.secret import SecretStr

    from kubiya_tui.config import Settings
    from kubiya_tui.metrics.collector import Collector

    settings = Settings(api_url=url, api_key=SecretStr(key), temporal_address=address, refresh_interval=2.0)

    async def run() -> None:
        collector = Collector.from_settings(settings, history=None)
        stop = asyncio.Event()
        began = time.time()
        with open(out_file, "w") as out:

            def record(snapshot: Any) -> None:
                out.write(f"{time.time()} {snapshot.refresh_ms or 0.0} {len(snapshot.workers)}\n")
                out.flush()
                if time.time() - began >= duration:
                    stop.set()

            await collector.run(record, stop)
        await collector.aclose()

    asyncio.run(run())


def check_loop(url: str, key: str, duration: float, t0_wall: float, out: list[tuple[float, float, int]]) -> None:
    env = {**os.environ, "KUBIYA_API_KEY": key, "KUBIYA_CONTROL_PLANE_BASE_URL": url}
    while time.time() - t0_wall < duration:
        began = time.time()
        done = subprocess.run([sys.executable, "-m", "kubiya_tui", "check", "-o", "json"], capture_output=True, env=env, cwd=ROOT)
        out.append((began - t0_wall, time.time() - began, done.returncode))
        time.sleep(CHECK_PAUSE)


# ---------------------------------------------------------------------------- sampling the machine


def sampler_main(server_pid: int, duration: float, t0_wall: float, out_file: str) -> None:
    """Every second: the server's CPU, the machine's, the load average and the busiest processes (its own process,
    so walking every process never stalls the heartbeat sender)."""
    import psutil

    server = psutil.Process(server_pid)
    server.cpu_percent(None)
    psutil.cpu_percent(None)
    procs: dict[int, psutil.Process] = {}
    sink = open(out_file, "w")
    while time.time() - t0_wall < duration + 2:
        time.sleep(1.0)
        top: list[tuple[float, str]] = []
        for p in psutil.process_iter(["pid", "name", "cmdline"]):
            known = procs.setdefault(p.pid, p)
            try:
                cpu = known.cpu_percent(None)
            except psutil.Error:
                continue
            if cpu >= 5:
                cmd = " ".join((p.info.get("cmdline") or [p.info.get("name") or "?"])[:4])[:80]
                top.append((cpu, f"{p.pid} {cmd}"))
        top.sort(reverse=True)
        try:
            server_cpu = server.cpu_percent(None)
        except psutil.Error:
            server_cpu = float("nan")
        sample = {
            "t": time.time() - t0_wall,
            "server_cpu": server_cpu,
            "machine_cpu": psutil.cpu_percent(None) * (os.cpu_count() or 1),
            "load1": os.getloadavg()[0],
            "top": top[:5],
        }
        sink.write(json.dumps(sample) + "\n")
        sink.flush()


# ---------------------------------------------------------------------------- report


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def report(beats: list[tuple[float, float, int]], checks: list[tuple[float, float, int]], refreshes: list[tuple[float, float]],
           samples: list[dict[str, Any]], duration: float, cores: int) -> None:  # fmt: skip
    print(f"\nper {WINDOW:.0f} s window (heartbeat latency from its due time; CPU in % of one core, {cores} cores):")
    print(f"{'window':>9} {'beats':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6} {'server':>7} {'machine':>8}"
          f" {'load1':>6} {'checks':>6} {'check s (med/max)':>17} {'console refresh ms (med/max)':>29}")  # fmt: skip
    for w in range(int((duration + WINDOW - 1) // WINDOW)):
        lo, hi = w * WINDOW, (w + 1) * WINDOW
        lat = [l * 1000 for t, l, s in beats if lo <= t < hi and s == 200]
        errors = sum(1 for t, _, s in beats if lo <= t < hi and s != 200)
        ss = [s for s in samples if lo <= s["t"] < hi]
        cs = [d for t, d, _ in checks if lo <= t < hi]
        rs = [ms for t, ms in refreshes if lo <= t < hi]
        server = sum(s["server_cpu"] for s in ss) / len(ss) if ss else float("nan")
        machine = sum(s["machine_cpu"] for s in ss) / len(ss) if ss else float("nan")
        load = ss[-1]["load1"] if ss else float("nan")
        check_txt = f"{_pct(cs, 0.5):.1f}/{max(cs):.1f}" if cs else "-"
        refresh_txt = f"{_pct(rs, 0.5):.0f}/{max(rs):.0f}" if rs else "-"
        print(f"{lo:>4.0f}-{hi:<4.0f} {len(lat):>6} {_pct(lat, 0.5):>7.1f} {_pct(lat, 0.99):>7.1f} {max(lat, default=float('nan')):>7.1f}"
              f" {errors:>6} {server:>6.0f}% {machine:>7.0f}% {load:>6.2f} {len(cs):>6} {check_txt:>17} {refresh_txt:>29}")  # fmt: skip
    all_lat = [l * 1000 for _, l, s in beats if s == 200]
    cs = [d for _, d, _ in checks]
    print(f"\nall: {len(beats)} heartbeats, p50 {_pct(all_lat, 0.5):.1f} ms, p99 {_pct(all_lat, 0.99):.1f} ms, max {max(all_lat, default=0):.1f} ms,"
          f" {sum(1 for *_, s in beats if s != 200)} errors; check: {len(cs)} runs, median {_pct(cs, 0.5):.2f} s,"
          f" max {max(cs, default=0):.2f} s, exit codes {sorted({c for *_, c in checks})}")  # fmt: skip
    # The slowest seconds, with what used the CPU then: the control plane itself, or the rest of the machine.
    worst: dict[int, float] = {}
    for t, l, s in beats:
        worst[int(t)] = max(worst.get(int(t), 0.0), l * 1000)
    slow = sorted(worst.items(), key=lambda kv: -kv[1])[:5]
    print("\nslowest seconds (heartbeat max) and the CPU at that time:")
    for second, ms in sorted(slow):
        near = min(samples, key=lambda s: abs(s["t"] - (second + 1)), default=None)
        if near is None:
            continue
        others = max(0.0, near["machine_cpu"] - near["server_cpu"])
        who = "; ".join(f"{cpu:.0f}% {name}" for cpu, name in near["top"]) or "-"
        print(f"  t={second:>3}s {ms:>7.1f} ms: server {near['server_cpu']:.0f}%, others {others:.0f}%, load {near['load1']:.2f}; top: {who}")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import threading

    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_faults", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION, help="seconds of load (default 180)")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir (logs, SQLite files)")
    parser.add_argument("--no-console", action="store_true", help="without the console collector (to see what it costs)")
    parser.add_argument("--no-check", action="store_true", help="without the check loop (to see what it costs)")
    parser.add_argument(
        "--aligned", action="store_true",
        help="every worker's first heartbeat at the same moment, as when a fleet starts at once (default: spread phases)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    from kubiya_tui.controlplane.store import new_api_key
    from kubiya_tui.stack.processes import ManagedProcess, spawn, start_control_plane, start_temporal

    signal.signal(signal.SIGTERM, _interrupt)
    cores = os.cpu_count() or 0
    work = Path(tempfile.mkdtemp(prefix="kubiya-bench-faults-"))
    started: list[ManagedProcess] = []
    print(f"fleet benchmark: {WORKERS} workers every {INTERVAL:.0f} s, a console collector, check every {CHECK_PAUSE:.0f} s,"
          f" {args.duration:.0f} s; {cores} cores, load average {os.getloadavg()[0]:.2f} at start; data in {work}", flush=True)  # fmt: skip
    try:
        temporal, address = start_temporal(work / "temporal")
        started.append(temporal)
        key = new_api_key()
        cp, url = start_control_plane(work / "control-plane", address, api_key=key)
        started.append(cp)
        began = time.time()
        workers = _register_workers(url, key)
        print(f"registered {len(workers)} workers in {time.time() - began:.1f} s", flush=True)

        refresh_file = work / "collector.out"
        collector = None
        if not args.no_console:
            collector = spawn(
                "collector",
                [sys.executable, "-m", "tests.benchmarks.bench_faults", "_collector", url, key, address, str(refresh_file), str(args.duration)],
                work / "collector.log",
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            started.append(collector)
        t0_wall = time.time()
        sample_file = work / "samples.jsonl"
        sampler = spawn(
            "sampler",
            [sys.executable, "-m", "tests.benchmarks.bench_faults", "_sampler", str(cp.pid), str(args.duration), str(t0_wall), str(sample_file)],
            work / "sampler.log",
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        started.append(sampler)
        checks: list[tuple[float, float, int]] = []
        checking = threading.Thread(target=check_loop, args=(url, key, args.duration, t0_wall, checks), daemon=True)
        if not args.no_check:
            checking.start()
        beats = asyncio.run(heartbeats(int(url.rsplit(":", 1)[1]), key, workers, args.duration, aligned=args.aligned))
        if not args.no_check:
            checking.join(60)
        if collector is not None:
            collector.proc.wait(30)
        sampler.stop()
        samples = [json.loads(line) for line in sample_file.read_text().splitlines()] if sample_file.exists() else []
        refreshes = []
        if refresh_file.exists():
            for line in refresh_file.read_text().splitlines():
                at, ms, _ = line.split()
                refreshes.append((float(at) - t0_wall, float(ms)))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the processes this benchmark started", file=sys.stderr)
        return 130
    finally:
        for proc in reversed(started):
            proc.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    report(beats, checks, refreshes, samples, args.duration, cores)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({cores} cores)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "_collector":
        collector_main(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]))
    elif len(sys.argv) >= 2 and sys.argv[1] == "_sampler":
        sampler_main(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(main())
