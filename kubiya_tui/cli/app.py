"""The typer application and the commands that run the local control plane."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from kubiya_tui import __version__
from kubiya_tui.errors import UserError


def _hide_flag_types() -> None:
    """Help shows an option's value type (``<int>``); a flag takes no value, so it shows none (not ``<bool>``)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx):  # type: ignore[no-untyped-def]
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_hide_flag_types()

app = typer.Typer(
    name="kubiya-tui",
    help="A terminal console and CLI for Kubiya worker queues on Temporal.",
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
admin_app = typer.Typer(help="Administration of the local control plane.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


def default_data_dir() -> Path:
    from kubiya_tui.locations import data_dir

    return data_dir() / "control-plane"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kubiya-tui {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    profile: Optional[str] = typer.Option(None, "--profile", help="Profile from config.toml to use."),
    api_url: Optional[str] = typer.Option(None, "--api-url", help="Control-plane base URL (overrides the profile)."),
    api_key: Optional[str] = typer.Option(
        None, "--api-key", help="API key (prefer KUBIYA_API_KEY: a flag shows in the process list)."
    ),
    read_only: bool = typer.Option(False, "--read-only", help="Console: refuse every change (create, drain, scale)."),
    theme: Optional[str] = typer.Option(None, "--theme", help="Console theme (kubiya-dark, kubiya-light, kubiya-ansi, or a Textual theme)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """With no command, opens the console."""
    ctx.obj = {"profile": profile, "api_url": api_url, "api_key": api_key, "read_only": read_only, "theme": theme}
    if ctx.invoked_subcommand is None:
        from kubiya_tui.tui.app import run_console

        run_console(profile, api_url=api_url, api_key=api_key, read_only=read_only, theme=theme)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8787, min=1, max=65535, help="Port to listen on."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Where the SQLite file, key file and logs live."),
    temporal_address: str = typer.Option(
        "127.0.0.1:7233", "--temporal-address", envvar="TEMPORAL_ADDRESS", help="Temporal frontend HOST:PORT."
    ),
    namespace: str = typer.Option("default", "--namespace", envvar="TEMPORAL_NAMESPACE", help="Temporal namespace."),
    public_url: Optional[str] = typer.Option(
        None, "--public-url", help="URL that workers use to reach this control plane (default: the request's URL)."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (off: heartbeats are many)."),
) -> None:
    """Run the local control plane (Kubiya's worker-queue API) on uvicorn."""
    import uvicorn

    from kubiya_tui.controlplane.app import Settings, create_app
    from kubiya_tui.controlplane.server import bootstrap, configure_logging
    from kubiya_tui.controlplane.store import StorageUnavailable, Store

    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(data_dir / "control-plane.sqlite")
    except OSError as exc:
        raise UserError(f"cannot use data dir {data_dir}: {exc.strerror or exc}") from None
    except Exception as exc:
        from kubiya_tui.controlplane.store import disk_condition

        condition = disk_condition(str(data_dir / "control-plane.sqlite"))
        why = f" (its disk is {condition})" if condition in ("read-only", "full") else ""
        raise UserError(f"cannot open the control-plane database in {data_dir}{why}: {exc}") from None
    try:
        boot = bootstrap(store, data_dir, env_key=os.environ.get("KUBIYA_API_KEY") or None)
    except (OSError, StorageUnavailable) as exc:
        raise UserError(f"cannot write the admin key or the database in {data_dir}: {getattr(exc, 'strerror', None) or exc}") from None
    log_file = configure_logging(data_dir)
    if boot.created and boot.key_file:
        typer.echo(f"created organization {boot.organization!r}; its admin API key is in {boot.key_file} (mode 0600)")
    elif boot.created:
        typer.echo(f"created organization {boot.organization!r} with the key from KUBIYA_API_KEY")
    elif boot.key_file:
        typer.echo(f"admin API key: {boot.key_file}")
    if boot.key_file:
        from kubiya_tui.config import exposed_secret

        exposed = exposed_secret(boot.key_file, "the admin API key")
        if exposed:
            typer.echo(exposed, err=True)
    typer.echo(f"control plane on http://{host}:{port} (data: {data_dir}, log: {log_file}, Temporal: {temporal_address})")
    settings = Settings(
        data_dir=data_dir, temporal_address=temporal_address, namespace=namespace, public_url=public_url
    )
    api = create_app(settings, store)
    # What start-up made (modules, routes, models: ~100k objects) lives as long as the process;
    # frozen, a full garbage collection no longer walks it, which is ~45 ms of stalled event loop.
    import gc

    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(
            api,
            host=host,
            port=port,
            log_level="warning",
            access_log=access_log,
            timeout_graceful_shutdown=5,
        )
    finally:
        store.close()


@admin_app.command("create-key")
def create_key(
    org: str = typer.Option(..., "--org", help="Organization slug; created with a `default` environment if new."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="The control plane's data dir."),
    name: Optional[str] = typer.Option(None, "--name", help="A name for the key, shown in the audit log."),
) -> None:
    """Create an API key for an organization and print it (once: only its hash is stored)."""
    import re

    from kubiya_tui.controlplane.server import create_key as make_key

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}", org):
        raise UserError(f"organization {org!r} is not a slug (2-63 of a-z, 0-9 and '-', starting with a letter or digit)")
    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = make_key(data_dir, org, name)
    except OSError as exc:
        raise UserError(f"cannot use data dir {data_dir}: {exc.strerror or exc}") from None
    typer.echo(key)


# Command groups live in their own modules; importing them registers their commands on `app`.
from kubiya_tui.cli import resources as _resources  # noqa: E402,F401
from kubiya_tui.cli import runtime as _runtime  # noqa: E402,F401
from kubiya_tui.cli import stack_cmds as _stack_cmds  # noqa: E402,F401
from kubiya_tui.cli import monitor as _monitor  # noqa: E402,F401
from kubiya_tui.cli import legacy_cmds as _legacy_cmds  # noqa: E402,F401
