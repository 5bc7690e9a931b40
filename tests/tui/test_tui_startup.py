"""Start-up of the console: what it loads before its first frame when it is given its snapshot source.

No timing here (tests/benchmarks/bench_console.py's "launch" rows measure it): what is asserted
is which modules are loaded once the first frame is painted, in a fresh interpreter, because the
API client (httpx), pydantic and the API's models, the settings and temporalio were a third of
the console's launch, and a console shown a source it was given needs none of them to paint.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("httpx", "pydantic", "pydantic_core", "kubiya_tui.models", "kubiya_tui.client", "kubiya_tui.config",
         "kubiya_tui.connection", "kubiya_tui.metrics.collector", "temporalio", "tomlkit", "importlib.metadata")  # fmt: skip

_FIRST_FRAME = """
import asyncio, json, sys, time
from kubiya_tui.metrics.snapshot import QueueSnapshot, Snapshot, WorkerCounts

SNAPSHOT = Snapshot(taken_at=time.time(), profile="startup",
                    queues=tuple(QueueSnapshot(id=f"q{i}", name=f"queue-{i}", environment="prod", environment_id="env-prod",
                                               task_queue_name=f"org.prod.queue-{i}", depth=i, workers=WorkerCounts(1, 0, 0, 1))
                                 for i in range(20)))

class Source:
    interval = 3600.0
    def latest(self): return SNAPSHOT
    async def refresh(self, *, force=False): return SNAPSHOT
    def history(self, queue_id, metric, last=None): return []
    def request_refresh(self): pass
    async def run(self, callback, stop_event): await stop_event.wait()
    async def aclose(self): pass

from kubiya_tui.tui.app import KubiyaConsole

async def main():
    app = KubiyaConsole(Source(), profile="startup", remember_theme=False, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        painted = "queue-0" in app.export_screenshot() and "kubiya-tui" in app.export_screenshot()
        loaded = sorted(sys.modules)
        await pilot.press("q")
    print(json.dumps({"painted": painted, "loaded": loaded}))

asyncio.run(main())
"""


def test_a_console_given_its_source_paints_without_the_api_client_models_or_temporal() -> None:
    done = subprocess.run([sys.executable, "-c", _FIRST_FRAME], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["painted"], "the first frame shows the header and the queues"
    heavy = sorted(m for m in result["loaded"] if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []
