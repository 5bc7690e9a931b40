"""How the CLI reads: help without `<bool>` on flags, argument names in one case, bad numbers and names in words."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from kubiya_tui.cli.app import app
from kubiya_tui.cli.lazy import load_commands
from kubiya_tui.config import Profile, load_config, restore_profile, save_profile


def _commands() -> list[list[str]]:
    """The path of every command and group, from the root."""
    load_commands()
    root = typer.main.get_command(app)
    out: list[list[str]] = []

    def walk(command, path: list[str]) -> None:  # type: ignore[no-untyped-def]
        out.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return out


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "kubiya-tui")
def test_help_shows_no_bool_metavar_and_upper_case_arguments(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output, "a flag takes no value"
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    for name in re.findall(r"\{([^}]+)\}", usage):
        assert name == name.upper(), f"argument {name!r} in {usage.strip()!r}"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubiya_tui", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def test_bad_input_is_one_line_in_words() -> None:
    negative = _run("scale", "team-data", "-3")
    assert negative.returncode == 2 and negative.stderr.count("\n") == 1, negative.stderr
    assert "-3 is negative: a count here is 0 or more" in negative.stderr and "No such option" not in negative.stderr

    name = _run("queues", "create", "Bad_Name")
    assert name.returncode == 1 and name.stderr.count("\n") == 1, name.stderr
    assert "queue name 'Bad_Name' is not allowed: it has 'B', '_' and 'N'; use 2 to 50 lowercase letters" in name.stderr
    assert "[a-z0-9]" not in name.stderr, "words, not the server's pattern"

    rate = _run("check", "--max-error-rate", "abc")
    assert rate.returncode == 3 and rate.stdout.count("\n") == 1 and rate.stderr == "", rate
    assert rate.stdout.startswith("QUEUES UNKNOWN - bad threshold: --max-error-rate 'abc' is not a share of tasks")
    assert "could not convert" not in rate.stdout


def test_restoring_a_profile_puts_back_what_was_there_or_removes_it(tmp_path) -> None:
    path = tmp_path / "config.toml"
    mine = Profile(api_url="http://127.0.0.1:1", api_key_file="/gone/admin.key")
    save_profile("demo", mine, path=path)
    assert restore_profile("demo", mine, None, None, path=path)
    assert load_config(path).profiles == {} and load_config(path).default_profile is None, "no profile naming a missing key file"

    before = Profile(api_url="http://127.0.0.1:2", api_key_file="/kept/admin.key")
    save_profile("local", Profile(api_url="http://127.0.0.1:3"), path=path)
    save_profile("demo", before, path=path)
    save_profile("demo", mine, path=path)
    assert restore_profile("demo", mine, before, "local", path=path)
    config = load_config(path)
    assert config.profiles["demo"] == before and config.default_profile == "local"

    newer = Profile(api_url="http://127.0.0.1:4")
    save_profile("demo", newer, path=path)
    assert not restore_profile("demo", mine, None, None, path=path), "another demo wrote it since: left alone"
    assert load_config(path).profiles["demo"] == newer
