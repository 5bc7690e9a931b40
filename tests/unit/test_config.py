"""Profiles in config.toml and the precedence flags > environment > profile > defaults."""

from __future__ import annotations

import copy
import dataclasses
import json
import stat
import subprocess
import sys
import tomllib

import pytest

from kubiya_tui import locations
from kubiya_tui.config import (
    DEFAULT_API_URL,
    AlertRule,
    InvalidTable,
    Profile,
    load_config,
    resolve_settings,
    save_profile,
    write_config,
)
from kubiya_tui.errors import UserError
from kubiya_tui.secret import SecretStr

SECRET = "kty_secret_never_shown_123"


def write(text: str):
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_file_gives_defaults():
    found = resolve_settings()
    assert found.api_url == DEFAULT_API_URL
    assert found.api_key is None and found.profile is None
    assert (found.temporal_namespace, found.refresh_interval, found.read_only) == ("default", 2.0, False)


def test_precedence_flags_over_environment_over_profile(monkeypatch):
    write(
        f"""
default_profile = "prod"
theme = "nord"

[profiles.prod]
api_url = "https://prod.example.com"
api_key = "{SECRET}"
temporal_address = "temporal.prod:7233"
temporal_namespace = "prod-ns"
refresh_interval = 5
read_only = true

[profiles.dev]
api_url = "http://127.0.0.1:8787"
theme = "gruvbox"
"""
    )
    found = resolve_settings()
    assert (found.profile, found.api_url, found.api_key_value()) == ("prod", "https://prod.example.com", SECRET)
    assert (found.temporal_address, found.temporal_namespace, found.refresh_interval) == ("temporal.prod:7233", "prod-ns", 5.0)
    assert found.read_only and found.theme == "nord" and found.api_key_source == "profile 'prod'"

    monkeypatch.setenv("CONTROL_PLANE_URL", "https://second.example.com")
    assert resolve_settings().api_url == "https://second.example.com"
    monkeypatch.setenv("KUBIYA_CONTROL_PLANE_BASE_URL", "https://env.example.com")
    monkeypatch.setenv("KUBIYA_API_KEY", "env-key")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "env-temporal:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "env-ns")
    found = resolve_settings()
    assert (found.api_url, found.api_key_value(), found.api_key_source) == ("https://env.example.com", "env-key", "KUBIYA_API_KEY")
    assert (found.temporal_address, found.temporal_namespace) == ("env-temporal:7233", "env-ns")

    found = resolve_settings(api_url="https://flag.example.com", api_key="flag-key")
    assert (found.api_url, found.api_key_value(), found.api_key_source) == ("https://flag.example.com", "flag-key", "--api-key")

    # KUBIYA_TUI_PROFILE picks a profile; --profile wins over it.
    monkeypatch.setenv("KUBIYA_TUI_PROFILE", "dev")
    assert resolve_settings().profile == "dev"
    assert resolve_settings().theme == "gruvbox"
    assert resolve_settings("prod").profile == "prod"


def test_key_from_named_env_var_or_file(tmp_path, monkeypatch):
    key_file = tmp_path / "key"
    key_file.write_text(f"  {SECRET}\n")
    write(
        f"""
[profiles.byenv]
api_key_env = "MY_CP_KEY"
temporal_api_key_file = "{key_file}"

[profiles.byfile]
api_key_file = "{key_file}"

[profiles.missing]
api_key_file = "{tmp_path / 'nope'}"
"""
    )
    monkeypatch.setenv("MY_CP_KEY", "from-env-var")
    found = resolve_settings("byenv")
    assert found.api_key_value() == "from-env-var"
    assert found.temporal_api_key_value() == SECRET and found.temporal_tls
    assert resolve_settings("byfile").api_key_value() == SECRET
    monkeypatch.delenv("MY_CP_KEY")
    with pytest.raises(UserError, match=r"\$MY_CP_KEY, which is not set"):
        resolve_settings("byenv")
    with pytest.raises(UserError, match="cannot read API key file .*nope"):
        resolve_settings("missing")


def test_unknown_profile_lists_known_ones(monkeypatch):
    write('[profiles.alpha]\napi_url = "http://a"\n[profiles.beta]\napi_url = "http://b"\n')
    with pytest.raises(UserError) as err:
        resolve_settings("gamma")
    assert str(err.value) == "unknown profile 'gamma' (from --profile); known profiles: alpha, beta"
    monkeypatch.setenv("KUBIYA_TUI_PROFILE", "delta")
    with pytest.raises(UserError, match="'delta' .from KUBIYA_TUI_PROFILE.*alpha, beta"):
        resolve_settings()


