"""Appending to and reading the hash-linked audit log.

Each subject (an envelope today; anything with an ``id`` and an ``org_id``) has one chain;
its head (event count and last hash) is audit's own row in ``audit_chains``, whose version
column makes two concurrent appends conflict instead of forking the chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.audit.chain import GENESIS, event_hash, verify_chain
from accord.audit.models import AuditChain, AuditEvent


class Subject(Protocol):
    """What an audit trail is about: any row with an id, in an organisation."""

    @property
    def id(self) -> str: ...

    @property
    def org_id(self) -> str: ...


@dataclass(frozen=True)
class Recorded:
    """One appended event, as audit listeners see it."""

    subject_id: str
    org_id: str
    seq: int
    tag: str
    actor: str
    occurred_at: datetime
    data: dict[str, Any]
    hash: str


@dataclass(frozen=True)
class Head:
    """A chain's head: how many events it has and the last one's hash (GENESIS if none)."""

    count: int
    hash: str


# Called at the end of every ``record`` in the caller's transaction (e.g. webhooks queue
# their messages here). A listener must only add rows to the session; if it raises, the
# state change fails with it. Features register theirs in their wiring (accord.registry).
AuditListener = Callable[[Session, Subject, Recorded], None]
listeners: list[AuditListener] = []


def iso(dt: datetime) -> str:
    return dt.isoformat()


def _chain(session: Session, subject_id: str) -> AuditChain | None:
    with session.no_autoflush:  # the caller's pending changes flush at its commit
        chain = session.get(AuditChain, subject_id)
    if chain is None:  # created earlier in this transaction, not flushed yet
        chain = next((o for o in session.new
                      if isinstance(o, AuditChain) and o.subject_id == subject_id), None)
    return chain


def head(session: Session, subject_id: str) -> Head:
    """The current head of the subject's chain, as this transaction sees it."""
    chain = _chain(session, subject_id)
    return Head(0, GENESIS) if chain is None else Head(chain.count, chain.head)


def record(session: Session, subject: Subject, tag: str, *, actor: str, now: datetime,
           ip: str | None = None, user_agent: str | None = None,
           data: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event to the subject's chain, in the caller's transaction."""
    chain = _chain(session, subject.id)
    if chain is None:
        chain = AuditChain(subject_id=subject.id, org_id=subject.org_id, count=0,
                           head=GENESIS)
        session.add(chain)
    seq, prev = chain.count + 1, chain.head
    body = {"seq": seq, "tag": tag, "actor": actor, "occurred_at": iso(now), "ip": ip,
            "user_agent": user_agent, "data": data or {}}
    digest = event_hash(prev, subject.id, body)
    event = AuditEvent(org_id=subject.org_id, envelope_id=subject.id, seq=seq, tag=tag,
                       actor=actor, occurred_at=now, ip=ip, user_agent=user_agent,
                       data=data or {}, prev_hash=prev, hash=digest)
    session.add(event)
    chain.count, chain.head = seq, digest
    recorded = Recorded(subject_id=subject.id, org_id=subject.org_id, seq=seq, tag=tag,
                        actor=actor, occurred_at=now, data=dict(data or {}), hash=digest)
    for listener in listeners:
        listener(session, subject, recorded)
    return event


def as_dict(e: AuditEvent) -> dict[str, Any]:
    return {"seq": e.seq, "tag": e.tag, "actor": e.actor, "occurred_at": iso(e.occurred_at),
            "ip": e.ip, "user_agent": e.user_agent, "data": e.data, "prev_hash": e.prev_hash,
            "hash": e.hash}


def events(session: Session, subject_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(AuditEvent).where(AuditEvent.envelope_id == subject_id)
                           .order_by(AuditEvent.seq))
    return [as_dict(e) for e in rows]


def check_stored(session: Session, subject: Subject) -> tuple[bool, str]:
    """Verify the stored chain, including that nothing was cut off its end."""
    evs = events(session, subject.id)
    ok, detail = verify_chain(subject.id, evs)
    if not ok:
        return ok, detail
    last = evs[-1]["hash"] if evs else GENESIS
    recorded = head(session, subject.id)
    if len(evs) != recorded.count or last != recorded.hash:
        return False, (f"the chain has {len(evs)} events but its head records "
                       f"{recorded.count}: events were removed or added")
    return True, f"{len(evs)} events, head {last[:16]}…"
