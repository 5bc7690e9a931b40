"""The headless CLI as a user runs it: a subprocess against a real local control plane."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kubiya_tui import locations
from kubiya_tui.stack.processes import free_port


def start(cp, *args: str, key: str | None = None, url: str | None = None, env: dict | None = None) -> subprocess.Popen:
    """Start ``kubiya-tui ARGS`` with no terminal; the key and URL come from the environment (``env`` adds to it)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    environ.update(env or {})
    if cp is not None:
        environ["KUBIYA_API_KEY"] = key or cp.api_key
        environ["KUBIYA_CONTROL_PLANE_BASE_URL"] = url or cp.url
    return subprocess.Popen(
        [sys.executable, "-m", "kubiya_tui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=environ,
    )


def finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def cli(cp, *args: str, **kw) -> subprocess.CompletedProcess:
    return finish(start(cp, *args, **kw))


def cli_all(cp, *calls) -> list[subprocess.CompletedProcess]:
    """Several independent commands at once (each call: a tuple of args, or (args, kwargs))."""
    procs = [
        start(cp, *c[0], **c[1]) if len(c) == 2 and isinstance(c[1], dict) else start(cp, *c) for c in calls
    ]
    return [finish(p) for p in procs]


def ok(result) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def one_error_line(result, code: int = 1) -> str:
    """The stderr of a failed command: exactly one line, no traceback; returns it."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kubiya-tui: error: ")
    return lines[0]


def fits_80(text: str) -> None:
    assert all(len(line) <= 80 for line in text.splitlines()), text


@pytest.fixture
def other_env(api, unique):
    """A second environment, removed with its queues afterwards (the control plane is shared)."""
    env = api.post("/api/v1/environments", json={"name": unique("env")}).json()
    yield env
    for q in api.get(f"/api/v1/environments/{env['id']}/worker-queues").json():
        api.delete(f"/api/v1/worker-queues/{q['id']}")
    api.delete(f"/api/v1/environments/{env['id']}")


@pytest.fixture
def queue(api, unique):
    """A fresh queue in the default environment, made through the API."""
    env = next(e for e in api.get("/api/v1/environments").json() if e["name"] == "default")
    answer = api.post(f"/api/v1/environments/{env['id']}/worker-queues", json={"name": unique("q"), "max_workers": 5})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_envs_list_table_and_json(control_plane, queue):
    table = ok(cli(control_plane, "envs", "list"))
    assert table.splitlines()[0].split() == ["NAME", "STATUS", "QUEUES", "ID"]
    assert any(line.split()[0] == "default" for line in table.splitlines()[2:])
    fits_80(table)
    envs = json.loads(ok(cli(control_plane, "envs", "list", "-o", "json")))
    assert "default" in [e["name"] for e in envs]


def test_queue_create_list_show_update_delete(control_plane, api, unique):
    name = unique("q")
    created = json.loads(
        ok(
            cli(
                control_plane,
                "queues", "create", name,
                "--description", "orders [bold]not markup[/]",
                "--max-workers", "3",
                "--heartbeat-interval", "20",
                "--tag", "team-a", "--tag", "prod",
                "--setting", "concurrency=4", "--setting", "region=eu",
                "-o", "json",
            )
        )
    )
    assert created == api.get(f"/api/v1/worker-queues/{created['id']}").json()
    assert (created["max_workers"], created["heartbeat_interval"], created["tags"]) == (3, 20, ["team-a", "prod"])
    assert created["settings"] == {"concurrency": 4, "region": "eu"}

    listing = ok(cli(control_plane, "queues", "list"))
    fits_80(listing)
    assert listing.splitlines()[0].split() in (["QUEUE", "STATUS", "WORKERS", "ID"], ["QUEUE", "STATUS", "WORKERS", "WANTED", "ID"])
    row = next(line for line in listing.splitlines() if line.startswith(f"default/{name} "))
    assert [v for v in row.split()[1:] if v != "-"] == ["active", "0/3", created["id"][:8]], "WANTED (when shown) is -"
    assert created["id"] in [q["id"] for q in json.loads(ok(cli(control_plane, "queues", "list", "-o", "json")))]

    refs = (created["id"], f"default/{name}", created["id"][:8])
    shown, *as_json = cli_all(control_plane, ("queues", "show", name), *(("queues", "show", r, "-o", "json") for r in refs))
    assert "orders [bold]not markup[/]" in ok(shown) and created["task_queue_name"] in shown.stdout
    assert [json.loads(ok(r))["id"] for r in as_json] == [created["id"]] * 3

    updated = json.loads(
        ok(
            cli(
                control_plane,
                "queues", "update", name,
                "--status", "maintenance", "--max-workers", "0", "--setting", "region=us", "-o", "json",
            )
        )
    )
    assert (updated["status"], updated["max_workers"]) == ("maintenance", None)
    assert updated["settings"] == {"concurrency": 4, "region": "us"}  # merged, not replaced

    refused = cli(control_plane, "queues", "delete", name)
    assert "pass --yes" in one_error_line(refused)
    assert api.get(f"/api/v1/worker-queues/{created['id']}").status_code == 200

    assert ok(cli(control_plane, "queues", "delete", name, "--yes")).strip() == (
        f"deleted worker queue default/{name} ({created['id']})"
    )
    assert api.get(f"/api/v1/worker-queues/{created['id']}").status_code == 404


def test_queues_list_filters_by_environment(control_plane, api, unique, other_env):
    env = other_env
    inside = api.post(f"/api/v1/environments/{env['id']}/worker-queues", json={"name": unique("q")}).json()
    listed = json.loads(ok(cli(control_plane, "queues", "list", "--env", env["name"], "-o", "json")))
    assert [q["id"] for q in listed] == [inside["id"]]
    assert f"{env['name']}/{inside['name']}" in ok(cli(control_plane, "queues", "list", "--env", env["id"]))


def test_ambiguous_queue_name_lists_candidates(control_plane, api, unique, other_env):
    name = unique("q")
    other = other_env
    default = next(e for e in api.get("/api/v1/environments").json() if e["name"] == "default")
    first = api.post(f"/api/v1/environments/{default['id']}/worker-queues", json={"name": name}).json()
    second = api.post(f"/api/v1/environments/{other['id']}/worker-queues", json={"name": name}).json()

    line = one_error_line(cli(control_plane, "queues", "show", name))
    assert f"default/{name} ({first['id']})" in line and f"{other['name']}/{name} ({second['id']})" in line
    one_error_line(cli(control_plane, "worker-command", name))
    chosen = json.loads(ok(cli(control_plane, "queues", "show", f"{other['name']}/{name}", "-o", "json")))
    assert chosen["id"] == second["id"]


def test_worker_command_and_install_script(control_plane, api, queue):
    expected = api.get(f"/api/v1/worker-queues/{queue['id']}/worker-command").json()
    assert ok(cli(control_plane, "worker-command", queue["name"])) == expected["command"] + "\n"
    assert json.loads(ok(cli(control_plane, "worker-command", queue["id"], "-o", "json"))) == expected

    script = api.get(f"/api/v1/worker-queues/{queue['id']}/install-script", params={"platform": "docker"}).text
    assert ok(cli(control_plane, "install-script", queue["name"], "--platform", "docker")) == script
    as_json = json.loads(ok(cli(control_plane, "install-script", queue["name"], "-p", "kubernetes", "-o", "json")))
    assert as_json["platform"] == "kubernetes" and as_json["queue_id"] == queue["id"] and "kind:" in as_json["script"]

    # An inactive queue: the command still prints (scripts use it), with a note on stderr.
    api.patch(f"/api/v1/worker-queues/{queue['id']}", json={"status": "inactive"})
    result = cli(control_plane, "worker-command", queue["name"])
    assert result.returncode == 0 and result.stdout == expected["command"] + "\n"
    assert "inactive" in result.stderr


def test_workers_list(control_plane, api, queue):
    reg = api.post(f"/api/v1/worker-queues/{queue['id']}/start", json={"system_info": {"hostname": "ops-1"}}).json()
    api.post(f"/api/v1/workers/{reg['worker_id']}/heartbeat", json={"status": "busy", "tasks_processed": 7})
    table = ok(cli(control_plane, "workers", "list", "--queue", queue["name"]))
    fits_80(table)
    assert table.splitlines()[0].split() == ["WORKER", "QUEUE", "HEALTH", "STATUS", "TASKS", "BEAT", "STARTED", "HOST"]
    row = next(line for line in table.splitlines() if line.startswith(reg["worker_id"][:8]))
    assert row.split()[2:5] == ["healthy", "busy", "7"] and row.split()[-1] == "ops-1"
    everyone = json.loads(ok(cli(control_plane, "workers", "list", "-o", "json")))
    mine = next(w for w in everyone if w["worker_id"] == reg["worker_id"])
    assert (mine["queue_id"], mine["tasks_processed"]) == (queue["id"], 7)
    api.post(f"/api/v1/workers/{reg['worker_id']}/disconnect", json={"reason": "test"})


def test_server_errors_are_one_line(control_plane, queue):
    conflict, invalid, missing, no_env, unauthorized = cli_all(
        control_plane,
        ("queues", "create", queue["name"]),
        ("queues", "create", "Not_Valid"),
        ("queues", "show", "no-such-queue"),
        ("queues", "create", "x-queue", "--env", "no-such-env"),
        (("queues", "list"), {"key": "kty_wrong_key_123"}),
    )
    assert one_error_line(conflict) == (
        f"kubiya-tui: error: 409 Conflict: a worker queue named {queue['name']!r} already exists in environment 'default'"
    )
    line = one_error_line(invalid)
    assert "queue name 'Not_Valid' is not allowed: it has 'N', '_' and 'V'; use 2 to 50 lowercase letters" in line
    assert one_error_line(missing) == "kubiya-tui: error: no worker queue with id or name 'no-such-queue'"
    assert "no environment with id or name 'no-such-env'" in one_error_line(no_env)
    line = one_error_line(unauthorized)
    assert "401 Unauthorized: unknown API key" in line and "KUBIYA_API_KEY" in line and "kty_wrong_key_123" not in line


def test_connection_and_configuration_errors_are_one_line(control_plane):
    port = free_port()
    refused, no_profile = cli_all(
        control_plane,
        (("queues", "list"), {"url": f"http://127.0.0.1:{port}"}),
        ("--profile", "nope", "queues", "list"),
    )
    assert one_error_line(refused) == f"kubiya-tui: error: cannot reach control plane at http://127.0.0.1:{port}: connection refused"
    assert "unknown profile 'nope'" in one_error_line(no_profile)
    line = one_error_line(cli(None, "envs", "list"))
    assert "no API key configured" in line and "KUBIYA_API_KEY" in line

    locations.config_file().parent.mkdir(parents=True, exist_ok=True)
    locations.config_file().write_text("[profiles.x]\nrefresh_interval = -1\n")
    line = one_error_line(cli(control_plane, "queues", "list"))
    assert str(locations.config_file()) in line and "profiles.x.refresh_interval" in line


def test_bad_flags_are_one_line(control_plane, queue):
    platform, max_workers, output, setting, nothing = cli_all(
        control_plane,
        ("install-script", queue["name"], "--platform", "openshift"),
        ("queues", "create", "abc", "--max-workers", "lots"),
        ("queues", "list", "-o", "yaml"),
        ("queues", "create", "abc", "--setting", "novalue"),
        ("queues", "update", queue["name"]),
    )
    assert "--platform" in one_error_line(platform, code=2)
    assert "--max-workers" in one_error_line(max_workers, code=2)
    assert "--output" in one_error_line(output, code=2)
    assert one_error_line(setting) == "kubiya-tui: error: --setting 'novalue' is not KEY=VALUE"
    assert "nothing to change" in one_error_line(nothing)


def test_read_only_profile_refuses_changes(control_plane, api, queue):
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'default_profile = "ro"\n[profiles.ro]\napi_url = "{control_plane.url}"\nread_only = true\n')
    line = one_error_line(cli(control_plane, "queues", "delete", queue["name"], "--yes"))
    assert "read-only" in line
    assert api.get(f"/api/v1/worker-queues/{queue['id']}").status_code == 200
    # Reading is still allowed.
    assert queue["id"] in ok(cli(control_plane, "queues", "show", queue["id"]))


def answer_on_a_terminal(cp, answer: str, *args: str) -> subprocess.CompletedProcess:
    """Run a command whose stdin and stdout are a pseudo-terminal, typing ``answer``."""
    import pty

    leader, follower = pty.openpty()
    environ = {**os.environ, "KUBIYA_API_KEY": cp.api_key, "KUBIYA_CONTROL_PLANE_BASE_URL": cp.url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubiya_tui", *args],
        stdin=follower, stdout=follower, stderr=subprocess.PIPE, text=True, env=environ,
    )
    os.close(follower)
    os.write(leader, answer.encode())
    seen = b""
    try:
        while True:
            chunk = os.read(leader, 1024)
            if not chunk:
                break
            seen += chunk
    except OSError:  # the terminal closes when the command exits
        pass
    finally:
        os.close(leader)
    err = proc.communicate(timeout=60)[1]
    return subprocess.CompletedProcess(proc.args, proc.returncode, seen.decode(errors="replace"), err)


def test_delete_asks_on_a_terminal(control_plane, api, queue):
    declined = answer_on_a_terminal(control_plane, "n\n", "queues", "delete", queue["name"])
    assert f"Delete worker queue default/{queue['name']} ({queue['id']})?" in declined.stdout
    assert "cancelled" in one_error_line(declined)
    assert api.get(f"/api/v1/worker-queues/{queue['id']}").status_code == 200

    accepted = answer_on_a_terminal(control_plane, "y\n", "queues", "delete", queue["name"])
    assert accepted.returncode == 0, accepted.stderr
    assert f"deleted worker queue default/{queue['name']}" in accepted.stdout
    assert api.get(f"/api/v1/worker-queues/{queue['id']}").status_code == 404


def test_tasks_list_fits_80_and_200_columns_and_wide_shows_whole_ids(control_plane, api, queue):
    ids = api.post(f"/api/v1/worker-queues/{queue['id']}/tasks", json={"kind": "sleep", "count": 3}).json()["ids"]
    narrow, wide_terminal, wide = cli_all(
        control_plane,
        (("tasks", "list", queue["name"]), {"env": {"COLUMNS": "80"}}),
        (("tasks", "list", queue["name"]), {"env": {"COLUMNS": "200"}}),
        (("tasks", "list", queue["name"], "-o", "wide"), {"env": {"COLUMNS": "80"}}),
    )
    for result, width in ((narrow, 80), (wide_terminal, 200)):
        lines = ok(result).splitlines()
        assert lines[0].split() == ["TASK", "KIND", "STATUS", "PRIO", "SUBMITTED", "CLOSED"], "no header split"
        assert len(lines) == len(ids) + 2 and all(len(line) <= width for line in lines), result.stdout
        assert {line.split()[0] for line in lines[2:]} == {i[:13] + "…" for i in ids}, "short ids, like the console's"
        assert all(line.split()[2] == "open" for line in lines[2:]), result.stdout
    assert {line.split()[0] for line in ok(wide).splitlines()[2:]} == set(ids), "-o wide: whole ids"


def test_worker_start_takes_its_key_and_url_from_the_profile(control_plane, api, queue, tmp_path):
    from kubiya_tui.config import Profile, save_profile
    from kubiya_tui.stack.processes import spawn

    key_file = tmp_path / "admin.key"
    key_file.write_text(control_plane.api_key)
    key_file.chmod(0o600)
    save_profile("ops", Profile(api_url=control_plane.url, api_key_file=str(key_file)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBIYA_", "CONTROL_PLANE_URL"))}
    worker = spawn("worker", [sys.executable, "-m", "kubiya_tui", "--profile", "ops", "worker", "start", "--queue-id", queue["id"]],
                   tmp_path / "worker.log", env)  # fmt: skip
    try:
        from tests.helpers import wait_for

        registered = wait_for(
            lambda: [w for w in api.get(f"/api/v1/worker-queues/{queue['id']}/workers").json() if w["health"] == "healthy"],
            60, "the worker registered with the profile's key at the profile's URL",
        )  # fmt: skip
        assert registered
    finally:
        worker.stop(grace=10)
    assert "no API key" not in (tmp_path / "worker.log").read_text()
