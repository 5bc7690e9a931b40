"""Tenant isolation in the shared Temporal namespace: names an organization chooses never widen a query.

Real Temporal dev server, real control plane on 127.0.0.1, two organizations. The victim
(the bootstrap organization) has tasks on a worker queue and on a legacy task queue. The
attacker names its environments, legacy task queues and queues with visibility-query
fragments, submits tasks of its own and reads everything it may: every answer shows
exactly its own tasks, and none of the victim's task ids, queue ids or task queues.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

import httpx
import pytest
from temporalio import workflow
from temporalio.api.workflowservice.v1 import CountWorkflowExecutionsRequest
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from kubiya_tui.client import temporal_query
from kubiya_tui.client.temporal import TemporalReader
from kubiya_tui.models import ENVIRONMENT_NAME_PATTERN
from tests.conftest import ControlPlane, TemporalServer
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

V1 = "/api/v1"
ATTACKER = "attacker-org"

# Names that Temporal could not select exactly (quotes, backslashes, control characters) or
# that break the length rule: refused before anything is stored.
REFUSED_NAMES = {
    "double quote fragment": 'x" OR TaskQueue!="zzz',
    "single quote fragment": "x' OR TaskQueue!='zzz",
    "backslashes": "back\\slash\\",
    "escaped quote": '\\" OR 1=1 --',
    "newline": "new\nline",
    "tab": "tab\tx",
    "NUL": "nul\x00x",
    "line separator": "line\u2028sep",
    "101 characters": "n" * 101,
    "one character": "x",
}
# Hostile, and accepted: each becomes part of a legacy task queue name in Temporal.
ACCEPTED_NAMES = {
    "parentheses and OR": "(x) OR (TaskQueue != zzz)",
    "AND fragment": "x AND TaskQueue != zzz",
    "non-ASCII": "ünïcødé-環境-🙂",
    "100 characters": "n" * 100,
    "dots": "xx.yy",
    "wildcards": "%_* LIKE %",
}


def visibility_safe(name: str) -> bool:
    """Whether Temporal's visibility and worker queries can select a task queue of this name exactly."""
    return re.fullmatch(ENVIRONMENT_NAME_PATTERN, name) is not None


# ---------------------------------------------------------------------------- the builder on real Temporal


@workflow.defn(name="IsolationProbe")
class IsolationProbe:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


BUILDER_NAMES = [*REFUSED_NAMES.values(), *ACCEPTED_NAMES.values(), "plain"]


