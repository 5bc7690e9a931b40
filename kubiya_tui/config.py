"""Profiles in ``$XDG_CONFIG_HOME/kubiya-tui/config.toml`` and the settings a command runs with.

The file::

    default_profile = "local"
    theme = "textual-dark"

    [profiles.local]
    api_url = "http://127.0.0.1:8787"
    api_key_file = "~/.local/share/kubiya-tui/control-plane/admin.key"
    temporal_address = "127.0.0.1:7233"

Settings are merged as: command-line flags > environment variables > the profile >
defaults. Keys are held as ``SecretStr``: they never show in a repr, a log or an error.

A key file, or a config file that holds a key, that other users may read is still read,
with a one-line warning naming the file and the fix (``Settings.warnings``); a profile
with ``strict_permissions = true`` refuses it instead.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from kubiya_tui import locations
from kubiya_tui.errors import UserError
from kubiya_tui.secret import SecretStr
from kubiya_tui.temporal_env import TemporalProfile, TemporalTLS, load_temporal_profile, tls_from_env

DEFAULT_API_URL = "https://control-plane.kubiya.ai"
DEFAULT_TEMPORAL_NAMESPACE = "default"
DEFAULT_TEMPORAL_PROFILE_ADDRESS = "localhost:7233"
"""The address of a Temporal CLI profile that names none (the Temporal CLI's own default)."""
OWN_TEMPORAL_FIELDS = (
    "temporal_address", "temporal_namespace", "temporal_api_key", "temporal_api_key_env", "temporal_api_key_file", "temporal_tls",
)  # fmt: skip
"""A profile's fields that a Temporal CLI profile (``temporal_profile``) gives instead."""
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


ALERT_LEVELS = ("critical", "warning")


# ---------------------------------------------------------------------------- checking a table
#
# The file's tables are checked by the checks below rather than by pydantic: every command reads
# its settings, and pydantic's import and model building were a third of a one-shot ``check``.
# A check takes the value as the file (or the code) gives it and answers it converted, or raises
# ValueError with the sentence the user sees after the field's dotted name; it never repeats a
# value that may be a key.

Location = tuple[str | int, ...]


class InvalidTable(ValueError):
    """Everything wrong with one table: ``(location, sentence)`` pairs, the location its keys and indexes."""

    def __init__(self, problems: list[tuple[Location, str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc)) or '(top level)'}: {msg}" for loc, msg in problems))
        self.problems = problems


_KINDS = ((bool, "true or false"), (str, "a string"), (int, "a whole number"), (float, "a number"), (list, "a list"),
          (dict, "a table"))  # fmt: skip
"""TOML's kinds of value, in words (bool before int: a bool is an int)."""


def _kind(value: Any) -> str:
    """What a TOML value is, in words (never the value: it may be a key)."""
    for kind, words in _KINDS:
        if isinstance(value, kind):
            return words
    return "a date or time" if hasattr(value, "isoformat") else type(value).__name__


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"should be a string, not {_kind(value)}")


def _secret(value: Any) -> SecretStr | None:
    if value is None or isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    raise ValueError(f"should be a string, not {_kind(value)}")


_FLAG_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
"""Quoted flags a file may hold (the file was read by pydantic once, which took them): ``"yes"``, ``"off"``..."""


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _FLAG_WORDS:
        return _FLAG_WORDS[value.strip().lower()]
    raise ValueError(f"should be true or false, not {_kind(value)}")


def _unquoted(value: Any) -> Any:
    """A number written in quotes (``"2.5"``), as the number; anything else as it is."""
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                return float(value.strip())
            except ValueError:
                return value
    return value


