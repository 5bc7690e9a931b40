"""What the relay counts as an organization's task queues (controlplane/temporal_relay.py), on a real SQLite store."""

from __future__ import annotations

from pathlib import Path

from kubiya_tui.controlplane.naming import legacy_task_queue
from kubiya_tui.controlplane.store import Store
from kubiya_tui.controlplane.temporal_relay import TemporalRelay


async def test_an_organizations_task_queues_are_its_queues_its_environments_and_its_legacy_workers(tmp_path: Path) -> None:
    store = Store(tmp_path / "registry.sqlite")
    try:
        for org in ("acme", "other"):
            await store.ensure_org(org)
        env = await store.create_environment("acme", {"name": "prod"})
        queue = await store.create_queue("acme", env["id"], {"name": "orders"}, None)
        await store.register_worker("acme", "w-legacy", {"environment_id": env["id"], "legacy_queue_name": "acme.old-payments"})
        await store.register_worker("acme", "w-new", {"queue_id": queue["id"]})
        theirs = await store.create_environment("other", {"name": "prod"})
        their_queue = await store.create_queue("other", theirs["id"], {"name": "orders"}, None)
        await store.register_worker("other", "w-theirs", {"environment_id": theirs["id"], "legacy_queue_name": "other.secret"})

        owned = await TemporalRelay(None, store).task_queues_of("acme")  # type: ignore[arg-type]
        assert owned[0] == queue["task_queue_name"]
        # Every environment (the organization's first, "default", too) has its legacy task queue.
        legacy = {legacy_task_queue("acme", "default"), legacy_task_queue("acme", "prod")}
        assert set(owned) == {queue["task_queue_name"], *legacy, "acme.old-payments"}
        assert their_queue["task_queue_name"] not in owned and "other.secret" not in owned
        assert len(owned) == len(set(owned)), "each task queue once"
    finally:
        await store.close()
