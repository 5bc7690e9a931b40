"""The wheel the control plane serves, the version everywhere, and the install scripts around them.

The end-to-end install on a fresh host is in test_install_suite.py (outside the default run).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from kubiya_tui import __version__
from kubiya_tui.controlplane import distribution, scripts
from kubiya_tui.stack.processes import free_port
from tests.helpers import make_queue

V1 = "/api/v1"
ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


# ---------------------------------------------------------------------------- one version everywhere


def test_one_version_from_the_package_metadata(control_plane, api):
    version = importlib.metadata.version("kubiya-tui")
    assert version == project_version() == __version__
    out = subprocess.run([sys.executable, "-m", "kubiya_tui", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == f"kubiya-tui {version}\n"
    assert api.get("/api/health").json()["version"] == version
    served = api.get(f"{V1}/distribution").json()
    assert served["version"] == version and served["filename"].startswith(f"kubiya_tui-{version}-")


def test_worker_heartbeat_reports_the_package_version():
    from kubiya_tui.worker.runtime import WorkerOptions, WorkerRuntime

    runtime = WorkerRuntime(WorkerOptions(control_plane_url="http://127.0.0.1:1", api_key="k", queue_id="q"))
    body = runtime.heartbeat_body(draining=False)
    assert body.system_info is not None and body.system_info.sdk_version == importlib.metadata.version("kubiya-tui")


# ---------------------------------------------------------------------------- the served wheel


def test_distribution_is_served_with_its_sha256_to_any_key_and_only_read(control_plane, api):
    info = api.get(f"{V1}/distribution")
    assert info.status_code == 200, info.text
    meta = info.json()
    assert meta["url"] == f"{control_plane.url}{V1}/distribution/{meta['filename']}"
    assert "source tree" in meta["origin"]  # the tests run from an editable install
    answer = api.get(f"{V1}/distribution/{meta['filename']}")
    assert answer.status_code == 200
    assert hashlib.sha256(answer.content).hexdigest() == meta["sha256"] and len(answer.content) == meta["size"]
    assert answer.headers["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(answer.content).digest()).decode()}:"
    assert answer.headers["etag"] == f'"{meta["sha256"]}"'
    with zipfile.ZipFile(_write(answer.content)) as wheel:
        names = wheel.namelist()
    assert "kubiya_tui/themes/kubiya-dark.toml" in names and "kubiya_tui/tui/styles.tcss" in names
    # Any organization's key may fetch it; no key, or an unknown one, may not.
    with control_plane.client(control_plane.key_for("dist-other")) as other:
        assert other.get(f"{V1}/distribution/{meta['filename']}").content == answer.content
    import httpx

    for headers in ({}, {"Authorization": "Bearer kty_not_a_key"}):
        for path in ("", f"/{meta['filename']}"):
            assert httpx.get(f"{control_plane.url}{V1}/distribution{path}", headers=headers).status_code == 401
    # Nothing else is served from there, and nothing changes it.
    missing = api.get(f"{V1}/distribution/kubiya_tui-9.9.9-py3-none-any.whl")
    assert missing.status_code == 404 and meta["filename"] in missing.json()["detail"]
    assert api.get(f"{V1}/distribution/..%2Fcontrol-plane.sqlite").status_code == 404
    for method in ("POST", "PUT", "DELETE"):
        assert api.request(method, f"{V1}/distribution/{meta['filename']}").status_code == 405


def _write(data: bytes) -> Path:
    import tempfile

    fd, name = tempfile.mkstemp(suffix=".whl")
    os.write(fd, data)
    os.close(fd)
    return Path(name)


def test_wheel_is_made_once_per_version_and_source(tmp_path):
    first = distribution.prepare(tmp_path)
    made_at = first.path.stat().st_mtime_ns
    again = distribution.prepare(tmp_path)
    assert again == first and again.path.stat().st_mtime_ns == made_at, "found in the data dir, not built again"
    assert first.path.parent.name == f"{__version__}-{distribution.source_hash(ROOT)[:16]}"
    # A wheel of another source is dropped when the current one is made.
    stale = tmp_path / distribution.CACHE_DIR / "0.0.1-0123456789abcdef"
    stale.mkdir()
    (stale / "kubiya_tui-0.0.1-py3-none-any.whl").write_bytes(b"old")
    first.path.unlink()
    rebuilt = distribution.prepare(tmp_path)
    assert rebuilt.sha256 == first.sha256, "the build is reproducible"
    assert not stale.exists()


def test_source_hash_follows_the_files_that_go_into_the_wheel(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nreadme = "README.md"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["pkg"]\n'
        '[tool.hatch.build.targets.wheel.force-include]\n"themes" = "pkg/themes"\n'
    )
    (tmp_path / "README.md").write_text("readme")
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("a = 1")
    (tmp_path / "themes").mkdir()
    (tmp_path / "themes" / "t.toml").write_text("x = 1")
    (tmp_path / "notes.txt").write_text("not in the wheel")
    before = distribution.source_hash(tmp_path)
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "notes.txt").write_text("changed, still not in the wheel")
    assert distribution.source_hash(tmp_path) == before
    for changed in ("pkg/a.py", "themes/t.toml", "README.md"):
        (tmp_path / changed).write_text("changed")
        after = distribution.source_hash(tmp_path)
        assert after != before, changed
        before = after


def test_an_installed_kubiya_tui_is_packed_back_into_the_wheel_it_came_from(tmp_path):
    """Install the served wheel the way an installer does (unpack, scripts, byte code, RECORD), pack it back."""
    served = distribution.prepare(tmp_path / "data")
    site = tmp_path / "site"
    with zipfile.ZipFile(served.path) as wheel:
        wheel.extractall(site)
        original = {n: wheel.read(n) for n in wheel.namelist()}
    dist_info = next(n.split("/")[0] for n in original if n.endswith(".dist-info/METADATA"))
    record = (site / dist_info / "RECORD").read_text()
    (site / dist_info / "INSTALLER").write_text("pip\n")
    (site / "kubiya_tui" / "__pycache__").mkdir(exist_ok=True)
    (site / "kubiya_tui" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    record += f"{dist_info}/INSTALLER,,\n../../../bin/kubiya-tui,,\nkubiya_tui/__pycache__/__init__.cpython-311.pyc,,\n"
    (site / dist_info / "RECORD").write_text(record)
    installed = next(importlib.metadata.distributions(name="kubiya-tui", path=[str(site)]))

    packed = distribution.repack(installed, tmp_path)
    assert packed.name == served.filename
    with zipfile.ZipFile(packed) as wheel:
        repacked = {n: wheel.read(n) for n in wheel.namelist()}
    assert set(repacked) == set(original)
    assert all(repacked[n] == original[n] for n in original if not n.endswith("/RECORD"))
    # pip accepts it (the RECORD hashes are checked on install)
    target = tmp_path / "target"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(packed)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (target / "kubiya_tui" / "themes" / "kubiya-dark.toml").is_file()
    # Packing the same installation twice gives the same bytes.
    again = distribution.repack(installed, tmp_path / "data")
    assert again.read_bytes() == packed.read_bytes()


# ---------------------------------------------------------------------------- the install scripts


def test_bootstrap_survives_shell_quoting_and_heredocs():
    for char in ("'", "$", "\\", "`"):
        assert char not in scripts.BOOTSTRAP, f"{char!r} would be read by the shell"
    compile(scripts.BOOTSTRAP, "bootstrap", "exec")


def fresh_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A host with an empty HOME and only the system's python3 (and curl) on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in (SYSTEM_PYTHON, shutil.which("curl")):
        if tool and not (bin_dir / Path(tool).name).exists():
            (bin_dir / ("python3" if tool == SYSTEM_PYTHON else Path(tool).name)).symlink_to(tool)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    passed = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k.lower().endswith("_proxy")}
    return {**passed, "HOME": str(home), "PATH": str(bin_dir), "LANG": "C.UTF-8", **extra}


def run_script(script: str, tmp_path: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    path = tmp_path / "install.sh"
    path.write_text(script)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run(["/bin/bash", str(path)], cwd=work, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_local_script_stops_with_one_clear_line_on_a_wrong_hash_key_or_url(api, control_plane, unique, tmp_path):
    q = make_queue(api, unique())
    script = api.get(f"{V1}/worker-queues/{q['id']}/install-script", params={"platform": "local"}).text
    sha = api.get(f"{V1}/distribution").json()["sha256"]
    assert sha in script
    venv = tmp_path / "home" / ".kubiya-tui"
    env = fresh_env(tmp_path, KUBIYA_API_KEY=control_plane.api_key)

    out = run_script(script.replace(sha, "0" * 64), tmp_path, env)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [out.stderr.strip()], out.stderr
    assert f"has sha256 {sha}, not {'0' * 64}" in out.stderr and "not installing it" in out.stderr

    dead = f"http://127.0.0.1:{free_port()}"
    out = run_script(script, tmp_path, {**env, "KUBIYA_CONTROL_PLANE_BASE_URL": dead})
    assert out.returncode == 1 and out.stderr.strip() == f"kubiya-tui install: cannot reach the control plane at {dead}: [Errno 111] Connection refused"

    out = run_script(script, tmp_path, {**env, "KUBIYA_API_KEY": "kty_wrong"})
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1
    assert "HTTP 401" in out.stderr and "check KUBIYA_API_KEY" in out.stderr and "kty_wrong" not in out.stderr

    out = run_script(script, tmp_path, {k: v for k, v in env.items() if k != "KUBIYA_API_KEY"})
    assert out.returncode == 1 and "KUBIYA_API_KEY" in out.stderr
    assert not venv.exists(), "nothing is installed when the wheel cannot be had"


def test_local_script_without_a_served_wheel_asks_for_a_package(tmp_path):
    script = scripts.install_script("local", {"id": "q-1", "name": "jobs"}, "http://127.0.0.1:1", None, "hatchling is not installed")
    assert "# This control plane serves no kubiya-tui wheel: hatchling is not installed" in script
    out = run_script(script, tmp_path, fresh_env(tmp_path, KUBIYA_API_KEY="kty_x"))
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1
    assert "serves no kubiya-tui wheel" in out.stderr and "KUBIYA_TUI_PACKAGE" in out.stderr


def test_local_script_runs_an_installed_worker_without_installing_again(api, control_plane, unique, tmp_path):
    """A worker home that already holds this wheel (its marker says so) is used as it is."""
    q = make_queue(api, unique())
    script = api.get(f"{V1}/worker-queues/{q['id']}/install-script", params={"platform": "local"}).text
    sha = api.get(f"{V1}/distribution").json()["sha256"]
    home = tmp_path / "worker"
    (home / "bin").mkdir(parents=True)
    stub = home / "bin" / "kubiya-tui"
    stub.write_text('#!/bin/sh\necho "ARGS $*"\necho "KEY=$KUBIYA_API_KEY"\n')
    stub.chmod(0o755)
    (home / "kubiya-tui-installed").write_text(sha)
    env = fresh_env(tmp_path, KUBIYA_API_KEY="secret-x", KUBIYA_WORKER_HOME=str(home))
    out = run_script(script, tmp_path, env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"ARGS worker start --queue-id {q['id']} --control-plane-url {control_plane.url}\nKEY=secret-x\n"


def _run_with_stub(script: str, tool: str, tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run an install script with a stub `docker` or `kubectl` that records each call's arguments and stdin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    record = tmp_path / f"{tool}.jsonl"
    record.unlink(missing_ok=True)
    stub = bin_dir / tool
    stub.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"with open({str(record)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'stdin': sys.stdin.read()}) + '\\n')\n"
    )
    stub.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "KUBIYA_API_KEY": "kty_secret_in_env_only", **extra}
    path = tmp_path / f"{tool}.sh"
    path.write_text(script)
    out = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, timeout=30, stdin=subprocess.DEVNULL)
    calls = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return out, calls


def test_kubernetes_manifest_is_a_deployment_that_fetches_the_served_wheel(api, control_plane, unique, tmp_path):
    q = make_queue(api, unique())
    served = api.get(f"{V1}/distribution").json()
    script = api.get(f"{V1}/worker-queues/{q['id']}/install-script", params={"platform": "kubernetes"}).text
    cluster_url = "http://kubiya-cp.tools.svc:8787"
    out, calls = _run_with_stub(script, "kubectl", tmp_path, KUBIYA_CONTROL_PLANE_BASE_URL=cluster_url)
    assert out.returncode == 0, out.stderr
    # The key reaches kubectl on stdin only (into a Secret), never as an argument or in the manifest.
    secret = next(c for c in calls if "secret" in c["argv"])
    assert secret["argv"][:5] == ["-n", "default", "create", "secret", "generic"] and secret["stdin"] == "kty_secret_in_env_only"
    assert all("kty_secret_in_env_only" not in " ".join(c["argv"]) for c in calls)
    (applied,) = [c for c in calls if "kind: Deployment" in c["stdin"]]
    assert "kty_secret_in_env_only" not in applied["stdin"]
    manifest = yaml.safe_load(applied["stdin"])
    assert manifest["apiVersion"] == "apps/v1" and manifest["kind"] == "Deployment"
    name = manifest["metadata"]["name"]
    assert name.startswith("kubiya-worker-") and secret["argv"][5] == f"{name}-key"
    spec = manifest["spec"]
    assert spec["replicas"] == 1
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items() and labels["kubiya.ai/queue-id"] == q["id"]
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 3600
    (container,) = pod["containers"]
    assert container["name"] == "worker" and container["image"] == "python:3.11-slim"
    assert container["command"] == ["python", "-c"] and container["args"] == [scripts.BOOTSTRAP]
    env = {e["name"]: e for e in container["env"]}
    assert env["KUBIYA_CONTROL_PLANE_BASE_URL"]["value"] == cluster_url, "the pod reaches the wheel through the URL it is given"
    assert env["KUBIYA_TUI_WHEEL"]["value"] == served["filename"] and env["KUBIYA_TUI_WHEEL_SHA256"]["value"] == served["sha256"]
    assert env["KUBIYA_WORKER_QUEUE_ID"]["value"] == q["id"] and env["KUBIYA_TUI_PACKAGE"]["value"] == ""
    assert env["KUBIYA_API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": f"{name}-key", "key": "api-key"}}


def test_docker_script_runs_the_bootstrap_in_the_container(api, control_plane, unique, tmp_path):
    q = make_queue(api, unique())
    served = api.get(f"{V1}/distribution").json()
    script = api.get(f"{V1}/worker-queues/{q['id']}/install-script", params={"platform": "docker"}).text
    out, calls = _run_with_stub(script, "docker", tmp_path, KUBIYA_TUI_PACKAGE="kubiya-tui==" + __version__)
    assert out.returncode == 0, out.stderr
    argv = next(c["argv"] for c in calls if c["argv"][0] == "run")
    assert argv[:2] == ["run", "-d"] and "kty_secret_in_env_only" not in json.dumps(calls)
    assert argv[argv.index("--network") + 1] == "host", "a control plane on loopback: the host network"
    for pair in (
        "KUBIYA_API_KEY",
        f"KUBIYA_CONTROL_PLANE_BASE_URL={control_plane.url}",
        f"KUBIYA_WORKER_QUEUE_ID={q['id']}",
        f"KUBIYA_TUI_WHEEL={served['filename']}",
        f"KUBIYA_TUI_WHEEL_SHA256={served['sha256']}",
        f"KUBIYA_TUI_PACKAGE=kubiya-tui=={__version__}",
    ):
        assert pair in argv and argv[argv.index(pair) - 1] == "-e", pair
    assert argv[-4:] == ["python:3.11-slim", "python", "-c", scripts.BOOTSTRAP]
    # A control plane elsewhere: no host network; the container reaches it through the URL it is given.
    out, calls = _run_with_stub(script, "docker", tmp_path, KUBIYA_CONTROL_PLANE_BASE_URL="https://cp.example.com")
    assert out.returncode == 0, out.stderr
    argv = next(c["argv"] for c in calls if c["argv"][0] == "run")
    assert "--network" not in argv and "KUBIYA_CONTROL_PLANE_BASE_URL=https://cp.example.com" in argv


@pytest.mark.parametrize("platform", ["local", "docker", "kubernetes"])
@pytest.mark.parametrize("served", [True, False], ids=["wheel", "no-wheel"])
def test_install_scripts_pass_shellcheck(platform, served, tmp_path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is missing on CI (.ci/run installs it: apt-get install -y shellcheck)")
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    wheel = distribution.Distribution("1.2.3", tmp_path / "kubiya_tui-1.2.3-py3-none-any.whl", "ab" * 32, 1, "test") if served else None
    queue = {"id": "0b7f2c1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "name": "Team's \"data\" $(queue)"}
    script = scripts.install_script(platform, queue, "https://cp.example.com/", wheel, None if served else "no build backend")
    out = subprocess.run([shellcheck, "--shell=bash", "-"], input=script, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout


def test_worker_command_says_where_the_package_comes_from(api, unique):
    q = make_queue(api, unique())
    served = api.get(f"{V1}/distribution").json()
    package = api.get(f"{V1}/worker-queues/{q['id']}/worker-command").json()["package"]
    assert package == (
        f"package: kubiya-tui {served['version']} from this control plane (/api/v1/distribution, sha256 {served['sha256'][:12]}…), "
        "or set KUBIYA_TUI_PACKAGE to install from an index"
    )
    assert scripts.package_source(None, "hatchling is not installed").startswith(
        "package: this control plane serves no kubiya-tui wheel (hatchling is not installed)"
    )


def test_without_a_wheel_the_control_plane_says_why_and_the_scripts_ask_for_a_package(control_plane_factory, tmp_path, unique):
    """A data dir where no wheel can be kept: 503 with the reason; scripts and commands still served, saying so."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / distribution.CACHE_DIR).write_text("a file where the wheel folder should be")
    cp = control_plane_factory(data_dir=data_dir)
    try:
        with cp.client() as api:
            answer = api.get(f"{V1}/distribution")
            assert answer.status_code == 503
            detail = answer.json()["detail"]
            assert detail.startswith("this control plane serves no kubiya-tui wheel: cannot keep the wheel in ") and "\n" not in detail
            assert api.get(f"{V1}/distribution/kubiya_tui-{__version__}-py3-none-any.whl").status_code == 503
            q = make_queue(api, unique())
            script = api.get(f"{V1}/worker-queues/{q['id']}/install-script", params={"platform": "local"}).text
            assert "# This control plane serves no kubiya-tui wheel: cannot keep the wheel in" in script
            assert "KUBIYA_TUI_WHEEL=''" in script
            command = api.get(f"{V1}/worker-queues/{q['id']}/worker-command").json()
            assert command["package"].startswith("package: this control plane serves no kubiya-tui wheel (cannot keep")
        assert "no kubiya-tui wheel to serve to workers: cannot keep the wheel in" in (data_dir / "control-plane.log").read_text()
    finally:
        cp.stop()


async def test_a_failed_wheel_is_tried_again_later(tmp_path, monkeypatch):
    (tmp_path / distribution.CACHE_DIR).write_text("in the way")
    provider = distribution.Provider(tmp_path)
    with pytest.raises(distribution.DistributionUnavailable, match="cannot keep the wheel"):
        await provider.get()
    (tmp_path / distribution.CACHE_DIR).unlink()
    with pytest.raises(distribution.DistributionUnavailable, match="cannot keep the wheel"):
        await provider.get()  # fixed, but within the minute: the same answer, nothing tried again yet
    monkeypatch.setattr(distribution, "RETRY_AFTER_SECONDS", 0.0)
    served = await provider.get()
    assert served.path.is_file() and served.version == __version__
    assert await provider.get() is served
