"""What the console keeps on disk: its own audit copy of the changes it made, and the theme the operator picked."""

from __future__ import annotations

import json
import logging
import time

from kubiya_tui import locations

log = logging.getLogger(__name__)

AUDIT_FILE = "audit.log"
"""In the state folder: one JSON object per line (the control plane keeps the authoritative log)."""


def append_audit(profile: str | None, action: str, target: str, outcome: str, detail: str | None = None) -> None:
    """Append one line to the console's audit copy; a file that cannot be written is logged, never fatal."""
    entry = {"time": time.time(), "profile": profile, "action": action, "target": target, "outcome": outcome}
    if detail:
        entry["detail"] = detail
    try:
        folder = locations.state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / AUDIT_FILE, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
    except OSError:
        log.exception("cannot write the audit copy")


def remember_theme(name: str) -> None:
    """Save ``name`` as the theme in config.toml (unless it is already there); a UserError says why it could not."""
    from kubiya_tui.config import load_config, write_config  # pydantic and tomlkit: not before the first frame

    config = load_config()
    if config.theme != name:
        config.theme = name
        write_config(config)
