"""What the envelope commands share: their inputs, the audit actor, the bridge between
rows and the pure state machine, the transaction helpers and the signing-request queueing.
Re-exported by ``envelopes.services``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from accord.access import Principal
from accord.audit import services as audit
from accord.delivery.services import enqueue
from accord.envelopes.domain import (
    EnvelopeState,
    EnvelopeStatus,
    RecipientRole,
    RecipientState,
    RecipientStatus,
    TransitionError,
)
from accord.envelopes.links import issue_link
from accord.envelopes.models import Envelope, Recipient
from accord.envelopes.queries import recipients_of
from accord.errors import Conflict
from accord.runtime import Runtime

SIGNING_REQUEST = "email:signing_request"


@dataclass(frozen=True)
class DocumentInput:
    name: str
    data: bytes


@dataclass(frozen=True)
class KbaInput:
    question: str
    answer: str  # in clear only until create() hashes it


@dataclass(frozen=True)
class RecipientInput:
    name: str
    email: str
    role: RecipientRole = RecipientRole.SIGNER
    routing_order: int = 1
    # signer authentication beyond the email link (the values of accord.signing.domain.Factor);
    # empty = the email link alone
    auth: tuple[str, ...] = ()
    phone: str | None = None  # E.164, with sms_otp
    access_code: str | None = None  # given to the signer out of band; stored hashed
    kba: tuple[KbaInput, ...] = ()
    may_delegate: bool = False  # may hand their part to someone else (signing.delegation)
    key: str | None = None  # the template role / name routing rules use for this recipient


@dataclass(frozen=True)
class TemplateRef:
    """The published template version an envelope was generated from."""

    version_id: str
    label: str  # e.g. "support-services-agreement v3"
    sha256: str  # the version's source hash
    clauses: dict[str, Any]  # pinned clause versions: {key: {"version": n, "sha256": h}}


@dataclass(frozen=True)
class Actor:
    """Who did something, for the audit trail."""

    label: str
    ip: str | None = None
    user_agent: str | None = None


def staff_actor(principal: Principal, ip: str | None = None, ua: str | None = None) -> Actor:
    return Actor(f"user:{principal.email}", ip, ua)


# -- state machine bridge ----------------------------------------------------------------


def state_of(env: Envelope, recipients: Sequence[Recipient]) -> EnvelopeState:
    return EnvelopeState(
        status=EnvelopeStatus(env.status),
        recipients=[RecipientState(r.id, RecipientRole(r.role), r.routing_order,
                                   RecipientStatus(r.status)) for r in recipients],
        expires_at=env.expires_at)


def apply_state(env: Envelope, recipients: Sequence[Recipient], state: EnvelopeState) -> None:
    env.status = state.status.value
    by_id = {r.id: r for r in recipients}
    for rs in state.recipients:
        by_id[rs.id].status = rs.status.value


def domain_error(exc: TransitionError) -> Conflict:
    return Conflict(exc.message, code=exc.code)


def commit_or_conflict(session: Session) -> None:
    try:
        session.commit()
    except (StaleDataError, IntegrityError) as exc:
        session.rollback()
        raise Conflict("the envelope was changed by someone else; try again",
                       code="concurrent_update") from exc


class _Joined:
    """The caller's transaction (``session=`` given to a command): changes are flushed, the
    caller commits, e.g. bulk send marks its row done in the same transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def commit(self) -> None:
        self.session.flush()


@contextmanager
def unit(rt: Runtime, session: Session | None) -> Iterator[Any]:
    if session is not None:
        yield _Joined(session)
        return
    with rt.db.uow() as uow:
        yield uow


def notify(session: Session, env: Envelope, recipient_ids: Sequence[str],
           now: datetime, link_key: bytes) -> None:
    """Queue a signing request for each recipient whose turn has come. The email's link is
    derived again by the worker from the stored nonce, so no token is stored in clear."""
    for r in recipients_of(session, env.id):
        if r.id in recipient_ids:
            issue_link(link_key, r)
            r.notified_at = now
            enqueue(session, kind=SIGNING_REQUEST, payload={"recipient_id": r.id},
                    now=now, org_id=env.org_id)
            audit.record(session, env, "recipient:notified", actor="system", now=now,
                         data={"recipient_id": r.id, "email": r.email,
                               "routing_order": r.routing_order})
