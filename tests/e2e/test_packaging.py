"""The sdist and the wheel a team publishes: built by `python -m build`, accepted by `twine check`, themes inside."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from kubiya_tui import __version__

ROOT = Path(__file__).resolve().parents[2]
THEMES = sorted(p.name for p in (ROOT / "themes").glob("*.toml"))


def build(out: Path, *options: str) -> tuple[Path, Path]:
    """`python -m build` of the repository: the sdist, then the wheel built from that sdist."""
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), *options, str(ROOT)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def check_distributions(sdist: Path, wheel: Path) -> None:
    assert sdist.name == f"kubiya_tui-{__version__}.tar.gz" and wheel.name == f"kubiya_tui-{__version__}-py3-none-any.whl"
    twine = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)], capture_output=True, text=True, timeout=120)
    assert twine.returncode == 0, twine.stdout + twine.stderr
    assert twine.stdout.count("PASSED") == 2, twine.stdout
    assert len(THEMES) >= 3
    with zipfile.ZipFile(wheel) as w:
        names = set(w.namelist())
        entry_points = w.read(f"kubiya_tui-{__version__}.dist-info/entry_points.txt").decode()
    assert {f"kubiya_tui/themes/{t}" for t in THEMES} <= names
    assert "kubiya_tui/tui/styles.tcss" in names and "kubiya_tui/controlplane/distribution.py" in names
    assert not any(n.startswith(("tests/", "kubiya_tui/tests/")) or "__pycache__" in n for n in names)
    assert "kubiya-tui = kubiya_tui.cli:main" in entry_points
    with tarfile.open(sdist) as t:
        members = set(t.getnames())
    top = f"kubiya_tui-{__version__}"
    assert {f"{top}/themes/{t}" for t in THEMES} <= members
    assert {f"{top}/pyproject.toml", f"{top}/README.md", f"{top}/PKG-INFO", f"{top}/kubiya_tui/tui/styles.tcss"} <= members


def test_sdist_and_wheel_pass_twine_check_with_the_themes_inside(tmp_path):
    """Offline: with this venv's build backend. The install suite also builds as a team would (isolated)."""
    check_distributions(*build(tmp_path, "--no-isolation"))


@pytest.mark.install
def test_isolated_build_as_a_team_publishes_it(tmp_path):
    """`python -m build` as the README says, with the build backend fetched from the index."""
    check_distributions(*build(tmp_path))
