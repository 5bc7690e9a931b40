"""`kubiya-tui serve` bootstrap and `kubiya-tui admin create-key`, as a user runs them."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kubiya_tui.stack.processes import free_port, wait_for_port

V1 = "/api/v1"
CLI = [sys.executable, "-m", "kubiya_tui"]


class Served:
    def __init__(self, data_dir: Path, env_key: str | None = None, extra: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out_path = data_dir.parent / f"{data_dir.name}-{self.port}.out"
        self.err_path = data_dir.parent / f"{data_dir.name}-{self.port}.err"
        env = {k: v for k, v in os.environ.items() if k != "KUBIYA_API_KEY"}
        if env_key:
            env["KUBIYA_API_KEY"] = env_key
        argv = [
            *CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(data_dir),
            # Temporal is not needed here: a closed port keeps the test independent of it.
            "--temporal-address", f"127.0.0.1:{free_port()}", *(extra or []),
        ]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            wait_for_port("127.0.0.1", self.port, 30, self.proc)
        except Exception:
            self.stop()
            raise AssertionError(f"serve did not start: {self.stderr}")

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def all_bytes_in(data_dir: Path) -> bytes:
    """Everything the control plane wrote in its data dir (database, WAL, logs), except the key file."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file() and p.name != "admin.key")


def works(url: str, key: str) -> bool:
    return httpx.get(f"{url}{V1}/environments", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_first_start_writes_admin_key_to_a_0600_file_and_never_prints_it(tmp_path):
    data_dir = tmp_path / "data"
    served = Served(data_dir)
    try:
        key_file = data_dir / "admin.key"
        assert key_file.is_file()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        assert len(key) >= 32
        assert str(key_file) in served.stdout
        assert works(served.url, key)
        assert not works(served.url, key + "x")
        envs = httpx.get(f"{served.url}{V1}/environments", headers={"UserKey": key}).json()
        assert [e["name"] for e in envs] == ["default"]
        # some traffic, so the log and the database have content
        httpx.post(f"{served.url}{V1}/environments", json={"name": "prod"}, headers={"Authorization": f"Bearer {key}"})
        httpx.get(f"{served.url}{V1}/worker-queues", headers={"Authorization": "Bearer wrong-key"})
    finally:
        served.stop()
    assert key not in served.stdout and key not in served.stderr
    assert (data_dir / "control-plane.log").exists()
    assert key.encode() not in all_bytes_in(data_dir), "the key is stored or logged in clear"

    # a second start keeps the same key and org, prints where the key is, and still never the key
    again = Served(data_dir)
    try:
        assert (data_dir / "admin.key").read_text().strip() == key
        assert str(data_dir / "admin.key") in again.stdout
        assert works(again.url, key)
        names = [e["name"] for e in httpx.get(f"{again.url}{V1}/environments", headers={"Authorization": f"Bearer {key}"}).json()]
        assert names == ["default", "prod"]
    finally:
        again.stop()
    assert key not in again.stdout and key not in again.stderr


def test_kubiya_api_key_sets_the_first_key(tmp_path):
    data_dir = tmp_path / "data"
    key = "kty_from_env_0123456789abcdef"
    served = Served(data_dir, env_key=key)
    try:
        assert works(served.url, key)
        assert not (data_dir / "admin.key").exists()
        assert "KUBIYA_API_KEY" in served.stdout
    finally:
        served.stop()
    assert key not in served.stdout and key not in served.stderr
    assert key.encode() not in all_bytes_in(data_dir)
    # a later start with another KUBIYA_API_KEY does not replace or add a key
    again = Served(data_dir, env_key="kty_some_other_key_987654321")
    try:
        assert works(again.url, key)
        assert not works(again.url, "kty_some_other_key_987654321")
    finally:
        again.stop()


def test_admin_create_key(tmp_path):
    data_dir = tmp_path / "data"
    served = Served(data_dir, env_key="kty_admin_key_for_org_local_000")
    try:
        out = subprocess.run([*CLI, "admin", "create-key", "--org", "acme", "--data-dir", str(data_dir)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.strip().splitlines()
        assert len(lines) == 1
        acme = lines[0]
        # the new org exists with its default environment, and the key works against the running server
        envs = httpx.get(f"{served.url}{V1}/environments", headers={"Authorization": f"Bearer {acme}"}).json()
        assert [(e["name"], e["organization_id"]) for e in envs] == [("default", "acme")]
        # a second key for the same org sees the same org
        out2 = subprocess.run([*CLI, "admin", "create-key", "--org", "acme", "--data-dir", str(data_dir)],
                              capture_output=True, text=True, timeout=60)
        acme2 = out2.stdout.strip()
        assert acme2 != acme
        envs2 = httpx.get(f"{served.url}{V1}/environments", headers={"Authorization": f"Bearer {acme2}"}).json()
        assert [e["id"] for e in envs2] == [e["id"] for e in envs]
        # the org admin of "local" does not see acme
        local = httpx.get(f"{served.url}{V1}/environments", headers={"Authorization": "Bearer kty_admin_key_for_org_local_000"}).json()
        assert {e["organization_id"] for e in local} == {"local"}
    finally:
        served.stop()
    assert acme.encode() not in all_bytes_in(data_dir)
    for bad in ("Bad Org", "../etc"):
        out = subprocess.run([*CLI, "admin", "create-key", "--org", bad, "--data-dir", str(data_dir)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and out.stdout == ""
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.parametrize("command", ["serve", "create-key"])
def test_bad_data_dir_is_one_clear_line(tmp_path, command):
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    for data_dir in (a_file, a_file / "sub"):
        if command == "serve":
            argv = [*CLI, "serve", "--port", str(free_port()), "--data-dir", str(data_dir),
                    "--temporal-address", f"127.0.0.1:{free_port()}"]
        else:
            argv = [*CLI, "admin", "create-key", "--org", "acme", "--data-dir", str(data_dir)]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if k != "KUBIYA_API_KEY"})
        assert out.returncode != 0
        assert "Traceback" not in out.stderr + out.stdout
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert str(data_dir) in lines[0] and lines[0].startswith("kubiya-tui: error:")
    assert a_file.read_text() == "x"
