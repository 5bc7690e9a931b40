"""The root command's table of subcommands, so that `kubiya-tui --help` imports none of their modules.

Command groups live in their own modules under kubiya_tui/cli/; importing one registers its
commands on `app`. LazyCommands imports a module when one of its commands is looked up to
run; `--help` lists the commands from COMMANDS (tests/unit/test_cli_startup.py checks that
COMMANDS says what the modules define). A new command: its module, and a line here.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module under kubiya_tui.cli, the first paragraph of its help)
    "serve": ("app", "Run the local control plane (Kubiya's worker-queue API) on uvicorn."),
    "scale": ("resources", "Set how many workers a queue should have; the runner starts or drains workers to match."),
    "autoscale": ("resources", "Scale a queue's workers on its backlog age, between --min and --max (applied by the runner)."),
    "worker-command": ("resources", "Print the shell command that starts a worker for a queue."),
    "install-script": ("resources", "Print a script that installs and starts a worker for a queue."),
    "drain": ("resources", "Drain a worker: it takes no new task, finishes what it holds, and exits. Nothing is lost."),
    "demo": ("stack_cmds", "The whole system on this machine: Temporal, control plane, queues, workers, load, console."),
    "runner": ("stack_cmds", "Keep every queue at its wanted worker count with local worker processes, until Ctrl+C."),
    "load": ("stack_cmds", "Submit `sleep` tasks at a steady rate for a while (open loop); prints what was submitted and refused."),
    "top": ("monitor", "Live queue metrics: depth, backlog age, rates, latency, errors, workers, per queue."),
    "check": ("monitor", "Check queues against thresholds; one summary line and a monitoring-plugin exit code."),
    "alerts": ("monitor", "What fired, escalated, eased, resolved or was acknowledged, as the consoles saw it (the history database)."),
    "status-line": ("monitor", "One short line for tmux's status-right: firing alerts per profile (✖ critical, ▲ warning), 'ok', or '?' when no console watches it."),
    "migrate": ("legacy_cmds", "Migrate a legacy task queue to a worker queue."),
    "admin": ("app", "Administration of the local control plane."),
    "envs": ("resources", "Environments of the organization."),
    "queues": ("resources", "Worker queues: list, show, create, update, delete."),
    "workers": ("resources", "Workers registered with the control plane."),
    "worker": ("runtime", "Run a worker that polls a queue on Temporal."),
    "tasks": ("runtime", "Submit tasks to a queue and look them up."),
    "task-queues": ("legacy_cmds", "Legacy task queues (being phased out: migrate them)."),
}


def load_commands(*modules: str) -> None:
    """Import command modules (every one when none is named), which registers their commands on `app`."""
    import importlib

    for module in modules or sorted({m for m, _ in COMMANDS.values()}):
        if module != "app":
            importlib.import_module(f"kubiya_tui.cli.{module}")


class LazyCommands(TyperGroup):
    """The root command: lists COMMANDS, and imports a command's module only when it is looked up to run."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(n for n in self.commands if n not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            module = COMMANDS.get(cmd_name, (None,))[0]
            # An unknown name loads every module, so that "did you mean" knows every command.
            load_commands(*([module] if module else []))
            from kubiya_tui.cli.app import app

            self.commands.update(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        from typer._click.utils import make_default_short_help

        names = [n for n in self.list_commands(ctx) if n in COMMANDS or not self.commands[n].hidden]
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [
            (n, self.commands[n].get_short_help_str(limit) if n in self.commands else make_default_short_help(COMMANDS[n][1], limit))
            for n in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

