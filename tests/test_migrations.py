"""Migrations produce exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from accord.db import Base, Database, include_object


def test_migrations_match_models(database: Database) -> None:
    with database.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                 "include_object": include_object})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_upgrade_keeps_existing_rows(tmp_path: Path) -> None:
    """Every migration upgrades a populated database from the first revision (SQLite's
    table-copying ALTERs included)."""
    from sqlalchemy import text

    from accord.migrate import current, upgrade

    for backend in ("sqlite", "postgres"):
        if backend == "sqlite":
            db = Database(f"sqlite:///{tmp_path}/old.db")
        else:
            from tests.conftest import make_pg_database

            db = Database(make_pg_database(f"accord_mig_{__import__('os').getpid()}"))
        upgrade(db.engine, "0001")
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO organisations (id, name, slug, settings, created_at) "
                           "VALUES ('o1', 'Org', 'org', '{}', CURRENT_TIMESTAMP)"))
            c.execute(text("INSERT INTO envelopes (id, org_id, subject, message, status, "
                           "version, created_at, audit_count) VALUES ('e1', 'o1', 'S', '', "
                           "'draft', 1, CURRENT_TIMESTAMP, 0)"))
            c.execute(text("INSERT INTO recipients (id, org_id, envelope_id, name, email, "
                           "role, routing_order, status, auth_method) VALUES ('r1', 'o1', "
                           "'e1', 'Ann', 'a@example.com', 'signer', 1, 'created', "
                           "'email_link')"))
        upgrade(db.engine)
        assert current(db.engine) is not None
        with db.engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM recipients")).scalar() == 1
            assert c.execute(text("SELECT subject FROM envelopes")).scalar() == "S"
        db.dispose()
        if backend == "postgres":
            from sqlalchemy import create_engine

            from tests.conftest import PG_ADMIN_URL

            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{db.engine.url.database}" WITH (FORCE)'))
            admin.dispose()