def test_every_built_query_selects_one_task_queue_or_nothing_on_real_temporal(temporal_server: TemporalServer):
    """Two executions (one open, one terminated) and one worker per task queue, the names as hostile as
    they come: each query selects exactly that task queue's executions and workers when Temporal can
    match the name (every name the control plane lets reach Temporal), at most those when it cannot
    (quotes, backslashes, control characters), never another task queue's."""

    async def scenario() -> None:
        runtime = Runtime(telemetry=TelemetryConfig(), worker_heartbeat_interval=timedelta(seconds=1))
        client = await Client.connect(temporal_server.address, runtime=runtime)
        prefix = f"probe-{uuid.uuid4().hex[:6]}-"
        names = [prefix + n for n in BUILDER_NAMES if "\x00" not in n]
        owned: dict[str, dict[str, str]] = {}
        for name in names:
            open_id, closed_id = f"wf-{uuid.uuid4()}", f"wf-{uuid.uuid4()}"
            await client.start_workflow("IsolationProbe", id=open_id, task_queue=name)
            await (await client.start_workflow("IsolationProbe", id=closed_id, task_queue=name)).terminate()
            owned[name] = {"open": open_id, "closed": closed_id}
        workers = [
            Worker(client, task_queue=name, workflows=[IsolationProbe], workflow_runner=UnsandboxedWorkflowRunner())
            for name in names
        ]
        runs = [asyncio.create_task(w.run()) for w in workers]
        reader = TemporalReader(temporal_server.address)
        try:
            since = datetime.now(timezone.utc) - timedelta(hours=1)
            every_id = {i for ids in owned.values() for i in ids.values()}

            async def listed(query: str) -> set[str]:
                return {wf.id async for wf in client.list_workflows(query)} & every_id

            async def settled() -> bool:
                # Visibility lags the starts and terminations (more so on a busy machine): wait for all of them.
                closed_ids = {ids["closed"] for ids in owned.values()}
                return await listed('WorkflowType = "IsolationProbe"') == every_id and await listed(
                    'WorkflowType = "IsolationProbe" AND ExecutionStatus = "Terminated"'
                ) == closed_ids

            for _ in range(120):
                if await settled():
                    break
                await asyncio.sleep(0.25)
            with pytest.raises(ValueError, match="NUL"):
                temporal_query.executions_on(prefix + "nul\x00x")  # Temporal would fail on it, not select
            for name in names:
                mine = owned[name]
                exact = visibility_safe(name.removeprefix(prefix))
                everything = await listed(temporal_query.executions_on(name))
                closed = await listed(temporal_query.closed_on(name, since))
                terminated = await listed(temporal_query.executions_on(name, "Terminated"))
                count = await client.workflow_service.count_workflow_executions(
                    CountWorkflowExecutionsRequest(namespace="default", query=temporal_query.outcomes_on(name, since))
                )
                if exact:
                    assert everything == {mine["open"], mine["closed"]}, repr(name)
                    assert closed == terminated == {mine["closed"]}, repr(name)
                    assert count.count == 1, repr(name)
                else:  # exactly its own, or nothing (a single quote matches in visibility, not in ListWorkers)
                    assert everything in ({mine["open"], mine["closed"]}, set()), repr(name)
                    assert closed == terminated and closed in ({mine["closed"]}, set()), repr(name)
                    assert count.count == len(closed), repr(name)
            # One scan of several task queues (the outcomes of many queues at once): it selects
            # the closed executions of the named queues, never another's, whatever their names;
            # the reader's buckets hold nothing but the named queues.
            for pair in zip(names, names[1:] + names[:1]):
                scanned = await listed(temporal_query.closed_on_any(list(pair), since))
                assert scanned <= {owned[n]["closed"] for n in pair}, repr(pair)
                if all(visibility_safe(n.removeprefix(prefix)) for n in pair):
                    assert scanned == {owned[n]["closed"] for n in pair}, repr(pair)
            safe = [n for n in names if visibility_safe(n.removeprefix(prefix))]
            scan = await reader.closed_scan(safe[:3], 3600)
            assert set(scan.queues) == set(safe[:3]) and scan.complete
            assert all(page.by_status == {"Terminated": 1} for page in scan.queues.values()), scan
            # Worker heartbeats arrive every second; wait until the plain queue's worker shows.
            for _ in range(40):
                if await reader.workers(prefix + "plain"):
                    break
                await asyncio.sleep(0.25)
            for name in names:
                seen = {w["task_queue"] for w in await reader.workers(name)}
                if visibility_safe(name.removeprefix(prefix)):
                    assert seen == {name}, repr(name)
                else:
                    assert seen <= {name}, repr(name)
        finally:
            await asyncio.gather(*(w.shutdown() for w in workers))
            await asyncio.gather(*runs, return_exceptions=True)
            for ids in owned.values():
                try:
                    await client.get_workflow_handle(ids["open"]).terminate()
                except Exception:
                    pass

    asyncio.run(scenario())


# ---------------------------------------------------------------------------- the control plane


class Seen:
    """Every answer the attacker got, with what it asked, so that one check covers them all."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str]] = []

    def __call__(self, response: httpx.Response) -> httpx.Response:
        request = response.request
        asked = f"{request.method} {request.url} {request.content.decode(errors='replace')}"
        self.answers.append((asked, f"{response.status_code}: {response.text}"))
        return response


@pytest.fixture(scope="module")
def cp(control_plane_factory: Callable[..., ControlPlane]) -> ControlPlane:
    """A control plane of its own: the victim is its bootstrap organization."""
    return control_plane_factory()


@pytest.fixture(scope="module")
def victim(cp: ControlPlane) -> dict:
    """The victim's tasks: three on a worker queue, two on a legacy task queue (no worker: they wait)."""
    with cp.client() as api:
        env = next(e for e in api.get(f"{V1}/environments").json() if e["name"] == "default")
        queue = api.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": "victim-q"}).json()
        ids = api.post(f"{V1}/worker-queues/{queue['id']}/tasks", json={"kind": "sleep", "count": 3}).json()["ids"]
        legacy = api.post(f"{V1}/task-queues", json={"name": "victim-legacy"}).json()
        legacy_ids = api.post(f"{V1}/task-queues/{legacy['id']}/tasks", json={"kind": "sleep", "count": 2}).json()["ids"]
    return {
        "task_ids": ids + legacy_ids,
        "secrets": [*ids, *legacy_ids, queue["id"], legacy["id"], env["id"], queue["task_queue_name"], legacy["task_queue_name"]],
    }


