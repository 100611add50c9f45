"""Migration 0016_search indexes the contracts filed before it, on both databases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from accord.db import Database
from accord.migrate import upgrade


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_contracts_filed_before_are_indexed(tmp_path: Path, backend: str) -> None:
    from tests.conftest import PG_ADMIN_URL, make_pg_database

    name = f"accord_mig_search_{os.getpid()}"
    url = f"sqlite:///{tmp_path}/old.db" if backend == "sqlite" else make_pg_database(name)
    db = Database(url)
    try:
        upgrade(db.engine, "0014_contracts")
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO organisations (id, name, slug, settings, created_at) "
                           "VALUES ('o1', 'Org', 'org', '{}', CURRENT_TIMESTAMP)"))
            c.execute(text(
                "INSERT INTO contracts (id, org_id, title, type, status, parties, watchers, "
                "source, search_text, created_at, updated_at, version, auto_renew, flagged, "
                "customer_name) VALUES ('c1', 'o1', 'Gold Support', 'nda', 'active', '[]', "
                "'[]', 'import', 'Service credits apply', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, 1, false, false, 'Acme')"))
            c.execute(text("INSERT INTO contract_tags (contract_id, tag, org_id) "
                           "VALUES ('c1', 'platinum', 'o1')"))
        upgrade(db.engine)
        with db.engine.connect() as c:
            doc = c.execute(text("SELECT doc FROM contract_search WHERE contract_id = 'c1'")
                            ).scalar_one()
            assert doc == "gold support acme platinum service credits apply"
            if backend == "sqlite":
                hit = c.execute(text("SELECT rowid FROM contract_search_fts WHERE "
                                     "contract_search_fts MATCH '\"platinum\"'")).all()
            else:
                hit = c.execute(text("SELECT id FROM contract_search WHERE doc_tsv @@ "
                                     "websearch_to_tsquery('simple', 'platinum')")).all()
            assert len(hit) == 1
    finally:
        db.dispose()
        if backend == "postgres":
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