@pytest.mark.parametrize(
    "text, expected",
    [
        ('default_profile = "x"\n[profiles.x\napi_url = 1', "is not valid TOML"),
        (f'[profiles.p]\napi_key = "{SECRET}"\nrefresh_interval = "{SECRET}"\n', "profiles.p.refresh_interval: should be a number, not a string"),
        ("[profiles.p]\nrefresh_interval = 0\n", "profiles.p.refresh_interval: should be greater than 0"),
        ("[profiles.p]\nrefresh_interval = 7200\n", "profiles.p.refresh_interval: should be less than or equal to 3600"),
        ("[profiles.p]\nrefresh_interval = nan\n", "profiles.p.refresh_interval: should be a finite number"),
        ('[profiles.p]\nread_only = "maybe"\n', "profiles.p.read_only: should be true or false, not a string"),
        ('[profiles.p]\nrefresh_interval = "inf"\n', "profiles.p.refresh_interval: should be a finite number"),
        (f'[profiles.p]\napi_key = 7\ntemporal_api_key = "{SECRET}"\n', "profiles.p.api_key: should be a string, not a whole number"),
        ('[profiles.p]\ncolor = "red"\ncolour = "blue"\n', "profiles.p.colour: is given twice (as 'color' too)"),
        ('profiles = 3\n', "profiles: should be a table of [profiles.NAME] tables, not a whole number"),
        ('[profiles]\np = "x"\n', "profiles.p: should be a table, not a string"),
        ('[profiles.p]\ntask_queues = ["a", 1]\n', "profiles.p.task_queues: should be a list of strings"),
        ('[profiles.p]\nalerts = 3\n', "profiles.p.alerts: should be a list of tables, not a whole number"),
        ('[profiles.p]\napi_ur = 1\ntheme = 2\n[profiles.q]\nrefresh_interval = -1\n',
         "profiles.p.api_ur: unknown field; profiles.p.theme: should be a string, not a whole number (and 1 more)"),
        ('[profiles.p]\napi_ur = "http://x"\n', "profiles.p.api_ur: unknown field"),
        ("[profiles.p]\ntask_queues = 3\n", "profiles.p.task_queues: should be a list of strings, e.g. [\"a\", \"b\"], not a whole number"),
        ('theme = ["a"]\n', "theme: should be a string, not a list"),
    ],
)
def test_malformed_file_is_one_line_naming_file_and_field(text, expected):
    path = write(text)
    with pytest.raises(UserError) as err:
        load_config()
    message = str(err.value)
    assert str(path) in message and expected in message
    assert "\n" not in message and SECRET not in message
    # A malformed file is never rewritten.
    with pytest.raises(UserError):
        save_profile("new", Profile(api_url="http://x"))
    assert path.read_text() == text


def test_save_profile_round_trip_atomic_and_private():
    tricky = 'quote " backslash \\ newline \n tab \t unicode é \x01'
    save_profile("first", Profile(api_url="http://127.0.0.1:8787", api_key=SECRET, task_queues=["a", "b"]))
    path = save_profile("prod.eu", Profile(api_url="http://x", theme=tricky, refresh_interval=0.5, read_only=True), make_default=True)
    assert path == locations.config_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary file left
    raw = tomllib.loads(path.read_text())
    assert raw["default_profile"] == "prod.eu"
    config = load_config()
    assert config.profiles["prod.eu"].theme == tricky
    assert config.profiles["prod.eu"].refresh_interval == 0.5 and config.profiles["prod.eu"].read_only
    first = config.profiles["first"]
    assert first.api_key.get_secret_value() == SECRET and first.task_queues == ["a", "b"]
    assert "refresh_interval" not in raw["profiles"]["first"]  # defaults are not written
    assert resolve_settings().profile == "prod.eu"


COMMENTED = """\
# Written by hand: kubiya-tui keeps these comments.
theme = "nord"  # my favourite
default_profile = "dev"

# Production: look, do not touch.
[profiles.prod]
temporal_address = "temporal.prod:7233"  # the frontend
api_url = "https://prod.example.com"
# Slow on purpose.
refresh_interval = 5
read_only = true

[profiles.dev]
api_url = "http://127.0.0.1:8787"
"""


def _order(text: str) -> list[str]:
    """The comments, table headers and keys of a TOML text, in the order they appear."""
    return [line.split("=")[0].strip() for line in text.splitlines() if line.strip()]


