"""Bad input gets a clear 4xx answer and changes nothing: never a 500, never a traceback in a body."""

from __future__ import annotations

import json

import httpx
import pytest

V1 = "/api/v1"
HUGE = 10**30
DEEP = 5000


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.fixture(scope="module")
def org(control_plane):
    """A dedicated organization with one environment, one queue and one worker: small, stable snapshots."""
    with control_plane.client(control_plane.key_for("bad-input")) as c:
        env = c.post(f"{V1}/environments", json={"name": "staging"}).json()
        queue = c.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": "jobs", "max_workers": 3}).json()
        worker = c.post(f"{V1}/worker-queues/{queue['id']}/start", json={}).json()
        c.post(f"{V1}/environments/{env['id']}/worker-queues", json={"name": "other"})
    return {"env": env, "queue": queue, "worker_id": worker["worker_id"], "key": control_plane.key_for("bad-input")}


@pytest.fixture
def c(control_plane, org):
    with control_plane.client(org["key"]) as client:
        yield client


VOLATILE = {"heartbeat_age_seconds", "health", "active_workers"}


def snapshot(c: httpx.Client) -> dict:
    def clean(rows):
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]

    return {
        "envs": c.get(f"{V1}/environments").json(),
        "queues": clean(c.get(f"{V1}/worker-queues").json()),
        "workers": clean(c.get(f"{V1}/registered-workers").json()),
        "audit": c.get(f"{V1}/audit", params={"limit": 1000}).json(),
    }


def assert_clear_4xx(r: httpx.Response, expected: int | tuple[int, ...]) -> None:
    expected = (expected,) if isinstance(expected, int) else expected
    assert r.status_code in expected, (r.status_code, r.text[:500])
    assert "Traceback" not in r.text and 'File "' not in r.text
    body = r.json()
    assert body["detail"], body
    if r.status_code == 422:
        detail = body["detail"]
        assert isinstance(detail, list) and all({"loc", "msg", "type"} <= set(e) for e in detail), detail
    assert len(r.content) < 20000, "the error echoes the input back"


# Each case: (method, path template, JSON body or raw bytes, expected status)
ENV_CASES = [
    ("missing name", {}),
    ("name wrong type", {"name": 123}),
    ("name null", {"name": None}),
    ("name empty", {"name": ""}),
    ("name one char", {"name": "x"}),
    ("name 10 kB", {"name": "n" * 10_000}),
    ("tags not a list", {"name": "ok-env", "tags": "a,b"}),
    ("tags null", {"name": "ok-env", "tags": None}),
    ("tag not a string", {"name": "ok-env", "tags": [1, {"a": 2}]}),
    ("empty tag", {"name": "ok-env", "tags": [""]}),
    ("too many tags", {"name": "ok-env", "tags": [f"t{i}" for i in range(51)]}),
    ("settings a list", {"name": "ok-env", "settings": [1, 2]}),
    ("settings null", {"name": "ok-env", "settings": None}),
    ("description 10 kB", {"name": "ok-env", "description": "d" * 10_000}),
    ("body a list", [{"name": "ok-env"}]),
    ("body a string", "ok-env"),
    ("body null", None),
]

QUEUE_CASES = [
    ("missing name", {}),
    ("name wrong type", {"name": ["jobs"]}),
    ("name null", {"name": None}),
    ("name empty", {"name": ""}),
    ("name 10 kB", {"name": "q" * 10_000}),
    ("unicode name", {"name": "очередь-日本"}),
    ("emoji name", {"name": "q-\U0001f680"}),
    ("path-like name", {"name": "../../etc/passwd"}),
    ("slash name", {"name": "a/b"}),
    ("SQL-like name", {"name": "x'; DROP TABLE worker_queues; --"}),
    ("uppercase name", {"name": "Jobs"}),
    ("leading dash", {"name": "-jobs"}),
    ("max_workers zero", {"name": "ok-q", "max_workers": 0}),
    ("max_workers negative", {"name": "ok-q", "max_workers": -5}),
    ("max_workers huge", {"name": "ok-q", "max_workers": HUGE}),
    ("max_workers string", {"name": "ok-q", "max_workers": "many"}),
    ("max_workers float", {"name": "ok-q", "max_workers": 2.5}),
    ("heartbeat too small", {"name": "ok-q", "heartbeat_interval": 9}),
    ("heartbeat too big", {"name": "ok-q", "heartbeat_interval": 301}),
    ("heartbeat huge", {"name": "ok-q", "heartbeat_interval": HUGE}),
    ("heartbeat negative huge", {"name": "ok-q", "heartbeat_interval": -HUGE}),
    ("heartbeat null", {"name": "ok-q", "heartbeat_interval": None}),
    ("heartbeat bool-ish string", {"name": "ok-q", "heartbeat_interval": "sixty"}),
    ("tags null", {"name": "ok-q", "tags": None}),
    ("settings string", {"name": "ok-q", "settings": "x"}),
]


