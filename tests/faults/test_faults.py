"""The fault suite: real processes killed, stopped and starved, and what the system promises still holds.

Outside the default run (``--ignore=tests/faults`` in pyproject.toml). Run it with::

    .venv/bin/pytest tests/faults

The disk tests need root (they mount a tmpfs and an ext4 image on a loop device) and are
skipped without it. Each test starts its own Temporal dev server or control plane where it
kills one, so the session's shared ones are never disturbed.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from temporalio.client import Client

from kubiya_tui.controlplane.store import StorageUnavailable
from kubiya_tui.stack.processes import ManagedProcess, free_port, spawn, start_control_plane, start_temporal
from tests.helpers import make_queue, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

KEY = "kty_faults_0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


def kill(proc: ManagedProcess, sig: int = signal.SIGKILL) -> None:
    os.killpg(proc.pid, sig)
    if sig == signal.SIGKILL:
        proc.proc.wait(10)


def workflows_on(address: str, task_queue: str) -> list[str]:
    """Every workflow id on a task queue, once two listings a second apart agree (visibility settles)."""

    async def read() -> list[str]:
        client = await Client.connect(address)
        return [wf.id async for wf in client.list_workflows(f'TaskQueue="{task_queue}"')]

    previous = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = sorted(asyncio.run(read()))
        if now == previous:
            return now
        previous = now
        time.sleep(1)
    raise AssertionError("visibility did not settle within 60 s")


def task(api: httpx.Client, task_id: str) -> tuple[int, dict]:
    answer = api.get(f"/api/v1/tasks/{task_id}")
    return answer.status_code, answer.json()


def spawn_worker(url: str, queue_id: str, log: Path, concurrency: int = 20) -> ManagedProcess:
    argv = [sys.executable, "-m", "kubiya_tui", "worker", "start", "--queue-id", queue_id, "--control-plane-url", url,
            "--concurrency", str(concurrency)]  # fmt: skip
    return spawn("worker", argv, log, {**os.environ, "KUBIYA_API_KEY": KEY})


# ---------------------------------------------------------------------------- the control plane killed mid-burst


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "key-retry"])
def test_sigkill_of_the_control_plane_mid_burst(control_plane_factory: Any, tmp_path: Path, with_key: bool, unique: Any):
    data_dir = tmp_path / "cp"
    cp = control_plane_factory(data_dir=data_dir, api_key=KEY)
    with cp.client() as api:
        queue = make_queue(api, unique("burst"))
    results: list[tuple[str, int | None, Any]] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=cp.url, headers=AUTH, timeout=30) as http:
            for i in range(10_000):
                key = f"client{n}-{i}"
                headers = {"Idempotency-Key": key} if with_key else {}
                try:
                    r = http.post(f"/api/v1/worker-queues/{queue['id']}/tasks", json=BODY, headers=headers)
                except httpx.HTTPError:
                    with lock:
                        results.append((key, None, None))
                    return
                with lock:
                    results.append((key, r.status_code, r.json()))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: len(results) >= 60, 60, "60 answers before the kill", every=0.05)
    kill(cp.process)
    for t in threads:
        t.join(30)
    unanswered = [key for key, status, _ in results if status is None]
    assert unanswered, "the kill cut requests mid-way"

    cp = control_plane_factory(data_dir=data_dir, api_key=KEY)
    final: dict[str, tuple[int, Any]] = {key: (status, body) for key, status, body in results if status is not None}
    with cp.client() as api:
        if with_key:
            # A client that got no answer retries with the same key: it gets the first answer, or runs afresh
            # only when the first request started nothing.
            for key in unanswered:
                def retried() -> tuple[int, Any] | None:
                    r = api.post(f"/api/v1/worker-queues/{queue['id']}/tasks", json=BODY, headers={"Idempotency-Key": key})
                    return None if r.status_code == 409 or "cannot tell yet" in r.text else (r.status_code, r.json())

                final[key] = wait_for(retried, 60, f"an answer for {key}")
        in_temporal = workflows_on(cp.temporal_address, queue["task_queue_name"])
        assert len(in_temporal) == len(set(in_temporal))

        def unrecorded() -> list[tuple[str, int, Any]]:
            found = [(t, *task(api, t)) for t in in_temporal]
            return [(t, s, b) for t, s, b in found if s != 200 or b["status"] in ("pending", "not_started")]

        # After the restart the reconciler settles what the dead process left: every workflow has a record.
        deadline = time.monotonic() + 90
        while (left := unrecorded()) and time.monotonic() < deadline:
            time.sleep(1)
        assert not left, f"{len(left)} workflow(s) in Temporal without a started record, e.g. {left[:2]}"
        acked = [i for status, body in final.values() if status == 201 for i in body["ids"]]
        assert acked and set(acked) <= set(in_temporal), "every 201 is in Temporal"
        listed_started = {i for status, body in final.values() if status == 503 and "started" in body.get("detail", {}) for i in body["detail"]["started"]}
        listed_not = {i for status, body in final.values() if status == 503 and "not_started" in body.get("detail", {}) for i in body["detail"]["not_started"]}
        assert listed_started <= set(in_temporal) and not (listed_not & set(in_temporal))
        for task_id in listed_not:
            assert task(api, task_id)[1]["status"] == "not_started"
        if with_key:
            # Every workflow belongs to exactly one key's final answer: no key started twice.
            per_key = [set(body["ids"]) if status == 201 else set(body["detail"]["started"]) for status, body in final.values() if status in (201, 503)]
            assert sum(len(s) for s in per_key) == len(set().union(*per_key)) == len(in_temporal)
        else:
            # Beyond the answered ones, only tasks of requests that got no answer may exist.
            extra = set(in_temporal) - set(acked) - listed_started
            assert len(extra) <= BODY["count"] * len(unanswered)
    print(f"\n{'key-retry' if with_key else 'no-key'}: {len(results)} requests, {len(unanswered)} cut by the kill, "
          f"{len(acked)} tasks acknowledged, {len(in_temporal)} workflows in Temporal")  # fmt: skip


BODY = {"kind": "sleep", "count": 5, "input": {"seconds": 0}}


# ---------------------------------------------------------------------------- Temporal killed during running tasks


OUTAGE_SECONDS = 65


def test_temporal_sigkill_during_running_tasks_counts_every_execution(control_plane_factory: Any, tmp_path: Path):
    temporal_dir, port = tmp_path / "temporal", free_port()
    temporal, address = start_temporal(temporal_dir, port=port)
    worker = None
    try:
        cp = control_plane_factory(temporal_address=address, api_key=KEY)
        runs = tmp_path / "runs"
        with cp.client() as api:
            queue = make_queue(api, "outage", settings={"allow_shell": True})
            worker = spawn_worker(cp.url, queue["id"], tmp_path / "worker.log")
            wait_for(lambda: api.get(f"/api/v1/worker-queues/{queue['id']}/workers").json(), 30, "worker registered")
            tasks: dict[str, tuple[str, int]] = {}
            for i in range(16):
                tag, attempts = f"t{i}", 1 if i < 8 else 2
                command = f"echo start-{tag} >> {runs}; sleep 4; echo end-{tag} >> {runs}"
                answer = api.post(f"/api/v1/worker-queues/{queue['id']}/tasks",
                                  json={"kind": "shell", "input": {"command": command}, "max_attempts": attempts})  # fmt: skip
                assert answer.status_code == 201, answer.text
                tasks[answer.json()["id"]] = (tag, attempts)
            wait_for(lambda: runs.exists() and runs.read_text().count("start-") == 16, 60, "16 tasks running")
            kill(temporal)
            time.sleep(OUTAGE_SECONDS)
            assert worker.alive(), "the worker rides out the outage"
            temporal, _ = start_temporal(temporal_dir, port=port)
            def all_closed() -> dict[str, dict] | None:
                got = {t: task(api, t)[1] for t in tasks}
                return got if all(g["status"] in ("completed", "failed") for g in got.values()) else None

            closed = wait_for(all_closed, 240, "every task closed", every=2)
        lines = runs.read_text().split()
        summary: dict[str, int] = {}
        for task_id, (tag, max_attempts) in tasks.items():
            info = closed[task_id]
            starts, ends = lines.count(f"start-{tag}"), lines.count(f"end-{tag}")
            assert info["attempts"] == starts, (info, starts)
            assert 1 <= starts <= max_attempts, (info, starts)
            if info["status"] == "completed":
                assert ends >= 1
            else:
                assert re.search(r"worker lost|interrupted", info["error"]), info
                if max_attempts == 1:
                    assert "not run again: max_attempts is 1" in info["error"]
            how = info["status"] + (" late" if any(a["outcome"] == "completion not reported" for a in info["attempt_log"] or ()) else "")
            key = f"max_attempts={max_attempts} {how} in {starts} run(s)"
            summary[key] = summary.get(key, 0) + 1
        print(f"\nafter a {OUTAGE_SECONDS} s Temporal outage: {summary}")
    finally:
        if worker is not None:
            worker.stop(grace=10)
        temporal.stop()


# ---------------------------------------------------------------------------- health during an outage


def test_health_and_metrics_during_a_temporal_outage(control_plane_factory: Any, tmp_path: Path):
    temporal_dir, port = tmp_path / "temporal", free_port()
    temporal, address = start_temporal(temporal_dir, port=port)
    try:
        cp = control_plane_factory(temporal_address=address, api_key=KEY)
        with cp.client() as api:
            queue = make_queue(api, "health")
            metrics_url = f"/api/v1/worker-queues/{queue['id']}/metrics"
            wait_for(lambda: api.get("/api/health").json()["temporal"] == "ok", 30, "Temporal up")

            def flips_to(state: str) -> float:
                began = time.monotonic()
                wait_for(lambda: api.get("/api/health").json()["temporal"] == state, 30, f"health {state}", every=0.1)
                return time.monotonic() - began

            def metrics_while_down() -> float:
                slowest = 0.0
                for _ in range(5):
                    began = time.monotonic()
                    answer = api.get(metrics_url).json()
                    slowest = max(slowest, time.monotonic() - began)
                    assert answer["temporal_available"] is False and answer["temporal_error"]
                return slowest

            kill(temporal)
            killed_after = flips_to("unavailable")
            killed_metrics = metrics_while_down()
            temporal, _ = start_temporal(temporal_dir, port=port)
            back_after = flips_to("ok")

            os.killpg(temporal.pid, signal.SIGSTOP)  # a hung Temporal: connections open, no answers
            try:
                hung_after = flips_to("unavailable")
                hung_metrics = metrics_while_down()
            finally:
                os.killpg(temporal.pid, signal.SIGCONT)
            resumed_after = flips_to("ok")
        print(f"\nhealth: down {killed_after:.1f} s after SIGKILL, up {back_after:.1f} s after restart, down {hung_after:.1f} s"
              f" after SIGSTOP, up {resumed_after:.1f} s after SIGCONT; slowest metrics call while down"
              f" {killed_metrics:.2f} s (killed), {hung_metrics:.2f} s (hung)")  # fmt: skip
        assert killed_after < 5 and back_after < 5 and hung_after < 5 and resumed_after < 5
        assert killed_metrics < 1.5 and hung_metrics < 1.5, "metrics do not wait on a Temporal known to be down"
    finally:
        temporal.stop()


# ---------------------------------------------------------------------------- full and read-only disks


def _root_or_skip() -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs, unmounted afterwards."""
    _root_or_skip()
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_up(directory: Path) -> Path:
    """Write a file until the disk has no byte left; returns it (delete it to free the space)."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as out:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def _logging_tracebacks(text: str) -> int:
    return text.count("--- Logging error ---") + text.count("Traceback")


def test_a_full_disk_refuses_writes_clearly_loses_nothing_and_recovers(small_disk: Path, tmp_path: Path, temporal_server: Any, unique: Any):
    data_dir, log = small_disk / "cp", tmp_path / "serve.log"
    proc, url = start_control_plane(data_dir, temporal_server.address, api_key=KEY, log_path=log)
    try:
        with httpx.Client(base_url=url, headers=AUTH, timeout=30) as api:
            env = next(e for e in api.get("/api/v1/environments").json() if e["name"] == "default")
            queue = make_queue(api, unique("kept"))
            kept_ids = api.post(f"/api/v1/worker-queues/{queue['id']}/tasks", json={"kind": "sleep", "count": 3}).json()["ids"]
            filler = fill_up(small_disk)
            created = []
            for i in range(500):  # the database's and the WAL's spare pages go first
                r = api.post(f"/api/v1/environments/{env['id']}/worker-queues", json={"name": f"fill-{i}", "description": "d" * 1900})
                if r.status_code != 201:
                    break
                created.append(r.json()["name"])
            refusals = [
                r,
                api.post("/api/v1/environments", json={"name": "prod"}),
                api.patch(f"/api/v1/worker-queues/{queue['id']}", json={"description": "new"}),
                api.post(f"/api/v1/worker-queues/{queue['id']}/tasks", json={"kind": "sleep", "count": 20}),
                api.post(f"/api/v1/worker-queues/{queue['id']}/tasks", json={"kind": "sleep", "count": 20}, headers={"Idempotency-Key": "full-1"}),
            ]
            for refused in refusals:
                assert (refused.status_code, refused.json()) == (507, {"detail": StorageUnavailable.MESSAGES["full"]}), refused.text
            assert sorted(workflows_on(temporal_server.address, queue["task_queue_name"])) == sorted(kept_ids), "a refused submission starts nothing"
            names = {q["name"] for q in api.get("/api/v1/worker-queues").json()}
            assert names == {queue["name"], *created}, "reads go on and show everything stored"
            assert api.get("/api/health").json()["storage"] == "full"
            filler.unlink()
            after = make_queue(api, "after-free")
            assert after["name"] == "after-free", "writes succeed again without a restart"
            assert api.get("/api/health").json()["storage"] == "ok"
            assert api.post(f"/api/v1/worker-queues/{queue['id']}/tasks", json={"kind": "sleep"}, headers={"Idempotency-Key": "full-1"}).status_code == 201
    finally:
        proc.stop()
    stderr = log.read_text()
    assert _logging_tracebacks(stderr) == 0, stderr[-3000:]
    assert 1 <= stderr.count("cannot write the log file") <= 3
    proc, url = start_control_plane(data_dir, temporal_server.address, api_key=KEY, log_path=log)
    try:
        with httpx.Client(base_url=url, headers=AUTH, timeout=30) as api:
            names = {q["name"] for q in api.get("/api/v1/worker-queues").json()}
            assert names == {queue["name"], "after-free", *created}, "nothing stored was lost"
            assert all(task(api, t)[0] == 200 for t in kept_ids)
    finally:
        proc.stop()


@pytest.fixture
def ext4_disk(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An ext4 image on a loop device, mounted errors=remount-ro; yields (mount point, its trigger_fs_error)."""
    _root_or_skip()
    if not shutil.which("mkfs.ext4") or not shutil.which("losetup"):
        pytest.skip("needs mkfs.ext4 and losetup")
    image, mount = tmp_path / "ext4.img", tmp_path / "ext4"
    mount.mkdir()
    with open(image, "wb") as out:
        out.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    attached = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if attached.returncode:
        pytest.skip(f"no loop device: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    try:
        subprocess.run(["mount", "-o", "errors=remount-ro", device, str(mount)], check=True)
        trigger = Path("/sys/fs/ext4") / Path(device).name / "trigger_fs_error"
        if not trigger.exists():
            pytest.skip("this kernel has no ext4 trigger_fs_error")
        yield mount, trigger
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        subprocess.run(["losetup", "-d", device], check=False)


def test_a_disk_gone_read_only_refuses_writes_clearly_and_keeps_answering_reads(
    ext4_disk: tuple[Path, Path], tmp_path: Path, temporal_server: Any, unique: Any
):
    mount, trigger = ext4_disk
    log = tmp_path / "serve.log"
    proc, url = start_control_plane(mount / "cp", temporal_server.address, api_key=KEY, log_path=log)
    try:
        with httpx.Client(base_url=url, headers=AUTH, timeout=30) as api:
            env = next(e for e in api.get("/api/v1/environments").json() if e["name"] == "default")
            queue = make_queue(api, unique("before"))
            trigger.write_text("kubiya-tui fault test\n")  # the kernel remounts the disk read-only
            refusals = [
                api.post(f"/api/v1/environments/{env['id']}/worker-queues", json={"name": "after"}),
                api.post("/api/v1/environments", json={"name": "prod"}),
                api.post(f"/api/v1/worker-queues/{queue['id']}/tasks", json={"kind": "sleep", "count": 5}),
            ]
            for refused in refusals:
                assert (refused.status_code, refused.json()) == (503, {"detail": StorageUnavailable.MESSAGES["read-only"]}), refused.text
            assert workflows_on(temporal_server.address, queue["task_queue_name"]) == []
            assert {q["name"] for q in api.get("/api/v1/worker-queues").json()} == {queue["name"]}
            assert api.get("/api/health").json()["storage"] == "read-only"
    finally:
        proc.stop()
    assert _logging_tracebacks(log.read_text()) == 0, log.read_text()[-3000:]
