"""Only the console imports Textual, and the console, client and metrics never import the control plane."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "kubiya_tui"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> list[tuple[str, set[str]]]:
    return [(p.relative_to(PACKAGE).as_posix(), _imports(p)) for p in sorted(PACKAGE.rglob("*.py"))]


def test_only_tui_imports_textual() -> None:
    offenders = [
        f"{path}: {name}"
        for path, names in _modules()
        if not path.startswith("tui/")
        for name in names
        if name.split(".")[0] in ("textual", "textual_plotext")
    ]
    assert not offenders, "Textual imported outside kubiya_tui/tui/: " + ", ".join(offenders)


def test_console_client_metrics_never_import_the_control_plane() -> None:
    offenders = [
        f"{path}: {name}"
        for path, names in _modules()
        if path.startswith(("tui/", "client/", "metrics/"))
        for name in names
        if name == "kubiya_tui.controlplane" or name.startswith("kubiya_tui.controlplane.")
    ]
    assert not offenders, "must work against any control plane: " + ", ".join(offenders)
