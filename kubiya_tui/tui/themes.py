"""Project themes as data: TOML files in the top-level ``themes/`` folder, validated and turned into Textual themes.

A theme file has ``name``, ``dark``, optional ``ansi``, a ``[colors]`` table (Textual's base
colours) and a ``[variables]`` table (the console's own variables such as ``status-healthy``).
Every colour is checked with ``Color.parse`` so a typo fails at load time with the file's name.
"""

from __future__ import annotations

import functools
import logging
import tomllib
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from kubiya_tui.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_THEME = "kubiya-dark"
LIGHT_THEME = "kubiya-light"
ANSI_THEME = "kubiya-ansi"

COLOR_FIELDS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background", "surface", "panel", "boost")


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message names the file and the field."""


def themes_dir() -> Path:
    """The folder of theme files: inside the installed wheel, else the repository's top-level ``themes/``."""
    packaged = Path(__file__).resolve().parent.parent / "themes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "themes"


def _check_color(path: Path, where: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{path.name}: {where} must be a colour string")
    try:
        Color.parse(value)
    except ColorParseError as exc:
        raise ThemeFileError(f"{path.name}: {where} = {value!r} is not a colour ({exc})") from None
    return value


def load_theme(path: Path) -> Theme:
    """One theme file as a Textual Theme; a ThemeFileError says what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"{path.name}: {exc}") from None
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ThemeFileError(f"{path.name}: 'name' is required")
    colors = data.get("colors", {})
    unknown = set(colors) - set(COLOR_FIELDS)
    if unknown:
        raise ThemeFileError(f"{path.name}: unknown colour {sorted(unknown)[0]!r} (known: {', '.join(COLOR_FIELDS)})")
    if "primary" not in colors:
        raise ThemeFileError(f"{path.name}: colors.primary is required")
    checked = {key: _check_color(path, f"colors.{key}", value) for key, value in colors.items()}
    variables = {}
    for key, value in data.get("variables", {}).items():
        # Text-style variables ("reverse", "none") are not colours.
        variables[key] = str(value) if key.endswith("text-style") else _check_color(path, f"variables.{key}", value)
    return Theme(name=name, dark=bool(data.get("dark", True)), ansi=bool(data.get("ansi", False)), variables=variables, **checked)


def load_themes(folder: Path | None = None) -> list[Theme]:
    """Every valid theme in the folder; a broken file is logged and skipped, never fatal."""
    folder = folder or themes_dir()
    themes = []
    for path in sorted(folder.glob("*.toml")):
        try:
            themes.append(load_theme(path))
        except ThemeFileError as exc:
            log.warning("skipping theme: %s", exc)
    return themes


@functools.cache
def project_themes() -> tuple[Theme, ...]:
    """The project's themes, read from ``themes_dir()`` once per process (every console shares them)."""
    return tuple(load_themes())


def variable_defaults() -> dict[str, str]:
    """The console's own variables (``status-healthy``...) for a theme that leaves one out: the default theme's.

    ``themes/kubiya-dark.toml`` is the one place they are written down; without it the console cannot start.
    """
    default = next((t for t in project_themes() if t.name == DEFAULT_THEME), None)
    if default is None:
        raise UserError(f"the default theme {DEFAULT_THEME!r} is missing or broken in {themes_dir()}; reinstall kubiya-tui")
    return dict(default.variables)
