"""Use cases of the delivery feature.

``enqueue``/``send_email`` write into the caller's session so that the outbox row commits
(or rolls back) with the state change that caused it. The console helpers own their
transactions and are scoped to one organisation.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.db import new_id
from accord.delivery import handlers
from accord.delivery.domain import DEAD, PENDING, STATUSES, mask_address
from accord.delivery.errors import DeliveryError, InvalidState, NotFound, PermanentFailure
from accord.delivery.handlers import EMAIL, check_kind
from accord.delivery.mail import Email, address_of
from accord.delivery.models import MailboxMessage, OutboxMessage
from accord.errors import InvalidInput
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
    "list_outbox",
    "outbox_stats",
    "replay",
    "retry_dead",
    "send_email",
]

MAX_PAGE = 200
log = logging.getLogger("accord.delivery")


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
    next_attempt_at: datetime  # for a dead message: when it went dead
    created_at: datetime
    delivered_at: datetime | None
    to: str | None = None  # an email's first recipient, masked (an***@example.com)


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
        last_error=None, failing_since=None, created_at=now, delivered_at=None)
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


def _outbox_view(row: OutboxMessage, to: str | None = None) -> OutboxView:
    return OutboxView(id=row.id, kind=row.kind, status=row.status, attempts=row.attempts,
                      last_error=row.last_error, next_attempt_at=row.next_attempt_at,
                      created_at=row.created_at, delivered_at=row.delivered_at,
                      to=mask_address(to) if to else None)


def _addressee(rt: Runtime, row: OutboxMessage) -> str | None:
    """Who an email goes to: its kind's addressee hook, else the payload's ``to``."""
    hook = handlers.addressee_hook(row.kind)
    if hook is not None:
        try:
            return hook(rt, dict(row.payload or {}))
        except Exception:  # a listing must not fail on one odd row
            log.exception("outbox %s: addressee of %s unknown", row.id, row.kind)
            return None
    to = (row.payload or {}).get("to")
    if isinstance(to, list) and to and isinstance(to[0], str):
        return address_of(to[0])
    return None


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
        row.failing_since = None
        uow.commit()
        return _outbox_view(row)


# -- the admin's view of the outbox (API, CLI, console) ------------------------------------


def list_outbox(rt: Runtime, principal: Principal, *, status: str | None = None,
                limit: int = 50, offset: int = 0) -> list[OutboxView]:
    """The principal's organisation's outbox rows, newest first (dead ones: most recently
    failed first); ``status`` one of pending, delivered, dead. Admins (``outbox:manage``)."""
    principal.require(Permission.OUTBOX_MANAGE)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}",
                            code="invalid_status")
    limit, offset = _page(limit, offset)
    stmt = select(OutboxMessage).where(OutboxMessage.org_id == principal.org_id)
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    order = (OutboxMessage.next_attempt_at.desc() if status == DEAD
             else OutboxMessage.created_at.desc())
    with rt.db.uow() as uow:
        rows = list(uow.session.scalars(stmt.order_by(order, OutboxMessage.id.desc())
                                        .limit(limit).offset(offset)))
        uow.session.expunge_all()
    # after the transaction: an addressee hook opens its own (SQLite has one writer)
    return [_outbox_view(r, _addressee(rt, r)) for r in rows]


def replay(rt: Runtime, principal: Principal, message_id: str) -> OutboxView:
    """Queue a dead message of the principal's organisation again, due now, with a fresh
    set of attempts (the email keeps its Message-ID). 404 ``message_not_found`` for an
    unknown id or another organisation's, 409 ``message_not_dead`` unless it is dead."""
    principal.require(Permission.OUTBOX_MANAGE)
    try:
        retry_dead(rt, principal.org_id, message_id)
    except NotFound as exc:
        raise NotFound("no such outbox message in your organisation",
                       code="message_not_found") from exc
    except InvalidState as exc:
        raise InvalidState(exc.message, code="message_not_dead") from exc
    with rt.db.uow() as uow:
        row = uow.session.get(OutboxMessage, message_id)
        assert row is not None  # just revived in this organisation
        uow.session.expunge(row)
    return _outbox_view(row, _addressee(rt, row))
