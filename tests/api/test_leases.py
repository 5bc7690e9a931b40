"""Leases: one holder at a time per organization, renewal, release, takeover after expiry, and a
scale decision refused once its lease is lost (nothing changed, nothing audited)."""

from __future__ import annotations

import time

from tests.helpers import make_queue, wait_for

V1 = "/api/v1"


def take(api, name: str, holder: str, ttl: float = 30):
    return api.post(f"{V1}/leases/{name}", json={"holder": holder, "ttl_seconds": ttl})


def test_one_holder_at_a_time_renew_release(api, unique):
    name = unique("lease")
    first = take(api, name, "runner-a")
    assert first.status_code == 200, first.text
    lease = first.json()
    assert (lease["holder"], lease["held"]) == ("runner-a", True)
    other = take(api, name, "runner-b")
    assert other.status_code == 409
    assert other.json()["detail"]["lease"]["holder"] == "runner-a"
    renewed = take(api, name, "runner-a").json()
    assert renewed["token"] == lease["token"] and renewed["expires_at"] >= lease["expires_at"]
    # someone else cannot give it up (409 with the lease, nothing changes); the holder can, at once
    refused = api.delete(f"{V1}/leases/{name}", params={"holder": "runner-b"})
    assert refused.status_code == 409 and refused.json()["detail"]["lease"]["holder"] == "runner-a", refused.text
    assert take(api, name, "runner-b").status_code == 409
    assert api.delete(f"{V1}/leases/{name}", params={"holder": "runner-a"}).status_code == 204
    # given up, it is gone until taken again (404), and giving it up again changes nothing
    gone = api.get(f"{V1}/leases/{name}")
    assert gone.status_code == 404 and "given up" in gone.text, gone.text
    assert api.delete(f"{V1}/leases/{name}", params={"holder": "runner-a"}).status_code == 204
    taken = take(api, name, "runner-b")
    assert taken.status_code == 200 and taken.json()["token"] == lease["token"] + 1
    assert api.get(f"{V1}/leases/{name}").json()["holder"] == "runner-b"
    actions = [(a["action"], a["details"].get("holder")) for a in api.get(f"{V1}/audit", params={"limit": 20}).json() if a["target_id"] == name]
    assert actions == [("lease.acquire", "runner-b"), ("lease.release", "runner-a"), ("lease.acquire", "runner-a")]


def test_an_expired_lease_goes_to_the_next_asker(api, unique):
    name = unique("lease")
    assert take(api, name, "dead-runner", ttl=1).status_code == 200
    # the holder never renews: another takes the lease once it has expired
    won = wait_for(lambda: take(api, name, "standby").status_code == 200, 30, "the lease to expire", every=0.2)
    assert won
    assert api.get(f"{V1}/leases/{name}").json()["holder"] == "standby"
    assert take(api, name, "dead-runner").status_code == 409


def test_an_expired_lease_still_shows_its_last_holder_and_anyone_may_mark_it_free(api, unique):
    name = unique("lease")
    first = take(api, name, "dead-runner", ttl=1).json()
    time.sleep(1.2)
    lapsed = api.get(f"{V1}/leases/{name}")
    assert lapsed.status_code == 200 and lapsed.json()["holder"] == "dead-runner"
    # nobody holds it, so giving it up (by anyone) is no refusal, and it is not audited as a release
    assert api.delete(f"{V1}/leases/{name}", params={"holder": "standby"}).status_code == 204
    assert api.get(f"{V1}/leases/{name}").status_code == 404
    assert take(api, name, "standby").json()["token"] == first["token"] + 1
    releases = [a for a in api.get(f"{V1}/audit", params={"limit": 50, "action": "lease.release"}).json() if a["target_id"] == name]
    assert releases == []


def test_a_scale_under_a_lost_lease_changes_nothing(api, unique):
    queue = make_queue(api, unique())
    old = take(api, "autoscaler-" + queue["id"][:8], "runner-a", ttl=1).json()
    name = old["name"]
    claim = {"name": name, "holder": "runner-a", "token": old["token"]}
    ok = api.post(f"{V1}/worker-queues/{queue['id']}/scale", json={"workers": 2, "reason": "a", "lease": claim})
    assert ok.status_code == 202, ok.text
    scaled = api.get(f"{V1}/worker-queues/{queue['id']}").json()
    assert scaled["desired_workers"] == 2 and scaled["last_scaled_at"] is not None
    wait_for(lambda: take(api, name, "runner-b").status_code == 200, 30, "runner-b to take over", every=0.2)
    before = api.get(f"{V1}/audit", params={"limit": 1000}).json()
    late = api.post(f"{V1}/worker-queues/{queue['id']}/scale", json={"workers": 3, "reason": "late", "lease": claim})
    assert late.status_code == 409 and "lease" in late.text
    assert api.get(f"{V1}/worker-queues/{queue['id']}").json()["desired_workers"] == 2
    assert api.get(f"{V1}/audit", params={"limit": 1000}).json() == before
    # the same decision under a token that was never issued is refused too
    forged = {**claim, "holder": "runner-b", "token": old["token"] + 5}
    assert api.post(f"{V1}/worker-queues/{queue['id']}/scale", json={"workers": 3, "lease": forged}).status_code == 409


def test_bad_lease_requests_are_422(api):
    for name, body in (
        ("Runner", {"holder": "a", "ttl_seconds": 10}),
        ("runner", {"holder": "", "ttl_seconds": 10}),
        ("runner", {"holder": "a", "ttl_seconds": 0}),
        ("runner", {"holder": "a" * 201, "ttl_seconds": 10}),
        ("runner", {"holder": "a\u0000b", "ttl_seconds": 10}),
    ):
        r = api.post(f"{V1}/leases/{name}", json=body)
        assert r.status_code == 422, (name, body, r.text)
    assert api.get(f"{V1}/leases/never-taken-{int(time.time())}").status_code == 404
    assert api.delete(f"{V1}/leases/never-taken-{int(time.time())}", params={"holder": "a"}).status_code == 404
