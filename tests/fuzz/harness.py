"""Run schemathesis over a real `kubiya-tui serve` with a real Temporal dev server.

``python -m tests.fuzz.harness --seconds 150 --out DIR`` starts Temporal and the control
plane on 127.0.0.1 (free ports, data in DIR), makes two organizations with one API key
each, runs ``schemathesis run`` with every check and every phase (stateful included) and
both organizations as peers (object-level authorization), stops what it started, and
prints the failures counted by check. The pytest suite in this folder calls the same code.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from kubiya_tui.stack.processes import ManagedProcess, start_control_plane, start_temporal, stop_all

ORG_A = "local"
ORG_B = "tenant-b"


@dataclass
class FuzzRun:
    """What one fuzz run left behind: its failures by check, the keys in use and where its files are."""

    exit_code: int
    failures: list[dict]
    keys: dict[str, str]
    out_dir: Path
    seconds: float

    def by_check(self) -> Counter:
        """Distinct failures per schemathesis check name."""
        return Counter(f["check"] for f in self.failures)

    def summary(self) -> dict[str, int]:
        """Schemathesis' own summary: unique failures per failure kind."""
        return summary_counts((self.out_dir / "schemathesis.out").read_text(errors="replace"))


def schemathesis_binary() -> str:
    """The schemathesis CLI installed next to this interpreter (the `test` extra)."""
    return str(Path(sys.executable).parent / "schemathesis")


def _write_config(out: Path, keys: dict[str, str], excluded: dict[str, str]) -> Path:
    auth = {
        "auth": [
            {"name": org, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}]}
            for org, key in keys.items()
        ]
    }
    auth_file = out / "wfc-auth.json"
    fd = os.open(auth_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(auth, f)
    peers = ", ".join(json.dumps(org) for org in keys)
    lines = [
        "[cache]",
        "enabled = false",
        "[auth.wfc]",
        f"path = {json.dumps(str(auth_file))}",
        f"peers = [{peers}]",
        f"user = {json.dumps(next(iter(keys)))}",
    ]
    for check in excluded:
        lines += [f"[checks.{check}]", "enabled = false"]
    config = out / "schemathesis.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def _failures(ndjson: Path) -> list[dict]:
    """Every failed check from schemathesis' ndjson event stream, one entry per (check, operation, message),
    with the request that failed and the answer it got."""
    seen: dict[tuple, dict] = {}
    if not ndjson.exists():
        return []
    for line in ndjson.read_text().splitlines():
        if '"failure"' not in line:
            continue
        event = json.loads(line).get("ScenarioFinished")
        if not event:
            continue
        recorder = event["recorder"]
        for case_id, results in recorder["checks"].items():
            for check in results:
                if check["status"] != "failure":
                    continue
                failure = check["failure_info"]["failure"]
                found = {
                    "check": check["name"],
                    "code": failure.get("code") or "",
                    "operation": failure.get("operation") or recorder["label"],
                    "title": failure.get("title") or "",
                    "message": failure.get("message") or "",
                    **_exchange(recorder, failure.get("case_id") or case_id),
                }
                seen.setdefault((found["check"], found["operation"], found["message"]), found)
    return list(seen.values())


def _exchange(recorder: dict, case_id: str) -> dict:
    """The request of a case and the answer it got, as text."""
    interaction = recorder.get("interactions", {}).get(case_id) or {}
    case = (recorder.get("cases", {}).get(case_id) or {}).get("value", {})
    response = interaction.get("response") or {}
    content = response.get("content") or {}
    body = base64.b64decode(content["$base64"]).decode(errors="replace") if "$base64" in content else str(content)
    return {
        "request": f"{case.get('method', '')} {case.get('path', '')} query={case.get('query')} body={json.dumps(case.get('body'))[:300]}",
        "status": response.get("status_code"),
        "answer": body[:500],
    }


def summary_counts(output: str) -> dict[str, int]:
    """Schemathesis' own count of unique failures per failure kind ("ST103 Undocumented status code": 40)."""
    counts: dict[str, int] = {}
    block = output.split("Failures:", 1)[1].split("\n\n", 1)[0] if "Failures:" in output else ""
    for match in re.finditer(r"(ST\d+ [^:\n]+): (\d+)", block):
        counts[match.group(1)] = int(match.group(2))
    return counts


def run(out: Path, seconds: float, excluded: dict[str, str] | None = None, workers: int = 1) -> FuzzRun:
    """One fuzz run of ``seconds`` against a fresh stack in ``out``; stops everything it started."""
    excluded = excluded or {}
    out.mkdir(parents=True, exist_ok=True)
    started: list[ManagedProcess] = []
    key_a = "kty_fuzz_a_" + secrets.token_urlsafe(16)
    try:
        temporal, address = start_temporal(out / "temporal", on_spawn=started.append)
        cp, url = start_control_plane(out / "cp", address, api_key=key_a, on_spawn=started.append)
        made = subprocess.run(
            [sys.executable, "-m", "kubiya_tui", "admin", "create-key", "--org", ORG_B, "--data-dir", str(out / "cp")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        keys = {ORG_A: key_a, ORG_B: made.stdout.strip()}
        _wait_ready(url, key_a)
        config = _write_config(out, keys, excluded)
        ndjson = out / "events.ndjson"
        argv = [
            schemathesis_binary(), "--config-file", str(config), "run", f"{url}/api/openapi.json",
            "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
            "--max-time", str(int(seconds)), "--workers", str(workers),
            "--report", "ndjson", "--report-ndjson-path", str(ndjson),
            "--request-timeout", "30", "--no-color", "--output-truncate", "false",
            "--report-har-path", str(out / "traffic.har"), "--report", "ndjson,har",
        ]  # fmt: skip
        began = time.monotonic()
        with open(out / "schemathesis.out", "wb") as log:
            proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, cwd=out, timeout=seconds + 600)
        elapsed = time.monotonic() - began
        return FuzzRun(proc.returncode, _failures(ndjson), keys, out, elapsed)
    finally:
        stop_all(started)


def _wait_ready(url: str, key: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/environments", headers={"Authorization": f"Bearer {key}"}).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"control plane at {url} never answered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    result = run(args.out, args.seconds, workers=args.workers)
    counts = result.by_check()
    print(f"schemathesis exit {result.exit_code}; {len(result.failures)} distinct failures in {result.seconds:.0f} s")
    for check, n in counts.most_common():
        print(f"  {check}: {n}")
    print("schemathesis' summary (unique failures by kind):")
    for kind, n in result.summary().items():
        print(f"  {kind}: {n}")
    for f in sorted(result.failures, key=lambda f: (f["check"], f["operation"])):
        print(f"- [{f['check']}] {f['operation']}: {f['title']}: {f['message'][:200]!r}")
        print(f"    request: {f['request']}")
        print(f"    answer:  {f['status']} {f['answer'][:300]}")


if __name__ == "__main__":
    main()
