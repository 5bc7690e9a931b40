"""The typer application and the commands that run the local control plane."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from kubiya_tui.cli.lazy import LazyCommands

from kubiya_tui.errors import UserError


def _hide_flag_types() -> None:
    """Help shows an option's value type (``<int>``); a flag takes no value, so it shows none (not ``<bool>``)."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None:
        return

    def display_type_rich(self: TyperOption, ctx):  # type: ignore[no-untyped-def]
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_hide_flag_types()

def command_group(help: str) -> typer.Typer:
    """A command group of `kubiya-tui` (``admin``, ``queues``, ...), its help plain like the root's."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


# Help is click's plain text, not typer's Rich panels: typer.rich_utils imports Rich's
# markdown, syntax and traceback modules, ~100 ms of the 0.15 s that `kubiya-tui --help` may take.
app = typer.Typer(
    cls=LazyCommands,  # a command's module is imported when it runs, not for --help
    rich_markup_mode=None,
    name="kubiya-tui",
    help="A terminal console and CLI for Kubiya worker queues on Temporal.",
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
admin_app = command_group("Administration of the local control plane.")
app.add_typer(admin_app, name="admin")


def default_data_dir() -> Path:
    from kubiya_tui.locations import data_dir

    return data_dir() / "control-plane"


DATABASE_URL = typer.Option(
    None,
    "--database-url",
    envvar="KUBIYA_TUI_DATABASE_URL",
    help="The registry's database: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: the SQLite file in the data dir).",
)


def _made_data_dir(given: Optional[Path]) -> Path:
    """The control plane's data dir (the default when not given), created if missing."""
    data_dir = (given or default_data_dir()).expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot use data dir {data_dir}: {exc.strerror or exc}") from None
    return data_dir


def _database_url(given: Optional[str], data_dir: Optional[Path]) -> str:
    """A checked database URL (the data dir's SQLite file when none is given); a bad one is a UserError."""
    from kubiya_tui.controlplane.database import BadDatabaseUrl, default_url, parse

    if not given:
        assert data_dir is not None
        given = default_url(data_dir)
    try:
        return parse(given).render_as_string(hide_password=False)
    except BadDatabaseUrl as exc:
        raise UserError(str(exc)) from None


def _shown(url: str) -> str:
    from kubiya_tui.controlplane.database import redact

    return redact(url)


class _database_errors:
    """Turns a database that cannot be reached or used into a one-line UserError."""

    def __init__(self, *urls: str) -> None:
        self.urls = urls

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, _tb: object) -> bool:
        if exc is None or isinstance(exc, (UserError, KeyboardInterrupt, SystemExit)):
            return False
        where = " or ".join(_shown(u) for u in self.urls)
        if isinstance(exc, OSError) and not hasattr(exc, "sqlstate"):
            raise UserError(f"cannot use {where}: {exc.strerror or exc}") from None
        from kubiya_tui.controlplane.store import StorageUnavailable, disk_condition

        if isinstance(exc, StorageUnavailable):
            raise UserError(f"cannot write the database {where}: {exc}") from None
        why = ""
        for url in self.urls:
            if url.startswith("sqlite:///"):
                condition = disk_condition(url[len("sqlite:///") :])
                if condition in ("read-only", "full"):
                    why = f" (its disk is {condition})"
        if isinstance(exc, Exception):
            first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"cannot use the database {where}{why}: {first[:300]}") from None
        return False


def _version(value: bool) -> None:
    if value:
        from kubiya_tui import __version__

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
    all_profiles: bool = typer.Option(False, "--all-profiles", help="Every profile of config.toml at once: one overview, a profile column (also for top and check)."),
    profiles: Optional[str] = typer.Option(None, "--profiles", help="These profiles at once, comma-separated: a,b,c (also for top and check)."),
) -> None:
    """With no command, opens the console."""
    fleet = fleet_selection(all_profiles, profiles, profile)
    if fleet is not None and ctx.invoked_subcommand not in (None, "top", "check", "alerts"):
        flag = "--all-profiles" if fleet == ALL_PROFILES else "--profiles"
        raise UserError(f"{flag} applies to the console, top, check and alerts, not to {ctx.invoked_subcommand}")
    ctx.obj = {"profile": profile, "api_url": api_url, "api_key": api_key, "read_only": read_only, "theme": theme, "fleet": fleet}
    if ctx.invoked_subcommand is None:
        if fleet is not None:
            from kubiya_tui.tui.app import run_fleet_console

            run_fleet_console(None if fleet == ALL_PROFILES else fleet, read_only=read_only, theme=theme)
            return
        from kubiya_tui.tui.app import run_console

        run_console(profile, api_url=api_url, api_key=api_key, read_only=read_only, theme=theme)


ALL_PROFILES = "*"
"""``fleet_selection`` for --all-profiles."""


