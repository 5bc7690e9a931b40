"""Start-up: `kubiya-tui --help` (and any command's help) loads only what help needs.

No timing here (tests/benchmarks/bench_startup.py measures it): what is asserted is which
modules a help loads, in a fresh interpreter, because importing httpx, pydantic and the
API's models, Textual, temporalio, FastAPI or uvicorn is what made `--help` take 0.67 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import typer

from kubiya_tui.cli.app import app
from kubiya_tui.cli.lazy import COMMANDS, load_commands

HEAVY = ("httpx", "pydantic", "pydantic_core", "kubiya_tui.models", "kubiya_tui.client", "kubiya_tui.config",
         "kubiya_tui.connection", "kubiya_tui.metrics", "textual", "temporalio", "fastapi", "uvicorn", "sqlalchemy",
         "typer.rich_utils", "asyncio")  # fmt: skip

_LOADED = """
import contextlib, io, json, sys
from kubiya_tui.cli import main
for args in {runs!r}:
    sys.argv = ["kubiya-tui", *args]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main()
        except SystemExit as exc:
            assert exc.code in (0, None), (args, exc.code)
    # (status-line answers from its own fast path, argparse's "usage:")
    assert "usage: kubiya-tui" in out.getvalue().lower(), (args, out.getvalue())
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(*runs: list[str]) -> set[str]:
    """The modules loaded by running `kubiya-tui ARGS` for each of ``runs`` in one fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", _LOADED.format(runs=list(runs))], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def _heavy(loaded: set[str], allowed: tuple[str, ...] = ()) -> list[str]:
    return sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY if h not in allowed))


def test_root_help_imports_no_command_module_and_nothing_heavy() -> None:
    loaded = _loaded(["--help"])
    assert _heavy(loaded) == []
    ours = sorted(m for m in loaded if m.startswith("kubiya_tui.cli."))
    assert ours == ["kubiya_tui.cli.app", "kubiya_tui.cli.lazy"], "--help lists the commands from COMMANDS"


def test_every_commands_help_loads_neither_the_api_client_nor_the_models() -> None:
    """Help needs the commands' options only: what they talk to is imported when they run."""
    load_commands()
    root = typer.main.get_command(app)
    runs = [["-h"]]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        runs.append([name, "--help"])
        runs.extend([name, sub, "--help"] for sub in getattr(command, "commands", {}))
    assert len(runs) > 30
    # Not even pydantic: typer is held below 0.29, which builds a pydantic TypeAdapter per parameter (pyproject.toml).
    assert _heavy(_loaded(*runs)) == []


def test_the_table_of_commands_says_what_their_modules_define() -> None:
    """COMMANDS (what --help lists without importing) against the commands as the modules define them."""
    load_commands()
    root = typer.main.get_command(app)
    defined = {name: cmd for name, cmd in root.commands.items() if not cmd.hidden}  # type: ignore[attr-defined]
    assert list(COMMANDS) == [n for n in COMMANDS if n in defined] and set(COMMANDS) == set(defined)
    for name, (module, first_paragraph) in COMMANDS.items():
        cmd = defined[name]
        callbacks = [cmd.callback] if cmd.callback else [c.callback for c in cmd.commands.values()]  # type: ignore[attr-defined]
        assert all(cb.__module__ == f"kubiya_tui.cli.{module}" for cb in callbacks), f"{name} is not defined in {module}"
        assert " ".join((cmd.help or "").split("\n\n")[0].split()) == first_paragraph, name


def test_a_command_runs_after_help_listed_it_lazily() -> None:
    """The lazy root still finds, runs and suggests every command (here in one fresh interpreter, as a user does)."""
    done = subprocess.run([sys.executable, "-m", "kubiya_tui", "queus"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 2 and "Did you mean 'queues'" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "kubiya_tui", "install-script", "--help"], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0 and "--platform" in done.stdout, done.stderr


def test_reading_the_config_file_leaves_tomlkit_out(tmp_path) -> None:
    """Every command reads config.toml (tomllib); tomlkit, which keeps comments on a write, is for writing only."""
    (tmp_path / "kubiya-tui").mkdir()
    (tmp_path / "kubiya-tui" / "config.toml").write_text(
        'default_profile = "ops"\n[profiles.ops]\napi_url = "http://127.0.0.1:9"  # a comment\n', encoding="utf-8"
    )
    code = (
        "import json, sys\nfrom kubiya_tui.config import resolve_settings\n"
        "s = resolve_settings(None, None, None)\n"
        "print(json.dumps([s.profile, s.api_url, 'tomlkit' in sys.modules]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBIYA", "TEMPORAL"))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**env, "XDG_CONFIG_HOME": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["ops", "http://127.0.0.1:9", False]