@pytest.fixture(scope="module")
def seen() -> Seen:
    return Seen()


@pytest.fixture(scope="module")
def attacker(cp: ControlPlane, victim: dict, seen: Seen) -> Iterator[httpx.Client]:
    key = cp.key_for(ATTACKER)
    with httpx.Client(base_url=cp.url, headers={"Authorization": f"Bearer {key}"}, timeout=30,
                      event_hooks={"response": [lambda r: (r.read(), seen(r))]}) as api:  # fmt: skip
        yield api


@pytest.fixture(scope="module")
def hostile(attacker: httpx.Client) -> dict[str, dict]:
    """Per accepted hostile name: a legacy task queue of that name, a worker queue in it, and their tasks."""
    made = {}
    for label, name in ACCEPTED_NAMES.items():
        legacy = attacker.post(f"{V1}/task-queues", json={"name": name, "tags": [name]})
        assert legacy.status_code == 201, (label, legacy.text)
        legacy = legacy.json()
        assert legacy["name"] == name and legacy["task_queue_name"] == f"{ATTACKER}.{name}"
        queue = attacker.post(f"{V1}/environments/{legacy['id']}/worker-queues", json={"name": "jobs", "tags": [name]})
        assert queue.status_code == 201, (label, queue.text)
        queue = queue.json()
        queue_ids = attacker.post(f"{V1}/worker-queues/{queue['id']}/tasks", json={"kind": "sleep", "count": 2}).json()["ids"]
        legacy_ids = attacker.post(f"{V1}/task-queues/{legacy['id']}/tasks", json={"kind": "sleep"}).json()["ids"]
        made[label] = {"legacy": legacy, "queue": queue, "queue_tasks": set(queue_ids), "legacy_tasks": set(legacy_ids)}
    return made


def assert_nothing_of(victim: dict, seen: Seen) -> None:
    # An id the attacker sent may come back in its own 404; any other appearance is a leak.
    leaked = [(s, asked[:200]) for asked, body in seen.answers for s in victim["secrets"] if s in body and s not in asked]
    assert not leaked, f"the victim's ids reached the attacker: {leaked[:3]}"


def state(api: httpx.Client) -> dict:
    """What an organization has, as its own key reads it."""
    return {
        "environments": sorted((e["id"], e["name"], e["updated_at"]) for e in api.get(f"{V1}/environments").json()),
        "queues": sorted((q["id"], q["name"], q["updated_at"]) for q in api.get(f"{V1}/worker-queues").json()),
    }


@pytest.mark.parametrize("label", REFUSED_NAMES)
def test_names_temporal_cannot_match_are_refused_with_a_clear_422_and_nothing_changes(attacker, label):
    name = REFUSED_NAMES[label]
    default = next(e for e in attacker.get(f"{V1}/environments").json() if e["name"] == "default")
    other = attacker.post(f"{V1}/environments", json={"name": f"plain-{uuid.uuid4().hex[:6]}"}).json()
    before = state(attacker)
    for method, path in (
        ("POST", f"{V1}/environments"),
        ("POST", f"{V1}/task-queues"),
        ("PATCH", f"{V1}/environments/{other['id']}"),
        ("PATCH", f"{V1}/task-queues/{other['id']}"),
        ("POST", f"{V1}/environments/{default['id']}/worker-queues"),
        ("PATCH", f"{V1}/worker-queues/{uuid.uuid4()}"),
    ):
        answer = attacker.request(method, path, json={"name": name})
        assert answer.status_code == 422, (method, path, answer.text)
        [error] = answer.json()["detail"]
        assert error["loc"] == ["body", "name"] and error["msg"], answer.text
        if len(name) > 3:
            assert name not in answer.text  # the refused value is not echoed back
    assert state(attacker) == before
    attacker.delete(f"{V1}/environments/{other['id']}")


