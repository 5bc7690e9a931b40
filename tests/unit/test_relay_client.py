"""The client side of the relay of Temporal reads (client/relay.py), on a fake control plane (pure unit tests)."""

from __future__ import annotations

import asyncio
import json

import pytest

from kubiya_tui.client.capabilities import Capabilities
from kubiya_tui.client.relay import RelayedTemporal, TemporalReads, _stats, same_temporal
from kubiya_tui.client.temporal_types import TemporalRateLimited, TemporalUnavailable


def document(**queues: dict) -> dict:
    return {
        "temporal": {"address": "127.0.0.1:7233", "namespace": "default", "available": True},
        "error": None,
        "queues": {tq: {"at": 1.0, "stats": stats, "error": None, "rate_limited": False} for tq, stats in queues.items()},
        "not_owned": [],
        "workers": {"at": 1.0, "by_task_queue": {tq: [] for tq in queues}, "error": None, "unsupported": False},
        "closed": {"at": 1.0, "error": None, "rate_limited": False,
                   "queues": {tq: {"by_status": {"Failed": 1, "Completed": 3}, "durations_seconds": [2.0, 1.0], "complete": True}
                              for tq in queues}},
    }  # fmt: skip


class FakeControlPlane:
    base_url = "http://127.0.0.1:1"

    def __init__(self, doc: dict) -> None:
        self.doc = doc
        self.paths: list[str] = []
        self.posted: list[dict] = []
        self.refuses_post = False
        """An older control plane: no POST /temporal-reads."""

    async def get_raw(self, path: str) -> bytes:
        self.paths.append(path)
        await asyncio.sleep(0.01)
        return json.dumps(self.doc).encode()

    async def post_read_raw(self, path: str, body: dict) -> bytes:
        self.paths.append(f"POST {path}")
        self.posted.append(body)
        await asyncio.sleep(0.01)
        if self.refuses_post:
            from kubiya_tui.client.api import ApiError

            raise ApiError(405, "Method Not Allowed")
        return json.dumps(self.doc).encode()


class FakeCapabilities:
    def __init__(self, caps: Capabilities) -> None:
        self.caps = caps

    async def get(self) -> Capabilities:
        return self.caps


def test_same_temporal_takes_loopback_names_as_one_and_a_namespace_as_different():
    theirs = {"address": "127.0.0.1:7233", "namespace": "default"}
    assert same_temporal("localhost:7233", "default", theirs)
    assert same_temporal("127.0.0.1:7233", "default", theirs)
    assert not same_temporal("127.0.0.1:7234", "default", theirs)
    assert not same_temporal("127.0.0.1:7233", "prod", theirs)
    assert not same_temporal("temporal.example.com:7233", "default", theirs)


def test_concurrent_reads_of_a_poll_are_one_request():
    cp = FakeControlPlane(document(a={"backlog": 4, "backlog_by_priority": {"3": 4}}, b={"backlog": 0}))
    relay = RelayedTemporal(cp, "127.0.0.1:7233", "default")

    async def poll():
        await relay.prefetch(["a", "b"])
        stats = await asyncio.gather(relay.queue_stats("a"), relay.queue_stats("b"))
        scan = await relay.closed_scan(["a"], 300.0)
        return stats, scan

    (a, b), scan = asyncio.run(poll())
    assert (a.backlog, a.backlog_by_priority, b.backlog) == (4, {3: 4}, 0)
    assert scan.queues["a"].by_status == {"Failed": 1, "Completed": 3} and scan.complete
    assert len(cp.paths) == 1, cp.paths
    assert "task_queue=a" in cp.paths[0] and "task_queue=b" in cp.paths[0]


def test_a_queues_error_and_a_foreign_queue_are_failures_of_that_queue():
    doc = document(a={"backlog": 1})
    doc["queues"]["busy"] = {"at": 1.0, "stats": None, "error": "rate limit exceeded", "rate_limited": True}
    doc["not_owned"] = ["theirs"]
    relay = RelayedTemporal(FakeControlPlane(doc), "127.0.0.1:7233", "default")

    async def read(tq: str):
        await relay.prefetch(["a", "busy", "theirs"])
        return await relay.queue_stats(tq)

    with pytest.raises(TemporalRateLimited):
        asyncio.run(read("busy"))
    with pytest.raises(TemporalUnavailable, match="not a task queue of this organization"):
        asyncio.run(read("theirs"))


def test_reads_go_direct_where_the_control_plane_has_no_relay_or_another_temporal():
    made: list[str] = []

    class Direct:
        async def queue_stats(self, tq, *a, **k):
            made.append(tq)
            return "direct"

    kubiya = TemporalReads(FakeControlPlane(document(a={})), FakeCapabilities(Capabilities.of_kubiya()), Direct,
                           "127.0.0.1:7233", "default")  # fmt: skip
    assert asyncio.run(kubiya.queue_stats("a")) == "direct" and not kubiya.relayed
    assert "does not relay" in kubiya.why_direct

    elsewhere = TemporalReads(FakeControlPlane(document(a={})), FakeCapabilities(Capabilities.of_local()), Direct,
                              "127.0.0.1:9999", "default")  # fmt: skip
    assert asyncio.run(elsewhere.queue_stats("a")) == "direct" and "another Temporal" in elsewhere.why_direct

    ours = TemporalReads(FakeControlPlane(document(a={"backlog": 2})), FakeCapabilities(Capabilities.of_local()), Direct,
                         "127.0.0.1:7233", "default")  # fmt: skip
    assert asyncio.run(ours.queue_stats("a")).backlog == 2 and ours.relayed and not ours.reads_partitions
    assert made == ["a", "a"]


