"""The install suite: the local install script on a fresh host, end to end.

Outside the default run (it makes a virtual environment and pip-installs kubiya-tui's
dependencies from the package index: about 15 s to a minute, and it needs PyPI); `.ci/run`
runs it with `pytest --run-install -m install`.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from kubiya_tui.stack.processes import ManagedProcess
from tests.helpers import make_queue, submit, wait_for
from tests.api.test_distribution import fresh_env

pytestmark = [pytest.mark.install, pytest.mark.timeout(900)]
V1 = "/api/v1"


def test_local_script_on_a_fresh_host_installs_a_worker_that_registers_and_runs_a_task(api, control_plane, unique, tmp_path):
    queue = make_queue(api, unique("fresh"))
    served = api.get(f"{V1}/distribution").json()
    script = api.get(f"{V1}/worker-queues/{queue['id']}/install-script", params={"platform": "local"}).text
    env = fresh_env(tmp_path, KUBIYA_API_KEY=control_plane.api_key)
    # The host: an empty HOME and working directory, and nothing on PATH but the system's python3 and curl.
    assert sorted(p.name for p in Path(env["PATH"]).iterdir()) in (["curl", "python3"], ["python3"])
    assert not any((tmp_path / "home").iterdir())
    (tmp_path / "work").mkdir()
    (tmp_path / "install.sh").write_text(script)
    log_path = tmp_path / "install.log"
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        ["/bin/bash", str(tmp_path / "install.sh")], cwd=tmp_path / "work", env=env,
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    process = ManagedProcess("install", proc, log_path, log)
    try:

        def registered() -> list[dict]:
            if proc.poll() is not None:
                raise AssertionError(f"the script ended ({proc.returncode}) before a worker registered:\n{log_path.read_text()[-4000:]}")
            workers = api.get(f"{V1}/worker-queues/{queue['id']}/workers").json()
            return [w for w in workers if w["health"] == "healthy"]

        (worker,) = wait_for(registered, 600, "the installed worker to register", every=2)
        health = api.get("/api/health").json()
        assert worker["system_info"]["sdk_version"] == health["version"] == served["version"]
        (task_id,) = submit(api, queue["id"], 1, input={"seconds": 0.2})
        wait_for(lambda: api.get(f"{V1}/tasks/{task_id}").json()["status"] == "completed", 60, "the task to complete")
    finally:
        code = process.stop(grace=30)
    assert code == 0, f"SIGTERM drains the worker and it exits 0 (got {code}):\n{log_path.read_text()[-4000:]}"
    text = log_path.read_text()
    assert f"{served['filename']} from {control_plane.url}: sha256 checked" in text
    assert control_plane.api_key not in text
    assert api.get(f"{V1}/registered-workers/{worker['worker_id']}").json()["status"] == "disconnected"

    # What the host got: the served wheel, installed (not editable) in the worker's own environment.
    venv = tmp_path / "home" / ".kubiya-tui" / f"worker-{queue['name']}"
    assert (venv / "kubiya-tui-installed").read_text() == served["sha256"]
    version = subprocess.run([str(venv / "bin" / "kubiya-tui"), "--version"], capture_output=True, text=True, timeout=60, env=env)
    assert version.stdout == f"kubiya-tui {served['version']}\n"
    # A control plane run from that installation serves the same files, packed back from it.
    packed = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sys; from pathlib import Path; from kubiya_tui.controlplane.distribution import prepare; "
         "d = prepare(Path(sys.argv[1])); print(d.path); print(d.origin)", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path / "work",
    )  # fmt: skip
    assert packed.returncode == 0, packed.stderr
    path, origin = packed.stdout.splitlines()
    assert origin.startswith("packed from the installation in ") and str(venv) in origin
    original = api.get(f"{V1}/distribution/{served['filename']}").content
    (tmp_path / "served.whl").write_bytes(original)
    with zipfile.ZipFile(tmp_path / "served.whl") as a, zipfile.ZipFile(path) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        assert all(a.read(n) == b.read(n) for n in a.namelist() if not n.endswith("/RECORD"))

    # Run again: already installed, so it starts the worker at once (nothing fetched, nothing installed).
    again = subprocess.Popen(
        ["/bin/bash", str(tmp_path / "install.sh")], cwd=tmp_path / "work", env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    rerun = ManagedProcess("install-again", again)
    try:
        wait_for(lambda: registered_again(api, queue["id"], worker["worker_id"]), 60, "the second worker to register")
    finally:
        rerun.stop(grace=30)
    assert "sha256 checked" not in again.stdout.read().decode()


def registered_again(api, queue_id: str, first_id: str) -> bool:
    return any(w["health"] == "healthy" and w["worker_id"] != first_id for w in api.get(f"{V1}/worker-queues/{queue_id}/workers").json())

