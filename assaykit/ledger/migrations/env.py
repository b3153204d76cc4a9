"""Alembic environment: migrations always run on the connection assaykit opened (inside its
write lock), never from a URL in a config file."""

from __future__ import annotations

from alembic import context

from assaykit.ledger.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