def _texts(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("should be a list of strings, e.g. [\"a\", \"b\"]" + ("" if isinstance(value, list) else f", not {_kind(value)}"))


def _number(*, gt: float | None = None, ge: float | None = None, le: float | None = None, optional: bool = False) -> Callable[[Any], Any]:
    """A check for a number (a whole one is taken too) within the bounds given."""

    def check(value: Any) -> float | None:
        if value is None and optional:
            return None
        value = _unquoted(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"should be a number, not {_kind(value)}")
        if not math.isfinite(value):
            raise ValueError("should be a finite number")
        if gt is not None and not value > gt:
            raise ValueError(f"should be greater than {gt:g}")
        if ge is not None and not value >= ge:
            raise ValueError(f"should be greater than or equal to {ge:g}")
        if le is not None and not value <= le:
            raise ValueError(f"should be less than or equal to {le:g}")
        return float(value)

    return check


def _count(value: Any) -> int | None:
    """None, or a whole number of 0 or more (``2.0`` is 2)."""
    if value is None:
        return None
    value = _unquoted(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"should be a whole number, not {_kind(value)}")
    if value < 0:
        raise ValueError("should be greater than or equal to 0")
    return value


def _checked(default: Any, check: Callable[[Any], Any], *aliases: str) -> Any:
    """A table's field: its default, its check and the other names the file may give it by."""
    meta = {"check": check, "aliases": aliases}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


_TableT = TypeVar("_TableT", bound="_Table")


class _Table:
    """A table of the config file: each field checked (and converted) when made, unknown keys refused."""

    given: frozenset[str]
    """The fields the file gave (a default the file spells out is written back)."""

    def __post_init__(self) -> None:
        problems: list[tuple[Location, str]] = []
        for f in fields(self):  # type: ignore[arg-type]
            check = f.metadata.get("check")
            if check is None:
                continue
            try:
                setattr(self, f.name, check(getattr(self, f.name)))
            except InvalidTable as exc:
                problems += [((f.name, *loc), msg) for loc, msg in exc.problems]
            except ValueError as exc:
                problems.append(((f.name,), str(exc)))
        if problems:
            raise InvalidTable(problems)
        if not hasattr(self, "given"):
            self.given = frozenset()

    @classmethod
    def from_table(cls: type[_TableT], data: Any) -> _TableT:
        """The table ``data`` as the file gives it (a dict); InvalidTable naming every bad or unknown key."""
        if not isinstance(data, dict):
            raise ValueError(f"should be a table, not {_kind(data)}")
        spelled: dict[str, str] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.init and "check" in f.metadata:
                spelled[f.name] = f.name
                spelled.update(dict.fromkeys(f.metadata["aliases"], f.name))
        problems: list[tuple[Location, str]] = []
        given: dict[str, Any] = {}
        written_as: dict[str, str] = {}
        for key, value in data.items():
            name = spelled.get(key)
            if name is None:
                problems.append(((key,), "unknown field"))
            elif name in given:
                problems.append(((key,), f"is given twice (as {written_as[name]!r} too)"))
            else:
                given[name], written_as[name] = value, key
        try:
            table = cls(**given)
        except InvalidTable as exc:  # the location as the file spells it (``colour`` for ``color``)
            problems += [((written_as.get(str(loc[0]), loc[0]), *loc[1:]), msg) for loc, msg in exc.problems]
            table = None
        if problems or table is None:
            raise InvalidTable(problems)
        table.given = frozenset(given)
        return table

    def fields_to_write(self) -> dict[str, Any]:
        """The fields to write back: those the file gave, and those that differ from the default; never None."""
        out: dict[str, Any] = {}
        defaults = type(self)()
        for f in fields(self):  # type: ignore[arg-type]
            if "check" not in f.metadata:
                continue
            value = getattr(self, f.name)
            if value is None or (f.name not in self.given and value == getattr(defaults, f.name)):
                continue
            out[f.name] = value
        return out


def _made(kind: type[_TableT], entries: Iterable[tuple[str | int, Any]]) -> list[tuple[str | int, _TableT]]:
    """Each ``(key, table)`` made a ``kind`` (one made already is kept); InvalidTable naming every bad one by its key."""
    problems: list[tuple[Location, str]] = []
    out: list[tuple[str | int, _TableT]] = []
    for key, item in entries:
        try:
            out.append((key, item if isinstance(item, kind) else kind.from_table(item)))
        except InvalidTable as exc:
            problems += [((key, *loc), msg) for loc, msg in exc.problems]
        except ValueError as exc:
            problems.append(((key,), str(exc)))
    if problems:
        raise InvalidTable(problems)
    return out


def _tables_of(kind: type[_TableT]) -> Callable[[Any], list[_TableT]]:
    """A check for a list of tables (``[[...]]``), each made a ``kind``."""

    def check(value: Any) -> list[_TableT]:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"should be a list of tables, not {_kind(value)}")
        return [table for _, table in _made(kind, enumerate(value))]

    return check


