"""The recipient state ``delivery_failed``: the pure transitions, a failure of a request
that a newer one replaced, and reassignment out of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.app import create_app
from accord.audit.models import AuditEvent
from accord.delivery.handlers import DeadLetter
from accord.delivery.models import OutboxMessage
from accord.envelopes.domain import (
    EnvelopeState,
    EnvelopeStatus,
    RecipientRole,
    RecipientState,
    RecipientStatus,
)
from accord.envelopes.tasks import signing_request_failed
from accord.runtime import Runtime
from tests.conftest import Clock
from tests.factories import Member, envelope_body, member

T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
S = RecipientRole.SIGNER


def test_a_failed_delivery_keeps_the_turn_and_holds_the_step() -> None:
    e = EnvelopeState(EnvelopeStatus.DRAFT, [RecipientState("a", S, 1),
                                             RecipientState("b", S, 1),
                                             RecipientState("c", S, 2)])
    e.send()
    assert e.fail_delivery("a") and not e.fail_delivery("a")
    assert e.recipient("a").status is RecipientStatus.DELIVERY_FAILED
    assert e.is_turn_of("a")  # a link that did arrive after all still works
    assert e.complete_recipient("b") == ([], False)  # c waits for a
    assert e.mark_viewed("a") and e.recipient("a").status is RecipientStatus.DELIVERED
    assert not e.fail_delivery("a")  # they opened it: an older failure changes nothing
    assert not e.restore_delivery("a")
    e.recipient("a").status = RecipientStatus.DELIVERY_FAILED
    assert e.restore_delivery("a") and e.recipient("a").status is RecipientStatus.SENT
    e.void()
    assert not e.fail_delivery("a")


def _envelope(rt: Runtime, client: TestClient, admin: Member) -> tuple[str, str]:
    body = envelope_body(recipients=[
        {"name": "Dee Signer", "email": "dee@customer.example", "routing_order": 1}],
        fields=[{"recipient": 0, "kind": "signature", "page": 1, "x": 72, "y": 100}])
    env = client.post("/api/v1/envelopes", json=body, headers=admin.auth).json()
    return env["id"], env["recipients"][0]["id"]


def _letter(rt: Runtime, recipient_id: str, created_at: datetime) -> DeadLetter:
    with rt.db.uow() as uow:
        row = uow.session.scalar(select(OutboxMessage).where(
            OutboxMessage.kind == "email:signing_request"))
        assert row is not None
        return DeadLetter(id=row.id, kind=row.kind, org_id=row.org_id,
                          payload={"recipient_id": recipient_id},
                          error="PermanentFailure: every recipient refused: 550 no",
                          attempts=1, permanent=True, created_at=created_at)


def _tags(rt: Runtime, envelope_id: str) -> list[str]:
    with rt.db.uow() as uow:
        return list(uow.session.scalars(select(AuditEvent.tag).where(
            AuditEvent.envelope_id == envelope_id)))


def test_a_replaced_request_failing_changes_nothing(rt: Runtime, clock: Clock) -> None:
    clock.freeze(T0)
    admin = member(rt, role="admin")
    client = TestClient(create_app(rt), base_url="http://testserver")
    env_id, rid = _envelope(rt, client, admin)
    clock.advance(minutes=5)
    assert client.post(f"/api/v1/envelopes/{env_id}/recipients/{rid}/resend",
                       headers=admin.auth).status_code == 200
    signing_request_failed(rt, _letter(rt, rid, created_at=T0))  # the first request
    got = client.get(f"/api/v1/envelopes/{env_id}", headers=admin.auth).json()
    assert got["recipients"][0]["status"] == "sent"
    assert "recipient:delivery_failed" not in _tags(rt, env_id)

    signing_request_failed(rt, _letter(rt, rid, created_at=T0 + timedelta(minutes=5)))
    got = client.get(f"/api/v1/envelopes/{env_id}", headers=admin.auth).json()
    assert got["recipients"][0]["status"] == "delivery_failed"
    assert _tags(rt, env_id).count("recipient:delivery_failed") == 1


def test_reassigning_a_failed_recipient_sends_to_the_new_person(rt: Runtime,
                                                               clock: Clock) -> None:
    clock.freeze(T0)
    admin = member(rt, role="admin")
    client = TestClient(create_app(rt), base_url="http://testserver")
    env_id, rid = _envelope(rt, client, admin)
    signing_request_failed(rt, _letter(rt, rid, created_at=T0))
    url = f"/api/v1/envelopes/{env_id}/recipients/{rid}"
    r = client.post(f"{url}/reassign", headers=admin.auth,
                    json={"name": "Eve Other", "email": "eve@customer.example"})
    assert r.status_code == 200, r.text
    [rec] = r.json()["recipients"]
    assert (rec["status"], rec["email"], rec["delivery_error"]) == (
        "sent", "eve@customer.example", None)
    with rt.db.uow() as uow:
        requests = uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "email:signing_request")).all()
        assert len(requests) == 2  # the first one and Eve's
