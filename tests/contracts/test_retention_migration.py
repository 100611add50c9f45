"""Migration 0017_retention keeps the contracts made before it: every one becomes
``standard``; those already ended get their date (7 years after the end); down and up
again keep the rows. On both databases."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from accord.db import Database
from accord.migrate import upgrade

ROWS = [("c1", "active", "2027-01-31", None), ("c2", "expired", "2025-06-30", None),
        ("c3", "terminated", "2027-01-31", "2026-02-10 09:00:00")]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_contracts_made_before_get_standard_retention(tmp_path: Path, backend: str) -> None:
    from tests.conftest import PG_ADMIN_URL, make_pg_database

    name = f"accord_mig_retention_{os.getpid()}"
    url = f"sqlite:///{tmp_path}/old.db" if backend == "sqlite" else make_pg_database(name)
    db = Database(url)
    try:
        upgrade(db.engine, "0016_search")
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO organisations (id, name, slug, settings, created_at) "
                           "VALUES ('o1', 'Org', 'org', '{}', CURRENT_TIMESTAMP)"))
            for cid, status, end, terminated in ROWS:
                c.execute(text(
                    "INSERT INTO contracts (id, org_id, title, type, status, parties, "
                    "watchers, source, search_text, created_at, updated_at, version, "
                    "auto_renew, flagged, end_date, terminated_at) VALUES (:id, 'o1', 'C', "
                    "'nda', :status, '[]', '[]', 'import', '', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP, 1, false, false, :end, :terminated)"),
                    {"id": cid, "status": status, "end": date.fromisoformat(end),
                     "terminated": terminated})
        upgrade(db.engine)
        with db.engine.connect() as c:
            got = {r[0]: (r[1], None if r[2] is None else str(r[2])[:10]) for r in c.execute(
                text("SELECT id, retention_policy, retain_until FROM contracts"))}
        assert got == {"c1": ("standard", None), "c2": ("standard", "2032-06-30"),
                       "c3": ("standard", "2033-02-10")}
    finally:
        db.dispose()
        if backend == "postgres":
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
