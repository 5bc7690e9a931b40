"""Durable task intake: task states, keyed requests, the registry's own id.

The control plane that introduced these added them to a SQLite file when it opened it,
without a revision; so each is added here only when missing, and a file written by that
version upgrades like any other. ``tasks.position`` is new: tasks of one request read back
in the order submitted (PostgreSQL has no rowid to order by).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TASK_COLUMNS = (
    sa.Column("state", sa.Text, nullable=False, server_default=sa.text("'started'")),
    sa.Column("request_id", sa.Text),
    sa.Column("boot_id", sa.Text),
    sa.Column("start_error", sa.Text),
    sa.Column("verify_start", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("position", sa.Integer),
)


def upgrade() -> None:
    conn = op.get_bind()
    inspector = sa.inspect(conn)
    have = {c["name"] for c in inspector.get_columns("tasks")}
    missing = [c for c in TASK_COLUMNS if c.name not in have]
    if missing:
        with op.batch_alter_table("tasks") as batch:
            for column in missing:
                batch.add_column(column)
    tables = set(inspector.get_table_names())
    if "task_requests" not in tables:
        op.create_table(
            "task_requests",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("organization_id", sa.Text, nullable=False),
            sa.Column("queue_id", sa.Text, nullable=False),
            sa.Column("idempotency_key", sa.Text, nullable=False),
            sa.Column("fingerprint", sa.Text, nullable=False),
            sa.Column("boot_id", sa.Text, nullable=False),
            sa.Column("status_code", sa.Integer),
            sa.Column("answer", sa.Text),
            sa.Column("created_at", sa.Double(), nullable=False),
            sa.UniqueConstraint("organization_id", "queue_id", "idempotency_key"),
        )
    if "meta" not in tables:
        op.create_table("meta", sa.Column("name", sa.Text, primary_key=True), sa.Column("value", sa.Text, nullable=False))
    indexes = {i["name"] for t in ("tasks", "task_requests") for i in sa.inspect(conn).get_indexes(t)}
    partial = {
        "tasks_pending": ("tasks", ["state"], sa.text("state = 'pending'")),
        "tasks_to_verify": ("tasks", ["submitted_at"], sa.text("verify_start = 1")),
        "tasks_by_request": ("tasks", ["request_id"], None),
        "task_requests_open": ("task_requests", ["created_at"], sa.text("status_code IS NULL")),
        "task_requests_by_age": ("task_requests", ["created_at"], None),
    }
    for name, (table, columns, where) in partial.items():
        if name not in indexes:
            extra = {} if where is None else {"sqlite_where": where, "postgresql_where": where}
            op.create_index(name, table, columns, **extra)
    meta = sa.table("meta", sa.column("name"), sa.column("value"))
    if conn.execute(sa.select(meta.c.value).where(meta.c.name == "instance_id")).first() is None:
        conn.execute(sa.insert(meta).values(name="instance_id", value=str(uuid.uuid4())))


def downgrade() -> None:
    for name in ("task_requests_by_age", "task_requests_open", "tasks_by_request", "tasks_to_verify", "tasks_pending"):
        op.drop_index(name)
    op.drop_table("meta")
    op.drop_table("task_requests")
    with op.batch_alter_table("tasks") as batch:
        for column in reversed(TASK_COLUMNS):
            batch.drop_column(column.name)
