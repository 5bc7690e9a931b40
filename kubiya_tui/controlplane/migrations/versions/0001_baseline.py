"""The registry as the control plane made it before migrations: organizations to audit.

A SQLite file written by that code (no ``alembic_version`` table) is stamped with this
revision, not created again: its tables are exactly these.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Epoch = sa.Double()


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", Epoch, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("organization_id", sa.Text, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", Epoch, nullable=False),
    )
    op.create_table(
        "environments",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("organization_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("tags", sa.Text, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("settings", sa.Text, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'ready'")),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("updated_at", Epoch, nullable=False),
        sa.UniqueConstraint("organization_id", "name"),
    )
    op.create_table(
        "worker_queues",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("organization_id", sa.Text, nullable=False),
        sa.Column("environment_id", sa.Text, sa.ForeignKey("environments.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'active'")),
        sa.Column("max_workers", sa.Integer),
        sa.Column("heartbeat_interval", sa.Integer, nullable=False, server_default=sa.text("60")),
        sa.Column("tags", sa.Text, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("settings", sa.Text, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("task_queue_name", sa.Text, nullable=False),
        sa.Column("desired_workers", sa.Integer),
        sa.Column("autoscale", sa.Text),
        sa.Column("created_by", sa.Text),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("updated_at", Epoch, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.UniqueConstraint("environment_id", "name"),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("organization_id", sa.Text, nullable=False),
        sa.Column("worker_id", sa.Text, nullable=False),
        sa.Column("queue_id", sa.Text),
        sa.Column("environment_id", sa.Text),
        sa.Column("legacy_queue_name", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'active'")),
        sa.Column("desired_state", sa.Text, nullable=False, server_default=sa.text("'running'")),
        sa.Column("tasks_processed", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("tasks_failed", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("current_task_id", sa.Text),
        sa.Column("current_task_ids", sa.Text, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("slots_used", sa.Integer),
        sa.Column("slots_available", sa.Integer),
        sa.Column("hostname", sa.Text),
        sa.Column("system_info", sa.Text),
        sa.Column("worker_metadata", sa.Text, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("capabilities", sa.Text, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("sdk_version", sa.Text),
        sa.Column("last_heartbeat", Epoch),
        sa.Column("registered_at", Epoch, nullable=False),
        sa.Column("disconnected_at", Epoch),
        sa.Column("disconnect_reason", sa.Text),
        sa.Column("exit_code", sa.Integer),
        sa.Column("error_message", sa.Text),
        sa.UniqueConstraint("organization_id", "worker_id"),
    )
    op.create_index("workers_by_queue", "workers", ["queue_id", "last_heartbeat"])
    op.create_table(
        "tasks",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("organization_id", sa.Text, nullable=False),
        sa.Column("queue_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("timeout_seconds", Epoch, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("submitted_at", Epoch, nullable=False),
    )
    op.create_index("tasks_by_queue", "tasks", ["queue_id", "submitted_at"])
    op.create_table(
        "legacy_migrations",
        sa.Column("environment_id", sa.Text, primary_key=True),
        sa.Column("organization_id", sa.Text, nullable=False),
        sa.Column("worker_queue_id", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("started_by", sa.Text),
        sa.Column("started_at", Epoch, nullable=False),
        sa.Column("completed_at", Epoch),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("organization_id", sa.Text, nullable=False),
        sa.Column("actor", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target_type", sa.Text),
        sa.Column("target_id", sa.Text),
        sa.Column("details", sa.Text, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("created_at", Epoch, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("audit_by_org", "audit", ["organization_id", "id"])


def downgrade() -> None:
    for table in ("audit", "legacy_migrations", "tasks", "workers", "worker_queues", "environments", "api_keys", "organizations"):
        op.drop_table(table)
