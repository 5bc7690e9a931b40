"""Key files and configs holding keys that other users may read: one warning with the fix, or a refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubiya_tui import locations
from kubiya_tui.config import resolve_settings
from kubiya_tui.errors import UserError
from tests.api.test_serve import Served

SECRET = "kty_secret_never_shown_456"


def config(text: str, mode: int) -> Path:
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def key_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "api.key"
    path.write_text(SECRET + "\n")
    path.chmod(mode)
    return path


def test_a_config_holding_a_key_that_others_may_read_is_read_with_one_warning():
    path = config(f'[profiles.p]\napi_url = "http://127.0.0.1:1"\napi_key = "{SECRET}"\n', 0o644)
    found = resolve_settings("p")
    assert found.api_key_value() == SECRET
    assert found.warnings == [f"warning: {path} holds an API key and group and others may read it (mode 0644); fix: chmod 600 {path}"]
    path.chmod(0o600)
    assert resolve_settings("p").warnings == []


def test_a_config_without_keys_may_be_readable():
    config('[profiles.p]\napi_url = "http://127.0.0.1:1"\napi_key_env = "SOME_VAR"\n', 0o644)
    os.environ["SOME_VAR"] = SECRET
    try:
        assert resolve_settings("p").warnings == []
    finally:
        del os.environ["SOME_VAR"]


def test_a_key_file_others_may_read_warns_and_strict_profiles_refuse_it(tmp_path: Path):
    keys = key_file(tmp_path, 0o640)
    config(
        f'[profiles.loose]\napi_key_file = "{keys}"\n\n[profiles.strict]\napi_key_file = "{keys}"\nstrict_permissions = true\n',
        0o600,
    )
    loose = resolve_settings("loose")
    assert loose.api_key_value() == SECRET
    assert loose.warnings == [
        f"warning: {keys} holds the API key of profile 'loose' and its group may read it (mode 0640); fix: chmod 600 {keys}"
    ]
    with pytest.raises(UserError) as refused:
        resolve_settings("strict")
    assert str(refused.value) == (
        f"{keys} holds the API key of profile 'strict' and its group may read it (mode 0640);"
        f" refusing it (strict_permissions); fix: chmod 600 {keys}"
    )
    keys.chmod(0o600)
    assert resolve_settings("strict").warnings == []


def test_the_cli_prints_the_warning_once_on_stderr_and_never_the_key(tmp_path: Path):
    keys = key_file(tmp_path, 0o644)
    config(f'default_profile = "p"\n\n[profiles.p]\napi_url = "http://127.0.0.1:9"\napi_key_file = "{keys}"\n', 0o600)
    out = subprocess.run([sys.executable, "-m", "kubiya_tui", "queues", "list"], capture_output=True, text=True, timeout=60)
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {keys} holds the API key of profile 'p' and group and others may read it (mode 0644); fix: chmod 600 {keys}"]
    assert SECRET not in out.stdout + out.stderr


async def test_the_console_shows_the_warning(tmp_path: Path):
    from kubiya_tui.tui.app import build_console

    keys = key_file(tmp_path, 0o604)
    config(f'[profiles.p]\napi_url = "http://127.0.0.1:9"\napi_key_file = "{keys}"\n', 0o600)
    app = build_console("p")
    async with app.run_test() as pilot:
        await pilot.pause()
        shown = [n.message for n in app._notifications]
    assert any(f"{keys} holds the API key of profile 'p' and other users may read it" in m and "chmod 600" in m for m in shown)


def test_serve_warns_about_its_admin_key_file(tmp_path: Path):
    data_dir = tmp_path / "data"
    first = Served(data_dir)
    first.stop()
    (data_dir / "admin.key").chmod(0o644)
    again = Served(data_dir)
    again.stop()
    key = (data_dir / "admin.key").read_text().strip()
    line = f"warning: {data_dir / 'admin.key'} holds the admin API key and group and others may read it (mode 0644); fix: chmod 600 {data_dir / 'admin.key'}"
    assert line in again.stderr.splitlines()
    assert key not in again.stdout + again.stderr
