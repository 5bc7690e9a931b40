"""Every folder kubiya-tui reads or writes, in one place (XDG base directories)."""

from __future__ import annotations

import os
from pathlib import Path

APP = "kubiya-tui"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    base = Path(value).expanduser() if value and Path(value).is_absolute() else Path.home() / fallback
    return base / APP


def config_dir() -> Path:
    """Profiles and preferences: `$XDG_CONFIG_HOME/kubiya-tui`."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def config_file() -> Path:
    return config_dir() / "config.toml"


def data_dir() -> Path:
    """The local control plane's and the demo's data: `$XDG_DATA_HOME/kubiya-tui`."""
    return _xdg("XDG_DATA_HOME", ".local/share")


def state_dir() -> Path:
    """History, logs: `$XDG_STATE_HOME/kubiya-tui`."""
    return _xdg("XDG_STATE_HOME", ".local/state")
