"""Run every benchmark, one after the other, each in its own process: ``python -m tests.benchmarks``.

``python -m tests.benchmarks console collector`` runs only those; any option after ``--``
goes to each of them (``-- --quick`` where a benchmark has it). Exits non-zero when one of
them failed to run (a missed goal is reported in its table, not as a failure).
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = ("startup", "heartbeat", "replicas", "worker", "intake", "collector", "console", "fleet", "faults")


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    unknown = [name for name in argv if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = []
    for name in argv or BENCHMARKS:
        print(f"=== bench_{name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"tests.benchmarks.bench_{name}", *extra])
        print(f"=== bench_{name}: exit {code} after {time.monotonic() - started:.0f} s\n", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed to run: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
