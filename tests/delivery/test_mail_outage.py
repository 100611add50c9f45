"""Mail that survives outages: a real SMTP server (aiosmtpd) answering 421 for hours then
recovering delivers every signing email exactly once; a 550 goes dead at once and the
recipient, the sender, the audit trail and webhooks are told; time is the test clock's."""

from __future__ import annotations

import smtplib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from accord.app import create_app
from accord.delivery import services
from accord.delivery.domain import (
    DEAD,
    DELIVERED,
    MAIL_BACKOFF_CAP_S,
    MAIL_MAX_AGE,
    PENDING,
    mail_schedule_s,
)
from accord.delivery.mail import Email
from accord.delivery.models import OutboxMessage
from accord.delivery.worker import Worker, drain
from accord.runtime import Runtime
from tests.conftest import Clock
from tests.delivery.conftest import CollectingHandler, EphemeralController
from tests.factories import Member, envelope_body, member
from tests.web.conftest import HTML, login
from tests.webhooks.webhook_receiver import Receiver, add_endpoint, hook_rt, receiver

__all__ = ["hook_rt", "receiver"]  # fixtures used here

T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)


class OutageHandler(CollectingHandler):
    """Answers 421 to every RCPT while ``down``; counts the refusals."""

    down: bool = False
    refused_421: int = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.down:
            self.refused_421 += 1
            return "421 4.3.2 Service not available, try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@pytest.fixture
def outage_smtp(rt: Runtime) -> Iterator[OutageHandler]:
    """A real SMTP server on 127.0.0.1 whose outage the test switches on and off; ``rt``
    sends through it."""
    handler = OutageHandler()
    controller = EphemeralController(handler, hostname="127.0.0.1", port=0,
                                     ready_timeout=5.0)
    controller.start()
    rt.settings = rt.settings.model_copy(update={"smtp_host": "127.0.0.1",
                                                 "smtp_port": controller.port})
    yield handler
    controller.stop()


def _rows(rt: Runtime, kind: str | None = None) -> list[OutboxMessage]:
    with rt.db.uow() as uow:
        stmt = select(OutboxMessage)
        if kind is not None:
            stmt = stmt.where(OutboxMessage.kind == kind)
        rows = list(uow.session.scalars(stmt))
        for r in rows:
            uow.session.expunge(r)
        return rows


def _next_due(rt: Runtime) -> datetime | None:
    with rt.db.uow() as uow:
        due: datetime | None = uow.session.scalar(
            select(func.min(OutboxMessage.next_attempt_at))
            .where(OutboxMessage.status == PENDING))
        return due


def _ten_signers() -> dict[str, Any]:
    recipients = [{"name": f"Signer {i}", "email": f"signer{i}@customer.example",
                   "routing_order": 1} for i in range(10)]
    fields = [{"recipient": i, "kind": "signature", "page": 1, "x": 72, "y": 100 + 40 * i}
              for i in range(10)]
    return envelope_body(recipients=recipients, fields=fields)


def test_schedule_spans_72_hours_with_steps_of_at_most_an_hour() -> None:
    delays = mail_schedule_s(base_s=2.0)
    assert sum(delays) >= MAIL_MAX_AGE.total_seconds() == 72 * 3600
    assert max(delays) == MAIL_BACKOFF_CAP_S == 3600
    assert delays[:3] == [2.0, 4.0, 8.0]
    assert len(delays) > 8  # the old fixed count gave up after about four minutes


