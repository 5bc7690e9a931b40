"""The layering, stated as import-linter contracts in pyproject.toml: the tree keeps them, and a break is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """`lint-imports` run in ``tree`` (its pyproject.toml and the kubiya_tui package found there)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=tree, capture_output=True, text=True, timeout=120
    )


def contract_names() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


def test_the_tree_keeps_every_layering_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contract_names())} kept, 0 broken." in result.stdout, result.stdout


def test_an_import_against_the_layering_breaks_its_contract(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    package = tmp_path / "kubiya_tui"
    shutil.copytree(ROOT / "kubiya_tui", package, ignore=shutil.ignore_patterns("__pycache__"))
    # New modules, so the probes do not depend on which files the packages hold today.
    (package / "client" / "layering_probe.py").write_text("import textual\n")
    (package / "metrics" / "layering_probe.py").write_text("from kubiya_tui.controlplane import store\n")
    (package / "tui" / "layering_probe.py").write_text("from kubiya_tui.stack import demo\n")
    models = package / "models.py" if (package / "models.py").exists() else package / "models" / "__init__.py"
    models.write_text(models.read_text(encoding="utf-8") + "\nfrom kubiya_tui import errors\n")

    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert f"Contracts: 0 kept, {len(contract_names())} broken." in out, out
    for probe in (
        "kubiya_tui.client.layering_probe -> textual",
        "kubiya_tui.metrics.layering_probe -> kubiya_tui.controlplane.store",
        "kubiya_tui.tui.layering_probe -> kubiya_tui.stack.demo",
        "kubiya_tui.models -> kubiya_tui.errors",
    ):
        assert probe in out, f"{probe!r} not reported:\n{out}"
