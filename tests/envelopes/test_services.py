"""Envelope services: expiry, audit chain on the database."""

from __future__ import annotations

from sqlalchemy import update

from accord.audit import services as audit
from accord.audit.models import AuditEvent
from accord.envelopes import services
from accord.envelopes.models import Envelope
from accord.runtime import Runtime
from tests.conftest import Clock
from tests.factories import member, pdf, signature_fields


def _sent(rt: Runtime) -> str:
    m = member(rt)
    env_id = services.create(
        rt, m.principal, subject="S", documents=[services.DocumentInput("a.pdf", pdf())],
        recipients=(rs := [services.RecipientInput("Ann", "ann@example.com")]),
        fields=signature_fields(rs), expires_in_days=3)
    services.send(rt, m.principal, env_id)
    return env_id


def test_expiry_sweep(rt: Runtime, clock: Clock) -> None:
    env_id = _sent(rt)
    assert services.expire_due(rt) == 0
    clock.advance(days=3, seconds=1)
    assert services.expire_due(rt) == 1
    assert services.expire_due(rt) == 0
    with rt.db.uow() as uow:
        env = uow.session.get(Envelope, env_id)
        assert env is not None and env.status == "expired"
        assert audit.events(uow.session, env_id)[-1]["tag"] == "envelope:expired"


def test_stored_chain_detects_edit_delete_and_truncation(rt: Runtime) -> None:
    env_id = _sent(rt)
    with rt.db.uow() as uow:
        env = uow.session.get(Envelope, env_id)
        assert env is not None
        ok, _ = audit.check_stored(uow.session, env)
        assert ok
        count = audit.head(uow.session, env_id).count
        assert count >= 3
    # edit
    with rt.db.uow() as uow:
        uow.session.execute(update(AuditEvent).where(AuditEvent.envelope_id == env_id,
                                                     AuditEvent.seq == 2)
                            .values(actor="user:mallory@example.com"))
        uow.commit()
    with rt.db.uow() as uow:
        env = uow.session.get(Envelope, env_id)
        assert env is not None
        ok, detail = audit.check_stored(uow.session, env)
        assert not ok and "2" in detail
    # truncation: delete the last event (the chain itself still links)
    env2 = _sent(rt)
    with rt.db.uow() as uow:
        last = uow.session.query(AuditEvent).filter_by(envelope_id=env2).order_by(
            AuditEvent.seq.desc()).first()
        assert last is not None
        uow.session.delete(last)
        uow.commit()
    with rt.db.uow() as uow:
        env = uow.session.get(Envelope, env2)
        assert env is not None
        ok, detail = audit.check_stored(uow.session, env)
        assert not ok and "removed" in detail


def test_create_validates_before_writing(rt: Runtime) -> None:
    import pytest

    from accord.errors import InvalidInput

    m = member(rt)
    with pytest.raises(InvalidInput) as exc:
        services.create(rt, m.principal, subject=" ",
                        documents=[services.DocumentInput("a.pdf", pdf())],
                        recipients=[services.RecipientInput("Ann", "ann@example.com")],
                        fields=[])
    assert exc.value.code == "invalid_subject"
    with pytest.raises(InvalidInput) as exc:
        services.create(rt, m.principal, subject="S",
                        documents=[services.DocumentInput("a.pdf", pdf())],
                        recipients=[services.RecipientInput("Ann", "not-an-email")],
                        fields=[])
    assert exc.value.code == "invalid_recipient"
    assert services.list_envelopes(rt, m.principal).total == 0
