"""Reading envelopes: the views the API and pages show, who may see which envelope, lists
and the team dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import Field as Describe
from sqlalchemy import ColumnElement, Connection, Row, bindparam, func, or_, select
from sqlalchemy.orm import Session

from accord.access import (
    Access,
    Credential,
    Permission,
    Principal,
    Role,
    envelope_access,
    principal_in,
)
from accord.envelopes.domain import EnvelopeStatus, RecipientStatus
from accord.envelopes.models import Document, Envelope, Field, Recipient
from accord.errors import InvalidInput, NotFound
from accord.runtime import Runtime

# -- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientView:
    id: str
    name: str
    email: str
    role: str
    routing_order: int
    status: str
    auth_method: str
    viewed_at: datetime | None
    consented_at: datetime | None
    completed_at: datetime | None
    declined_at: datetime | None
    decline_reason: str | None
    key: str | None = None  # the template role / recipient key routing rules name
    # status "delivery_failed": why the signing request could not be delivered, and when
    delivery_error: str | None = None
    delivery_failed_at: datetime | None = None


@dataclass(frozen=True)
class DocumentView:
    id: str
    name: str
    sha256: str
    size: int
    page_count: int


@dataclass(frozen=True)
class FieldView:
    id: str
    recipient_id: str
    document_id: str
    kind: str
    label: str
    required: bool
    page: int
    x: float
    y: float
    width: float
    height: float
    value: str | None


STATUS_DOC = (
    "draft (not sent yet), sent (out for signature), completing (every required recipient "
    "has finished; the sealed PDF is being made: its download answers 409 not_completed "
    "until the envelope is completed), completed (the sealed PDF exists), declined, voided, "
    "expired")
Status = Annotated[EnvelopeStatus, Describe(description=STATUS_DOC)]


@dataclass(frozen=True)
class EnvelopeView:
    id: str
    subject: str
    message: str
    status: Status
    created_at: datetime
    sent_at: datetime | None
    completed_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None
    expires_at: datetime | None
    sealed_sha256: str | None
    template_label: str | None
    template_sha256: str | None
    recipients: list[RecipientView]
    documents: list[DocumentView]
    fields: list[FieldView]


@dataclass(frozen=True)
class EnvelopeSummary:
    id: str
    subject: str
    status: Status
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class Page:
    items: list[EnvelopeSummary]
    total: int
    limit: int
    offset: int


def load(session: Session, principal: Principal, envelope_id: str, *,
         for_update: bool = False) -> Envelope:
    """The envelope, only if the principal may see it in full (else the same 404 as an
    unknown id: another organisation's, or a colleague's outside one's reach).

    ``for_update`` locks the row (PostgreSQL) so that writers to one envelope - and to its
    audit chain - queue up instead of racing; SQLite already serialises writers."""
    query = select(Envelope).where(Envelope.id == envelope_id,
                                   Envelope.org_id == principal.org_id)
    env = session.scalar(query.with_for_update() if for_update else query)
    return _seen_in_full(principal, env)


_Row = Row[*tuple[Any, ...]]  # a row of any columns
_E = TypeVar("_E", Envelope, _Row)


def _seen_in_full(principal: Principal, env: _E | None) -> _E:
    if env is None or envelope_access(
            role=principal.role, user_id=principal.user_id, team=principal.team,
            created_by=env.created_by, envelope_team=env.team) is not Access.FULL:
        raise NotFound("no such envelope", code="envelope_not_found")
    return env


def visible_to(principal: Principal) -> list[ColumnElement[bool]]:
    """Query conditions for the envelopes a principal may list (in full or status)."""
    conds: list[ColumnElement[bool]] = [Envelope.org_id == principal.org_id]
    if principal.role in (Role.ADMIN, Role.COMPLIANCE):
        return conds
    mine = [Envelope.created_by == principal.user_id]
    if principal.team:
        mine.append(Envelope.team == principal.team)
    return [*conds, or_(*mine)]


def lock(session: Session, envelope_id: str) -> Envelope | None:
    """Load and lock an envelope by id for a write (no organisation check: callers reach it
    through a recipient or a sweep that already scoped it)."""
    return session.scalar(select(Envelope).where(Envelope.id == envelope_id).with_for_update())


def recipients_of(session: Session, envelope_id: str) -> list[Recipient]:
    return list(session.scalars(select(Recipient).where(Recipient.envelope_id == envelope_id)
                                .order_by(Recipient.routing_order, Recipient.id)))


def documents_of(session: Session, envelope_id: str) -> list[Document]:
    return list(session.scalars(select(Document).where(Document.envelope_id == envelope_id)
                                .order_by(Document.position)))


def fields_of(session: Session, envelope_id: str) -> list[Field]:
    return list(session.scalars(select(Field).where(Field.envelope_id == envelope_id)
                                .order_by(Field.page, Field.y, Field.x)))


# The read path's statements, built once: each request only binds its values (building
# and keying a statement costs more than running it on SQLite), and they run on a
# connection, without the ORM's per-statement machinery. Rows carry the ORM
# attributes' names, so the views below read rows and loaded objects alike.
_ENVELOPE_ROW = select(
    Envelope.id, Envelope.subject, Envelope.message, Envelope.status, Envelope.created_at,
    Envelope.sent_at, Envelope.completed_at, Envelope.voided_at, Envelope.void_reason,
    Envelope.expires_at, Envelope.sealed_sha256, Envelope.template_label,
    Envelope.template_sha256, Envelope.created_by, Envelope.team,
).where(Envelope.id == bindparam("envelope_id"), Envelope.org_id == bindparam("org_id"))
_RECIPIENT_ROWS = select(
    Recipient.id, Recipient.name, Recipient.email, Recipient.role, Recipient.routing_order,
    Recipient.status, Recipient.auth_method, Recipient.viewed_at, Recipient.consented_at,
    Recipient.completed_at, Recipient.declined_at, Recipient.decline_reason,
    Recipient.role_key, Recipient.delivery_error, Recipient.delivery_failed_at,
).where(Recipient.envelope_id == bindparam("envelope_id")).order_by(
    Recipient.routing_order, Recipient.id)
_DOCUMENT_ROWS = select(
    Document.id, Document.name, Document.sha256, Document.size, Document.page_count,
).where(Document.envelope_id == bindparam("envelope_id")).order_by(Document.position)
_FIELD_ROWS = select(
    Field.id, Field.recipient_id, Field.document_id, Field.kind, Field.label,
    Field.required, Field.page, Field.x, Field.y, Field.width, Field.height, Field.value,
).where(Field.envelope_id == bindparam("envelope_id")).order_by(Field.page, Field.y, Field.x)


def field_view(f: Field | _Row) -> FieldView:
    return FieldView(id=f.id, recipient_id=f.recipient_id, document_id=f.document_id,
                     kind=f.kind, label=f.label, required=f.required, page=f.page, x=f.x,
                     y=f.y, width=f.width, height=f.height, value=f.value)


def recipient_view(r: Recipient | _Row) -> RecipientView:
    # while delivery_failed: why the signing request did not arrive, and when
    failed = r.status == RecipientStatus.DELIVERY_FAILED.value
    return RecipientView(
        id=r.id, name=r.name, email=r.email, role=r.role, routing_order=r.routing_order,
        status=r.status, auth_method=r.auth_method, viewed_at=r.viewed_at,
        consented_at=r.consented_at, completed_at=r.completed_at, declined_at=r.declined_at,
        decline_reason=r.decline_reason, key=r.role_key,
        delivery_error=r.delivery_error if failed else None,
        delivery_failed_at=r.delivery_failed_at if failed else None)


def view_of(session: Session, env: Envelope) -> EnvelopeView:
    """The envelope's view, in the session's transaction (its pending changes flushed)."""
    session.flush()
    return _view(session.connection(), env)


def _view(conn: Connection, env: Envelope | _Row) -> EnvelopeView:
    key = {"envelope_id": env.id}
    return EnvelopeView(
        id=env.id, subject=env.subject, message=env.message, status=EnvelopeStatus(env.status),
        created_at=env.created_at, sent_at=env.sent_at, completed_at=env.completed_at,
        voided_at=env.voided_at, void_reason=env.void_reason, expires_at=env.expires_at,
        sealed_sha256=env.sealed_sha256, template_label=env.template_label,
        template_sha256=env.template_sha256,
        recipients=[recipient_view(r) for r in conn.execute(_RECIPIENT_ROWS, key)],
        documents=[DocumentView(id=d.id, name=d.name, sha256=d.sha256, size=d.size,
                                page_count=d.page_count)
                   for d in conn.execute(_DOCUMENT_ROWS, key)],
        fields=[field_view(f) for f in conn.execute(_FIELD_ROWS, key)],
    )


def get(rt: Runtime, who: Principal | Credential, envelope_id: str) -> EnvelopeView:
    """The envelope ``who`` may see in full. Credentials (an API key) are checked in the
    same read-only transaction as the read: one transaction for the whole request."""
    with rt.db.read() as conn:
        principal = principal_in(conn, who)
        principal.require(Permission.ENVELOPE_READ)
        row = conn.execute(_ENVELOPE_ROW, {"envelope_id": envelope_id,
                                           "org_id": principal.org_id}).first()
        return _view(conn, _seen_in_full(principal, row))


def list_envelopes(rt: Runtime, principal: Principal, *, status: str | None = None,
                   limit: int = 50, offset: int = 0) -> Page:
    principal.require(Permission.ENVELOPE_READ)
    if status is not None and status not in {s.value for s in EnvelopeStatus}:
        raise InvalidInput(f"unknown status {status!r}", code="invalid_status")
    if not 1 <= limit <= 200 or offset < 0:
        raise InvalidInput("limit must be 1-200 and offset >= 0", code="invalid_page")
    with rt.db.uow() as uow:
        where = visible_to(principal)
        if status:
            where.append(Envelope.status == status)
        total = uow.session.scalar(select(func.count()).select_from(Envelope).where(*where))
        rows = uow.session.scalars(select(Envelope).where(*where)
                                   .order_by(Envelope.created_at.desc(), Envelope.id)
                                   .limit(limit).offset(offset))
        items = [EnvelopeSummary(e.id, e.subject, EnvelopeStatus(e.status), e.created_at,
                                 e.completed_at) for e in rows]
        return Page(items=items, total=total or 0, limit=limit, offset=offset)


@dataclass(frozen=True)
class Dashboard:
    """Counts over the envelopes a manager (or admin) can see."""

    by_status: dict[str, int]
    by_sender: dict[str, dict[str, int]]  # sender email -> status -> count
    completed_last_30_days: int
    median_hours_to_complete: float | None


def dashboard(rt: Runtime, principal: Principal) -> Dashboard:
    from accord.accounts.services import user_emails

    principal.require(Permission.DASHBOARD_READ)
    since = rt.now() - timedelta(days=30)
    with rt.db.uow() as uow:
        where = visible_to(principal)
        if principal.role == Role.MANAGER:  # the team in full, not colleagues' status
            where = [Envelope.org_id == principal.org_id,
                     or_(Envelope.created_by == principal.user_id,
                         Envelope.team == principal.team) if principal.team
                     else Envelope.created_by == principal.user_id]
        rows = uow.session.execute(
            select(Envelope.status, Envelope.created_by, Envelope.sent_at,
                   Envelope.completed_at).where(*where)).all()
        emails = user_emails(uow.session, {r.created_by for r in rows if r.created_by})
    by_status: dict[str, int] = {}
    by_sender: dict[str, dict[str, int]] = {}
    durations = []
    recent = 0
    for status, creator, sent_at, completed_at in rows:
        by_status[status] = by_status.get(status, 0) + 1
        who = emails.get(creator or "", "unknown")
        by_sender.setdefault(who, {})[status] = by_sender.get(who, {}).get(status, 0) + 1
        if completed_at is not None:
            if completed_at >= since:
                recent += 1
            if sent_at is not None:
                durations.append((completed_at - sent_at).total_seconds() / 3600)
    durations.sort()
    median = durations[len(durations) // 2] if durations else None
    return Dashboard(by_status, by_sender, recent,
                     round(median, 2) if median is not None else None)


def status_of(session: Session, envelope_id: str) -> str | None:
    """The envelope's status as this transaction sees it, its unflushed changes included
    (audit listeners call it while the caller's change is pending); None if there is no
    such envelope (an audit trail of another kind of subject)."""
    with session.no_autoflush:
        env = session.get(Envelope, envelope_id)
    if env is None:
        env = next((o for o in session.new
                    if isinstance(o, Envelope) and o.id == envelope_id), None)
    return None if env is None else env.status