def test_a_421_outage_of_two_hours_then_recovery_delivers_every_email_once(
        rt: Runtime, clock: Clock, outage_smtp: OutageHandler) -> None:
    clock.freeze(T0)
    handler = outage_smtp
    admin = member(rt, role="admin")
    client = TestClient(create_app(rt), base_url="http://testserver")
    handler.down = True
    r = client.post("/api/v1/envelopes", json=_ten_signers(), headers=admin.auth)
    assert r.status_code == 201, r.text
    env_id = r.json()["id"]
    worker = Worker(rt, jitter=0.0)

    rounds = 0
    while clock() < T0 + timedelta(hours=2):  # the server says 421 for two hours
        worker.run_once()
        rounds += 1
        due = _next_due(rt)
        assert due is not None
        clock.freeze(max(due, clock()))
    requests = _rows(rt, "email:signing_request")
    assert len(requests) == 10
    assert {r.status for r in requests} == {PENDING}  # none dead after two hours
    assert min(r.attempts for r in requests) > 8
    assert all(r.last_error and "421" in r.last_error for r in requests)
    assert handler.received == []
    assert handler.refused_421 >= 10 * 9
    detail = client.get(f"/api/v1/envelopes/{env_id}", headers=admin.auth).json()
    assert {r["status"] for r in detail["recipients"]} == {"sent"}

    handler.down = False  # the server recovers; the next attempts (within the hour) land
    clock.advance(seconds=MAIL_BACKOFF_CAP_S)
    drain(rt)
    drain(rt)  # nothing is sent twice by a second pass
    assert {r.status for r in _rows(rt, "email:signing_request")} == {DELIVERED}
    by_rcpt = Counter(a for got in handler.received for a in got.rcpt_tos)
    assert by_rcpt == Counter({f"signer{i}@customer.example": 1 for i in range(10)})
    ids = Counter(got.message["Message-ID"] for got in handler.received)
    assert len(ids) == 10 and set(ids.values()) == {1}
    assert ids.keys() == {f"<{r.id}@localhost>" for r in requests}
    assert rounds < 40  # backoff, not a hot loop


def test_transient_failures_go_dead_only_after_72_hours(rt: Runtime, clock: Clock,
                                                        org_id: str) -> None:
    class Down:
        def send(self, email: Email, *, message_id: str, org_id: str | None) -> None:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    clock.freeze(T0)
    with rt.db.uow() as uow:
        row_id = services.send_email(uow.session, Email(to=("a@example.com",), subject="s",
                                                        body="b"), now=rt.now(),
                                    org_id=org_id).id
        uow.commit()
    worker = Worker(rt, mailer=Down(), jitter=0.1)
    first_failure = None
    while True:
        assert worker.run_once() == 1
        [row] = _rows(rt)
        first_failure = first_failure or clock()
        if row.status == DEAD:
            break
        delay = row.next_attempt_at - clock()
        assert timedelta(0) < delay <= timedelta(seconds=MAIL_BACKOFF_CAP_S)
        clock.freeze(row.next_attempt_at)
    assert row.id == row_id
    assert clock() - first_failure >= MAIL_MAX_AGE
    assert clock() - first_failure < MAIL_MAX_AGE + timedelta(hours=1, minutes=10)
    assert row.last_error == "SMTPServerDisconnected: Connection unexpectedly closed"

    services.retry_dead(rt, org_id, row.id)  # a replay starts a new 72 hours
    assert worker.run_once() == 1
    [row] = _rows(rt)
    assert (row.status, row.attempts, row.failing_since) == (PENDING, 1, clock())


