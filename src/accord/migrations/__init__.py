"""Alembic migrations; applied on start and by `accord db upgrade`."""
