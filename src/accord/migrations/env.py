"""Alembic environment: runs against the connection handed in by accord.migrate."""

from __future__ import annotations

from alembic import context

import accord.models  # noqa: F401  - registers every table on Base.metadata
from accord.db import Base, include_object

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - we always pass a connection
    raise RuntimeError("run migrations through `accord db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