def test_more_task_queues_than_a_url_carries_are_named_in_a_post_and_past_its_bound_asked_for_as_all():
    many = {f"org.q-{i:04d}": {"backlog": i} for i in range(1000)}
    cp = FakeControlPlane(document(**many))
    relay = RelayedTemporal(cp, "127.0.0.1:7233", "default")
    stats = asyncio.run(relay.queue_stats("org.q-0999"))
    assert stats.backlog == 999
    doc = asyncio.run(relay.document(list(many)))
    assert cp.paths[-1] == "POST /api/v1/temporal-reads", "1,000 names go in a body, not in a URL"
    assert cp.posted[-1] == {"task_queues": sorted(many), "window": 300.0, "durations": 200, "max_age": 5.0}
    assert set(doc["queues"]) == set(many)
    few = RelayedTemporal(FakeControlPlane(document(a={"backlog": 1})), "127.0.0.1:7233", "default")
    asyncio.run(few.queue_stats("a"))
    assert few.api.paths[-1].endswith("task_queue=a"), "a few names are named in the URL"
    # More than a POST may name: all of the organization's, in one short GET.
    huge = {f"org.q-{i:04d}": {"backlog": 0} for i in range(2001)}
    cp = FakeControlPlane(document(**huge))
    asyncio.run(RelayedTemporal(cp, "127.0.0.1:7233", "default").document(list(huge)))
    assert not cp.posted and "task_queue=" not in cp.paths[-1] and len(cp.paths[-1]) < 200


def test_an_older_control_plane_without_the_post_is_asked_for_all_and_not_posted_to_again():
    many = {f"org.q-{i:04d}": {"backlog": i} for i in range(30)}
    cp = FakeControlPlane(document(**many))
    cp.refuses_post = True
    relay = RelayedTemporal(cp, "127.0.0.1:7233", "default", max_age=0.0)
    assert set(asyncio.run(relay.document(list(many)))["queues"]) == set(many)
    assert cp.paths[-2:] == ["POST /api/v1/temporal-reads", cp.paths[-1]] and "task_queue=" not in cp.paths[-1]
    asyncio.run(relay.document(list(many)[:25]))
    assert len(cp.posted) == 1 and not cp.paths[-1].startswith("POST"), "one refusal is enough"


def test_asked_for_all_another_organizations_name_is_not_read_as_a_quiet_queue():
    """A name the answer does not cover is another organization's (or none): unknown, not a queue with
    nothing waiting and nothing closed."""
    many = {f"org.q-{i:04d}": {"backlog": 0} for i in range(30)}
    doc = document(**many)
    doc["task_queues"] = list(many)
    relay = RelayedTemporal(FakeControlPlane(doc), "127.0.0.1:7233", "default")
    asked = [*many, "theirs.q"]

    async def read():
        await relay.prefetch(asked)
        scan = await relay.closed_scan(asked, 300.0)
        return scan, await relay.queue_stats("org.q-0003")

    scan, stats = asyncio.run(read())
    assert stats.backlog == 0
    assert "theirs.q" not in scan.queues and scan.queues["org.q-0003"].by_status == {"Failed": 1, "Completed": 3}
    with pytest.raises(TemporalUnavailable, match="not a task queue of this organization"):
        asyncio.run(relay.queue_stats("theirs.q"))
    # A server that does not say what it covers (no task_queues): only not_owned marks a name foreign.
    del doc["task_queues"]
    older = RelayedTemporal(FakeControlPlane(doc), "127.0.0.1:7233", "default")
    assert "theirs.q" in asyncio.run(older.closed_scan(asked, 300.0)).queues


def test_a_relayed_poll_is_not_paced_as_calls_to_temporal_while_a_direct_one_is(monkeypatch):
    """The relay answers every queue of a poll from one document: a one-shot `check` of 200 queues
    must not sleep as if it made 400 DescribeTaskQueue calls (it did: ~0.2 s of pacing)."""
    import time

    from kubiya_tui.metrics.scheduler import TokenBucket, Tracker
    from kubiya_tui.metrics.sources.temporal_stats import TemporalStatsSource

    taken: list[float] = []
    real_take = TokenBucket.take

    async def counting_take(self, amount=1.0):
        taken.append(amount)
        await real_take(self, amount)

    monkeypatch.setattr(TokenBucket, "take", counting_take)
    many = [f"org.q-{i:03d}" for i in range(40)]

    class Direct:
        async def service(self):
            return self

        async def queue_stats(self, tq, *a, **k):
            return _stats({"backlog": 1})

    def source(reader) -> TemporalStatsSource:
        async def tqs() -> list[str]:
            return many

        return TemporalStatsSource(
            reader, tracker=Tracker("temporal", 5.0, 60.0, time.monotonic), task_queues=tqs, stats_interval=5.0,
            call_timeout=3.0, describe_rps=900.0, semaphore=asyncio.Semaphore(16), concurrency=16,
            partitions=False, clock=time.time, monotonic=time.monotonic,
        )  # fmt: skip

    relayed = TemporalReads(FakeControlPlane(document(**{tq: {"backlog": 3} for tq in many})),
                            FakeCapabilities(Capabilities.of_local()), Direct, "127.0.0.1:7233", "default")  # fmt: skip
    read = source(relayed)
    assert asyncio.run(read.poll(force=True)) is None
    assert relayed.relayed and taken == [], "no queue of a relayed poll waits on the DescribeTaskQueue pacing"
    assert all(read.stats[tq].value.backlog == 3 for tq in many)

    direct = source(Direct())
    assert asyncio.run(direct.poll(force=True)) is None
    assert len(taken) == len(many), "each direct read is paced"
