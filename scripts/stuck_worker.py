"""A worker that registers and heartbeats but never polls Temporal: tasks sent to its queue get stuck.

What a misconfigured worker does (it heartbeats to the control plane, its poller points elsewhere);
the day session uses it to show a stuck queue. It creates the queue (``stuck-demo`` by default)
in the ``default`` environment of the profile's control plane, registers, submits tasks, and
heartbeats with free slots until SIGTERM or Ctrl+C, when it says goodbye.

    .venv/bin/python scripts/stuck_worker.py [--profile demo] [--queue stuck-demo] [--tasks 20]
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

import httpx

from kubiya_tui.config import resolve_settings
from kubiya_tui.errors import UserError

V1 = "/api/v1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--queue", default="stuck-demo")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between heartbeats")
    args = parser.parse_args()
    try:
        found = resolve_settings(args.profile)
    except UserError as exc:
        print(f"stuck_worker: {exc}", file=sys.stderr)
        return 1
    key = found.api_key_value()
    if not key:
        print(f"stuck_worker: profile {args.profile!r} has no API key", file=sys.stderr)
        return 1
    stop = False

    def stopping(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    with httpx.Client(base_url=found.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as api:
        env = next(e for e in api.get(f"{V1}/environments").raise_for_status().json() if e["name"] == "default")
        queues = api.get(f"{V1}/environments/{env['id']}/worker-queues").raise_for_status().json()
        queue = next((q for q in queues if q["name"] == args.queue), None)
        if queue is None:
            body = {"name": args.queue, "heartbeat_interval": 10, "description": "a worker that heartbeats but never polls"}
            queue = api.post(f"{V1}/environments/{env['id']}/worker-queues", json=body).raise_for_status().json()
        info = {"hostname": "stuck-host", "pid": 4242, "os_name": "Linux"}
        worker = api.post(f"{V1}/worker-queues/{queue['id']}/start", json={"system_info": info}).raise_for_status().json()
        worker_id = worker["worker_id"]
        if args.tasks:
            task = {"kind": "sleep", "count": args.tasks, "input": {"seconds": 1}}
            api.post(f"{V1}/worker-queues/{queue['id']}/tasks", json=task).raise_for_status()
        print(f"{found.api_url} {queue['id']} {worker_id}", flush=True)
        beat = {"status": "active", "slots_used": 0, "slots_available": 10, "tasks_processed": 0}
        try:
            while not stop:
                api.post(f"{V1}/workers/{worker_id}/heartbeat", json=beat)
                deadline = time.monotonic() + args.every
                while not stop and time.monotonic() < deadline:
                    time.sleep(0.2)
        finally:
            api.post(f"{V1}/workers/{worker_id}/disconnect", json={"reason": "stuck_worker stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
