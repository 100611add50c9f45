"""Enqueueing in the caller's transaction, the local mailbox and the console helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from accord.delivery import services
from accord.delivery.domain import DEAD, DELIVERED, PENDING
from accord.delivery.errors import DeliveryError, NotFound
from accord.delivery.mail import Attachment, Email, MailboxMailer, SmtpMailer, mailer_for
from accord.delivery.models import OutboxMessage
from accord.delivery.worker import drain
from accord.runtime import Runtime

T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)


def _email(to: str = "ann@example.com", subject: str = "Please sign") -> Email:
    return Email(to=(to,), subject=subject, body="Sign at http://testserver/s/secret-token")


def _queue_email(rt: Runtime, email: Email, org_id: str | None) -> str:
    with rt.db.uow() as uow:
        row = services.send_email(uow.session, email, now=rt.now(), org_id=org_id)
        uow.commit()
        return row.id


def test_enqueue_joins_the_callers_transaction(rt: Runtime, org_id: str) -> None:
    with rt.db.uow() as uow:
        row = services.send_email(uow.session, _email(), now=rt.now(), org_id=org_id)
        assert row.id  # known before flush
        uow.rollback()
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert drain(rt) == 0


def test_enqueue_validates(rt: Runtime) -> None:
    with rt.db.uow() as uow:
        with pytest.raises(DeliveryError, match="JSON"):
            services.enqueue(uow.session, kind="x", payload={"at": T0}, now=T0)
        with pytest.raises(DeliveryError, match="naive"):
            services.enqueue(uow.session, kind="x", payload={}, now=datetime(2030, 1, 1))
        with pytest.raises(DeliveryError):
            services.enqueue(uow.session, kind="k" * 41, payload={}, now=T0)
        with pytest.raises(DeliveryError):
            services.enqueue(uow.session, kind="x", payload={}, now=T0, delay_s=-1)


def test_drain_delivers_to_the_local_mailbox_exactly_once(
        rt: Runtime, clock: Any, org_id: str, outbox_row: Callable[[str], OutboxMessage],
        mailbox_count: Callable[[], int]) -> None:
    clock.freeze(T0)
    blob = rt.blobs.put(b"%PDF-1.7 test")
    email = Email(to=("ann@example.com",), subject="Please sign", body="body",
                  attachments=(Attachment("c.pdf", "application/pdf", blob),))
    message_id = _queue_email(rt, email, org_id)

    assert drain(rt) == 1
    assert drain(rt) == 0
    assert mailbox_count() == 1
    row = outbox_row(message_id)
    assert (row.status, row.delivered_at, row.locked_until) == (DELIVERED, T0, None)
    [view] = services.list_mailbox(rt, org_id)
    assert (view.to_addr, view.subject, view.body) == ("ann@example.com", "Please sign", "body")
    assert view.attachments == [{"filename": "c.pdf", "content_type": "application/pdf",
                                 "blob": blob}]
    assert view.created_at == T0


def test_delayed_message_waits(rt: Runtime, clock: Any, enqueue: Callable[..., str],
                               outbox_row: Callable[[str], OutboxMessage]) -> None:
    clock.freeze(T0)
    message_id = enqueue("email", _email().to_payload(), delay_s=60)
    assert drain(rt) == 0
    clock.advance(seconds=60)
    assert drain(rt) == 1
    assert outbox_row(message_id).status == DELIVERED


def test_mailbox_mailer_is_idempotent_per_outbox_id(
        rt: Runtime, mailbox_count: Callable[[], int]) -> None:
    mailer = MailboxMailer(rt)
    mailer.send(_email(), message_id="m-1", org_id=None)
    mailer.send(_email(), message_id="m-1", org_id=None)
    mailer.send(_email(), message_id="m-2", org_id=None)
    assert mailbox_count() == 2


def test_mailer_for_picks_smtp_only_when_configured(rt: Runtime) -> None:
    assert isinstance(mailer_for(rt), MailboxMailer)
    rt.settings = rt.settings.model_copy(update={"smtp_host": "127.0.0.1"})
    assert isinstance(mailer_for(rt), SmtpMailer)


def test_mailbox_is_scoped_by_organisation(rt: Runtime, clock: Any,
                                           new_org: Callable[[str], str]) -> None:
    clock.freeze(T0)
    acme, globex = new_org("acme"), new_org("globex")
    for i in range(3):  # the mailbox is ordered by delivery time, newest first
        _queue_email(rt, _email(subject=f"acme {i}"), acme)
        assert drain(rt) == 1
        clock.advance(seconds=1)
    _queue_email(rt, _email(subject="globex"), globex)
    _queue_email(rt, _email(subject="system"), None)
    assert drain(rt) == 2

    acme_box = services.list_mailbox(rt, acme)
    assert [m.subject for m in acme_box] == ["acme 2", "acme 1", "acme 0"]
    assert [m.subject for m in services.list_mailbox(rt, acme, limit=1, offset=1)] == ["acme 1"]
    [globex_msg] = services.list_mailbox(rt, globex)
    assert services.get_mailbox_message(rt, globex, globex_msg.id) == globex_msg
    with pytest.raises(NotFound):
        services.get_mailbox_message(rt, acme, globex_msg.id)
    with pytest.raises(NotFound):
        services.get_mailbox_message(rt, globex, "no-such-id")


def test_outbox_stats_counts_by_status(rt: Runtime, org_id: str,
                                       enqueue: Callable[..., str]) -> None:
    assert services.outbox_stats(rt) == {PENDING: 0, DELIVERED: 0, DEAD: 0}
    enqueue("email", _email().to_payload(), org_id=org_id)
    enqueue("no-such-kind", {}, org_id=org_id)
    enqueue("email", _email().to_payload(), delay_s=3600)
    drain(rt)
    assert services.outbox_stats(rt) == {PENDING: 1, DELIVERED: 1, DEAD: 1}
    assert services.outbox_stats(rt, org_id=org_id) == {PENDING: 0, DELIVERED: 1, DEAD: 1}


def test_dead_messages_are_listed_and_retried_per_organisation(
        rt: Runtime, clock: Any, new_org: Callable[[str], str], enqueue: Callable[..., str],
        outbox_row: Callable[[str], OutboxMessage]) -> None:
    clock.freeze(T0)
    acme, globex = new_org("acme"), new_org("globex")
    dead_id = enqueue("no-such-kind", {"secret": "x"}, org_id=acme)
    ok_id = enqueue("email", _email().to_payload(), org_id=acme)
    drain(rt)
    [dead] = services.list_dead(rt, acme)
    assert (dead.id, dead.kind, dead.status, dead.attempts) == (dead_id, "no-such-kind", DEAD, 1)
    assert dead.last_error == "unknown kind"
    assert services.list_dead(rt, globex) == []

    with pytest.raises(NotFound):
        services.retry_dead(rt, globex, dead_id)
    with pytest.raises(services.InvalidState):
        services.retry_dead(rt, acme, ok_id)

    clock.advance(seconds=30)
    revived = services.retry_dead(rt, acme, dead_id)
    assert (revived.status, revived.attempts) == (PENDING, 0)
    assert revived.next_attempt_at == T0 + timedelta(seconds=30)
    assert outbox_row(dead_id).status == PENDING
    assert services.list_dead(rt, acme) == []