def _check_refused(c, method, path, body, expected, before):
    if isinstance(body, bytes):
        r = c.request(method, path, content=body, headers={"content-type": "application/json"})
    else:
        r = c.request(method, path, json=body)
    assert_clear_4xx(r, expected)
    assert snapshot(c) == before, f"{method} {path} changed state"
    return r


@pytest.mark.parametrize("case,body", ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_bad_environment_create(c, case, body):
    before = snapshot(c)
    _check_refused(c, "POST", f"{V1}/environments", body, 422, before)


@pytest.mark.parametrize("case,body", QUEUE_CASES, ids=[c[0] for c in QUEUE_CASES])
def test_bad_queue_create(c, org, case, body):
    before = snapshot(c)
    r = _check_refused(c, "POST", f"{V1}/environments/{org['env']['id']}/worker-queues", body, 422, before)
    if isinstance(body, dict) and "name" in body and isinstance(body["name"], str) and len(body["name"]) > 100:
        assert body["name"] not in r.text


PATCH_CASES = [
    ("name null", {"name": None}),
    ("name bad pattern", {"name": "Bad Name"}),
    ("status unknown", {"status": "exploded"}),
    ("status null", {"status": None}),
    ("status wrong type", {"status": 1}),
    ("heartbeat null", {"heartbeat_interval": None}),
    ("heartbeat huge", {"heartbeat_interval": HUGE}),
    ("max_workers negative", {"max_workers": -1}),
    ("max_workers huge", {"max_workers": HUGE}),
    ("tags null", {"tags": None}),
    ("settings null", {"settings": None}),
    ("body a list", [1, 2]),
]


@pytest.mark.parametrize("case,body", PATCH_CASES, ids=[c[0] for c in PATCH_CASES])
def test_bad_queue_patch(c, org, case, body):
    before = snapshot(c)
    _check_refused(c, "PATCH", f"{V1}/worker-queues/{org['queue']['id']}", body, 422, before)


ENV_PATCH_CASES = [
    ("name null", {"name": None}),
    ("name empty", {"name": ""}),
    ("status unknown", {"status": "gone"}),
    ("status null", {"status": None}),
    ("settings list", {"settings": []}),
]


@pytest.mark.parametrize("case,body", ENV_PATCH_CASES, ids=[c[0] for c in ENV_PATCH_CASES])
def test_bad_environment_patch(c, org, case, body):
    before = snapshot(c)
    _check_refused(c, "PATCH", f"{V1}/environments/{org['env']['id']}", body, 422, before)


def test_renames_onto_taken_names_are_409(c, org):
    before = snapshot(c)
    _check_refused(c, "PATCH", f"{V1}/worker-queues/{org['queue']['id']}", {"name": "other"}, 409, before)
    _check_refused(c, "PATCH", f"{V1}/environments/{org['env']['id']}", {"name": "default"}, 409, before)
    _check_refused(c, "POST", f"{V1}/environments", {"name": "staging"}, 409, before)
    _check_refused(c, "POST", f"{V1}/environments/{org['env']['id']}/worker-queues", {"name": "jobs"}, 409, before)
    default = next(e for e in before["envs"] if e["name"] == "default")
    _check_refused(c, "PATCH", f"{V1}/environments/{default['id']}", {"name": "prod"}, 400, before)


def test_worker_bodies(c, org):
    before = snapshot(c)
    qid, wid = org["queue"]["id"], org["worker_id"]
    cases = [
        (f"/workers/{wid}/heartbeat", {"status": "exploded"}),
        (f"/workers/{wid}/heartbeat", {"status": None}),
        (f"/workers/{wid}/heartbeat", {"tasks_processed": -1}),
        (f"/workers/{wid}/heartbeat", {"tasks_processed": HUGE}),
        (f"/workers/{wid}/heartbeat", {"tasks_processed": "many"}),
        (f"/workers/{wid}/heartbeat", {"system_info": {"pid": HUGE}}),
        (f"/workers/{wid}/heartbeat", {"system_info": {"memory_percent": 101}}),
        (f"/workers/{wid}/heartbeat", {"system_info": "box"}),
        (f"/workers/{wid}/heartbeat", {"worker_metadata": [1]}),
        (f"/workers/{wid}/heartbeat", {"logs": ["x"] * 1001}),
        (f"/workers/{wid}/heartbeat", {"current_task_id": "t" * 10_000}),
        ("/workers/heartbeat", {"status": "idle"}),
        ("/workers/heartbeat", {"worker_id": None}),
        ("/workers/heartbeat", {"worker_id": ""}),
        ("/workers/heartbeat", {"worker_id": wid, "status": "unknown"}),
        (f"/workers/{wid}/disconnect", {"exit_code": HUGE}),
        (f"/workers/{wid}/disconnect", {"reason": None}),
        (f"/workers/{wid}/disconnect", {"reason": "r" * 10_000}),
        (f"/worker-queues/{qid}/start", {"system_info": {"cpu_count": -1}}),
        (f"/worker-queues/{qid}/start", {"system_info": {"memory_total": HUGE}}),
        (f"/worker-queues/{qid}/start", {"worker_sdk_version": 3}),
        (f"/worker-queues/{qid}/start", [1]),
        (f"/worker-queues/{qid}/scale", {"workers": -1}),
        (f"/worker-queues/{qid}/scale", {"workers": HUGE}),
        (f"/worker-queues/{qid}/scale", {"workers": None}),
        (f"/worker-queues/{qid}/scale", {"workers": "two"}),
        (f"/worker-queues/{qid}/scale", {}),
        ("/workers/register", {}),
        ("/workers/register", {"queue_name": ""}),
        ("/workers/register", {"queue_name": "q" * 10_000}),
        ("/workers/register", {"environment_name": None}),
    ]
    for path, body in cases:
        r = c.post(V1 + path, json=body)
        assert_clear_4xx(r, 422)
        assert snapshot(c) == before, (path, body)
    autoscale = [
        {"min_workers": 0, "max_workers": 0, "target_backlog_age_seconds": 5},
        {"min_workers": 3, "max_workers": 2, "target_backlog_age_seconds": 5},
        {"min_workers": 0, "max_workers": HUGE, "target_backlog_age_seconds": 5},
        {"min_workers": 0, "max_workers": 2, "target_backlog_age_seconds": -1},
        {"min_workers": 0, "max_workers": 2},
        {"min_workers": None, "max_workers": 2, "target_backlog_age_seconds": 5},
    ]
    for body in autoscale:
        r = c.put(f"{V1}/worker-queues/{qid}/autoscale", json=body)
        assert_clear_4xx(r, 422)
        assert snapshot(c) == before, body
    # over the queue's max_workers: 409
    r = c.post(f"{V1}/worker-queues/{qid}/scale", json={"workers": 4})
    assert_clear_4xx(r, 409)
    assert snapshot(c) == before


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{", b'{"name": "abc",}', b"\xff\xfe\x00", b"", b"{'name': 'single-quoted'}"],
    ids=["text", "truncated", "trailing comma", "binary", "empty", "single quotes"],
)
def test_non_json_bodies_are_422(c, org, raw):
    before = snapshot(c)
    for method, path in (
        ("POST", f"{V1}/environments"),
        ("POST", f"{V1}/environments/{org['env']['id']}/worker-queues"),
        ("PATCH", f"{V1}/worker-queues/{org['queue']['id']}"),
        ("POST", f"{V1}/workers/{org['worker_id']}/heartbeat"),
        ("POST", f"{V1}/worker-queues/{org['queue']['id']}/scale"),
    ):
        _check_refused(c, method, path, raw, 422, before)


def test_wrong_content_type_is_422(c):
    before = snapshot(c)
    r = c.post(f"{V1}/environments", content=b"name=abc", headers={"content-type": "application/x-www-form-urlencoded"})
    assert_clear_4xx(r, 422)
    r = c.post(f"{V1}/environments", content=b'{"name": "abc"}', headers={"content-type": "text/plain"})
    assert_clear_4xx(r, 422)
    assert snapshot(c) == before


def test_nan_and_infinity_are_refused(c, org):
    before = snapshot(c)
    for raw in (
        b'{"name": "nan-env", "settings": {"x": NaN}}',
        b'{"name": "inf-env", "settings": {"x": [Infinity]}}',
    ):
        _check_refused(c, "POST", f"{V1}/environments", raw, 422, before)
    _check_refused(
        c, "POST", f"{V1}/workers/{org['worker_id']}/heartbeat", b'{"system_info": {"cpu_percent": NaN}}', 422, before
    )
    _check_refused(
        c, "POST", f"{V1}/workers/{org['worker_id']}/heartbeat", b'{"worker_metadata": {"x": -Infinity}}', 422, before
    )
    _check_refused(
        c,
        "PUT",
        f"{V1}/worker-queues/{org['queue']['id']}/autoscale",
        b'{"min_workers": 0, "max_workers": 2, "target_backlog_age_seconds": NaN}',
        422,
        before,
    )


@pytest.mark.parametrize("levels", [40, 300, 950, DEEP])
def test_deeply_nested_json(c, org, levels):
    """Too deep for the parser, or parseable but too deep to answer back later: refused, never stored."""
    before = snapshot(c)
    raw = ('{"name": "deep-env", "settings": ' + deep(levels) + "}").encode()
    _check_refused(c, "POST", f"{V1}/environments", raw, 422, before)
    raw = ('{"description": "x", "settings": ' + deep(levels) + "}").encode()
    _check_refused(c, "PATCH", f"{V1}/worker-queues/{org['queue']['id']}", raw, 422, before)
    raw = ('{"worker_metadata": ' + deep(levels) + "}").encode()
    _check_refused(c, "POST", f"{V1}/workers/{org['worker_id']}/heartbeat", raw, 422, before)
    raw = ('{"capabilities": ' + deep(levels) + "}").encode()
    _check_refused(c, "POST", f"{V1}/worker-queues/{org['queue']['id']}/start", raw, 422, before)


def test_moderately_nested_settings_round_trip(c):
    nested = json.loads(deep(20))
    r = c.post(f"{V1}/environments", json={"name": "nested-ok", "settings": nested})
    assert r.status_code == 201, r.text
    assert r.json()["settings"] == nested
    assert c.get(f"{V1}/environments/{r.json()['id']}").json()["settings"] == nested
    assert c.delete(f"{V1}/environments/{r.json()['id']}").status_code == 204


def test_body_over_one_mib_is_413(c, control_plane, org):
    before = snapshot(c)
    big = {"name": "big-env", "description": "x", "settings": {"blob": "x" * (1024 * 1024 + 10)}}
    r = c.post(f"{V1}/environments", json=big)
    assert_clear_4xx(r, 413)
    # without a content-length (chunked upload), also 413
    payload = json.dumps(big).encode()

    def chunks():
        for i in range(0, len(payload), 64 * 1024):
            yield payload[i : i + 64 * 1024]

    r = c.post(f"{V1}/environments", content=chunks(), headers={"content-type": "application/json"})
    assert_clear_4xx(r, 413)
    r = c.post(f"{V1}/workers/{org['worker_id']}/heartbeat", json={"logs": ["y" * 2000] * 600})
    assert_clear_4xx(r, 413)
    assert snapshot(c) == before
    # just under the limit is judged on its content, not refused for size
    r = c.post(f"{V1}/environments", json={"name": "x", "settings": {"blob": "x" * (1024 * 1024 - 200)}})
    assert_clear_4xx(r, 422)
    assert snapshot(c) == before


ODD_IDS = ["nope", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "' OR 1=1 --", "x" * 5000, "%00", "日本"]


@pytest.mark.parametrize("odd", ODD_IDS, ids=range(len(ODD_IDS)))
def test_unknown_and_odd_ids_are_404(c, odd):
    before = snapshot(c)
    for method, path, body in (
        ("GET", f"/environments/{odd}", None),
        ("PATCH", f"/environments/{odd}", {"description": "x"}),
        ("DELETE", f"/environments/{odd}", None),
        ("GET", f"/environments/{odd}/worker-queues", None),
        ("POST", f"/environments/{odd}/worker-queues", {"name": "fine-name"}),
        ("GET", f"/worker-queues/{odd}", None),
        ("PATCH", f"/worker-queues/{odd}", {"description": "x"}),
        ("DELETE", f"/worker-queues/{odd}", None),
        ("GET", f"/worker-queues/{odd}/metrics", None),
        ("GET", f"/worker-queues/{odd}/config", None),
        ("POST", f"/worker-queues/{odd}/start", {}),
        ("POST", f"/worker-queues/{odd}/scale", {"workers": 1}),
        ("GET", f"/registered-workers/{odd}", None),
        ("POST", f"/workers/{odd}/heartbeat", {"status": "idle"}),
        ("POST", f"/workers/{odd}/drain", None),
        ("POST", f"/workers/{odd}/disconnect", {"reason": "x"}),
    ):
        r = c.request(method, V1 + path, json=body)
        assert_clear_4xx(r, 404)
    r = c.post(f"{V1}/workers/heartbeat", json={"worker_id": odd[:200], "status": "idle"})
    assert_clear_4xx(r, 404)
    assert snapshot(c) == before


def test_odd_query_values(c, org):
    before = snapshot(c)
    for params in ({"limit": HUGE}, {"limit": -1}, {"limit": "ten"}, {"action": "a" * 1000}):
        assert_clear_4xx(c.get(f"{V1}/audit", params=params), 422)
    for params in ({"platform": "windows"}, {"deployment_type": "../x"}, {"platform": "LOCAL"}):
        assert_clear_4xx(c.get(f"{V1}/worker-queues/{org['queue']['id']}/install-script", params=params), 422)
    assert snapshot(c) == before


def test_odd_but_valid_names_are_stored_verbatim(c, org):
    """Environment names are free text (but quotes, backslashes and control characters): unicode and
    SQL-like strings are data, not code."""
    before = snapshot(c)
    names = ["データ-環境", "x); DROP TABLE environments; --", "../../etc/passwd", "e" * 100]
    made = []
    for name in names:
        r = c.post(f"{V1}/environments", json={"name": name, "tags": ["ünï"], "description": "🚀"})
        assert r.status_code == 201, r.text
        assert r.json()["name"] == name
        made.append(r.json()["id"])
    listed = {e["name"] for e in c.get(f"{V1}/environments").json()}
    assert set(names) <= listed
    # SQL-like queue descriptions too
    q = c.post(
        f"{V1}/environments/{org['env']['id']}/worker-queues",
        json={"name": "sql-desc", "description": "'); DELETE FROM workers; --"},
    )
    assert q.status_code == 201 and q.json()["description"] == "'); DELETE FROM workers; --"
    assert len(c.get(f"{V1}/registered-workers").json()) == len(before["workers"])
    assert c.delete(f"{V1}/worker-queues/{q.json()['id']}").status_code == 204
    for env_id in made:
        assert c.delete(f"{V1}/environments/{env_id}").status_code == 204
    after = snapshot(c)
    assert after["envs"] == before["envs"] and after["queues"] == before["queues"]


def test_server_still_healthy_after_abuse(control_plane):
    r = httpx.get(f"{control_plane.url}/api/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    log = (control_plane.data_dir / "control-plane.log")
    text = log.read_text() if log.exists() else ""
    assert "unhandled error" not in text, text[-3000:]


def test_lone_surrogates_are_refused_not_stored(c, org):
    """JSON allows "\\ud800" escapes that are not Unicode; stored, they would break every later read."""
    before = snapshot(c)
    for method, path, raw in (
        ("POST", f"{V1}/environments", b'{"name": "ab\\ud800"}'),
        ("POST", f"{V1}/environments", b'{"name": "ok-env", "tags": ["\\udfff"]}'),
        ("POST", f"{V1}/environments", b'{"name": "ok-env", "settings": {"\\ud800": 1}}'),
        ("PATCH", f"{V1}/worker-queues/{org['queue']['id']}", b'{"description": "\\ud83d"}'),
        ("POST", f"{V1}/workers/{org['worker_id']}/heartbeat", b'{"current_task_id": "\\ud800"}'),
        ("POST", f"{V1}/workers/{org['worker_id']}/heartbeat", b'{"worker_metadata": {"k": ["\\udc00"]}}'),
        ("POST", f"{V1}/workers/{org['worker_id']}/disconnect", b'{"reason": "\\ud800"}'),
    ):
        _check_refused(c, method, path, raw, 422, before)
    # a proper surrogate pair is just an emoji
    r = c.post(f"{V1}/environments", content=b'{"name": "rocket-\\ud83d\\ude80"}', headers={"content-type": "application/json"})
    assert r.status_code == 201 and r.json()["name"] == "rocket-\U0001f680"
    assert c.delete(f"{V1}/environments/{r.json()['id']}").status_code == 204


def test_odd_auth_headers_are_401(control_plane):
    url = f"{control_plane.url}{V1}/environments"
    for headers in (
        {"Authorization": b"Bearer \xff\xfe"},
        {"Authorization": "Bearer " + "k" * 10_000},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    x"},
        {"UserKey": "' OR 1=1 --"},
    ):
        r = httpx.get(url, headers=headers)
        assert_clear_4xx(r, 401)