def fleet_selection(all_profiles: bool, profiles: Optional[str], profile: Optional[str] = None) -> Optional[str]:
    """``*`` for --all-profiles, the --profiles list, or None (one profile); the two together, or with --profile, are a UserError."""
    if all_profiles and profiles is not None:
        raise UserError("--all-profiles and --profiles: give one of them")
    chosen = ALL_PROFILES if all_profiles else profiles
    if chosen is not None and profile:
        raise UserError(f"--profile {profile} with {'--all-profiles' if all_profiles else '--profiles'}: give one of them")
    return chosen


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
    access_log: bool = typer.Option(
        False, "--access-log", help="Log every request to the log file (off: heartbeats are many); never a key."
    ),
    database_url: Optional[str] = DATABASE_URL,
) -> None:
    """Run the local control plane (Kubiya's worker-queue API) on uvicorn.

    Several replicas can serve one PostgreSQL database (each on its own port or host, behind
    a load balancer); the schema is migrated at start.
    """
    import uvicorn

    from kubiya_tui.controlplane.app import Settings, create_app
    from kubiya_tui.controlplane.server import configure_logging, prepare

    data_dir = _made_data_dir(data_dir)
    url = _database_url(database_url, data_dir)
    with _database_errors(url):
        boot, (before, after) = prepare(url, data_dir, env_key=os.environ.get("KUBIYA_API_KEY") or None)
    if before != after:
        typer.echo(f"database migrated from revision {before or 'none'} to {after}")
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
    typer.echo(
        f"control plane on http://{host}:{port} (data: {data_dir}, database: {_shown(url)}, log: {log_file},"
        f" Temporal: {temporal_address})"
    )
    settings = Settings(
        data_dir=data_dir,
        temporal_address=temporal_address,
        namespace=namespace,
        public_url=public_url,
        database_url=url,
        access_log=access_log,
    )
    api = create_app(settings)
    # What start-up made (modules, routes, models: ~100k objects) lives as long as the process;
    # frozen, a full garbage collection no longer walks it, which is ~45 ms of stalled event loop.
    import gc

    gc.collect()
    gc.freeze()
    uvicorn.run(
        api,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # ours (controlplane/app.py AccessLog) goes to the log file, without keys
        # Workers and consoles keep their connection between calls (heartbeats up to a minute
        # apart); uvicorn's 5 s default closes it just as a client's pool reuses it (a reset).
        timeout_keep_alive=75,
        timeout_graceful_shutdown=5,
    )


@admin_app.command("create-key")
def create_key(
    org: str = typer.Option(..., "--org", help="Organization slug; created with a `default` environment if new."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="The control plane's data dir."),
    name: Optional[str] = typer.Option(None, "--name", help="A name for the key, shown in the audit log."),
    database_url: Optional[str] = DATABASE_URL,
) -> None:
    """Create an API key for an organization and print it (once: only its hash is stored)."""
    import re

    from kubiya_tui.controlplane.server import create_key as make_key

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}", org):
        raise UserError(f"organization {org!r} is not a slug (2-63 of a-z, 0-9 and '-', starting with a letter or digit)")
    data_dir = _made_data_dir(data_dir)
    url = _database_url(database_url, data_dir)
    with _database_errors(url):
        key = make_key(url, org, name)
    typer.echo(key)


@admin_app.command("migrate")
def migrate(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="The control plane's data dir."),
    database_url: Optional[str] = DATABASE_URL,
) -> None:
    """Bring the control plane's database to the newest schema revision (`serve` does it too)."""
    from kubiya_tui.controlplane.database import upgrade

    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    url = _database_url(database_url, data_dir)
    with _database_errors(url):
        before, after = upgrade(url)
    if before == after:
        typer.echo(f"{_shown(url)} is at revision {after}, the newest; nothing to do")
    else:
        typer.echo(f"{_shown(url)} migrated from revision {before or 'none'} to {after}")


@admin_app.command("copy-data")
def copy_data(
    source: str = typer.Option(..., "--from", help="The database to copy from (a URL, e.g. sqlite:///DATA_DIR/control-plane.sqlite)."),
    target: str = typer.Option(..., "--to", help="The database to copy into (a URL, e.g. postgresql://HOST/DB); it must hold no registry data."),
) -> None:
    """Copy every organization, key hash, environment, queue, worker, task and audit entry to another database.

    Stop the control plane first: what it writes during the copy may be missed. Both
    databases are migrated to the newest revision; the copy is one transaction on the
    target, checked row for row, and refused when the target already holds data.
    """
    from kubiya_tui.controlplane.copy_data import CopyRefused, copy_registry

    from_url = _database_url(source, None)
    to_url = _database_url(target, None)
    if from_url == to_url:
        raise UserError("--from and --to are the same database")
    with _database_errors(from_url, to_url):
        try:
            counts = copy_registry(from_url, to_url)
        except CopyRefused as exc:
            raise UserError(str(exc)) from None
    rows = ", ".join(f"{n} {table}" for table, n in counts.items())
    typer.echo(f"copied {rows} from {_shown(from_url)} to {_shown(to_url)}; every row checked")
