"""The shared shapes read Kubiya's real answers (kubiya-control-plane-api 1.0.2, docs/api.md §4),
the rules that judge its workers, and what the client knows of a control plane from its health."""

from __future__ import annotations

import pytest

from kubiya_tui.client.capabilities import Capabilities, capabilities_from
from kubiya_tui.models import WorkerCommand, WorkerDetail
from kubiya_tui.vocabulary import MAX_OBSERVED_INTERVAL, WorkerHealth, derive_health, drain_ignored, effective_interval

# GET /api/v1/worker-queues/{id}/worker-command on Kubiya's server, as seen.
KUBIYA_COMMAND = {
    "queue_id": "5d1c",
    "command": "kubiya worker start --queue-id 5d1c",
    "command_parts": {"binary": "kubiya", "subcommand": "worker start", "flags": {"--queue-id": "5d1c"}},
    "can_register": True,
    "queue_status": "active",
    "active_workers": 1,
    "max_workers": 3,
    "installation_hint": "something newer",
}

# One worker of GET /api/v1/worker-queues/{id}/workers on Kubiya's server, as seen.
KUBIYA_WORKER = {
    "id": "a1",
    "worker_id": "a1",
    "status": "active",
    "tasks_processed": 0,
    "current_task_id": None,
    "last_heartbeat": "2026-12-02T10:00:00+00:00",
    "registered_at": "",
    "system_info": {"hostname": "box", "pid": 4242, "cwd": "/srv", "supported_runtimes": ["agno"]},
    "logs": ["started"],
    "worker_metadata": {},
}


def test_command_parts_as_kubiyas_object_or_as_a_list():
    kubiya = WorkerCommand.model_validate(KUBIYA_COMMAND)
    assert kubiya.argv == ["kubiya", "worker", "start", "--queue-id", "5d1c"]
    listed = WorkerCommand.model_validate({**KUBIYA_COMMAND, "command_parts": ["kubiya-tui", "worker", "start"]})
    assert listed.argv == ["kubiya-tui", "worker", "start"]
    assert WorkerCommand.model_validate({"queue_id": "q", "command": "x"}).argv == []


def test_kubiyas_worker_row_fits_with_its_queue_unnamed_and_extra_fields_kept():
    w = WorkerDetail.model_validate(KUBIYA_WORKER)
    assert w.queue_id is None and w.health is None and w.heartbeat_age_seconds is None
    assert w.registered_at is None, "Kubiya sends '' for a time it does not know"
    assert w.last_heartbeat is not None and w.system_info["pid"] == 4242
    assert not w.drain_ignored and w.drain_requested_at is None


def test_a_kubiya_answer_that_does_not_fit_names_the_endpoint_and_the_field():
    import httpx

    from kubiya_tui.client.api import ApiClient

    client = ApiClient("http://127.0.0.1:9", "k")
    response = httpx.Response(200, json={"queue_id": "q", "command": "x", "command_parts": 7},
                              request=httpx.Request("GET", "http://127.0.0.1:9/api/v1/worker-queues/q/worker-command"))  # fmt: skip
    with pytest.raises(Exception) as caught:
        client._model(response, WorkerCommand)
    text = str(caught.value)
    assert "/api/v1/worker-queues/q/worker-command" in text and "command_parts" in text


def test_health_by_kubiyas_150_second_rule():
    assert derive_health("active", None, 140.0, 10.0, stale_after=150.0) == WorkerHealth.healthy
    assert derive_health("active", None, 151.0, 10.0, stale_after=150.0) == WorkerHealth.stale
    assert derive_health("active", None, 26.0, 10.0) == WorkerHealth.stale, "ours: 2.5 x the interval"


def test_a_worker_is_judged_by_the_longer_interval_it_keeps_bounded():
    assert effective_interval(10, None) == 10 and effective_interval(10, 3.0) == 10, "never shorter than its queue's"
    assert effective_interval(10, 30.0) == 30.0, "Kubiya's worker beats at its own interval"
    assert effective_interval(10, 5000.0) == MAX_OBSERVED_INTERVAL, "bounded: a worker silent for an hour is stale"
    # Beating every 30 s on a queue of 10 s: 28 s after its last beat it is not stale.
    assert derive_health("active", None, 28.0, effective_interval(10, 30.0)) == WorkerHealth.healthy


def test_a_drain_is_ignored_once_a_heartbeat_past_one_interval_still_says_running():
    asked = 1000.0
    assert not drain_ignored("active", "draining", asked, asked + 3, 10), "the beat that carried the answer"
    assert not drain_ignored("draining", "draining", asked, asked + 30, 10), "it honours the drain"
    assert drain_ignored("active", "draining", asked, asked + 20, 10), "Kubiya's worker never reads heartbeat answers"
    assert not drain_ignored("active", "running", None, asked + 20, 10)
    ignored = derive_health("active", "draining", 2.0, 10, drain_ignored=True)
    assert ignored == WorkerHealth.healthy and derive_health("active", "draining", 2.0, 10) == WorkerHealth.draining


def test_the_flavour_comes_from_the_health_answers_service():
    kubiya = capabilities_from({"status": "healthy", "service": "agent-control-plane"}, None)
    assert kubiya == Capabilities.of_kubiya() and kubiya.stale_after == 150.0
    assert not (kubiya.drain or kubiya.scale or kubiya.autoscale or kubiya.tasks or kubiya.audit or kubiya.org_workers_list)
    assert capabilities_from({"status": "ok", "service": "kubiya-tui", "version": "1"}, None) == Capabilities.of_local("1")
    # An older Kubiya without the field: its OpenAPI title, whatever paths it has (/workers means runners there).
    titled = capabilities_from({"status": "healthy"}, {"info": {"title": "Agent Control Plane API"}, "paths": {"/api/v1/workers": {"get": {}}}})
    assert titled.flavour == "kubiya" and not titled.org_workers_list


@pytest.mark.parametrize("feature, words", [
    ("drain", ("no drain API", "stop the worker's process", "SIGTERM")),
    ("scale", ("no scale API", "worker-command")),
    ("autoscale", ("no autoscale API",)),
    ("tasks", ("no task API",)),
    ("audit", ("no audit API",)),
])  # fmt: skip
def test_each_refusal_on_kubiya_is_one_line_with_what_to_do_instead(feature, words):
    line = Capabilities.of_kubiya().refusal(feature)
    assert line and "\n" not in line and line.startswith("Kubiya's control plane")
    assert all(w in line for w in words), line
    assert Capabilities.of_local().refusal(feature) is None
