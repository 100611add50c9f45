"""The engine's transactions: writers take SQLite's write lock at BEGIN, reads
(``Database.read``) take a snapshot and no lock, and the read flag never outlives a read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from accord.db import READ_ONLY, Database
from accord.runtime import Runtime


def _other(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=0, isolation_level=None)


def _can_write(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False
    conn.execute("ROLLBACK")
    return True


def test_sqlite_writers_lock_at_begin_and_reads_do_not(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    db = Database(f"sqlite:///{path}")
    assert not db.engine._has_events  # no engine event: statements skip event dispatch
    with db.uow() as uow:
        uow.session.execute(text("create table t (x integer)"))
        uow.commit()
    other = _other(path)
    with db.uow() as uow:
        uow.session.execute(text("select count(*) from t"))
        assert not _can_write(other), "a unit of work reads and writes under one lock"
    with db.read() as conn:
        assert conn.execute(text("select count(*) from t")).scalar() == 0
        assert _can_write(other), "a read holds no write lock"
        with db.uow() as uow:  # a writer goes ahead while the read is open
            uow.session.execute(text("insert into t values (1)"))
            uow.commit()
        # one transaction: the read still sees its snapshot
        assert conn.execute(text("select count(*) from t")).scalar() == 0
    with db.read() as conn:
        assert conn.execute(text("select count(*) from t")).scalar() == 1
    with db.engine.connect() as conn:  # the same pooled connection: flag gone
        assert READ_ONLY not in conn.connection.info
    other.close()
    db.dispose()


def test_read_works_on_both_databases(rt: Runtime) -> None:
    with rt.db.read() as conn:
        assert conn.execute(text("select 1")).scalar() == 1
        assert conn.in_transaction()
    with rt.db.engine.connect() as conn:
        assert READ_ONLY not in conn.connection.info
