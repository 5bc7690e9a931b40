"""What every headless command shares: settings, a connection (kubiya_tui.connection), running it, printing output."""

from __future__ import annotations

import json
import os
import shutil
import sys
from enum import Enum
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Mapping, NamedTuple, Sequence, TypeVar

import typer

from kubiya_tui.errors import UserError
from kubiya_tui.vocabulary import PRIORITY_NAMES

if TYPE_CHECKING:
    # Imported where used: `--help` and the commands that do not talk to the API load
    # neither httpx nor pydantic (tests/unit/test_cli_startup.py).
    from kubiya_tui.client.api import ApiClient, ApiError
    from kubiya_tui.columns import Column
    from kubiya_tui.config import Settings
    from kubiya_tui.connection import Connection
    from kubiya_tui.client.capabilities import Capabilities

T = TypeVar("T")


class OutputFormat(str, Enum):
    table = "table"
    wide = "wide"
    json = "json"


OUTPUT = typer.Option(
    OutputFormat.table,
    "--output",
    "-o",
    help="table (fits the terminal: columns drop by priority, long cells end in …), wide (every column, whole) or json.",
)


def settings(ctx: typer.Context, *, temporal_profile: str | None = None) -> Settings:
    """Settings from the root options (--profile, --api-url, --api-key), environment and config.

    ``temporal_profile``: a command's --temporal-profile (a Temporal CLI profile).
    """
    from kubiya_tui.config import resolve_settings

    obj = ctx.find_root().obj or {}
    return warn(resolve_settings(obj.get("profile"), obj.get("api_url"), obj.get("api_key"), temporal_profile=temporal_profile))


_warned: set[str] = set()


def warn(found: Settings) -> Settings:
    """Print the settings' warnings (key files others may read) on stderr, each once per command."""
    for line in found.warnings:
        if line not in _warned:
            _warned.add(line)
            typer.echo(line, err=True)
    return found


def connection(found: Settings) -> Connection:
    """The connection of a command that needs the control plane: no API key is a UserError saying where to put one."""
    from kubiya_tui import connection as connections

    opened = connections.connect(found)  # looked up when called: tests count the connections made
    opened.require_api()
    return opened


def api_client(found: Settings) -> ApiClient:
    """The control-plane client of the settings' connection (the caller closes it)."""
    return connection(found).require_api()


def call(ctx: typer.Context, work: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run ``work(api)`` on the command's connection to completion; an ApiError becomes a one-line UserError."""
    import asyncio
    from kubiya_tui.client.api import ApiError

    found = settings(ctx)
    opened = connection(found)

    async def runner() -> T:
        async with opened:
            return await work(opened.require_api())

    try:
        return asyncio.run(runner())
    except ApiError as exc:
        raise UserError(explain(exc, found)) from None


_capabilities: dict[tuple[str, str], "Capabilities"] = {}


def capabilities(ctx: typer.Context) -> "Capabilities":
    """What the command's control plane offers (client/capabilities.py), learned once per command."""
    import asyncio

    from kubiya_tui.client.capabilities import Capabilities

    found = settings(ctx)
    key = (found.profile or "", found.api_url or "")
    if key not in _capabilities:

        async def learn() -> Capabilities:
            async with connection(found) as opened:
                return await opened.capabilities.get()

        _capabilities[key] = asyncio.run(learn())
    return _capabilities[key]


def refuse_unless(ctx: typer.Context, feature: str) -> None:
    """Refuse up front, in one line saying why and what to do instead, what the control plane cannot do."""
    reason = capabilities(ctx).refusal(feature)
    if reason:
        raise UserError(reason)


def explain(exc: ApiError, found: Settings) -> str:
    """The error's line, with what to check for an authentication failure."""
    if exc.status == 401:
        return f"{exc} (check the API key from {found.api_key_source or 'the configuration'} for {found.api_url})"
    return str(exc)


def require_writable(ctx: typer.Context, action: str) -> None:
    """Refuse a change when the profile is read-only."""
    found = settings(ctx)
    if found.read_only:
        raise UserError(f"profile {found.profile!r} is read-only; refusing to {action}")


def to_json(data: Any) -> str:
    from pydantic import BaseModel
    from pydantic_core import to_jsonable_python

    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
    return json.dumps(to_jsonable_python(data), indent=2, ensure_ascii=False)


def console():  # type: ignore[no-untyped-def]
    """A rich console on stdout that never interprets names as markup."""
    from rich.console import Console

    return Console(markup=False, highlight=False, emoji=False, soft_wrap=False)


class Shortened(NamedTuple):
    """A cell shown short in a table that fits the terminal (an id's first characters) and whole with ``-o wide``."""

    shown: str
    whole: str


def short_id(value: str | None, length: int = 8) -> Shortened | None:
    """An id cut to ``length`` characters in ``-o table`` (any command takes the short form), whole in ``-o wide``."""
    return None if not value else Shortened(value[:length], value)


class CliTable:
    """Rows under columns that drop by priority to fit the terminal (kubiya_tui.columns), cells never wrapped."""

    def __init__(self, columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], notes: Sequence[str] = ()) -> None:
        self.columns = tuple(columns)
        self.rows = [dict(r) for r in rows]
        self.notes = tuple(notes)
        """Lines under the table (legends), shown only when they fit."""

    def lines(self, width: int | None, floor: Mapping[str, int] | None = None) -> tuple[list[str], dict[str, int]]:
        """The table as text lines ``width`` cells wide at most (None: every column whole) and the widths used."""
        from kubiya_tui.columns import clip, render_lines

        pick = 1 if width is None else 0
        rows = [{k: v[pick] if isinstance(v, Shortened) else v for k, v in row.items()} for row in self.rows]
        lines, widths = render_lines(self.columns, rows, width=width, floor=floor)
        return lines + [note if width is None else clip(note, width) for note in self.notes], widths


