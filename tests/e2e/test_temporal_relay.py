"""One-shot `check` and `top` read Temporal through the control plane (GET /api/v1/temporal-reads).

Real Temporal dev server, real control plane on 127.0.0.1, two organizations: the relay
answers only for the caller's own task queues, shares fresh readings between callers, and
the one-shot commands that use it show the same numbers as direct reads without loading the
Temporal SDK.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time

import pytest

from tests.helpers import queue_with_waiting_tasks

pytestmark = pytest.mark.slow

V1 = "/api/v1"
RELAYED = "read by the control plane"


@pytest.fixture(scope="module")
def waiting(control_plane, temporal_server) -> dict:
    """A queue of the bootstrap organization with 3 tasks waiting (no worker), as Temporal counts them."""
    with control_plane.client() as api:
        return queue_with_waiting_tasks(api, temporal_server.address, f"relay-{secrets.token_hex(4)}", 3)


def _cli(cp, address: str, *args: str, importtime: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(KUBIYA_API_KEY=cp.api_key, KUBIYA_CONTROL_PLANE_BASE_URL=cp.url, TEMPORAL_ADDRESS=address)
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", "kubiya_tui", *args], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=90)  # fmt: skip


def test_the_relay_answers_for_the_callers_own_task_queues_only(control_plane, waiting):
    tq = waiting["task_queue_name"]
    with control_plane.client() as owner:
        mine = owner.get(f"{V1}/temporal-reads", params={"max_age": 0}).raise_for_status().json()
    assert mine["temporal"]["available"] is True
    assert mine["queues"][tq]["stats"]["backlog"] == 3
    assert mine["closed"]["error"] is None and tq in mine["closed"]["queues"]

    with control_plane.client(control_plane.key_for("relay-other-org")) as other:
        theirs = other.get(f"{V1}/temporal-reads").raise_for_status().json()
        asked = other.get(f"{V1}/temporal-reads", params={"task_queue": [tq, "relay-other-org.default"]}).raise_for_status().json()
    assert tq not in theirs["queues"] and tq not in json.dumps(theirs["workers"]) and tq not in json.dumps(theirs["closed"])
    # Naming another organization's task queue reads nothing of it: it is only listed as not owned.
    assert asked["not_owned"] == [tq]
    assert tq not in asked["queues"] and tq not in json.dumps(asked["closed"])
    # What a document covers is said, so a client that asked for all can tell a foreign name from a quiet queue.
    assert tq in mine["task_queues"] and tq not in theirs["task_queues"] and tq not in asked["task_queues"]


def test_a_post_names_many_task_queues_and_reads_only_the_callers_own(control_plane, waiting):
    """Past the 20 names a URL carries, the names go in a POST's body: the same document, the same tenancy."""
    tq = waiting["task_queue_name"]
    names = [tq, *(f"{tq}-absent-{i}" for i in range(40))]
    with control_plane.client() as owner:
        by_get = owner.get(f"{V1}/temporal-reads", params={"task_queue": tq, "max_age": 30}).raise_for_status().json()
        posted = owner.post(f"{V1}/temporal-reads", json={"task_queues": names, "max_age": 30}).raise_for_status().json()
    assert posted["task_queues"] == [tq] and posted["queues"][tq] == by_get["queues"][tq], "the same reading as the GET's"
    assert sorted(posted["not_owned"]) == sorted(names[1:]), "names it does not own are only listed"
    with control_plane.client(control_plane.key_for("relay-other-org")) as other:
        theirs = other.post(f"{V1}/temporal-reads", json={"task_queues": names}).raise_for_status().json()
    assert tq not in theirs["queues"] and tq in theirs["not_owned"] and tq not in json.dumps(theirs["closed"])


@pytest.mark.parametrize(
    "body",
    [{}, {"task_queues": []}, {"task_queues": "q1"}, {"task_queues": [f"q{i}" for i in range(2001)]},
     {"task_queues": ["a b"]}, {"task_queues": ["q1"], "max_age": 31}, {"task_queues": ["q1"], "window": 10},
     {"task_queues": ["q1"], "extra": 1}, [["q1"]], {"task_queues": ["q1"], "max_age": False},
     {"task_queues": ["q1"], "window": "300"}, {"task_queues": ["q1"], "durations": True}],
)
def test_a_bad_post_is_refused_with_a_clear_answer(control_plane, body):
    with control_plane.client() as api:
        answer = api.post(f"{V1}/temporal-reads", json=body)
    assert answer.status_code == 422, answer.text
    assert "Traceback" not in answer.text and len(answer.json()["detail"]) >= 1