def _audit_tags(client: TestClient, admin: Member, env_id: str) -> list[str]:
    r = client.get(f"/api/v1/envelopes/{env_id}/audit", headers=admin.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    events = body["events"] if isinstance(body, dict) else body
    return [e["tag"] for e in events]


def test_a_550_fails_at_once_tells_everyone_and_correction_delivers(
        hook_rt: Runtime, clock: Clock, receiver: Receiver,
        outage_smtp: OutageHandler) -> None:
    rt = hook_rt
    clock.freeze(T0)
    handler = outage_smtp
    handler.refuse.add("gone@customer.example")
    admin = member(rt, role="admin")
    client = TestClient(create_app(rt), base_url="http://testserver")
    add_endpoint(client, admin, receiver.url, ["recipient.delivery_failed"])
    body = envelope_body(recipients=[
        {"name": "Gone Signer", "email": "gone@customer.example", "routing_order": 1}],
        fields=[{"recipient": 0, "kind": "signature", "page": 1, "x": 72, "y": 100}])
    env = client.post("/api/v1/envelopes", json=body, headers=admin.auth).json()
    rid = env["recipients"][0]["id"]

    drain(rt)
    [request] = _rows(rt, "email:signing_request")
    assert (request.status, request.attempts) == (DEAD, 1)
    detail = client.get(f"/api/v1/envelopes/{env['id']}", headers=admin.auth).json()
    [rec] = detail["recipients"]
    assert rec["status"] == "delivery_failed"
    assert "550 5.1.1 no such user" in rec["delivery_error"]
    assert rec["delivery_failed_at"] is not None
    assert "recipient:delivery_failed" in _audit_tags(client, admin, env["id"])
    # the sender's email went out over the same SMTP server; the webhook to the receiver
    [to_sender] = [g for g in handler.received if g.rcpt_tos == [admin.email]]
    part = to_sender.message.get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    assert "could not deliver the signing request" in text
    assert "gone@customer.example" in text and "550 5.1.1 no such user" in text
    assert to_sender.message["Subject"].startswith("Could not deliver to gone@customer")
    assert receiver.events() == ["recipient.delivery_failed"]
    data = receiver.requests[0].json["data"]
    assert data["recipient_id"] == rid and data["recipient_status"] == "delivery_failed"
    assert "550" in data["reason"]
    # the console shows it on the envelope page
    browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    login(browser, admin)
    page = browser.get(f"/console/envelopes/{env['id']}")
    assert page.status_code == 200
    assert 'class="badge r-delivery_failed">delivery failed<' in page.text
    shown = page.text.split(f'id="delivery-error-{rid}">')[1].split("</span>")[0]
    assert "could not deliver: PermanentFailure: every recipient refused: 550" in shown
    assert f'id="resend-{rid}"' in page.text

    r = client.patch(f"/api/v1/envelopes/{env['id']}/recipients/{rid}", headers=admin.auth,
                     json={"email": "ann@customer.example"})
    assert r.status_code == 200, r.text
    assert r.json()["recipients"][0]["status"] == "sent"
    assert r.json()["recipients"][0]["delivery_error"] is None
    drain(rt)
    assert [g.rcpt_tos for g in handler.received].count(["ann@customer.example"]) == 1
    detail = client.get(f"/api/v1/envelopes/{env['id']}", headers=admin.auth).json()
    assert detail["recipients"][0]["status"] == "sent"


def test_resend_after_a_failure_and_a_replay_clears_it(
        rt: Runtime, clock: Clock, outage_smtp: OutageHandler) -> None:
    clock.freeze(T0)
    handler = outage_smtp
    handler.refuse.add("full@customer.example")
    admin = member(rt, role="admin")
    client = TestClient(create_app(rt), base_url="http://testserver")
    body = envelope_body(recipients=[
        {"name": "Full Box", "email": "full@customer.example", "routing_order": 1}],
        fields=[{"recipient": 0, "kind": "signature", "page": 1, "x": 72, "y": 100}])
    env = client.post("/api/v1/envelopes", json=body, headers=admin.auth).json()
    rid = env["recipients"][0]["id"]
    drain(rt)
    url = f"/api/v1/envelopes/{env['id']}"
    assert client.get(url, headers=admin.auth).json()["recipients"][0]["status"] == \
        "delivery_failed"

    handler.refuse.clear()  # the mailbox was emptied: resend without a correction
    clock.advance(seconds=60)
    r = client.post(f"{url}/recipients/{rid}/resend", headers=admin.auth)
    assert r.status_code == 200, r.text
    assert r.json()["recipients"][0]["status"] == "sent"
    drain(rt)
    assert [g.rcpt_tos for g in handler.received].count(["full@customer.example"]) == 1

    # the old dead request, replayed by an admin, goes to the current link: still "sent"
    [dead] = [r for r in _rows(rt, "email:signing_request") if r.status == DEAD]
    r = client.post(f"/api/v1/outbox/{dead.id}/replay", headers=admin.auth)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == PENDING and r.json()["to"] == "fu***@customer.example"
    drain(rt)
    assert client.get(url, headers=admin.auth).json()["recipients"][0]["status"] == "sent"