def test_each_tasks_query_selects_exactly_its_own_queue(attacker, hostile, victim, seen):
    for label, made in hostile.items():
        queue_id, legacy_id = made["queue"]["id"], made["legacy"]["id"]

        def listed(path: str) -> set[str]:
            answer = attacker.get(path)
            assert answer.status_code == 200, (label, answer.text)
            return {t["id"] for t in answer.json()}

        wait_for(lambda: listed(f"{V1}/worker-queues/{queue_id}/tasks") == made["queue_tasks"], 15, f"{label}: queue tasks")
        assert listed(f"{V1}/worker-queues/{queue_id}/tasks?status=queued") == made["queue_tasks"], label
        assert listed(f"{V1}/worker-queues/{queue_id}/tasks?status=failed") == set(), label
        wait_for(lambda: listed(f"{V1}/task-queues/{legacy_id}/tasks") == made["legacy_tasks"], 15, f"{label}: legacy tasks")
        assert listed(f"{V1}/task-queues/{legacy_id}/tasks?status=open") == made["legacy_tasks"], label
        for task_id in victim["task_ids"]:
            assert attacker.get(f"{V1}/tasks/{task_id}").status_code == 404
    assert_nothing_of(victim, seen)


def test_metrics_count_only_the_queues_own_tasks(attacker, hostile, victim, seen):
    for label, made in hostile.items():
        for path, expected in (
            (f"{V1}/worker-queues/{made['queue']['id']}/metrics", len(made["queue_tasks"])),
            (f"{V1}/task-queues/{made['legacy']['id']}/metrics", len(made["legacy_tasks"])),
        ):
            # Temporal refreshes backlog stats every few seconds.
            metrics = wait_for(
                lambda: (m := attacker.get(path).json())["task_queue_backlog"] == expected and m, 20, f"{label}: {path}"
            )
            assert metrics["temporal_available"] is True and metrics["tasks_processed_24h"] == 0, (label, metrics)
    assert_nothing_of(victim, seen)


def test_migration_and_drain_see_only_their_own_legacy_backlog(attacker, hostile, victim, seen):
    made = hostile["parentheses and OR"]
    legacy = made["legacy"]
    # One task waits on the legacy path: drain refuses (409), with the attacker's own count.
    drain = wait_for(
        lambda: (r := attacker.post(f"{V1}/task-queues/{legacy['id']}/drain-workers")).status_code == 409 and r,
        20,
        "drain refused while the legacy task waits",
    )
    assert "1 task(s)" in drain.json()["detail"], drain.text
    moved = attacker.post(f"{V1}/task-queues/{legacy['id']}/migrate", json={"environment_id": legacy["id"], "name": "moved"})
    assert moved.status_code == 201, moved.text
    body = moved.json()
    assert body["task_queue"]["migration"]["state"] == "migrating"
    assert body["worker_queue"]["task_queue_name"] == body["worker_queue"]["id"]
    status = attacker.get(f"{V1}/task-queues/{legacy['id']}").json()
    assert status["migration"]["state"] == "migrating", "its own legacy task is still queued"
    assert attacker.get(f"{V1}/worker-queues/{body['worker_queue']['id']}/tasks").json() == []
    attacker.get(f"{V1}/task-queues")
    assert_nothing_of(victim, seen)