def test_fresh_readings_are_shared_and_max_age_zero_reads_again(control_plane, waiting):
    tq = waiting["task_queue_name"]
    params = {"task_queue": tq, "max_age": 30}
    with control_plane.client() as api:
        first = api.get(f"{V1}/temporal-reads", params=params).raise_for_status().json()
        again = api.get(f"{V1}/temporal-reads", params=params).raise_for_status().json()
        time.sleep(0.05)
        fresh = api.get(f"{V1}/temporal-reads", params={"task_queue": tq, "max_age": 0}).raise_for_status().json()
    assert again["queues"][tq]["at"] == first["queues"][tq]["at"], "a reading within max_age is reused"
    assert fresh["queues"][tq]["at"] > first["queues"][tq]["at"], "max_age 0 reads Temporal again"


@pytest.mark.parametrize(
    "params",
    [{"max_age": 31}, {"max_age": -1}, {"window": 10}, {"durations": 5000}, {"task_queue": [f"q{i}" for i in range(21)]},
     {"task_queue": ""}, {"task_queue": ["ok", "x" * 1001]}, {"task_queue": "a b"}],
)
def test_bad_parameters_are_refused_with_a_clear_answer(control_plane, params):
    with control_plane.client() as api:
        answer = api.get(f"{V1}/temporal-reads", params=params)
    assert answer.status_code == 422, answer.text


def test_one_shot_check_and_top_read_through_the_relay_without_the_sdk(control_plane, temporal_server, waiting):
    qid = waiting["id"]
    relayed = _cli(control_plane, temporal_server.address, "top", "-o", "json", "-q", qid, importtime=True)
    assert relayed.returncode == 0, relayed.stderr[-2000:]
    assert "temporalio" not in relayed.stderr, "the relayed top loaded the Temporal SDK"
    # The polls read raw JSON: the API's pydantic models (~25 ms to build) are left out of a one-shot.
    assert not re.search(r"\| +kubiya_tui\.models$", relayed.stderr, re.M), "the relayed top built the API's models"
    # Nor pydantic at all (a third of a one-shot's start): the settings are checked without it, typer is held below 0.29.
    assert not re.search(r"\| +pydantic(_core)?$", relayed.stderr, re.M), "the relayed top imported pydantic"
    data = json.loads(relayed.stdout)
    assert RELAYED in data["sources"]["temporal"]["address"]
    [q] = data["queues"]
    direct = json.loads(_cli(control_plane, temporal_server.address, "top", "-o", "json", "-q", qid, "--direct-temporal").stdout)
    [d] = direct["queues"]
    assert RELAYED not in direct["sources"]["temporal"]["address"]
    # The same numbers either way (the tasks wait: nothing changes between the two reads).
    for key in ("depth", "pollers", "closed_by_status", "priority_backlog", "workers", "stuck"):
        assert q[key] == d[key], key
    assert q["depth"] == 3

    check = _cli(control_plane, temporal_server.address, "check", "-q", qid, "--max-depth", "2", "-o", "json", importtime=True)
    assert check.returncode == 2, check.stdout + check.stderr[-2000:]  # 3 waiting > 2: CRITICAL
    assert not re.search(r"\| +pydantic(_core)?$", check.stderr, re.M), "the relayed check imported pydantic"
    assert json.loads(check.stdout)["status"] == "CRITICAL"


def test_another_temporal_than_the_control_planes_is_read_directly(control_plane, temporal_server, waiting):
    host, _, port = temporal_server.address.rpartition(":")
    # localhost names the same loopback Temporal: still relayed.
    same = _cli(control_plane, f"localhost:{port}", "top", "-o", "json", "-q", waiting["id"])
    assert RELAYED in json.loads(same.stdout)["sources"]["temporal"]["address"]
    from kubiya_tui.stack.processes import free_port

    other = _cli(control_plane, f"127.0.0.1:{free_port()}", "check", "-q", waiting["id"], "--timeout", "6", "-o", "json")
    # Nothing listens there: the command says Temporal is down instead of showing the control plane's numbers.
    assert other.returncode == 3, other.stdout + other.stderr
    assert "Traceback" not in other.stderr
