"""The fuzz suite's secret check is not blind: a key or key hash planted in an answer or a log is found."""

from __future__ import annotations

import json

from kubiya_tui.controlplane.store import hash_key
from tests.fuzz.harness import FuzzRun, secrets_seen


def _run(tmp_path, answer_text: str, log_text: str) -> FuzzRun:
    (tmp_path / "cp").mkdir()
    (tmp_path / "cp" / "control-plane.log").write_text(log_text)
    entry = {"request": {"method": "GET", "url": "http://127.0.0.1/x"}, "response": {"status": 200, "content": {"text": answer_text}}}
    (tmp_path / "traffic.har").write_text(json.dumps({"log": {"entries": [entry]}}))
    return FuzzRun(0, [], {"org-a": "kty_secret_a", "org-b": "kty_secret_b"}, tmp_path, 1.0)


def test_nothing_planted_nothing_found(tmp_path):
    assert secrets_seen(_run(tmp_path, '{"detail": "fine"}', "INFO all good\n")) == []


def test_a_key_in_an_answer_and_a_hash_in_a_log_are_found(tmp_path):
    found = secrets_seen(_run(tmp_path, '{"token": "kty_secret_b"}', f"ERROR hash {hash_key('kty_secret_a')}\n"))
    assert found == ["key of org-b in the answer to GET http://127.0.0.1/x", "key hash of org-a in control-plane.log"]
