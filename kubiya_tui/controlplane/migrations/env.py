"""Alembic's environment for the registry: runs on the connection ``database.upgrade`` hands over."""

from __future__ import annotations

from alembic import context

from kubiya_tui.controlplane.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the registry's migrations with `kubiya-tui admin migrate` (it opens the database)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
