"""Temporal CLI profiles (temporal.toml, read by temporalio.envconfig): precedence, and hostile files in one line.

No server: these read files and the environment only. The connections themselves, mTLS
included, are in tests/e2e/test_mtls.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubiya_tui import locations
from kubiya_tui.config import resolve_settings
from kubiya_tui.errors import UserError
from tests.mtls import make_certs

SECRET = "tmprl_secret_never_shown_456"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def temporal_toml(text: str) -> Path:
    """The Temporal CLI's file at its default place for this test ($XDG_CONFIG_HOME/temporalio/temporal.toml)."""
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "temporalio" / "temporal.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def config(text: str) -> Path:
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def refusal(**kwargs) -> str:
    with pytest.raises(UserError) as caught:
        resolve_settings(**kwargs)
    message = str(caught.value)
    assert "\n" not in message, message
    assert SECRET not in message and "BEGIN" not in message
    return message


def test_a_profile_naming_a_temporal_cli_profile_takes_everything_from_it(certs):
    temporal_toml(
        f"""
[profile.prod]
address = "prod.tmprl.example:7233"
namespace = "prod-ns"
api_key = "{SECRET}"
[profile.prod.tls]
server_name = "prod.tmprl.example"
server_ca_cert_path = "{certs.ca_cert}"
client_cert_path = "{certs.client_cert}"
client_key_path = "{certs.client_key}"
"""
    )
    config('[profiles.p]\ntemporal_profile = "prod"\n')
    found = resolve_settings("p")
    assert (found.temporal_address, found.temporal_namespace) == ("prod.tmprl.example:7233", "prod-ns")
    assert found.temporal_api_key_value() == SECRET and found.temporal_tls
    tls = found.temporal_tls_config
    assert tls is not None and tls.mutual and tls.server_name == "prod.tmprl.example"
    assert tls.client_cert == certs.client_cert.read_bytes() and tls.server_ca_cert == certs.ca_cert.read_bytes()
    assert found.temporal_source == f"Temporal CLI profile 'prod' ({Path(os.environ['XDG_CONFIG_HOME']) / 'temporalio' / 'temporal.toml'})"
    shown = repr(found) + str(dataclasses.asdict(found)) + json.dumps(dataclasses.asdict(found), default=str)
    assert SECRET not in shown and "PRIVATE KEY" not in shown


def test_the_temporal_variables_win_over_the_file(monkeypatch):
    temporal_toml('[profile.default]\naddress = "file.example:7233"\nnamespace = "file-ns"\n')
    monkeypatch.setenv("TEMPORAL_PROFILE", "default")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "env.example:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "env-ns")
    monkeypatch.setenv("TEMPORAL_API_KEY", SECRET)
    found = resolve_settings()
    assert (found.temporal_address, found.temporal_namespace, found.temporal_profile) == ("env.example:7233", "env-ns", "default")
    assert found.temporal_api_key_value() == SECRET and found.temporal_tls  # an API key means TLS
    # Flags win over both.
    flagged = resolve_settings(temporal_address="flag.example:1", temporal_namespace="flag-ns")
    assert (flagged.temporal_address, flagged.temporal_namespace) == ("flag.example:1", "flag-ns")


def test_temporal_profile_is_ignored_by_a_profile_with_its_own_temporal_settings(monkeypatch):
    temporal_toml('[profile.default]\naddress = "file.example:7233"\n')
    monkeypatch.setenv("TEMPORAL_PROFILE", "default")
    config('[profiles.own]\ntemporal_address = "own.example:7233"\n[profiles.bare]\napi_url = "http://127.0.0.1:1"\n')
    assert resolve_settings("own").temporal_address == "own.example:7233"
    assert resolve_settings("bare").temporal_address == "file.example:7233"


def test_a_profile_naming_no_address_gets_the_temporal_cli_default():
    temporal_toml('[profile.local]\nnamespace = "dev"\n')
    found = resolve_settings(temporal_profile="local")
    assert (found.temporal_address, found.temporal_namespace, found.temporal_tls) == ("localhost:7233", "dev", False)


def test_tls_variables_alone_give_a_kubiya_profile_mtls(certs, monkeypatch):
    """Without a Temporal CLI profile, TEMPORAL_TLS_* still apply to the profile's own address."""
    config('[profiles.own]\ntemporal_address = "own.example:7233"\n')
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(certs.client_cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(certs.client_key))
    found = resolve_settings("own")
    assert found.temporal_address == "own.example:7233" and found.temporal_tls
    assert found.temporal_tls_config is not None and found.temporal_tls_config.mutual
    assert found.temporal_profile is None and found.temporal_source == "TEMPORAL_* environment variables"


def test_naming_a_temporal_profile_and_copying_its_settings_is_refused():
    config('[profiles.both]\ntemporal_profile = "prod"\ntemporal_address = "x:1"\n')
    message = refusal(profile_name="both")
    assert "profile 'both' names Temporal CLI profile 'prod' and also sets temporal_address" in message


@pytest.mark.parametrize(
    "toml, says",
    [
        (None, "but Temporal CLI config file {file} does not exist"),
        ('[profile.staging]\naddress = "s:1"\n[profile.dev]\n', "no Temporal CLI profile 'prod' in {file}; its profiles: dev, staging"),
        (f'[profile.prod]\napi_key = "{SECRET}" oops\n', "Temporal CLI config file {file}: TOML parse error at line 2"),
        ('[profile.prod]\nadress = "typo:1"\n', "unknown field `adress`"),
        ("\x00\xff", "Temporal CLI config file {file}"),
    ],
    ids=["missing-file", "unknown-profile", "bad-toml-with-a-key-on-the-line", "unknown-key", "binary"],
)
def test_a_bad_temporal_file_is_one_line(toml, says):
    file = Path(os.environ["XDG_CONFIG_HOME"]) / "temporalio" / "temporal.toml"
    if toml is not None:
        temporal_toml(toml)
    message = refusal(temporal_profile="prod")
    assert says.format(file=file) in message, message


