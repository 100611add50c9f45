"""The envelope's version column stops two concurrent transitions from both succeeding."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.orm.exc import StaleDataError

from accord.audit import services as audit
from accord.envelopes import services
from accord.envelopes.models import Envelope
from accord.errors import Conflict
from accord.runtime import Runtime
from tests.factories import member, pdf, signature_fields


def _draft(rt: Runtime) -> tuple[str, object]:
    m = member(rt)
    env_id = services.create(
        rt, m.principal, subject="S", documents=[services.DocumentInput("a.pdf", pdf())],
        recipients=(rs := [services.RecipientInput("Ann", "ann@example.com")]),
        fields=signature_fields(rs))
    return env_id, m.principal


def test_stale_version_loses(rt: Runtime) -> None:
    env_id, _ = _draft(rt)
    s1, s2 = rt.db.sessionmaker(), rt.db.sessionmaker()
    try:
        # both read version 1 (each read in its own transaction: SQLite serialises them;
        # the audit trail's head is audit's own row, so recording does not bump it)
        a = s1.get(Envelope, env_id)
        s1.commit()
        b = s2.get(Envelope, env_id)
        s2.commit()
        assert a is not None and b is not None and a.version == b.version == 1
        a.status = "sent"
        s1.commit()
        b.status = "voided"
        with pytest.raises(StaleDataError):
            s2.commit()
    finally:
        s1.close()
        s2.close()
    with rt.db.uow() as uow:
        env = uow.session.get(Envelope, env_id)
        assert env is not None and env.status == "sent" and env.version == 2


def test_two_sends_racing_only_one_wins(rt: Runtime) -> None:
    env_id, principal = _draft(rt)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(action: str) -> None:
        barrier.wait()
        try:
            services.send(rt, principal, env_id)  # type: ignore[arg-type]
            results.append(action)
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=attempt, args=(a,)) for a in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r != "conflict"]
    assert len(results) == 2
    assert len(winners) == 1, results
    with rt.db.uow() as uow:
        env = uow.session.get(Envelope, env_id)
        assert env is not None
        assert env.status == "sent"
        sent_events = [e for e in audit.events(uow.session, env_id) if e["tag"] == "envelope:sent"]
        assert len(sent_events) == 1
