"""Appending to and reading the hash-linked audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.audit.chain import GENESIS, event_hash, verify_chain
from accord.audit.models import AuditEvent
from accord.envelopes.models import Envelope

# Called at the end of every ``record`` in the caller's transaction (e.g. webhooks queue
# their messages here). A listener must only add rows to the session; if it raises, the
# state change fails with it. Register once, at import time.
AuditListener = Callable[[Session, Envelope, AuditEvent], None]
listeners: list[AuditListener] = []


def iso(dt: datetime) -> str:
    return dt.isoformat()


def record(session: Session, envelope: Envelope, tag: str, *, actor: str, now: datetime,
           ip: str | None = None, user_agent: str | None = None,
           data: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event to the envelope's chain, in the caller's transaction.

    The envelope row carries the chain head; its version column makes two concurrent
    appends conflict instead of forking the chain."""
    seq = envelope.audit_count + 1
    prev = envelope.audit_head or GENESIS
    body = {"seq": seq, "tag": tag, "actor": actor, "occurred_at": iso(now), "ip": ip,
            "user_agent": user_agent, "data": data or {}}
    digest = event_hash(prev, envelope.id, body)
    event = AuditEvent(org_id=envelope.org_id, envelope_id=envelope.id, seq=seq, tag=tag,
                       actor=actor, occurred_at=now, ip=ip, user_agent=user_agent,
                       data=data or {}, prev_hash=prev, hash=digest)
    session.add(event)
    envelope.audit_count = seq
    envelope.audit_head = digest
    for listener in listeners:
        listener(session, envelope, event)
    return event


def as_dict(e: AuditEvent) -> dict[str, Any]:
    return {"seq": e.seq, "tag": e.tag, "actor": e.actor, "occurred_at": iso(e.occurred_at),
            "ip": e.ip, "user_agent": e.user_agent, "data": e.data, "prev_hash": e.prev_hash,
            "hash": e.hash}


def events(session: Session, envelope_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(AuditEvent).where(AuditEvent.envelope_id == envelope_id)
                           .order_by(AuditEvent.seq))
    return [as_dict(e) for e in rows]


def check_stored(session: Session, envelope: Envelope) -> tuple[bool, str]:
    """Verify the stored chain, including that nothing was cut off its end."""
    evs = events(session, envelope.id)
    ok, detail = verify_chain(envelope.id, evs)
    if not ok:
        return ok, detail
    head = evs[-1]["hash"] if evs else GENESIS
    if len(evs) != envelope.audit_count or head != (envelope.audit_head or GENESIS):
        return False, (f"the chain has {len(evs)} events but the envelope records "
                       f"{envelope.audit_count}: events were removed or added")
    return True, f"{len(evs)} events, head {head[:16]}…"