def test_writing_keeps_the_users_comments_and_order():
    path = write(COMMENTED)
    # The console's theme save: read the file, change the theme, write it back.
    config = load_config()
    config.theme = "kubiya-light"
    write_config(config)
    after_theme = path.read_text()
    assert after_theme == COMMENTED.replace('theme = "nord"', 'theme = "kubiya-light"'), after_theme

    # A profile write: one profile replaced (one key gone, one changed), one added and made the default.
    save_profile("prod", Profile(temporal_address="temporal.prod:7233", api_url="https://prod2.example.com", refresh_interval=5))
    save_profile("ci", Profile(api_url="http://127.0.0.1:9000", task_queues=["a"]), make_default=True)
    text = path.read_text()
    expected = (
        COMMENTED.replace('theme = "nord"', 'theme = "kubiya-light"')
        .replace('default_profile = "dev"', 'default_profile = "ci"')
        .replace("https://prod.example.com", "https://prod2.example.com")
        .replace("read_only = true\n", "")
    )
    assert _order(text) == _order(expected) + ["[profiles.ci]", "api_url", "task_queues"], text
    assert text.startswith(expected), text
    assert "refresh_interval = 5\n" in text, "an unchanged value keeps its spelling"
    config = load_config()
    assert (config.theme, config.default_profile) == ("kubiya-light", "ci")
    assert not config.profiles["prod"].read_only and config.profiles["prod"].api_url == "https://prod2.example.com"
    assert config.profiles["ci"].task_queues == ["a"] and config.profiles["dev"].api_url == "http://127.0.0.1:8787"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_writing_a_file_tomlkit_cannot_edit_in_place_still_reads_back_right():
    # Dotted keys before a top-level key: tomlkit would put a new table above that key.
    path = write('profiles.dev.api_url = "http://127.0.0.1:8787"\ntheme = "nord"\n')
    save_profile("ci", Profile(api_url="http://127.0.0.1:9000"))
    config = load_config()
    assert config.theme == "nord" and set(config.profiles) == {"dev", "ci"}
    assert config.profiles["ci"].theme is None and config.default_profile == "ci"
    assert tomllib.loads(path.read_text())["profiles"]["dev"] == {"api_url": "http://127.0.0.1:8787"}


def test_keys_never_shown_in_reprs_or_errors(tmp_path):
    save_profile("p", Profile(api_key=SECRET, temporal_api_key=SECRET), make_default=True)
    found = resolve_settings()
    for text in (repr(found), str(found), repr(load_config()), json.dumps(dataclasses.asdict(found), default=str), f"{found.api_key}"):
        assert SECRET not in text
    # The CLI's error for a bad key names where the key came from, never the key.
    out = subprocess.run(
        [sys.executable, "-m", "kubiya_tui", "--api-url", "http://127.0.0.1:9", "queues", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert SECRET not in out.stdout + out.stderr
    assert out.stderr.startswith("kubiya-tui: error: cannot reach control plane at http://127.0.0.1:9")


def test_a_key_is_masked_everywhere_but_where_it_is_sent():
    key = SecretStr(SECRET)
    shown = [repr(key), str(key), f"{key}", "%s" % key, repr([key]), repr(copy.deepcopy(key)), repr(Profile(api_key=SECRET))]
    assert all(SECRET not in text and "**********" in text for text in shown)
    assert key.get_secret_value() == SECRET and len(key) == len(SECRET)
    assert key == SecretStr(SECRET) and key != SecretStr("another") and key != SECRET  # a plain string is not a secret
    with pytest.raises(TypeError):
        SecretStr(b"bytes")  # type: ignore[arg-type]


def test_quoted_numbers_and_flags_are_read_as_before():
    # pydantic read these once: a file that holds them keeps working.
    write('[profiles.p]\nrefresh_interval = "2.5"\nread_only = "yes"\ndanger = "off"\n'
          '[[profiles.p.alerts]]\nmax_depth = "10"\nmin_healthy_workers = "2"\n')
    profile = load_config().profiles["p"]
    assert (profile.refresh_interval, profile.read_only, profile.danger) == (2.5, True, False)
    assert (profile.alerts[0].max_depth, profile.alerts[0].min_healthy_workers) == (10.0, 2)


def test_tables_made_in_code_are_checked_as_the_file_is():
    with pytest.raises(InvalidTable, match=r"^refresh_interval: should be greater than 0$"):
        Profile(refresh_interval=0)
    with pytest.raises(InvalidTable, match=r"^alerts\.1\.warn_at: should be less than or equal to 1$"):
        Profile(alerts=[AlertRule(), {"warn_at": 2}])
    # "false" turns the stuck check off: a different rule from the default, and written back as false.
    assert AlertRule(stuck_after=False) != AlertRule() and AlertRule(stuck_after=False).stuck_off
    save_profile("p", Profile(alerts=[AlertRule(stuck_after=False, queues="prod/*")]))
    rule = load_config().profiles["p"].alerts[0]
    assert (rule.queues, rule.stuck_off, rule.stuck_after) == (["prod/*"], True, None)
