"""Use cases of the delivery feature.

``enqueue``/``send_email`` write into the caller's session so that the outbox row commits
(or rolls back) with the state change that caused it. The console helpers own their
transactions and are scoped to one organisation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accord.db import new_id
from accord.delivery.domain import DEAD, PENDING, STATUSES
from accord.delivery.errors import DeliveryError, InvalidState, NotFound, PermanentFailure
from accord.delivery.handlers import EMAIL, check_kind
from accord.delivery.mail import Email
from accord.delivery.models import MailboxMessage, OutboxMessage
from accord.runtime import Runtime

__all__ = [
    "DeliveryError",
    "InvalidState",
    "MailboxView",
    "NotFound",
    "OutboxView",
    "PermanentFailure",
    "enqueue",
    "get_mailbox_message",
    "list_dead",
    "list_mailbox",
    "outbox_stats",
    "retry_dead",
    "send_email",
]

MAX_PAGE = 200


@dataclass(frozen=True)
class MailboxView:
    id: str
    to_addr: str
    subject: str
    body: str
    attachments: list[dict[str, str]]
    created_at: datetime


@dataclass(frozen=True)
class OutboxView:
    """An outbox row as the console shows it. The payload is left out: it may hold links."""

    id: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise DeliveryError("naive datetime: pass rt.now()")
    return now


def enqueue(session: Session, *, kind: str, payload: dict[str, Any], now: datetime,
            org_id: str | None = None, delay_s: float = 0.0) -> OutboxMessage:
    """Add an outbox row to the caller's session (the caller commits).

    The row is due at ``now + delay_s``. Its id is set at once, so the caller may
    refer to it before flushing.
    """
    check_kind(kind)
    _aware(now)
    if delay_s < 0:
        raise DeliveryError("delay_s must not be negative")
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DeliveryError(f"outbox payload is not JSON-safe: {exc}") from exc
    row = OutboxMessage(
        id=new_id(), org_id=org_id, kind=kind, payload=payload, status=PENDING, attempts=0,
        next_attempt_at=now + timedelta(seconds=delay_s), locked_until=None,
        last_error=None, created_at=now, delivered_at=None)
    session.add(row)
    return row


def send_email(session: Session, email: Email, *, now: datetime,
               org_id: str | None = None, delay_s: float = 0.0) -> OutboxMessage:
    """Queue ``email`` (kind "email") in the caller's transaction."""
    return enqueue(session, kind=EMAIL, payload=email.to_payload(), now=now, org_id=org_id,
                   delay_s=delay_s)


def _mailbox_view(row: MailboxMessage) -> MailboxView:
    return MailboxView(id=row.id, to_addr=row.to_addr, subject=row.subject, body=row.body,
                       attachments=[dict(a) for a in row.attachments or []],
                       created_at=row.created_at)


def _outbox_view(row: OutboxMessage) -> OutboxView:
    return OutboxView(id=row.id, kind=row.kind, status=row.status, attempts=row.attempts,
                      last_error=row.last_error, next_attempt_at=row.next_attempt_at,
                      created_at=row.created_at, delivered_at=row.delivered_at)


def _page(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, MAX_PAGE)), max(0, offset)


def list_mailbox(rt: Runtime, org_id: str, *, limit: int = 50,
                 offset: int = 0) -> list[MailboxView]:
    """The organisation's local mailbox, newest first."""
    limit, offset = _page(limit, offset)
    with rt.db.uow() as uow:
        rows = uow.session.scalars(
            select(MailboxMessage).where(MailboxMessage.org_id == org_id)
            .order_by(MailboxMessage.created_at.desc(), MailboxMessage.id.desc())
            .limit(limit).offset(offset)).all()
        return [_mailbox_view(r) for r in rows]


def get_mailbox_message(rt: Runtime, org_id: str, message_id: str) -> MailboxView:
    """One mailbox message; NotFound if unknown or another organisation's."""
    with rt.db.uow() as uow:
        row = uow.session.scalar(
            select(MailboxMessage).where(MailboxMessage.id == message_id,
                                         MailboxMessage.org_id == org_id))
        if row is None:
            raise NotFound(f"no mailbox message {message_id}")
        return _mailbox_view(row)


def outbox_stats(rt: Runtime, *, org_id: str | None = None) -> dict[str, int]:
    """Number of outbox rows by status (every status present, zero included).

    All organisations by default; only ``org_id``'s when given.
    """
    stats = dict.fromkeys(STATUSES, 0)
    stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if org_id is not None:
        stmt = stmt.where(OutboxMessage.org_id == org_id)
    with rt.db.uow() as uow:
        for status, count in uow.session.execute(stmt):
            stats[status] = count
    return stats


def list_dead(rt: Runtime, org_id: str, *, limit: int = 50,
              offset: int = 0) -> list[OutboxView]:
    """The organisation's dead messages, most recently failed first."""
    limit, offset = _page(limit, offset)
    with rt.db.uow() as uow:
        rows = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.org_id == org_id,
                                        OutboxMessage.status == DEAD)
            .order_by(OutboxMessage.next_attempt_at.desc(), OutboxMessage.id.desc())
            .limit(limit).offset(offset)).all()
        return [_outbox_view(r) for r in rows]


def retry_dead(rt: Runtime, org_id: str, message_id: str) -> OutboxView:
    """Put a dead message back to pending with a fresh set of attempts, due now.

    NotFound if unknown or another organisation's; InvalidState if it is not dead.
    ``last_error`` is kept as history until the next attempt overwrites it.
    """
    now = rt.now()
    with rt.db.uow() as uow:
        row = uow.session.scalar(
            select(OutboxMessage).where(OutboxMessage.id == message_id,
                                        OutboxMessage.org_id == org_id))
        if row is None:
            raise NotFound(f"no outbox message {message_id}")
        if row.status != DEAD:
            raise InvalidState(f"outbox message {message_id} is {row.status}, not dead")
        row.status = PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.locked_until = None
        uow.commit()
        return _outbox_view(row)
