"""What a worker is seen to do: the interval it keeps between heartbeats, and when a drain was asked.

``workers.beat_interval`` is the time between its last two heartbeats (health is judged by
it, bounded, when it is longer than the queue's: Kubiya's worker keeps its own interval);
``workers.drain_requested_at`` is when a drain was asked of it, so a drain that the worker
ignores is reported as such instead of ``draining`` forever.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("beat_interval", sa.Double()))
        batch.add_column(sa.Column("drain_requested_at", sa.Double()))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("drain_requested_at")
        batch.drop_column("beat_interval")
