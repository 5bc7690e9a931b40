"""Alert changes in the history database, and the one-line summary of what is firing (``kubiya-tui status-line``).

Stdlib only, so ``status-line`` (run by tmux every few seconds) starts in a few tens of
milliseconds: it imports neither typer, Textual nor the collector.

Three tables next to the history's ``chunks`` in ``$XDG_STATE_HOME/kubiya-tui/history.sqlite``:

* ``alert_events``: every change (fired, escalated, eased, resolved, acknowledged), kept a week;
* ``alert_firing``: what is firing now, per profile, as the newest console saw it;
* ``alert_watch``: when a console last evaluated each profile and whether it answered
  (``ok``, ``degraded``, ``down``); a profile nobody has watched for ``WATCH_STALE_SECONDS``
  shows ``?`` in the status line instead of stale counts.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_events (
    at REAL NOT NULL, profile TEXT NOT NULL, queue TEXT NOT NULL, queue_id TEXT NOT NULL,
    metric TEXT NOT NULL, level TEXT NOT NULL, change TEXT NOT NULL, message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_at ON alert_events (at);
CREATE TABLE IF NOT EXISTS alert_firing (
    profile TEXT NOT NULL, queue_id TEXT NOT NULL, metric TEXT NOT NULL, queue TEXT NOT NULL,
    level TEXT NOT NULL, since REAL NOT NULL, message TEXT NOT NULL, acknowledged INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (profile, queue_id, metric)
);
CREATE TABLE IF NOT EXISTS alert_watch (profile TEXT PRIMARY KEY, seen_at REAL NOT NULL, state TEXT NOT NULL DEFAULT 'ok');
"""
KEEP_EVENTS_SECONDS = 7 * 86400.0
WATCH_STALE_SECONDS = 120.0
"""A profile whose alerts no console has evaluated for this long is shown as unknown (``?``)."""


class Event(NamedTuple):
    """One alert change, as stored."""

    at: float
    profile: str
    queue: str
    queue_id: str
    metric: str
    level: str
    change: str
    message: str


def database_path() -> Path:
    """``$XDG_STATE_HOME/kubiya-tui/history.sqlite``: the history database (same rule as kubiya_tui.locations)."""
    value = os.environ.get("XDG_STATE_HOME")
    base = Path(value).expanduser() if value and Path(value).is_absolute() else Path.home() / ".local/state"
    return base / "kubiya-tui" / "history.sqlite"


def _open(path: Path, create: bool) -> sqlite3.Connection | None:
    if not create and not path.exists():
        return None
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), timeout=5.0, isolation_level=None)
    if create:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
    return db


def write(
    path: Path,
    events: Sequence[Event],
    firing: dict[str, Iterable[tuple[str, str, str, str, float, str, bool]]],
    now: float | None = None,
    states: dict[str, str] | None = None,
) -> None:
    """Append ``events`` and replace the firing set of each profile in ``firing`` (queue_id, metric, queue, level, since, message, acknowledged).

    ``states``: how each profile answered (ok, degraded, down); ok when not given.
    """
    now = time.time() if now is None else now
    db = _open(path, create=True)
    assert db is not None
    try:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO alert_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [tuple(e) for e in events])
        for profile, rows in firing.items():
            db.execute("DELETE FROM alert_firing WHERE profile = ?", (profile,))
            db.executemany(
                "INSERT INTO alert_firing VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(profile, q, m, label, level, since, msg, int(ack)) for q, m, label, level, since, msg, ack in rows],
            )
            db.execute("INSERT OR REPLACE INTO alert_watch VALUES (?, ?, ?)", (profile, now, (states or {}).get(profile, "ok")))
        db.execute("DELETE FROM alert_events WHERE at < ?", (now - KEEP_EVENTS_SECONDS,))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()


def events_since(path: Path, since: float, profiles: Sequence[str] = ()) -> list[Event]:
    """Alert changes at or after ``since``, oldest first (only of ``profiles`` when given)."""
    db = _open(path, create=False)
    if db is None:
        return []
    try:
        query = "SELECT at, profile, queue, queue_id, metric, level, change, message FROM alert_events WHERE at >= ?"
        args: list[object] = [since]
        if profiles:
            query += f" AND profile IN ({','.join('?' * len(profiles))})"
            args += list(profiles)
        return [Event(*row) for row in db.execute(query + " ORDER BY at, rowid", args)]
    except sqlite3.OperationalError:  # a history file from before alerts: nothing fired
        return []
    finally:
        db.close()


