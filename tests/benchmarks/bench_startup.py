"""Start-up and one-shot commands: `kubiya-tui --help`, `check` and `top -o json` against a live stack.

Run from the repository root:

    python -m tests.benchmarks.bench_startup            # starts Temporal and a control plane
    python -m tests.benchmarks.bench_startup --quick    # 3 runs each instead of 7

What it does:

* compiles the package's bytecode first (an installed package has it; a checkout run with
  PYTHONDONTWRITEBYTECODE=1 would compile every module at every start) and runs every
  command in a fresh process, as a user does, ``--runs`` times each;
* **start-up**: wall time of `kubiya-tui --help`, with its anchors in the same run: bare
  `python -c pass`, `python -c 'import typer'` and the Go CLI `temporal --version`;
* **one shot** (read through the control plane's relay of Temporal, as one-shot commands
  do when it reads the same Temporal; rows with ``--direct-temporal`` read it with the SDK, and
  a cold row spaces runs past the relay's 5 s of shared readings): starts Temporal's dev server and `kubiya-tui serve` on 127.0.0.1 (free ports,
  a temporary data dir), makes 20 queues (``live-20``) and 180 more (``live-180``), each with
  2 waiting and 2 closed executions; then times `kubiya-tui check` and `kubiya-tui top -o json`
  over 20 queues and `check` over 200; the anchor is `temporal task-queue describe` of one
  queue (what the Go CLI pays for one queue's numbers), x20 for 20 queues;
* prints median and p95 of each with the goal, the core count and the load average, and
  stops every process it started, by pid.

``--stack DIR`` uses a stack started by ``python -m tests.benchmarks.livestack up DIR 20 180``
instead of starting one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[2]
GOALS = {"help": 0.15, "check20": 0.35, "top20": 0.35, "check200": 0.5}


def timed(argv: Sequence[str], runs: int, env: dict[str, str] | None = None, ok: Sequence[int] = (0,),
          pause: float = 0.0) -> list[float]:  # fmt: skip
    """Wall seconds of ``runs`` fresh runs of argv (one warm-up run first, not counted), ``pause`` seconds apart."""
    walls = []
    for k in range(runs + 1):
        if k and pause:
            time.sleep(pause)
        began = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=120)
        wall = time.perf_counter() - began
        if done.returncode not in ok:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]}")
        if k:
            walls.append(wall)
    return walls


def summary(walls: list[float]) -> tuple[float, float]:
    ordered = sorted(walls)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_startup", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 runs of each")
    parser.add_argument("--stack", type=Path, help="a stack started by tests.benchmarks.livestack (live-20, live-180)")
    parser.add_argument("--no-stack", action="store_true", help="start-up only")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else args.runs

    from kubiya_tui.stack.processes import temporal_binary

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kubiya_tui")], check=True, env=clean_env())
    py, cli = sys.executable, [sys.executable, "-m", "kubiya_tui"]
    temporal = str(temporal_binary())
    env = clean_env()
    rows: list[tuple[str, list[float], str, float | None]] = []
    print(f"start-up benchmark: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, {runs} runs each", flush=True)
    rows.append(("kubiya-tui --help", timed([*cli, "--help"], runs, env), "help", GOALS["help"]))
    rows.append(("  anchor: python -c pass", timed([py, "-c", "pass"], runs, env), "", None))
    rows.append(("  anchor: python -c 'import typer'", timed([py, "-c", "import typer"], runs, env), "", None))
    rows.append(("  anchor: temporal --version", timed([temporal, "--version"], runs, env), "", None))

    if not args.no_stack:
        from tests.benchmarks.livestack import LiveStack, settle

        work = Path(tempfile.mkdtemp(prefix="kubiya-bench-startup-"))
        stack: Any = None
        try:
            if args.stack:
                config = json.loads((args.stack / "stack.json").read_text())
                url, key, address = config["url"], config["key"], config["address"]
                waited = settle(config["pids"])
            else:
                stack = LiveStack(work).__enter__()
                t0 = time.time()
                stack.environment("live-20", 20)
                stack.environment("live-180", 180)
                print(f"stack: 200 queues in {time.time() - t0:.0f} s", flush=True)
                url, key, address = stack.url, stack.key, stack.address
                waited = stack.settle()
            # Timed on a settled stack: just after setup, Temporal is still recording the executions that timed out.
            print(f"stack settled (under 10 % of a core) after {waited:.0f} s; load {os.getloadavg()[0]:.2f}", flush=True)
            env = clean_env({"KUBIYA_API_KEY": key, "KUBIYA_CONTROL_PLANE_BASE_URL": url, "TEMPORAL_ADDRESS": address,
                             "XDG_CONFIG_HOME": str(work / "config"), "XDG_STATE_HOME": str(work / "state")})  # fmt: skip
            one_queue = json.loads(subprocess.run([*cli, "queues", "list", "-o", "json"], capture_output=True, text=True,
                                                  env=env, check=True).stdout)[0]["task_queue_name"]  # fmt: skip
            ok = (0, 1, 2)  # a check's verdict is its exit code; a crash (3, or a traceback) is not accepted
            rows.append(("kubiya-tui check, 20 queues", timed([*cli, "check", "--env", "live-20"], runs, env, ok), "check20", GOALS["check20"]))
            rows.append(("kubiya-tui top -o json, 20 queues", timed([*cli, "top", "-o", "json", "--env", "live-20"], runs, env), "top20", GOALS["top20"]))
            every = ["--env", "live-20", "--env", "live-180"]
            rows.append(("kubiya-tui check, 200 queues", timed([*cli, "check", *every], runs, env, ok), "check200", GOALS["check200"]))
            # The relay shares readings for 5 s: spaced 6 s apart, each run is the first (what a cron check a minute sees).
            rows.append(("  check, 200 queues, relay cold (runs 6 s apart)", timed([*cli, "check", *every], runs, env, ok, pause=6.0), "", None))
            rows.append(("  check, 20 queues, --direct-temporal (the SDK)", timed([*cli, "check", "--env", "live-20", "--direct-temporal"], runs, env, ok), "", None))
            rows.append(("  check, 200 queues, --direct-temporal", timed([*cli, "check", *every, "--direct-temporal"], runs, env, ok), "", None))
            rows.append(("  anchor: python -c 'import typer, httpx, asyncio' (the CLI, HTTP and event loop a one-shot needs)",
                         timed([py, "-c", "import typer, httpx, asyncio"], runs, env), "", None))  # fmt: skip
            describe = [temporal, "task-queue", "describe", "--address", address, "--task-queue", one_queue]
            walls = timed(describe, runs, env)
            rows.append(("  anchor: temporal task-queue describe, 1 queue", walls, "", None))
            rows.append(("  anchor: the same x20 (20 queues one by one)", [w * 20 for w in walls], "", None))
        finally:
            if stack is not None:
                stack.__exit__(None, None, None)
            import shutil

            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'measure':<60} {'median':>8} {'p95':>8} {'goal':>8}  met")
    for name, walls, _, goal in rows:
        median, p95 = summary(walls)
        met = "" if goal is None else ("yes" if median <= goal else "NO")
        goal_text = "" if goal is None else f"<= {goal:.2f}"
        print(f"{name:<60} {median:>6.3f} s {p95:>6.3f} s {goal_text:>8}  {met}")
    print(f"\ncores: {os.cpu_count()}, load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
