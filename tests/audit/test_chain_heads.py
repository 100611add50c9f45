"""Audit keeps each subject's chain head in its own table (``audit_chains``): any object
with an ``id`` and an ``org_id`` has a trail, two concurrent appends conflict instead of
forking the chain, and migration 0013 moves the heads off the envelope and back."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.orm.exc import StaleDataError

from accord.audit import services as audit
from accord.audit.chain import GENESIS
from accord.audit.models import AuditChain
from accord.db import Database
from accord.envelopes.services import commit_or_conflict
from accord.errors import Conflict
from accord.migrate import alembic_config, upgrade
from accord.runtime import Runtime
from tests.factories import member, sent_envelope


@dataclass(frozen=True)
class _Subject:
    id: str
    org_id: str


def _envelope(rt: Runtime) -> _Subject:
    m = member(rt)
    env = sent_envelope(rt, m)
    return _Subject(str(env.id), m.org_id)


def test_any_subject_with_id_and_org_gets_a_chain(rt: Runtime) -> None:
    subject = _envelope(rt)
    with rt.db.uow() as uow:
        before = audit.head(uow.session, subject.id)
        assert before.count >= 2 and before.hash != GENESIS
        first = audit.record(uow.session, subject, "test:one", actor="system", now=rt.now())
        second = audit.record(uow.session, subject, "test:two", actor="system", now=rt.now())
        assert (first.seq, second.seq) == (before.count + 1, before.count + 2)
        assert second.prev_hash == first.hash
        assert audit.head(uow.session, subject.id) == audit.Head(second.seq, second.hash)
        uow.commit()
    with rt.db.uow() as uow:
        assert audit.check_stored(uow.session, subject)[0]
        assert audit.head(uow.session, subject.id).count == before.count + 2
    with rt.db.uow() as uow:
        assert audit.head(uow.session, "no-such-subject") == audit.Head(0, GENESIS)


def test_listeners_see_the_subject_and_the_recorded_event(rt: Runtime,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    subject = _envelope(rt)
    seen: list[tuple[object, audit.Recorded]] = []
    monkeypatch.setattr(audit, "listeners", [lambda _s, subj, ev: seen.append((subj, ev))])
    with rt.db.uow() as uow:
        event = audit.record(uow.session, subject, "test:seen", actor="system", now=rt.now(),
                             data={"k": 1})
        uow.commit()
    assert [(subj, ev.subject_id, ev.org_id, ev.tag, ev.seq, ev.hash, ev.data)
            for subj, ev in seen] == [
        (subject, subject.id, subject.org_id, "test:seen", event.seq, event.hash, {"k": 1})]


def test_two_concurrent_appends_conflict_instead_of_forking(rt: Runtime) -> None:
    subject = _envelope(rt)
    s1, s2 = rt.db.sessionmaker(), rt.db.sessionmaker()
    try:
        # both read the same head (each in its own transaction: SQLite serialises them)
        a = s1.get(AuditChain, subject.id)
        s1.commit()
        b = s2.get(AuditChain, subject.id)
        s2.commit()
        assert a is not None and b is not None and a.version == b.version
        audit.record(s1, subject, "test:first", actor="system", now=rt.now())
        s1.commit()
        audit.record(s2, subject, "test:second", actor="system", now=rt.now())
        with pytest.raises(StaleDataError):
            s2.commit()
    finally:
        s1.close()
        s2.close()
    with rt.db.uow() as uow:
        tags = [e["tag"] for e in audit.events(uow.session, subject.id)]
        assert "test:first" in tags and "test:second" not in tags
        assert audit.check_stored(uow.session, subject)[0]


def test_the_loser_of_a_race_gets_a_conflict(rt: Runtime) -> None:
    subject = _envelope(rt)
    s1, s2 = rt.db.sessionmaker(), rt.db.sessionmaker()
    try:
        held = [s1.get(AuditChain, subject.id)]  # held: the sessions keep them as read
        s1.commit()
        held.append(s2.get(AuditChain, subject.id))
        s2.commit()
        audit.record(s1, subject, "test:first", actor="system", now=rt.now())
        commit_or_conflict(s1)
        audit.record(s2, subject, "test:second", actor="system", now=rt.now())
        with pytest.raises(Conflict):
            commit_or_conflict(s2)
    finally:
        s1.close()
        s2.close()


# -- migration 0013: the heads move off the envelope, and back on downgrade ----------------

def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    if not down:
        upgrade(engine, revision)
        return
    cfg = alembic_config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # batch mode copies tables (see accord.migrate.upgrade)
            conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                "PRAGMA foreign_keys=OFF")
        with conn.begin():
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_migration_moves_heads_to_audit_chains_and_back(tmp_path: Path, backend: str) -> None:
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path}/heads.db")
    else:
        from tests.conftest import make_pg_database

        db = Database(make_pg_database(f"accord_heads_{os.getpid()}"))
    head = "ab" * 32
    try:
        _migrate(db.engine, "0012_mail")
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO organisations (id, name, slug, settings, created_at) "
                           "VALUES ('o1', 'Org', 'org', '{}', CURRENT_TIMESTAMP)"))
            for env_id, count, env_head in (("e1", 3, head), ("e2", 0, None)):
                c.execute(text(
                    "INSERT INTO envelopes (id, org_id, subject, message, status, version, "
                    "created_at, audit_count, audit_head) VALUES (:id, 'o1', 'S', '', "
                    "'draft', 1, CURRENT_TIMESTAMP, :n, :h)"),
                    {"id": env_id, "n": count, "h": env_head})
        _migrate(db.engine, "0013_infra")
        with db.engine.connect() as c:
            rows = c.execute(text("SELECT subject_id, org_id, count, head, version "
                                  "FROM audit_chains")).all()
            assert [tuple(r) for r in rows] == [("e1", "o1", 3, head, 1)]
        columns = {col["name"] for col in inspect(db.engine).get_columns("envelopes")}
        assert not {"audit_count", "audit_head"} & columns
        _migrate(db.engine, "0012_mail", down=True)
        with db.engine.connect() as c:
            rows = c.execute(text("SELECT id, audit_count, audit_head FROM envelopes "
                                  "ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [("e1", 3, head), ("e2", 0, None)]
        assert "audit_chains" not in inspect(db.engine).get_table_names()
        _migrate(db.engine, "heads")  # and up again
    finally:
        url = db.engine.url
        db.dispose()
        if backend == "postgres":
            from tests.conftest import PG_ADMIN_URL

            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
            admin.dispose()
