"""Schemathesis over the whole published OpenAPI, against a real `kubiya-tui serve` and a real Temporal.

Every check, every phase (examples, coverage, fuzzing, stateful), two organizations as peers
(object-level authorization). Zero failures: the OpenAPI says what the server does. No key
in use, nor its hash, appears in any answer or in the server's logs.

A suite of its own (``python -m tests.fuzz``; ``KUBIYA_TUI_FUZZ_SECONDS``, default 150, sets
how long schemathesis runs): it takes minutes, not seconds, so it is outside the default run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz import harness

FUZZ_SECONDS = float(os.environ.get("KUBIYA_TUI_FUZZ_SECONDS", "150"))

EXCLUDED: dict[tuple[str, str], str] = {
    ("PUT /api/v1/worker-queues/{queue_id}/autoscale", "positive_data_acceptance"): (
        "min_workers <= max_workers is a rule between two fields, which JSON Schema cannot state; "
        "the server answers such a policy with a 422 naming the rule"
    ),
}
"""Checks turned off, per operation, with the reason. Every other check runs on every operation."""


@pytest.mark.timeout(FUZZ_SECONDS + 900)
def test_schemathesis_finds_no_failure_and_no_secret(tmp_path: Path) -> None:
    result = harness.run(tmp_path / "fuzz", FUZZ_SECONDS, EXCLUDED)
    report = "\n".join(
        f"[{f['check']}] {f['operation']}: {f['message'][:300]}\n    {f['request']}\n    -> {f['status']} {f['answer'][:300]}"
        for f in result.failures
    )
    assert result.failures == [], harness.redacted(result, f"{len(result.failures)} failures, by check {dict(result.by_check())}:\n{report}")
    output = harness.redacted(result, (result.out_dir / "schemathesis.out").read_text(errors="replace"))
    assert result.exit_code == 0, output[-4000:]
    assert harness.secrets_seen(result) == []