class ProfileCounts(NamedTuple):
    profile: str
    critical: int
    warning: int
    unacknowledged: int
    stale: bool
    state: str = "ok"
    """How the profile answered the console that watched it: ok, degraded or down."""


def firing_counts(path: Path, now: float | None = None) -> list[ProfileCounts]:
    """Per watched profile (by name): firing critical and warning alerts, how many are not acknowledged, and whether nobody watches it now."""
    now = time.time() if now is None else now
    db = _open(path, create=False)
    if db is None:
        return []
    try:
        watched: dict[str, float] = {}
        states: dict[str, str] = {}
        for profile, seen_at, state in db.execute("SELECT profile, seen_at, state FROM alert_watch"):
            watched[profile], states[profile] = seen_at, state
        counts: dict[str, list[int]] = {p: [0, 0, 0] for p in watched}
        for profile, level, ack, n in db.execute(
            "SELECT profile, level, acknowledged, count(*) FROM alert_firing GROUP BY profile, level, acknowledged"
        ):
            row = counts.setdefault(profile, [0, 0, 0])
            row[0 if level == "critical" else 1] += n
            if not ack:
                row[2] += n
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()
    return [
        ProfileCounts(p, c, w, u, now - watched.get(p, 0.0) > WATCH_STALE_SECONDS, states.get(p, "ok"))
        for p, (c, w, u) in sorted(counts.items())
    ]


_STYLES = {
    "tmux": {"critical": "#[fg=red,bold]", "warning": "#[fg=yellow]", "ok": "#[fg=green]", "stale": "#[fg=colour244]", "end": "#[default]"},
    "ansi": {"critical": "\x1b[1;31m", "warning": "\x1b[33m", "ok": "\x1b[32m", "stale": "\x1b[2m", "end": "\x1b[0m"},
    "plain": {"critical": "", "warning": "", "ok": "", "stale": "", "end": ""},
}
FORMATS = tuple(_STYLES)


def status_line(counts: Sequence[ProfileCounts], style: str = "tmux") -> str:
    """``prod ✖2 ▲1 staging ok dev ?``: per profile, critical (✖) and warning (▲) alerts firing, ``ok``, ``down`` when it does not answer, or ``?`` when nobody watches it."""
    s = _STYLES[style]
    if not counts:
        return f"{s['stale']}kubiya: no alerts data{s['end']}" if style != "plain" else "kubiya: no alerts data"
    parts = []
    for c in counts:
        if c.stale:
            parts.append(f"{s['stale']}{c.profile} ?{s['end']}")
            continue
        text = c.profile
        if c.state == "down":
            text = f"{s['critical']}{c.profile} down{s['end']}"
        if not c.critical and not c.warning:
            parts.append(text if c.state == "down" else f"{s['ok']}{text} ok{s['end']}")
            continue
        bits = []
        if c.critical:
            bits.append(f"{s['critical']}✖{c.critical}{s['end']}")
        if c.warning:
            bits.append(f"{s['warning']}▲{c.warning}{s['end']}")
        parts.append(f"{text} " + " ".join(bits))
    return " ".join(parts)


def main(argv: Sequence[str]) -> int:
    """``kubiya-tui status-line [--format tmux|ansi|plain]``: print the line and exit (0; 2 on a bad option)."""
    import sys

    style = "tmux"
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            print("usage: kubiya-tui status-line [--format tmux|ansi|plain]\n\n"
                  "One short line for tmux's status-right: per profile, the critical (✖) and warning (▲)\n"
                  "alerts firing as the consoles last saw them, 'ok', or '?' when no console watches it.")  # fmt: skip
            return 0
        if arg.startswith("--format="):
            style = arg.split("=", 1)[1]
        elif arg == "--format" and args:
            style = args.pop(0)
        else:
            print(f"kubiya-tui: error: status-line: unknown option {arg!r} (see 'kubiya-tui status-line -h')", file=sys.stderr)
            return 2
        if style not in _STYLES:
            print(f"kubiya-tui: error: status-line: --format {style!r}: choose tmux, ansi or plain", file=sys.stderr)
            return 2
    try:
        line = status_line(firing_counts(database_path()), style)
    except sqlite3.Error as exc:
        line = f"kubiya: alerts unreadable ({exc})"
    sys.stdout.write(line + "\n")
    return 0
