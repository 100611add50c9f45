"""Use cases for envelopes: create, send, read, list, void, expire.

Each function owns its transaction. State changes go through the pure state machine in
``envelopes.domain``; the envelope's version column stops two concurrent transitions from
both succeeding (the loser gets ``Conflict``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from accord.accounts.domain import Access, Permission, Role, envelope_access
from accord.accounts.services import Principal
from accord.audit import services as audit
from accord.db import new_id
from accord.delivery.services import enqueue
from accord.documents.pdf import DocumentError, PdfInfo, inspect_pdf
from accord.envelopes.domain import (
    EnvelopeState,
    EnvelopeStatus,
    RecipientRole,
    RecipientState,
    RecipientStatus,
    TransitionError,
)
from accord.envelopes.models import Document, Envelope, Field, Recipient
from accord.envelopes.placement import Box, FieldRequest, place
from accord.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
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
    # signer authentication beyond the email link (see accord.signing.domain.Factor);
    # empty = the email link alone
    auth: tuple[str, ...] = ()
    phone: str | None = None  # E.164, with sms_otp
    access_code: str | None = None  # given to the signer out of band; stored hashed
    kba: tuple[KbaInput, ...] = ()


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


@dataclass(frozen=True)
class EnvelopeView:
    id: str
    subject: str
    message: str
    status: str
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
    status: str
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


def field_view(f: Field) -> FieldView:
    return FieldView(id=f.id, recipient_id=f.recipient_id, document_id=f.document_id,
                     kind=f.kind, label=f.label, required=f.required, page=f.page, x=f.x,
                     y=f.y, width=f.width, height=f.height, value=f.value)


def view_of(session: Session, env: Envelope) -> EnvelopeView:
    return EnvelopeView(
        id=env.id, subject=env.subject, message=env.message, status=env.status,
        created_at=env.created_at, sent_at=env.sent_at, completed_at=env.completed_at,
        voided_at=env.voided_at, void_reason=env.void_reason, expires_at=env.expires_at,
        sealed_sha256=env.sealed_sha256, template_label=env.template_label,
        template_sha256=env.template_sha256,
        recipients=[RecipientView(
            id=r.id, name=r.name, email=r.email, role=r.role, routing_order=r.routing_order,
            status=r.status, auth_method=r.auth_method, viewed_at=r.viewed_at,
            consented_at=r.consented_at, completed_at=r.completed_at,
            declined_at=r.declined_at, decline_reason=r.decline_reason)
            for r in recipients_of(session, env.id)],
        documents=[DocumentView(id=d.id, name=d.name, sha256=d.sha256, size=d.size,
                                page_count=d.page_count) for d in documents_of(session, env.id)],
        fields=[field_view(f) for f in fields_of(session, env.id)],
    )


def get(rt: Runtime, principal: Principal, envelope_id: str) -> EnvelopeView:
    principal.require(Permission.ENVELOPE_READ)
    with rt.db.uow() as uow:
        return view_of(uow.session, load(uow.session, principal, envelope_id))


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
        items = [EnvelopeSummary(e.id, e.subject, e.status, e.created_at, e.completed_at)
                 for e in rows]
        return Page(items=items, total=total or 0, limit=limit, offset=offset)


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


def notify(session: Session, env: Envelope, recipient_ids: Sequence[str],
           now: datetime, link_key: bytes) -> None:
    """Queue a signing request for each recipient whose turn has come. The email's link is
    derived again by the worker from the stored nonce, so no token is stored in clear."""
    from accord.signing.links import issue_link

    for r in recipients_of(session, env.id):
        if r.id in recipient_ids:
            issue_link(link_key, r)
            r.notified_at = now
            enqueue(session, kind=SIGNING_REQUEST, payload={"recipient_id": r.id},
                    now=now, org_id=env.org_id)
            audit.record(session, env, "recipient:notified", actor="system", now=now,
                         data={"recipient_id": r.id, "email": r.email,
                               "routing_order": r.routing_order})


# -- commands --------------------------------------------------------------------------


def _check_header(rt: Runtime, *, subject: str, documents: Sequence[DocumentInput],
                  recipients: Sequence[RecipientInput], expires_in_days: int) -> None:
    s = rt.settings
    if not subject or len(subject) > 300:
        raise InvalidInput("subject must be 1-300 characters", code="invalid_subject")
    if not documents:
        raise InvalidInput("an envelope needs at least one document", code="no_documents")
    if len(documents) > s.max_documents:
        raise InvalidInput(f"at most {s.max_documents} documents", code="too_many_documents")
    if not recipients:
        raise InvalidInput("an envelope needs recipients", code="no_recipients")
    if not 1 <= expires_in_days <= 365:
        raise InvalidInput("expires_in_days must be 1-365", code="invalid_expiry")


def _validate(rt: Runtime, *, subject: str, documents: Sequence[DocumentInput],
              recipients: Sequence[RecipientInput], fields: Sequence[FieldRequest],
              expires_in_days: int) -> tuple[list[PdfInfo], list[tuple[FieldRequest, list[Box]]]]:
    """Every check of a new envelope, before anything is written."""
    _check_header(rt, subject=subject, documents=documents, recipients=recipients,
                  expires_in_days=expires_in_days)
    s = rt.settings
    infos = []
    for i, doc in enumerate(documents):
        try:
            infos.append(inspect_pdf(doc.data, max_bytes=s.max_document_bytes,
                                     max_pages=s.max_document_pages))
        except DocumentError as exc:
            err_cls = PayloadTooLarge if exc.code == "document_too_large" else InvalidInput
            raise err_cls(f"documents[{i}] ({doc.name}): {exc.message}", code=exc.code) from exc
    for i, r in enumerate(recipients):
        if "@" not in r.email or len(r.email) > 320 or not r.name.strip():
            raise InvalidInput(f"recipients[{i}]: a name and a valid email are required",
                               code="invalid_recipient")
        if not 1 <= r.routing_order <= 100:
            raise InvalidInput(f"recipients[{i}]: routing_order must be 1-100",
                               code="invalid_routing_order")
    boxes = []
    for i, f in enumerate(fields):
        if not 0 <= f.recipient < len(recipients):
            raise InvalidInput(f"fields[{i}]: recipient {f.recipient} does not exist",
                               code="field_bad_recipient")
        if recipients[f.recipient].role is RecipientRole.CC:
            raise InvalidInput(f"fields[{i}]: cc recipients do not fill fields",
                               code="field_for_cc")
        if not 0 <= f.document < len(documents):
            raise InvalidInput(f"fields[{i}]: document {f.document} does not exist",
                               code="field_bad_document")
        info = infos[f.document]
        boxes.append((f, place(f, i, documents[f.document].data, info.page_sizes)))
    return infos, boxes


def create(rt: Runtime, principal: Principal, *, subject: str, message: str = "",
           documents: Sequence[DocumentInput], recipients: Sequence[RecipientInput],
           fields: Sequence[FieldRequest], expires_in_days: int = 120,
           actor: Actor | None = None, envelope_id: str | None = None,
           template: TemplateRef | None = None) -> str:
    """Validate everything, then store a draft envelope. Nothing is written on error
    (document blobs are content-addressed: one stored before a failed commit is harmless
    and is reused by the next upload of the same bytes)."""
    from accord.signing.factors import AuthRequest, configure  # signing imports us

    principal.require(Permission.ENVELOPE_SEND)
    subject = subject.strip()
    infos, boxes = _validate(rt, subject=subject, documents=documents, recipients=recipients,
                             fields=fields, expires_in_days=expires_in_days)
    auth = configure([AuthRequest(role=r.role.value, factors=r.auth, phone=r.phone,
                                  access_code=r.access_code,
                                  kba=[(k.question, k.answer) for k in r.kba])
                      for r in recipients])
    now = rt.now()
    blob_keys = [rt.blobs.put(d.data) for d in documents]
    actor = actor or staff_actor(principal)
    with rt.db.uow() as uow:
        env = Envelope(id=envelope_id or new_id(), org_id=principal.org_id,
                       created_by=principal.user_id, team=principal.team, subject=subject,
                       message=message,
                       status=EnvelopeStatus.DRAFT.value, created_at=now,
                       expires_at=now + timedelta(days=expires_in_days), audit_count=0)
        if template is not None:
            env.template_version_id = template.version_id
            env.template_label = template.label
            env.template_sha256 = template.sha256
            env.template_clauses = template.clauses
        uow.session.add(env)
        uow.session.flush()
        doc_rows = []
        for pos, (doc, info, key) in enumerate(zip(documents, infos, blob_keys, strict=True)):
            row = Document(org_id=env.org_id, envelope_id=env.id, position=pos, name=doc.name,
                           blob=key, sha256=key, size=len(doc.data),
                           page_count=info.page_count,
                           page_sizes=[list(p) for p in info.page_sizes])
            doc_rows.append(row)
        rec_rows = [Recipient(org_id=env.org_id, envelope_id=env.id, name=r.name.strip(),
                              email=r.email.strip().lower(), role=r.role.value,
                              routing_order=r.routing_order,
                              status=RecipientStatus.CREATED.value,
                              auth_method=a.method, auth_config=a.config, phone=a.phone)
                    for r, a in zip(recipients, auth, strict=True)]
        uow.session.add_all([*doc_rows, *rec_rows])
        uow.session.flush()
        for req, placed in boxes:
            for b in placed:
                uow.session.add(Field(
                    org_id=env.org_id, envelope_id=env.id,
                    recipient_id=rec_rows[req.recipient].id,
                    document_id=doc_rows[b.document].id, kind=req.kind.value,
                    label=req.label, required=req.required, page=b.page, x=b.x, y=b.y,
                    width=b.width, height=b.height))
        audit.record(uow.session, env, "envelope:created", actor=actor.label, now=now,
                     ip=actor.ip, user_agent=actor.user_agent, data={
                         "subject": subject,
                         "documents": [{"name": d.name, "sha256": d.sha256,
                                        "pages": d.page_count} for d in doc_rows],
                         "recipients": [{"name": r.name, "email": r.email, "role": r.role,
                                         "routing_order": r.routing_order,
                                         "auth_method": r.auth_method}
                                        for r in rec_rows],
                         "template": None if template is None else {
                             "version_id": template.version_id, "label": template.label,
                             "sha256": template.sha256, "clauses": template.clauses}})
        uow.commit()
        return env.id


def send(rt: Runtime, principal: Principal, envelope_id: str,
         actor: Actor | None = None) -> EnvelopeView:
    principal.require(Permission.ENVELOPE_SEND)
    actor = actor or staff_actor(principal)
    now = rt.now()
    with rt.db.uow() as uow:
        env = load(uow.session, principal, envelope_id, for_update=True)
        recs = recipients_of(uow.session, env.id)
        state = state_of(env, recs)
        try:
            to_notify = state.send()
        except TransitionError as exc:
            raise domain_error(exc) from exc
        apply_state(env, recs, state)
        env.sent_at = now
        audit.record(uow.session, env, "envelope:sent", actor=actor.label, now=now,
                     ip=actor.ip, user_agent=actor.user_agent)
        notify(uow.session, env, to_notify, now, rt.link_key)
        commit_or_conflict(uow.session)
        return view_of(uow.session, env)


def void(rt: Runtime, principal: Principal, envelope_id: str, reason: str,
         actor: Actor | None = None) -> EnvelopeView:
    principal.require(Permission.ENVELOPE_VOID)
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise InvalidInput("a void reason of 1-1000 characters is required",
                           code="invalid_reason")
    actor = actor or staff_actor(principal)
    now = rt.now()
    with rt.db.uow() as uow:
        env = load(uow.session, principal, envelope_id, for_update=True)
        recs = recipients_of(uow.session, env.id)
        state = state_of(env, recs)
        was_sent = state.status is EnvelopeStatus.SENT
        try:
            state.void()
        except TransitionError as exc:
            raise domain_error(exc) from exc
        apply_state(env, recs, state)
        env.voided_at, env.void_reason = now, reason
        for r in recs:
            r.token_hash = None
        audit.record(uow.session, env, "envelope:voided", actor=actor.label, now=now,
                     ip=actor.ip, user_agent=actor.user_agent, data={"reason": reason})
        if was_sent:
            from accord.delivery.mail import Email
            from accord.delivery.services import send_email

            for r in recs:
                if r.notified_at is not None:
                    send_email(uow.session, Email(
                        to=(r.email,), subject=f"Voided: {env.subject}",
                        body=(f"Hello {r.name},\n\nThe envelope \"{env.subject}\" was voided "
                              f"by the sender and no longer needs your action.\n\n"
                              f"Reason: {reason}\n")), now=now, org_id=env.org_id)
        commit_or_conflict(uow.session)
        return view_of(uow.session, env)


def expire_due(rt: Runtime) -> int:
    """Expire every sent envelope past its deadline (all organisations). Safe to run twice."""
    now = rt.now()
    done = 0
    with rt.db.uow() as uow:
        ids = list(uow.session.scalars(select(Envelope.id).where(
            Envelope.status == EnvelopeStatus.SENT.value, Envelope.expires_at <= now)))
    for env_id in ids:
        with rt.db.uow() as uow:
            env = lock(uow.session, env_id)
            if env is None:
                continue
            recs = recipients_of(uow.session, env.id)
            state = state_of(env, recs)
            if not state.expire(now):
                continue
            apply_state(env, recs, state)
            for r in recs:
                r.token_hash = None
            audit.record(uow.session, env, "envelope:expired", actor="system", now=now)
            try:
                commit_or_conflict(uow.session)
                done += 1
            except Conflict:
                continue
    return done


def sender_email(session: Session, env: Envelope) -> str | None:
    from accord.accounts.services import user_email

    return user_email(session, env.created_by) if env.created_by else None


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
