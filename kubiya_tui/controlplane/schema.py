"""The registry's tables as SQLAlchemy Core metadata: one description for SQLite and PostgreSQL.

The migrations in ``controlplane/migrations/versions`` create and change these tables; this
module says what the newest revision has, for the store's queries. JSON values are kept as
compact JSON text (not PostgreSQL's JSONB, which reorders keys), so both databases hand back
the very bytes they were given. Times are epoch seconds in double precision.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

Epoch = Double()
"""Epoch seconds: REAL in SQLite, double precision in PostgreSQL."""

organizations = Table(
    "organizations",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", Epoch, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("organization_id", Text, ForeignKey("organizations.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("created_at", Epoch, nullable=False),
)

environments = Table(
    "environments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("organization_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("display_name", Text),
    Column("description", Text),
    Column("tags", Text, nullable=False, server_default=text("'[]'")),
    Column("settings", Text, nullable=False, server_default=text("'{}'")),
    Column("status", Text, nullable=False, server_default=text("'ready'")),
    Column("created_at", Epoch, nullable=False),
    Column("updated_at", Epoch, nullable=False),
    UniqueConstraint("organization_id", "name"),
)

worker_queues = Table(
    "worker_queues",
    metadata,
    Column("id", Text, primary_key=True),
    Column("organization_id", Text, nullable=False),
    Column("environment_id", Text, ForeignKey("environments.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("display_name", Text),
    Column("description", Text),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    Column("max_workers", Integer),
    Column("heartbeat_interval", Integer, nullable=False, server_default=text("60")),
    Column("tags", Text, nullable=False, server_default=text("'[]'")),
    Column("settings", Text, nullable=False, server_default=text("'{}'")),
    Column("task_queue_name", Text, nullable=False),
    Column("desired_workers", Integer),
    Column("autoscale", Text),
    Column("created_by", Text),
    Column("created_at", Epoch, nullable=False),
    Column("updated_at", Epoch, nullable=False),
    Column("seq", Integer, nullable=False),
    # Added by revision 0002: what a heartbeat answers as the queue's config version (kept
    # with the row, so every replica answers the same), and when its wanted count last changed.
    Column("config_version", Text),
    Column("last_scaled_at", Epoch),
    UniqueConstraint("environment_id", "name"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("organization_id", Text, nullable=False),
    Column("worker_id", Text, nullable=False),
    Column("queue_id", Text),
    Column("environment_id", Text),
    Column("legacy_queue_name", Text),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    Column("desired_state", Text, nullable=False, server_default=text("'running'")),
    Column("tasks_processed", Integer, nullable=False, server_default=text("0")),
    Column("tasks_failed", Integer, nullable=False, server_default=text("0")),
    Column("current_task_id", Text),
    Column("current_task_ids", Text, nullable=False, server_default=text("'[]'")),
    Column("slots_used", Integer),
    Column("slots_available", Integer),
    Column("hostname", Text),
    Column("system_info", Text),
    Column("worker_metadata", Text, nullable=False, server_default=text("'{}'")),
    Column("capabilities", Text, nullable=False, server_default=text("'{}'")),
    Column("sdk_version", Text),
    Column("last_heartbeat", Epoch),
    Column("registered_at", Epoch, nullable=False),
    Column("disconnected_at", Epoch),
    Column("disconnect_reason", Text),
    Column("exit_code", Integer),
    Column("error_message", Text),
    # Added by revision 0004: seconds between its last two heartbeats; when a drain was asked.
    Column("beat_interval", Epoch),
    Column("drain_requested_at", Epoch),
    UniqueConstraint("organization_id", "worker_id"),
)
Index("workers_by_queue", workers.c.queue_id, workers.c.last_heartbeat)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Text, primary_key=True),
    Column("organization_id", Text, nullable=False),
    Column("queue_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("timeout_seconds", Epoch, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("submitted_at", Epoch, nullable=False),
    # Added by revision 0003 (durable intake): pending, started or not_started; the request and
    # process that recorded it; why it did not start; whether that start must be checked.
    Column("state", Text, nullable=False, server_default=text("'started'")),
    Column("request_id", Text),
    Column("boot_id", Text),
    Column("start_error", Text),
    Column("verify_start", Integer, nullable=False, server_default=text("0")),
    # Its place in its request: tasks recorded together are read back in the order submitted.
    Column("position", Integer),
)
Index("tasks_by_queue", tasks.c.queue_id, tasks.c.submitted_at)
Index("tasks_pending", tasks.c.state, sqlite_where=tasks.c.state == "pending", postgresql_where=tasks.c.state == "pending")
Index(
    "tasks_to_verify",
    tasks.c.submitted_at,
    sqlite_where=tasks.c.verify_start == 1,
    postgresql_where=tasks.c.verify_start == 1,
)
Index("tasks_by_request", tasks.c.request_id)

task_requests = Table(
    "task_requests",
    metadata,
    # Added by revision 0003: a submission under an Idempotency-Key, and the answer kept for it.
    Column("id", Text, primary_key=True),
    Column("organization_id", Text, nullable=False),
    Column("queue_id", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("boot_id", Text, nullable=False),
    Column("status_code", Integer),
    Column("answer", Text),
    Column("created_at", Epoch, nullable=False),
    UniqueConstraint("organization_id", "queue_id", "idempotency_key"),
)
Index(
    "task_requests_open",
    task_requests.c.created_at,
    sqlite_where=task_requests.c.status_code.is_(None),
    postgresql_where=task_requests.c.status_code.is_(None),
)
Index("task_requests_by_age", task_requests.c.created_at)

meta = Table(
    "meta",
    metadata,
    # Added by revision 0003: facts about the registry itself (its instance id, scan marks).
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

legacy_migrations = Table(
    "legacy_migrations",
    metadata,
    Column("environment_id", Text, primary_key=True),
    Column("organization_id", Text, nullable=False),
    Column("worker_queue_id", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("started_by", Text),
    Column("started_at", Epoch, nullable=False),
    Column("completed_at", Epoch),
)

audit = Table(
    "audit",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("organization_id", Text, nullable=False),
    Column("actor", Text),
    Column("action", Text, nullable=False),
    Column("target_type", Text),
    Column("target_id", Text),
    Column("details", Text, nullable=False, server_default=text("'{}'")),
    Column("created_at", Epoch, nullable=False),
    sqlite_autoincrement=True,
)
Index("audit_by_org", audit.c.organization_id, audit.c.id)

leases = Table(
    "leases",
    metadata,
    # Added by revision 0002: who acts for an organization where only one may (the runner, the
    # autoscaler), until when, and a token that grows with every change of holder.
    Column("organization_id", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("acquired_at", Epoch, nullable=False),
    Column("expires_at", Epoch, nullable=False),
)

COPIED_TABLES = (
    organizations, api_keys, environments, worker_queues, workers, tasks, task_requests, meta, legacy_migrations, audit,
)  # fmt: skip
"""Every table ``admin copy-data`` copies, parents before children (leases are not copied: they are live state)."""