def _queue_patterns(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("give queue names or patterns as strings, e.g. [\"prod/*\"]")
    if not value:
        raise ValueError("name at least one queue or pattern (\"*\" is every queue)")
    return list(value)


def _duration(value: Any) -> float | None:
    from kubiya_tui.metrics.check import parse_seconds

    if value is None or value is False:
        return None
    if isinstance(value, bool):
        raise ValueError("give a duration such as 90, \"90s\", \"2m\" or \"1h\" (false turns it off)")
    if isinstance(value, (int, float)):
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration of 0 seconds or more")
        return float(value)
    if isinstance(value, str):
        return parse_seconds(value)
    raise ValueError("give a duration such as 90, \"90s\", \"2m\" or \"1h\"")


def _rate(value: Any) -> float | None:
    from kubiya_tui.metrics.check import parse_rate

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("give a fraction (0.05) or a percentage (\"5%\")")
    return parse_rate(str(value))


def _level(value: Any) -> str:
    if value not in ALERT_LEVELS:
        shown = repr(value) if isinstance(value, str) else _kind(value)
        raise ValueError(f"{shown} is not a level: give \"critical\" or \"warning\"")
    return value


@dataclass(kw_only=True, eq=True)
class AlertRule(_Table):
    """One ``[[profiles.NAME.alerts]]`` table: thresholds for the queues its patterns name, in ``check``'s words.

    ``queues``: glob patterns (``prod/*``, ``*payments*``) or names, matched against NAME, ENV/NAME,
    the task queue and the id; ``*`` (the default) is every queue. A value above ``max_*`` is
    critical, above ``warn_at`` of it a warning; fewer healthy workers than
    ``min_healthy_workers`` is critical; ``level = "warning"`` makes every finding of the rule a warning.
    """

    queues: list[str] = _checked(["*"], _queue_patterns)
    max_depth: float | None = _checked(None, _number(ge=0, optional=True))
    max_backlog_age: float | None = _checked(None, _duration)
    """Seconds; ``90``, ``"90s"``, ``"5m"``, ``"1h"``."""
    max_error_rate: float | None = _checked(None, _rate)
    """A fraction; ``0.05`` or ``"5%"``."""
    stuck_after: float | None = _checked(None, _duration)
    """Seconds; a stuck queue alerts when its oldest task waited this long (default 30 s; ``false`` turns it off)."""
    min_healthy_workers: int | None = _checked(None, _count)
    warn_at: float = _checked(0.8, _number(ge=0, le=1))
    level: str = _checked("critical", _level)
    stuck_off: bool = field(default=False, init=False)
    """The rule says ``stuck_after = false``: stuck queues are not checked by it."""

    def __post_init__(self) -> None:
        self.stuck_off = self.stuck_after is False
        super().__post_init__()

    def fields_to_write(self) -> dict[str, Any]:
        out = super().fields_to_write()
        if self.stuck_off:
            out["stuck_after"] = False
        return out


def _colour(value: Any) -> Any:
    """A colour Rich and Textual both understand (``red``, ``#cc3333``, ``rgb(200,40,40)``), or a ValueError."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("give a colour name such as \"red\" or a hex colour such as \"#cc3333\"")
    from rich.color import Color, ColorParseError

    try:
        Color.parse(value.strip())
    except ColorParseError:
        raise ValueError(f"{value!r} is not a colour: give a name such as \"red\" or a hex colour such as \"#cc3333\"") from None
    return value.strip()


@dataclass(kw_only=True, eq=True)
class Profile(_Table):
    """One named way to reach a control plane and a Temporal cluster."""

    api_url: str | None = _checked(None, _text)
    """Control-plane base URL, e.g. ``https://control-plane.kubiya.ai`` or ``http://127.0.0.1:8787``."""

    api_key: SecretStr | None = _checked(None, _secret)
    """The control-plane API key itself (prefer ``api_key_env`` or ``api_key_file``)."""

    api_key_env: str | None = _checked(None, _text)
    """Name of an environment variable that holds the API key."""

    api_key_file: str | None = _checked(None, _text)
    """Path of a file that holds the API key (``~`` is expanded; surrounding whitespace is ignored)."""

    temporal_address: str | None = _checked(None, _text)
    """Temporal frontend ``HOST:PORT``; without it the console reads metrics from the control plane only."""

    temporal_namespace: str | None = _checked(None, _text)
    """Temporal namespace (default ``default``)."""

    temporal_api_key: SecretStr | None = _checked(None, _secret)
    """Temporal Cloud API key itself (prefer ``temporal_api_key_env`` or ``temporal_api_key_file``)."""

    temporal_api_key_env: str | None = _checked(None, _text)
    """Name of an environment variable that holds the Temporal API key."""

    temporal_api_key_file: str | None = _checked(None, _text)
    """Path of a file that holds the Temporal API key."""

    temporal_tls: bool = _checked(False, _flag)
    """Connect to Temporal with TLS (always on when a Temporal API key is used)."""

    temporal_profile: str | None = _checked(None, _text)
    """A profile of the Temporal CLI's own ``temporal.toml`` to take Temporal's address, namespace, API key
    and TLS/mTLS certificates from (``kubiya_tui/temporal_env.py``); none of the other ``temporal_*`` fields then."""

    temporal_config_file: str | None = _checked(None, _text)
    """The Temporal CLI's config file for ``temporal_profile`` (default: ``$TEMPORAL_CONFIG_FILE``, else
    ``~/.config/temporalio/temporal.toml``)."""

    task_queues: list[str] = _checked([], _texts)
    """Temporal task queues to watch (without a control plane, more are discovered from Temporal)."""

    refresh_interval: float = _checked(2.0, _number(gt=0, le=3600))
    """Seconds between two refreshes of the console."""

    theme: str | None = _checked(None, _text)
    """Console theme name; overrides the file's top-level ``theme``."""

    read_only: bool = _checked(False, _flag)
    """Refuse every change (create, delete, drain, scale) from the console and the CLI."""

    strict_permissions: bool = _checked(False, _flag)
    """Refuse, rather than warn about, a key file or a config file with a key that other users may read."""

    color: str | None = _checked(None, _colour, "colour")
    """The colour that frames this profile's rows and dialogs in the console (``colour`` is accepted too)."""

    danger: bool = _checked(False, _flag)
    """A profile to be careful with (production): its rows and dialogs are framed in red, its name marked."""

    alerts: list[AlertRule] = _checked([], _tables_of(AlertRule))
    """Alert thresholds: ``[[profiles.NAME.alerts]]`` tables (see AlertRule)."""

    alert_bell: bool = _checked(True, _flag)
    """Ring the terminal bell once when an alert of this profile fires."""


def _profiles(value: Any) -> dict[str, Profile]:
    if not isinstance(value, dict):
        raise ValueError(f"should be a table of [profiles.NAME] tables, not {_kind(value)}")
    return {str(name): profile for name, profile in _made(Profile, value.items())}


@dataclass(kw_only=True, eq=True)
class Config(_Table):
    """The whole ``config.toml``."""

    default_profile: str | None = _checked(None, _text)
    """Profile used when neither ``--profile`` nor ``KUBIYA_TUI_PROFILE`` names one."""

    theme: str | None = _checked(None, _text)
    """Console theme for every profile that does not name its own."""

    profiles: dict[str, Profile] = field(default_factory=dict, metadata={"check": _profiles, "aliases": ()})
    """Profiles by name: ``[profiles.NAME]`` tables."""

    source: Path | None = field(default=None, init=False, compare=False, repr=False)
    """The file this was read from, if any."""

    def holds_a_key(self) -> bool:
        """Whether any profile has a key written in the file itself."""
        return any(
            (p.api_key is not None and p.api_key.get_secret_value())
            or (p.temporal_api_key is not None and p.temporal_api_key.get_secret_value())
            for p in self.profiles.values()
        )


@dataclass(kw_only=True)
class Settings:
    """What one command runs with, after flags, environment, profile and defaults are merged."""

    profile: str | None = None
    """Name of the profile in use, if any."""

    api_url: str = DEFAULT_API_URL
    """Control-plane base URL."""

    api_key: SecretStr | None = None
    """Control-plane API key; ``None`` when none is configured."""

    api_key_source: str | None = None
    """Where the key came from (``--api-key``, ``KUBIYA_API_KEY``, ``profile 'x'``...), never the key."""

    temporal_address: str | None = None
    """Temporal frontend ``HOST:PORT``, if Temporal is reachable directly."""

    temporal_namespace: str = DEFAULT_TEMPORAL_NAMESPACE
    """Temporal namespace."""

    temporal_api_key: SecretStr | None = None
    """Temporal API key, if any."""

    temporal_tls: bool = False
    """Whether to use TLS with Temporal."""

    temporal_tls_config: TemporalTLS | None = None
    """TLS beyond the system's roots: the server's CA and name, the client certificate and key (mTLS)."""

    temporal_rpc_metadata: dict[str, SecretStr] = field(default_factory=dict)
    """gRPC headers of a Temporal CLI profile's ``grpc_meta`` (never shown)."""

    temporal_source: str | None = None
    """Where the Temporal settings came from when not from kubiya-tui's own profile (never a key)."""

    temporal_profile: str | None = None
    """The Temporal CLI profile they came from, if one."""

    temporal_address_defaulted: bool = False
    """The Temporal CLI profile names no address: ``temporal_address`` is the Temporal CLI's default."""

    task_queues: list[str] = field(default_factory=list)
    """Temporal task queues to watch."""

    refresh_interval: float = 2.0
    """Seconds between refreshes."""

    theme: str | None = None
    """Console theme name."""

    read_only: bool = False
    """Whether changes are refused."""

    color: str | None = None
    """The profile's colour in the console, if any."""

    danger: bool = False
    """The profile is marked ``danger`` (production)."""

    alerts: list[AlertRule] = field(default_factory=list)
    """The profile's alert rules."""

    alert_bell: bool = True
    """Ring the bell when one of the profile's alerts fires."""

    warnings: list[str] = field(default_factory=list)
    """One line each, for the user: files holding keys that other users may read (never a key)."""

    def api_key_value(self) -> str | None:
        """The API key in clear, for the Authorization header only."""
        return self.api_key.get_secret_value() if self.api_key else None

    def temporal_api_key_value(self) -> str | None:
        return self.temporal_api_key.get_secret_value() if self.temporal_api_key else None


# ---------------------------------------------------------------------------- reading


def load_config(path: Path | None = None) -> Config:
    """The parsed config file; an empty config when there is none.

    A malformed file is a UserError of one line naming the file and the field; the error
    never repeats a value from the file (it may be a key).
    """
    path = path or locations.config_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise UserError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        config = Config.from_table(data)
    except InvalidTable as exc:
        raise UserError(f"config file {path}: {_field_errors(exc)}") from None
    bad = [name for name in config.profiles if not PROFILE_NAME.match(name)]
    if bad:
        raise UserError(f"config file {path}: profile name {bad[0]!r} may use only letters, digits, '_', '.' and '-'")
    config.source = path
    return config


def exposed_secret(path: Path, what: str, *, strict: bool = False) -> str | None:
    """A one-line warning when ``path`` (holding ``what``) may be read by other users; None when it is private.

    With ``strict`` that is a UserError instead. The line names the file and the fix, never its contents.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    who = "group and others" if mode & 0o070 and mode & 0o007 else ("its group" if mode & 0o070 else "other users")
    problem = f"{path} holds {what} and {who} may read it (mode {mode:04o})"
    if strict:
        raise UserError(f"{problem}; refusing it (strict_permissions); fix: chmod 600 {path}")
    return f"warning: {problem}; fix: chmod 600 {path}"


def _field_errors(exc: InvalidTable) -> str:
    parts = [f"{'.'.join(str(p) for p in loc) or '(top level)'}: {msg}" for loc, msg in exc.problems]
    more = f" (and {len(parts) - 2} more)" if len(parts) > 2 else ""
    return "; ".join(parts[:2]) + more


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value and value.strip() else None


def _secret_from(
    profile_name: str,
    value: SecretStr | None,
    env: str | None,
    file: str | None,
    what: str,
    warnings: list[str] | None = None,
    strict: bool = False,
) -> SecretStr | None:
    """A key from a profile: the value itself, else the named env var, else the named file.

    A key file that other users may read adds a line to ``warnings`` (a UserError when ``strict``).
    """
    if value is not None and value.get_secret_value():
        return value
    if env:
        found = _env(env)
        if found is None:
            raise UserError(f"profile {profile_name!r} takes its {what} from ${env}, which is not set")
        return SecretStr(found.strip())
    if file:
        path = Path(file).expanduser()
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"profile {profile_name!r}: cannot read {what} file {path}: {exc.strerror or exc}") from None
        if not text:
            raise UserError(f"profile {profile_name!r}: {what} file {path} is empty")
        exposed = exposed_secret(path, f"the {what} of profile {profile_name!r}", strict=strict)
        if exposed and warnings is not None:
            warnings.append(exposed)
        return SecretStr(text)
    return None


def resolve_settings(
    profile_name: str | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    *,
    temporal_address: str | None = None,
    temporal_namespace: str | None = None,
    temporal_profile: str | None = None,
    config: Config | None = None,
    environment: bool = True,
) -> Settings:
    """Merge flags > environment > profile > defaults into the settings of one command.

    The profile is ``profile_name`` (the ``--profile`` flag), else ``$KUBIYA_TUI_PROFILE``,
    else the file's ``default_profile``; an unknown name is a UserError listing the known ones.

    Temporal's settings come from a Temporal CLI profile when one is named (``temporal_profile``,
    the flag; else the profile's ``temporal_profile``; else ``$TEMPORAL_PROFILE`` when the profile
    has no ``temporal_*`` settings of its own), with the ``TEMPORAL_*`` variables over it; else
    from the profile, with ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY`` and
    the TLS variables over it. ``temporal_address`` and ``temporal_namespace`` (flags) win over both.

    ``environment=False`` (several profiles at once) reads no environment variable: each
    profile is what the file says, so one exported KUBIYA_API_KEY cannot point them all at one server.
    """
    _env = globals()["_env"] if environment else (lambda name: None)
    config = config if config is not None else load_config()
    chosen = profile_name or _env("KUBIYA_TUI_PROFILE") or config.default_profile
    if chosen is not None and chosen not in config.profiles:
        known = ", ".join(sorted(config.profiles)) or "none; add [profiles.NAME] to " + str(locations.config_file())
        origin = (
            "--profile" if profile_name else "KUBIYA_TUI_PROFILE" if _env("KUBIYA_TUI_PROFILE") else "default_profile"
        )
        raise UserError(f"unknown profile {chosen!r} (from {origin}); known profiles: {known}")
    profile = config.profiles[chosen] if chosen else Profile()
    warnings: list[str] = []
    if config.source is not None and config.holds_a_key():
        exposed = exposed_secret(config.source, "an API key", strict=profile.strict_permissions)
        if exposed:
            warnings.append(exposed)

    url = (
        api_url
        or _env("KUBIYA_CONTROL_PLANE_BASE_URL")
        or _env("CONTROL_PLANE_URL")
        or profile.api_url
        or DEFAULT_API_URL
    )
    key: SecretStr | None
    if api_key:
        key, source = SecretStr(api_key), "--api-key"
    elif _env("KUBIYA_API_KEY"):
        key, source = SecretStr(_env("KUBIYA_API_KEY").strip()), "KUBIYA_API_KEY"  # type: ignore[union-attr]
    else:
        key = _secret_from(
            chosen or "",
            profile.api_key,
            profile.api_key_env,
            profile.api_key_file,
            "API key",
            warnings,
            profile.strict_permissions,
        )
        source = f"profile {chosen!r}" if key else None

    temporal = _temporal_settings(chosen, profile, temporal_profile, warnings, environment=environment)
    return Settings(
        profile=chosen,
        api_url=url.strip(),
        api_key=key,
        api_key_source=source,
        temporal_address=temporal_address or temporal["address"],
        temporal_namespace=temporal_namespace or temporal["namespace"] or DEFAULT_TEMPORAL_NAMESPACE,
        temporal_api_key=temporal["api_key"],
        temporal_tls=temporal["tls"],
        temporal_tls_config=temporal["tls_config"],
        temporal_rpc_metadata=temporal["rpc_metadata"],
        temporal_source=temporal["source"],
        temporal_profile=temporal["profile"],
        temporal_address_defaulted=temporal["defaulted"] and not temporal_address,
        task_queues=list(profile.task_queues),
        refresh_interval=profile.refresh_interval,
        theme=profile.theme or config.theme,
        read_only=profile.read_only,
        color=profile.color,
        danger=profile.danger,
        alerts=list(profile.alerts),
        alert_bell=profile.alert_bell,
        warnings=warnings,
    )


def _temporal_settings(
    chosen: str | None, profile: Profile, flag: str | None, warnings: list[str], environment: bool = True
) -> dict[str, Any]:
    """Temporal's address, namespace, key and TLS for ``resolve_settings`` (see its docstring).

    ``environment=False`` reads no ``TEMPORAL_*`` variable (not even ``TEMPORAL_PROFILE`` or the
    loader's overrides): the profile, and the Temporal CLI profile it names, are what the files say.
    """
    env = _env if environment else (lambda name: None)
    own = [f for f in OWN_TEMPORAL_FIELDS if getattr(profile, f) not in (None, False)]
    if profile.temporal_profile and own:
        raise UserError(
            f"profile {chosen!r} names Temporal CLI profile {profile.temporal_profile!r} and also sets {own[0]}: "
            f"the Temporal CLI profile gives Temporal's address, namespace, key and TLS; remove one of them"
        )
    if flag:
        name, origin = flag, "--temporal-profile"
    elif profile.temporal_profile:
        name, origin = profile.temporal_profile, f"profile {chosen!r}"
    elif not own and env("TEMPORAL_PROFILE"):
        name, origin = env("TEMPORAL_PROFILE").strip(), "TEMPORAL_PROFILE"  # type: ignore[union-attr]
    else:
        name, origin = None, ""
    found: TemporalProfile | None = None
    if name is not None or (environment and tls_from_env()):
        files_only = None if environment else {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        found = load_temporal_profile(name, profile.temporal_config_file, origin=origin, env=files_only)
        for file, what in found.secret_files:
            exposed = exposed_secret(Path(file), what, strict=profile.strict_permissions)
            if exposed:
                warnings.append(exposed)
    if found is not None and found.name is not None:
        return {
            "address": found.address or DEFAULT_TEMPORAL_PROFILE_ADDRESS,
            "namespace": found.namespace,
            "api_key": found.api_key,
            "tls": found.tls,
            "tls_config": found.tls_config,
            "rpc_metadata": dict(found.rpc_metadata),
            "source": found.describe(),
            "profile": found.name,
            "defaulted": found.address is None,
        }
    # kubiya-tui's own profile, the environment over it (the loader has read TEMPORAL_* when TLS variables are set).
    if env("TEMPORAL_API_KEY"):
        key: SecretStr | None = SecretStr(env("TEMPORAL_API_KEY").strip())  # type: ignore[union-attr]
    else:
        key = _secret_from(
            chosen or "",
            profile.temporal_api_key,
            profile.temporal_api_key_env,
            profile.temporal_api_key_file,
            "Temporal API key",
            warnings,
            profile.strict_permissions,
        )
    return {
        "address": env("TEMPORAL_ADDRESS") or profile.temporal_address,
        "namespace": env("TEMPORAL_NAMESPACE") or profile.temporal_namespace,
        "api_key": key,
        "tls": profile.temporal_tls or key is not None or (found is not None and found.tls),
        "tls_config": found.tls_config if found is not None else None,
        "rpc_metadata": dict(found.rpc_metadata) if found is not None else {},
        "source": found.describe() if found is not None and found.tls_config is not None else None,
        "profile": None,
        "defaulted": False,
    }


def profile_names(names: str | None = None, *, config: Config | None = None) -> list[str]:
    """The profiles of ``--profiles a,b,c`` (in that order), or every profile of the file when ``names`` is None.

    An unknown name, or a file without profiles, is a UserError naming the known ones.
    """
    config = config if config is not None else load_config()
    known = ", ".join(sorted(config.profiles)) or "none; add [profiles.NAME] to " + str(locations.config_file())
    if names is None:
        if not config.profiles:
            raise UserError(f"--all-profiles: no profiles in {config.source or locations.config_file()}")
        return list(config.profiles)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise UserError("--profiles: name one or more profiles, separated by commas (a,b,c)")
    for name in wanted:
        if name not in config.profiles:
            raise UserError(f"--profiles: unknown profile {name!r}; known profiles: {known}")
    return list(dict.fromkeys(wanted))


# ---------------------------------------------------------------------------- writing


def save_profile(name: str, profile: Profile, make_default: bool = False, path: Path | None = None) -> Path:
    """Add or replace profile ``name`` and write the file atomically, mode 0600.

    The rest of the file is kept, its comments and order too (see ``write_config``).
    A malformed existing file is an error and is left as it is.
    """
    if not PROFILE_NAME.match(name):
        raise UserError(f"profile name {name!r} may use only letters, digits, '_', '.' and '-'")
    path = path or locations.config_file()
    config = load_config(path)
    config.profiles[name] = profile
    if make_default or config.default_profile is None:
        config.default_profile = name
    write_config(config, path)
    return path


def restore_profile(
    name: str, written: Profile, previous: Profile | None, previous_default: str | None, path: Path | None = None
) -> bool:
    """Undo a ``save_profile(name, written)``: put ``previous`` back, or remove the profile if there was none.

    Only while the profile is still the one ``written`` (someone may have written it since),
    and ``default_profile`` goes back to ``previous_default`` if it was made ``name`` then.
    Answers whether the file changed.
    """
    path = path or locations.config_file()
    config = load_config(path)
    if config.profiles.get(name) != written:
        return False
    if previous is None:
        del config.profiles[name]
    else:
        config.profiles[name] = previous
    if config.default_profile == name and previous_default != name:
        config.default_profile = previous_default if previous_default in config.profiles else None
    write_config(config, path)
    return True


def write_config(config: Config, path: Path | None = None) -> None:
    """Write ``config`` to ``path`` through a temporary file and a rename, mode 0600.

    An existing file is edited, not replaced: its comments, key order and the spelling of
    values that did not change are kept; only what differs from ``config`` is rewritten.
    """
    path = path or locations.config_file()
    try:
        existing = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = ""
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise UserError(f"cannot read config file {path}: {reason}") from None
    import tomlkit.exceptions

    try:
        text = dumps_config(config, existing)
    except tomlkit.exceptions.TOMLKitError as exc:
        raise UserError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)  # created 0600
    except OSError as exc:
        raise UserError(f"cannot write config file {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write config file {path}: {exc.strerror or exc}") from None


def dumps_config(config: Config, existing: str = "") -> str:
    """The config as TOML text: ``existing`` (a config file's text) edited to hold ``config``.

    Should an edit not read back as ``config`` (tomlkit can misplace a table after dotted
    keys), the file is written anew from ``config``, without the old comments.
    """
    import tomlkit  # only to write: reading is tomllib's (tomlkit's import is ~8 ms of every command that reads settings)

    wanted = _plain(config)
    document = tomlkit.parse(existing)
    _sync(document, wanted)
    text = tomlkit.dumps(document)
    if tomllib.loads(text) != wanted:
        fresh = tomlkit.document()
        _sync(fresh, wanted)
        text = tomlkit.dumps(fresh)
    return text


def _plain(config: Config) -> dict[str, Any]:
    """What the file should hold: set values only, and a profile's defaults only if the file had them."""
    out: dict[str, Any] = {key: getattr(config, key) for key in ("default_profile", "theme") if getattr(config, key) is not None}
    profiles: dict[str, Any] = {}
    for name, profile in config.profiles.items():
        written = profile.fields_to_write()
        for key, value in written.items():
            if key == "alerts":
                written[key] = [rule.fields_to_write() for rule in value]
            elif isinstance(value, SecretStr):
                written[key] = value.get_secret_value()
        profiles[name] = written
    if profiles:
        out["profiles"] = profiles
    return out


def _sync(table: MutableMapping[str, Any], wanted: dict[str, Any]) -> None:
    """Make a tomlkit table hold ``wanted``: changed keys in place, new ones appended, others removed."""
    import tomlkit.items

    for key in [k for k in table if k not in wanted]:
        del table[key]
    for key, value in wanted.items():
        current = table.get(key)
        if isinstance(value, dict):
            if not isinstance(current, MutableMapping):
                inline = isinstance(table, tomlkit.items.InlineTable)
                current = tomlkit.inline_table() if inline else tomlkit.table(is_super_table=key == "profiles")
                table[key] = current
            _sync(current, value)
        elif current is None or _unwrapped(current) != value:
            table[key] = value


def _unwrapped(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item
