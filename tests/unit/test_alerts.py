"""Alerts: rules in the config, what fires and resolves, the log in the history database, the status line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kubiya_tui import alertlog
from kubiya_tui.config import AlertRule, load_config
from kubiya_tui.errors import UserError
from kubiya_tui.metrics.alerts import AlertBook, breaches
from kubiya_tui.metrics.check import Status, Thresholds, evaluate
from kubiya_tui.metrics.snapshot import QueueSnapshot, Snapshot, SourceState, SourceStatus, WorkerCounts


def _snapshot(*queues: QueueSnapshot) -> Snapshot:
    return Snapshot(taken_at=time.time(), queues=queues, sources={
        "api": SourceState("api", SourceStatus.ok), "temporal": SourceState("temporal", SourceStatus.ok)})  # fmt: skip


def _queue(name: str, env: str = "prod", **numbers: Any) -> QueueSnapshot:
    base = dict(id=f"id-{env}-{name}", name=name, environment=env, task_queue_name=f"org.{env}.{name}", closed_in_window=10,
                workers=WorkerCounts(healthy=2, total=2))  # fmt: skip
    return QueueSnapshot(**{**base, **numbers})


def _config(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path)


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "table, key, words",
    [
        ('color = "reddish"', "profiles.p.color", "is not a colour"),
        ('[[profiles.p.alerts]]\nmax_error_rate = "12x"', "profiles.p.alerts.0.max_error_rate", "not a share of tasks"),
        ('[[profiles.p.alerts]]\nmax_error_rate = 3', "profiles.p.alerts.0.max_error_rate", "above 1"),
        ('[[profiles.p.alerts]]\nmax_backlog_age = "soon"', "profiles.p.alerts.0.max_backlog_age", "not a duration"),
        ('[[profiles.p.alerts]]\nmax_depth = -4', "profiles.p.alerts.0.max_depth", "greater than or equal to 0"),
        ('[[profiles.p.alerts]]\nlevel = "page-me"', "profiles.p.alerts.0.level", '"critical" or "warning"'),
        ('[[profiles.p.alerts]]\nmax_dpeth = 4', "profiles.p.alerts.0.max_dpeth", "unknown field"),
        ('[[profiles.p.alerts]]\nqueues = []', "profiles.p.alerts.0.queues", "at least one queue"),
    ],
)
def test_a_bad_threshold_or_colour_is_one_line_naming_the_file_and_key(tmp_path: Path, table: str, key: str, words: str) -> None:
    header = "[profiles.p]\n" if not table.startswith("[[") else "[profiles.p]\n"
    with pytest.raises(UserError) as caught:
        _config(tmp_path, header + table)
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "config.toml") in message
    assert key in message and words in message


def test_rules_read_as_check_reads_its_flags(tmp_path: Path) -> None:
    config = _config(tmp_path, """
