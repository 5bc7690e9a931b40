"""What several replicas share: each queue's config version and last scale time, and leases.

A heartbeat answers the queue's config version from the row (no replica keeps its own copy);
the autoscaler's cool-down starts from the queue's ``last_scaled_at`` (not the memory of the
runner that decided); a lease row names the one runner or autoscaler that acts.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _config_version(row: sa.Row) -> str:
    # The formula of serializers.config_version, as it was when this revision was written.
    relevant = [row.status, row.max_workers, row.heartbeat_interval, json.loads(row.settings), json.loads(row.tags)]
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def upgrade() -> None:
    with op.batch_alter_table("worker_queues") as batch:
        batch.add_column(sa.Column("config_version", sa.Text))
        batch.add_column(sa.Column("last_scaled_at", sa.Double()))
    queues = sa.table(
        "worker_queues",
        sa.column("id"),
        sa.column("status"),
        sa.column("max_workers"),
        sa.column("heartbeat_interval"),
        sa.column("settings"),
        sa.column("tags"),
        sa.column("config_version"),
    )
    conn = op.get_bind()
    for row in conn.execute(sa.select(queues)).all():
        conn.execute(sa.update(queues).where(queues.c.id == row.id).values(config_version=_config_version(row)))
    op.create_table(
        "leases",
        sa.Column("organization_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("acquired_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    with op.batch_alter_table("worker_queues") as batch:
        batch.drop_column("last_scaled_at")
        batch.drop_column("config_version")