def table(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], notes: Sequence[str] = ()) -> CliTable:
    """A table for emit(): ``columns`` from kubiya_tui.columns, ``rows`` as mappings of column key to value."""
    return CliTable(columns, rows, notes)


def terminal_width() -> int:
    """The width to fit: $COLUMNS, else the terminal's, else 80 (output to a pipe or a file)."""
    return shutil.get_terminal_size((80, 24)).columns


def write_lines(lines: Sequence[str], *, bold_first: bool = False) -> None:
    """Lines on stdout; on a terminal (and without NO_COLOR) the first one bold (a table's header)."""
    if bold_first and lines and sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        lines = [f"\x1b[1m{lines[0]}\x1b[0m", *lines[1:]]
    sys.stdout.write("".join(line + "\n" for line in lines))


def emit(data: Any, fmt: OutputFormat, render: Callable[[], Any]) -> None:
    """Print ``data`` as pretty JSON, or what ``render()`` returns (a CliTable, a rich renderable or text).

    A CliTable fits the terminal (``-o table``) or shows every column whole (``-o wide``).
    """
    if fmt == OutputFormat.json:
        sys.stdout.write(to_json(data) + "\n")
        return
    shown = render()
    if isinstance(shown, CliTable):
        lines, _ = shown.lines(None if fmt == OutputFormat.wide else terminal_width())
        write_lines(lines, bold_first=True)
    elif isinstance(shown, str):
        sys.stdout.write(shown if shown.endswith("\n") else shown + "\n")
    else:
        out = console()
        with out.capture() as captured:
            out.print(shown)
        # Rich pads every cell to its column width; trailing blanks only get in a script's way.
        sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def key_values(pairs: Iterable[tuple[str, Any]]):  # type: ignore[no-untyped-def]
    """A two-column table of field and value, for one object."""
    from rich import box
    from rich.table import Table

    out = Table(box=box.SIMPLE, show_header=False, pad_edge=False, show_edge=False)
    out.add_column("field", style="bold", no_wrap=True)
    out.add_column("value", overflow="fold")
    for name, value in pairs:
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False) if value else "-"
        out.add_row(name, "-" if value is None or value == "" else str(value))
    return out


def confirm(question: str, *, yes: bool, refuse: str) -> None:
    """Ask on a terminal unless ``yes``; with no terminal and no ``yes``, refuse with ``refuse``."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError(refuse)
    sys.stdout.write(f"{question} [y/N]: ")
    sys.stdout.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise UserError("cancelled; nothing was changed")


def parse_priority(text: str) -> int | str:
    """A ``--priority`` argument as a task's priority: high, normal, low, or 1 (first) to 5 (last)."""
    if text in PRIORITY_NAMES:
        return text
    if text.isdigit() and 1 <= int(text) <= 5:
        return int(text)
    raise UserError(f"--priority {text!r} is not high, normal, low or 1-5")