[profiles.prod]
colour = "#cc3333"
danger = true
[[profiles.prod.alerts]]
queues = "prod/*"
max_depth = 500
max_backlog_age = "5m"
max_error_rate = "5%"
stuck_after = false
min_healthy_workers = 2
""")
    prod = config.profiles["prod"]
    assert prod.color == "#cc3333" and prod.danger
    rule = prod.alerts[0]
    assert (rule.queues, rule.max_depth, rule.max_backlog_age, rule.max_error_rate) == (["prod/*"], 500, 300.0, 0.05)
    assert rule.stuck_off and rule.min_healthy_workers == 2


# ---------------------------------------------------------------------------- check's new word


def test_check_flags_fewer_healthy_workers_than_wanted() -> None:
    thin = _queue("thin", workers=WorkerCounts(healthy=1, total=3))
    result = evaluate(_snapshot(thin), [], Thresholds(min_healthy_workers=2))
    assert result.status is Status.CRITICAL
    assert "prod/thin: healthy workers 1 < 2" in result.summary
    assert evaluate(_snapshot(thin), [], Thresholds(min_healthy_workers=1)).status is Status.OK


# ---------------------------------------------------------------------------- the book


def test_alerts_fire_escalate_and_resolve_with_their_first_time() -> None:
    rules = [AlertRule(queues=["prod/*"], max_depth=100)]
    book = AlertBook()
    assert book.update("prod", _snapshot(_queue("pay", depth=50)), rules, now=1000.0) == []
    fired = book.update("prod", _snapshot(_queue("pay", depth=90)), rules, now=1010.0)
    assert [(c.change, c.alert.level, c.alert.since) for c in fired] == [("fired", "warning", 1010.0)]
    assert fired[0].alert.message == "prod/pay: depth 90 > 80 (80% of 100)"
    worse = book.update("prod", _snapshot(_queue("pay", depth=150)), rules, now=1020.0)
    assert [(c.change, c.alert.level, c.alert.since) for c in worse] == [("escalated", "critical", 1010.0)]
    assert book.update("prod", _snapshot(_queue("pay", depth=160)), rules, now=1030.0) == [], "a value that moves is not a change"
    assert book.level_of("prod", "id-prod-pay") == "critical"
    resolved = book.update("prod", _snapshot(_queue("pay", depth=3)), rules, now=1040.0)
    assert [c.change for c in resolved] == ["resolved"] and book.alerts() == []


def test_a_number_that_cannot_be_told_keeps_the_alert_firing() -> None:
    rules = [AlertRule(max_depth=100)]
    book = AlertBook()
    book.update("prod", _snapshot(_queue("pay", depth=500)), rules, now=1.0)
    stale = _queue("pay", depth=500, stale=True, stale_sources=("temporal",))
    assert book.update("prod", _snapshot(stale), rules, now=2.0) == []
    assert [a.since for a in book.alerts("prod")] == [1.0]


def test_patterns_levels_and_profiles_are_kept_apart() -> None:
    rules = [AlertRule(queues=["*pay*"], max_depth=10, level="warning"), AlertRule(queues=["reports"], min_healthy_workers=3)]
    snap = _snapshot(_queue("payments", depth=50), _queue("reports"), _queue("other", depth=999))
    found, _ = breaches(snap, rules)
    assert {(k[0], b.level) for k, b in found.items()} == {("id-prod-payments", "warning"), ("id-prod-reports", "critical")}
    book = AlertBook()
    book.update("prod", snap, rules, now=1.0)
    book.update("staging", snap, [], now=1.0)
    assert {a.profile for a in book.alerts()} == {"prod"}
    assert [c.change for c in book.acknowledge([a.key for a in book.alerts()], now=2.0)] == ["acknowledged", "acknowledged"]
    assert all(a.acknowledged for a in book.alerts())


# ---------------------------------------------------------------------------- the log and the status line


def test_changes_are_logged_and_the_status_line_counts_what_fires(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    rules = [AlertRule(max_depth=100, min_healthy_workers=2)]
    book = AlertBook()
    now = time.time()
    changes = book.update("prod", _snapshot(_queue("pay", depth=500, workers=WorkerCounts(healthy=1, total=1))), rules, now=now - 30)
    alertlog.write(db, [c.event() for c in changes], {"prod": book.firing_rows("prod")}, now=now - 30)
    alertlog.write(db, [], {"staging": []}, now=now - 10)
    alertlog.write(db, [], {"dev": []}, now=now - 3600)
    line = alertlog.status_line(alertlog.firing_counts(db, now=now), "plain")
    assert line == "dev ? prod ✖2 staging ok"
    alertlog.write(db, [], {"staging": []}, now=now - 5, states={"staging": "down"})
    assert alertlog.status_line(alertlog.firing_counts(db, now=now), "plain") == "dev ? prod ✖2 staging down"
    tmux = alertlog.status_line(alertlog.firing_counts(db, now=now), "tmux")
    assert "#[fg=red,bold]✖2#[default]" in tmux
    events = alertlog.events_since(db, now - 3600)
    assert sorted(e.metric for e in events) == ["depth", "workers_healthy"] and {e.change for e in events} == {"fired"}
    assert alertlog.events_since(db, now - 3600, ["staging"]) == []


def test_status_line_command_is_quick_and_reads_only_the_database(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    alertlog.write(tmp_path / "kubiya-tui" / "history.sqlite", [], {"prod": [("q1", "depth", "prod/pay", "warning", 1.0, "m", False)]})
    code = "import runpy, sys; sys.argv=['kubiya-tui','status-line','--format','plain']; from kubiya_tui.cli import main; main()"
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "prod ▲1"
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert not {"typer", "textual", "httpx", "kubiya_tui.metrics"} & imported, "status-line loads nothing heavy"
    bad = subprocess.run([sys.executable, "-m", "kubiya_tui", "status-line", "--format", "html"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "choose tmux, ansi or plain" in bad.stderr


def test_fleet_flags_and_hostile_config_are_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kubiya_tui", *args], env=env, capture_output=True, text=True, timeout=60)

    none = run("top", "--all-profiles")
    assert none.returncode == 1 and none.stderr.count("\n") == 1 and "--all-profiles: no profiles in" in none.stderr
    both = run("--all-profiles", "--profiles", "a")
    assert both.returncode == 1 and "give one of them" in both.stderr
    config = tmp_path / "config" / "kubiya-tui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[profiles.prod]\napi_url = "http://127.0.0.1:9"\ncolour = "blood"\n')
    bad = run("--all-profiles")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert f"config file {config}: profiles.prod.colour: 'blood' is not a colour" in bad.stderr
    config.write_text('[profiles.prod]\napi_url = "http://127.0.0.1:9"\n[[profiles.prod.alerts]]\nmax_backlog_age = "later"\n')
    check = run("check", "--all-profiles")
    assert check.returncode == 3 and "profiles.prod.alerts.0.max_backlog_age: 'later' is not a duration" in check.stdout