def test_legacy_registration_reaches_no_other_organizations_task_queue(attacker, hostile, cp, victim, seen):
    with cp.client() as own:
        victim_queues = own.get(f"{V1}/worker-queues").json() + own.get(f"{V1}/task-queues").json()
    for queue in victim_queues:
        answer = attacker.post(f"{V1}/workers/register", json={"queue_name": queue["task_queue_name"]})
        assert answer.status_code == 404, answer.text
    for name in ("local.default", 'local.default" OR TaskQueue!="x', f"{ATTACKER}.no-such"):
        assert attacker.post(f"{V1}/workers/register", json={"queue_name": name}).status_code == 404
    made = hostile["non-ASCII"]
    reg = attacker.post(f"{V1}/workers/register", json={"queue_name": made["legacy"]["task_queue_name"]})
    assert reg.status_code == 200 and reg.json()["task_queue_name"] == made["legacy"]["task_queue_name"], reg.text
    assert attacker.post(f"{V1}/workers/{reg.json()['worker_id']}/disconnect", json={}).status_code == 204
    assert_nothing_of(victim, seen)


def test_top_json_shows_only_the_organizations_own_queues(attacker, hostile, cp, temporal_server, victim):
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    environ.update(
        KUBIYA_API_KEY=cp.key_for(ATTACKER), KUBIYA_CONTROL_PLANE_BASE_URL=cp.url, TEMPORAL_ADDRESS=temporal_server.address
    )
    expected = {m["queue"]["id"]: len(m["queue_tasks"]) for m in hostile.values()}

    def depths() -> dict | None:
        out = subprocess.run([sys.executable, "-m", "kubiya_tui", "top", "-o", "json"], capture_output=True, text=True,
                             env=environ, stdin=subprocess.DEVNULL, timeout=90)  # fmt: skip
        assert out.returncode == 0, out.stderr
        for secret in victim["secrets"]:
            assert secret not in out.stdout, f"top shows the victim's {secret}"
        queues = {q["task_queue_name"]: q["depth"] for q in json.loads(out.stdout)["queues"]}
        mine = {qid: queues.get(m["queue"]["task_queue_name"]) for qid, m in ((m["queue"]["id"], m) for m in hostile.values())}
        return mine == expected or None

    wait_for(depths, 30, "top's depths equal to each queue's own tasks", every=1)


INJECTION = 'x" OR TaskQueue!="zzz'


def test_names_stored_before_they_were_checked_still_select_nothing_of_another_org(cp, attacker, victim, seen):
    """The issue's attack, on a data dir from before environment names were checked: an environment
    named with a query fragment, a worker queue of the old naming scheme in it. Its task lists and
    metrics select nothing of the victim's (before the builder, they listed every task of the namespace)."""
    from kubiya_tui.controlplane.database import run_coroutine
    from kubiya_tui.controlplane.schema import worker_queues
    from kubiya_tui.controlplane.store import Store
    from sqlalchemy import update

    async def plant() -> tuple[dict, dict]:
        store = Store(cp.database_url or cp.data_dir / "control-plane.sqlite")
        try:
            await store.ensure_org(ATTACKER)
            env = await store.create_environment(ATTACKER, {"name": INJECTION})
            queue = await store.create_queue(ATTACKER, env["id"], {"name": "old-scheme"}, "test")
            old_name = f"{ATTACKER}.{INJECTION}.old-scheme"
            await store.transaction(
                lambda tx: tx.run(update(worker_queues).where(worker_queues.c.id == queue["id"]).values(task_queue_name=old_name))
            )
            return env, queue
        finally:
            await store.close()

    env, queue = run_coroutine(plant)
    assert attacker.get(f"{V1}/worker-queues/{queue['id']}").json()["task_queue_name"] == f"{ATTACKER}.{INJECTION}.old-scheme"
    for path in (
        f"{V1}/worker-queues/{queue['id']}/tasks",
        f"{V1}/worker-queues/{queue['id']}/tasks?status=queued",
        f"{V1}/task-queues/{env['id']}/tasks",
        f"{V1}/task-queues/{env['id']}/tasks?status=open",
    ):
        answer = attacker.get(path)
        assert answer.status_code == 200 and answer.json() == [], (path, answer.text[:300])
    for path in (f"{V1}/worker-queues/{queue['id']}/metrics", f"{V1}/task-queues/{env['id']}/metrics"):
        metrics = attacker.get(path).json()
        assert metrics["task_queue_backlog"] == 0 and metrics["tasks_processed_24h"] == 0, metrics
    assert_nothing_of(victim, seen)