def test_a_bad_config_file_path_is_one_line(tmp_path):
    config(f'[profiles.p]\ntemporal_profile = "prod"\ntemporal_config_file = "{tmp_path}"\n')
    assert f"Temporal CLI config file {tmp_path} is not a file" in refusal(profile_name="p")
    assert "is not a Temporal CLI profile name" in refusal(temporal_profile="bad\nname")


@pytest.mark.parametrize(
    "tls, says",
    [
        ('client_cert_path = "/nonexistent/c.pem"\nclient_key_path = "{key}"', "cannot read its client certificate /nonexistent/c.pem"),
        ('client_cert_path = "{notpem}"\nclient_key_path = "{key}"', "its client certificate is not PEM"),
        ('client_cert_path = "{cert}"\nclient_key_path = "{cert}"', "its client key is not PEM"),
        ('client_cert_path = "{cert}"', "gives a client certificate but no client key: mTLS needs both"),
        ('client_key_path = "{key}"', "gives a client key but no client certificate"),
        ('server_ca_cert_path = "{empty}"', "its server CA certificate {empty} is empty"),
    ],
    ids=["missing-cert", "cert-not-pem", "key-not-pem", "cert-without-key", "key-without-cert", "empty-ca"],
)
def test_a_bad_certificate_is_one_line_naming_the_file(certs, tmp_path, tls, says):
    notpem = tmp_path / "notpem.pem"
    notpem.write_text(SECRET)
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    values = {"cert": certs.client_cert, "key": certs.client_key, "notpem": notpem, "empty": empty}
    temporal_toml('[profile.prod]\naddress = "x:1"\n[profile.prod.tls]\n' + tls.format(**values) + "\n")
    message = refusal(temporal_profile="prod")
    assert message.startswith("Temporal CLI profile 'prod'"), message
    assert says.format(**values) in message, message


def test_the_cli_says_a_bad_temporal_profile_in_one_line_without_a_traceback():
    config('default_profile = "p"\n[profiles.p]\ntemporal_profile = "nope"\ntask_queues = ["tq"]\n')
    temporal_toml('[profile.prod]\naddress = "x:1"\n')
    for argv in (["top", "-o", "json"], ["check"], ["worker", "start", "--queue-id", "q", "--control-plane-url", "http://127.0.0.1:9"]):
        done = subprocess.run([sys.executable, "-m", "kubiya_tui", *argv], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        said = done.stdout if argv[0] == "check" else done.stderr  # check speaks the monitoring plugins' way: stdout, exit 3
        lines = said.strip().splitlines()
        assert len(lines) == 1 and "no Temporal CLI profile 'nope'" in lines[0] and "its profiles: prod" in lines[0], done.stderr


def test_a_client_key_or_a_key_in_temporal_toml_that_others_may_read_is_warned_about(certs, tmp_path):
    key = tmp_path / "client-key.pem"
    key.write_bytes(certs.client_key.read_bytes())
    key.chmod(0o644)
    file = temporal_toml(
        f'[profile.prod]\naddress = "x:1"\napi_key = "{SECRET}"\n[profile.prod.tls]\n'
        f'client_cert_path = "{certs.client_cert}"\nclient_key_path = "{key}"\n'
    )
    file.chmod(0o640)
    found = resolve_settings(temporal_profile="prod")
    assert len(found.warnings) == 2 and not any(SECRET in w for w in found.warnings)
    assert any(f"{key} holds the client key of Temporal CLI profile 'prod'" in w and "chmod 600" in w for w in found.warnings)
    assert any(f"{file} holds the Temporal API key of Temporal CLI profile 'prod'" in w for w in found.warnings)
    config('[profiles.strict]\ntemporal_profile = "prod"\nstrict_permissions = true\n')
    assert "refusing it (strict_permissions)" in refusal(profile_name="strict")
    key.chmod(0o600)
    file.chmod(0o600)
    assert resolve_settings(temporal_profile="prod").warnings == []


def test_without_the_environment_only_the_files_count(monkeypatch):
    """Several profiles at once read no variable (so one exported TEMPORAL_ADDRESS cannot point them all at one server)."""
    from kubiya_tui.config import Profile, _temporal_settings

    temporal_toml('[profile.prod]\naddress = "file.example:7233"\nnamespace = "file-ns"\n')
    for name, value in (("TEMPORAL_ADDRESS", "env.example:1"), ("TEMPORAL_NAMESPACE", "env-ns"),
                        ("TEMPORAL_API_KEY", SECRET), ("TEMPORAL_PROFILE", "other")):  # fmt: skip
        monkeypatch.setenv(name, value)
    named = _temporal_settings("p", Profile(temporal_profile="prod"), None, [], environment=False)
    assert (named["address"], named["namespace"], named["api_key"]) == ("file.example:7233", "file-ns", None)
    own = _temporal_settings("q", Profile(temporal_address="own.example:1"), None, [], environment=False)
    assert (own["address"], own["namespace"], own["api_key"], own["profile"]) == ("own.example:1", None, None, None)
    with_env = _temporal_settings("p", Profile(temporal_profile="prod"), None, [])
    assert (with_env["address"], with_env["namespace"]) == ("env.example:1", "env-ns")
