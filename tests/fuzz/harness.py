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


MAX_RESPONSE_SECONDS = 60
"""The max_response_time check's limit: a submission may start up to 1000 workflows, ~20 s on a busy
two-core machine (schemathesis' default limit is 10 s)."""
REQUEST_TIMEOUT_SECONDS = 2 * MAX_RESPONSE_SECONDS
"""How long schemathesis waits for an answer: past the limit, so a slow answer is a failed check, not a
network error."""
ACCEPTED_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
"""Schemathesis' default answers to a valid request that count as "accepted" (positive_data_acceptance)."""
REJECTED_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
"""Answers that reject invalid data (negative_data_rejection): schemathesis' defaults, and the 413 every
operation documents for a body over 1 MiB (the server refuses it before reading it, valid or not)."""


def _toml(value: object) -> str:
    return json.dumps(value)


def _write_config(out: Path, keys: dict[str, str], spec: dict, excluded: dict[tuple[str, str], str]) -> Path:
    """schemathesis.toml: both organizations as peers, and per operation what its answers mean.

    An operation that documents 400 answers it to a valid request its object's current state refuses
    (the contract's 400: deleting the default environment, a task for an inactive queue): there 400
    counts as accepted too. ``excluded`` turns a check off for one operation ((operation, check) ->
    the reason, which the caller names).
    """
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
    lines = [
        "[cache]",
        "enabled = false",
        "[auth.wfc]",
        f"path = {_toml(str(auth_file))}",
        f"peers = {_toml(list(keys))}",
        f"user = {_toml(next(iter(keys)))}",
        # Every check on (here, not with --checks on the command line, which would override the
        # per-operation settings below).
        "[checks]",
        "enabled = true",
        f"max_response_time = {MAX_RESPONSE_SECONDS}",
        f"negative_data_rejection.expected-statuses = {_toml(REJECTED_STATUSES)}",
    ]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            checks = {}
            # Only a route's own 400 (a JSON error body) answers a valid request; the parser's (text) never does.
            if "application/json" in operation.get("responses", {}).get("400", {}).get("content", {}):
                checks["positive_data_acceptance"] = f"expected-statuses = {_toml(sorted(ACCEPTED_STATUSES + ['400']))}"
            for (excluded_label, check), _reason in excluded.items():
                if excluded_label == label:
                    checks[check] = "enabled = false"
            if checks:
                lines += ["[[operations]]", f"include-name = {_toml(label)}"]
                lines += [f"checks.{check}.{setting}" for check, setting in checks.items()]
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


def run(out: Path, seconds: float, excluded: dict[tuple[str, str], str] | None = None, workers: int = 1) -> FuzzRun:
    """One fuzz run of ``seconds`` against a fresh stack in ``out`` (made 0700: its reports hold the
    test keys); stops everything it started."""
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    started: list[ManagedProcess] = []
    key_a = "kty_fuzz_a_" + secrets.token_urlsafe(16)
    try:
        _, address = start_temporal(out / "temporal", record=started.append)
        _, url = start_control_plane(out / "cp", address, api_key=key_a, record=started.append)
        made = subprocess.run(
            [sys.executable, "-m", "kubiya_tui", "admin", "create-key", "--org", ORG_B, "--data-dir", str(out / "cp")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        keys = {ORG_A: key_a, ORG_B: made.stdout.strip()}
        _wait_ready(url, key_a)
        spec = httpx.get(f"{url}/api/openapi.json").json()
        config = _write_config(out, keys, spec, excluded or {})
        ndjson = out / "events.ndjson"
        argv = [
            schemathesis_binary(), "--config-file", str(config), "run", f"{url}/api/openapi.json",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--max-time", str(int(seconds)), "--workers", str(workers),
            "--request-timeout", str(REQUEST_TIMEOUT_SECONDS), "--no-color", "--output-truncate", "false",
            # Answers are kept as sent, so that a key in one would be found (tests grep them).
            "--output-sanitize", "false",
            "--report", "ndjson,har", "--report-ndjson-path", str(ndjson), "--report-har-path", str(out / "traffic.har"),
        ]  # fmt: skip
        began = time.monotonic()
        with open(out / "schemathesis.out", "wb") as log:
            proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, cwd=out, timeout=seconds + 600)
        elapsed = time.monotonic() - began
        return FuzzRun(proc.returncode, _failures(ndjson), keys, out, elapsed)
    finally:
        stop_all(started)


def redacted(result: FuzzRun, text: str) -> str:
    """``text`` with every key of the run replaced (schemathesis' reproduce commands carry them)."""
    for org, key in result.keys.items():
        text = text.replace(key, f"<key of {org}>")
    return text


def secrets_seen(result: FuzzRun) -> list[str]:
    """Where an API key in use, or its hash, appears: in an answer (status, headers, body) of the run or
    in the control plane's logs. Empty when nowhere."""
    from kubiya_tui.controlplane.store import hash_key

    needles = {f"key of {org}": key for org, key in result.keys.items()}
    needles.update({f"key hash of {org}": hash_key(key) for org, key in result.keys.items()})
    found = []
    har = json.loads((result.out_dir / "traffic.har").read_text())
    for entry in har["log"]["entries"]:
        answer = json.dumps(entry["response"])
        for what, needle in needles.items():
            if needle in answer:
                found.append(f"{what} in the answer to {entry['request']['method']} {entry['request']['url']}")
    for log in sorted((result.out_dir / "cp").glob("*.log")):
        text = log.read_text(errors="replace")
        found += [f"{what} in {log.name}" for what, needle in needles.items() if needle in text]
    return found


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
    from tests.fuzz.test_fuzz import EXCLUDED

    result = run(args.out, args.seconds, EXCLUDED, workers=args.workers)
    counts = result.by_check()
    print(f"schemathesis exit {result.exit_code}; {len(result.failures)} distinct failures in {result.seconds:.0f} s")
    for check, n in counts.most_common():
        print(f"  {check}: {n}")
    print("schemathesis' summary (unique failures by kind):")
    for kind, n in result.summary().items():
        print(f"  {kind}: {n}")
    for where in secrets_seen(result):
        print(f"SECRET: {where}")
    for f in sorted(result.failures, key=lambda f: (f["check"], f["operation"])):
        print(f"- [{f['check']}] {f['operation']}: {f['title']}: {f['message'][:200]!r}")
        print(f"    request: {f['request']}")
        print(f"    answer:  {f['status']} {f['answer'][:300]}")


if __name__ == "__main__":
    main()
