"""Use cases for envelopes: create, send, read, list, void, expire.

Each function owns its transaction. State changes go through the pure state machine in
``envelopes.domain``; the envelope's version column stops two concurrent transitions from
both succeeding (the loser gets ``Conflict``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.audit import services as audit
from accord.db import new_id
from accord.documents.limits import PdfLimits
from accord.documents.pdf import DocumentError, PdfInfo, inspect_pdf
from accord.envelopes import checks
from accord.envelopes.domain import (
    EnvelopeStatus,
    FieldKind,
    RecipientRole,
    RecipientStatus,
    TransitionError,
    is_e164,
)
from accord.envelopes.hooks import END_SESSIONS
from accord.envelopes.models import Document, Envelope, Field, Recipient
from accord.envelopes.placement import Box, FieldRequest, place
from accord.envelopes.queries import (  # re-exported: callers use envelopes.services.*
    Dashboard,
    DocumentView,
    EnvelopeSummary,
    EnvelopeView,
    FieldView,
    Page,
    RecipientView,
    dashboard,
    documents_of,
    field_view,
    fields_of,
    get,
    list_envelopes,
    load,
    lock,
    recipients_of,
    view_of,
    visible_to,
)
from accord.envelopes.services import routing as routing_rules
from accord.envelopes.services.common import (  # re-exported: callers use envelopes.services.*
    SIGNING_REQUEST,
    Actor,
    DocumentInput,
    KbaInput,
    RecipientInput,
    TemplateRef,
    apply_state,
    commit_or_conflict,
    domain_error,
    notify,
    staff_actor,
    state_of,
    unit,
)
from accord.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from accord.runtime import Runtime
from accord.validation import TextError, email_address, text_problem

__all__ = [
    "ASKED",
    "SIGNING_REQUEST",
    "Actor",
    "Dashboard",
    "DocumentInput",
    "DocumentView",
    "EnvelopeSummary",
    "EnvelopeView",
    "FieldView",
    "KbaInput",
    "Page",
    "RecipientInput",
    "RecipientView",
    "TemplateRef",
    "apply_state",
    "clear_delivery_failure",
    "commit_or_conflict",
    "correct",
    "create",
    "dashboard",
    "documents_of",
    "domain_error",
    "expire_due",
    "field_view",
    "fields_of",
    "get",
    "list_envelopes",
    "load",
    "lock",
    "notify",
    "recipients_of",
    "resend",
    "send",
    "send_in",
    "sender_email",
    "staff_actor",
    "state_of",
    "view_of",
    "visible_to",
    "void",
]


# -- commands --------------------------------------------------------------------------


def _validate(rt: Runtime, *, subject: str, message: str, documents: Sequence[DocumentInput],
              recipients: Sequence[RecipientInput], fields: Sequence[FieldRequest],
              expires_in_days: int, sending: bool,
              ) -> tuple[list[RecipientInput], list[PdfInfo],
                         list[tuple[FieldRequest, list[Box]]]]:
    """Every check of a new envelope, before anything is written: every problem with the
    texts, recipients, fields (and, when it is sent at once, the signature rule) at once;
    then the PDFs and the field placement. Returns the recipients normalised."""
    recipients, problems = checks.recipient_problems(recipients)
    problems = [*checks.header_problems(subject=subject, documents=documents,
                                        recipients=recipients, expires_in_days=expires_in_days,
                                        max_documents=rt.settings.max_documents),
                *checks.text_problems(subject=subject, message=message, documents=documents,
                                      fields=fields),
                *problems, *checks.field_problems(recipients, documents, fields)]
    if sending and recipients:
        problems += checks.send_problems(recipients, fields)
    checks.raise_problems(problems)
    s = rt.settings
    infos = []
    for i, doc in enumerate(documents):
        try:
            infos.append(inspect_pdf(doc.data, max_bytes=s.max_document_bytes,
                                     max_pages=s.max_document_pages,
                                     limits=PdfLimits.from_settings(s)))
        except DocumentError as exc:
            err_cls = PayloadTooLarge if exc.code == "document_too_large" else InvalidInput
            raise err_cls(f"documents[{i}] ({doc.name}): {exc.message}", code=exc.code) from exc
    boxes = [(f, place(f, i, documents[f.document].data, infos[f.document].page_sizes))
             for i, f in enumerate(fields)]
    return list(recipients), infos, boxes


def _check_reminders(hours: int | None) -> None:
    """An envelope's own reminder interval (None: the organisation's; 0: off)."""
    from accord.envelopes.lifecycle.rules import RuleError, check_interval

    try:
        if hours is not None:
            check_interval(hours)
    except RuleError as exc:
        raise InvalidInput(exc.message, code=exc.code) from exc


def create(rt: Runtime, principal: Principal, *, subject: str, message: str = "",
           documents: Sequence[DocumentInput], recipients: Sequence[RecipientInput],
           fields: Sequence[FieldRequest], expires_in_days: int = 120,
           actor: Actor | None = None, envelope_id: str | None = None,
           template: TemplateRef | None = None, session: Session | None = None,
           reminder_interval_hours: int | None = None, rules: Sequence[Any] = (),
           data: Mapping[str, Any] | None = None, send: bool = False) -> str:
    """Validate everything, then store a draft envelope; with ``send``, check it as a send
    too and send it in the same transaction. Nothing is written on error (document blobs
    are content-addressed: one stored before a failed commit is harmless and is reused by
    the next upload of the same bytes). With ``session`` the rows join the caller's
    transaction and the caller commits. ``rules`` (routing rules on ``data``, see
    ``envelopes.routing``) decide the routing first."""
    principal.require(Permission.ENVELOPE_SEND)
    _check_reminders(reminder_interval_hours)
    subject = subject.strip()
    routed = routing_rules.apply_rules(recipients, fields, rules, data or {})
    recipients, fields = routed.recipients, routed.fields
    recipients, infos, boxes = _validate(
        rt, subject=subject, message=message, documents=documents, recipients=recipients,
        fields=fields, expires_in_days=expires_in_days, sending=send)
    auth = routing_rules.configure_auth(recipients)
    now = rt.now()
    blob_keys = [rt.blobs.put(d.data) for d in documents]
    actor = actor or staff_actor(principal)
    with unit(rt, session) as uow:
        env = Envelope(id=envelope_id or new_id(), org_id=principal.org_id,
                       created_by=principal.user_id, team=principal.team, subject=subject,
                       message=message,
                       status=EnvelopeStatus.DRAFT.value, created_at=now,
                       expires_at=now + timedelta(days=expires_in_days),
                       reminder_interval_hours=reminder_interval_hours)
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
        rec_rows = [Recipient(org_id=env.org_id, envelope_id=env.id, name=r.name,
                              email=r.email, role=r.role.value,
                              routing_order=r.routing_order, role_key=r.key,
                              status=RecipientStatus.CREATED.value,
                              auth_method=a.method, auth_config=a.config, phone=a.phone,
                              may_delegate=r.may_delegate and r.role is not RecipientRole.CC)
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
        routing_rules.record_created(uow.session, env, routed, rec_rows, now, actor.label,
                                     actor.ip, actor.user_agent)
        if send:
            _send(rt, principal, uow.session, env.id, actor)
            if session is None:
                commit_or_conflict(uow.session)
                return env.id
        uow.commit()
        return env.id


def send(rt: Runtime, principal: Principal, envelope_id: str,
         actor: Actor | None = None) -> EnvelopeView:
    with rt.db.uow() as uow:
        env = _send(rt, principal, uow.session, envelope_id, actor)
        commit_or_conflict(uow.session)
        return view_of(uow.session, env)


def send_in(rt: Runtime, principal: Principal, session: Session, envelope_id: str,
            actor: Actor | None = None) -> None:
    """``send`` inside the caller's transaction (the caller commits)."""
    _send(rt, principal, session, envelope_id, actor)
    session.flush()


def _send(rt: Runtime, principal: Principal, session: Session, envelope_id: str,
          actor: Actor | None) -> Envelope:
    principal.require(Permission.ENVELOPE_SEND)
    actor = actor or staff_actor(principal)
    now = rt.now()
    env = load(session, principal, envelope_id, for_update=True)
    recs = recipients_of(session, env.id)
    if env.status == EnvelopeStatus.DRAFT.value:
        routing_rules.recheck(session, env, recs, "send", now)
    if env.status == EnvelopeStatus.DRAFT.value:
        _check_signatures(session, recs)
    state = state_of(env, recs)
    try:
        to_notify = state.send()
    except TransitionError as exc:
        raise domain_error(exc) from exc
    apply_state(env, recs, state)
    env.sent_at = now
    audit.record(session, env, "envelope:sent", actor=actor.label, now=now,
                 ip=actor.ip, user_agent=actor.user_agent)
    notify(session, env, to_notify, now, rt.link_key)
    return env


def _check_signatures(session: Session, recs: Sequence[Recipient]) -> None:
    """422 ``signer_without_signature`` for each signer without a signature field."""
    index = {r.id: i for i, r in enumerate(recs)}
    parts = [checks.Part(f"recipients[{i}]", r.name, r.email, RecipientRole(r.role))
             for i, r in enumerate(recs)]
    kinds = [(index[f.recipient_id], FieldKind(f.kind))
             for f in fields_of(session, recs[0].envelope_id)
             if f.recipient_id in index] if recs else []
    checks.raise_problems(checks.signature_problems(parts, kinds),
                          "the envelope cannot be sent")


def void(rt: Runtime, principal: Principal, envelope_id: str, reason: str,
         actor: Actor | None = None) -> EnvelopeView:
    principal.require(Permission.ENVELOPE_VOID)
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise InvalidInput("a void reason of 1-1000 characters is required",
                           code="invalid_reason")
    if (found := text_problem(reason, multiline=True)) is not None:
        raise InvalidInput(f"reason {found.message}", code=found.code,
                           details=[{"field": "reason", "code": found.code,
                                     "message": found.message}])
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


# asked to act: a new link may go to them (delivery_failed: the last one did not arrive)
ASKED = (RecipientStatus.SENT.value, RecipientStatus.DELIVERED.value,
         RecipientStatus.DELIVERY_FAILED.value)


def clear_delivery_failure(rec: Recipient) -> None:
    """A new signing request is on its way: the recipient leaves ``delivery_failed``."""
    if rec.status == RecipientStatus.DELIVERY_FAILED.value:
        rec.status = RecipientStatus.SENT.value
    rec.delivery_error = rec.delivery_failed_at = None


def _active_recipient(session: Session, env: Envelope, recipient_id: str) -> Recipient:
    rec = next((r for r in recipients_of(session, env.id) if r.id == recipient_id), None)
    if rec is None:
        raise NotFound("no such recipient on this envelope", code="recipient_not_found")
    return rec


def resend(rt: Runtime, principal: Principal, envelope_id: str, recipient_id: str,
           actor: Actor | None = None) -> EnvelopeView:
    """Send the recipient a fresh link (the previous one stops working)."""
    principal.require(Permission.ENVELOPE_SEND)
    actor = actor or staff_actor(principal)
    now = rt.now()
    with rt.db.uow() as uow:
        env = load(uow.session, principal, envelope_id, for_update=True)
        rec = _active_recipient(uow.session, env, recipient_id)
        if env.status != EnvelopeStatus.SENT.value or rec.status not in ASKED:
            raise Conflict("only a recipient whose turn it is can be sent a new link",
                           code="recipient_not_active")
        clear_delivery_failure(rec)
        audit.record(uow.session, env, "recipient:resent", actor=actor.label, now=now,
                     ip=actor.ip, user_agent=actor.user_agent,
                     data={"recipient_id": rec.id, "email": rec.email})
        notify(uow.session, env, [rec.id], now, rt.link_key)
        commit_or_conflict(uow.session)
        return view_of(uow.session, env)


def _one_email(email: str) -> tuple[str, list[checks.Problem]]:
    try:
        return email_address(email).lower(), []
    except TextError as exc:
        return email, [{"field": "email", "code": "invalid_recipient", "reason": exc.code,
                        "message": f"email: {exc.message}"}]


def correct(rt: Runtime, principal: Principal, envelope_id: str, recipient_id: str, *,
            name: str | None = None, email: str | None = None, phone: str | None = None,
            actor: Actor | None = None) -> EnvelopeView:
    """Correct a recipient who has not acted yet. A changed email or phone kills the old
    link and every signer session opened with it; if it is their turn, a new link goes to
    the corrected address."""
    principal.require(Permission.ENVELOPE_SEND)
    actor = actor or staff_actor(principal)
    problems: list[checks.Problem] = []
    if email is not None:
        email, problems = _one_email(email)
    if name is not None and not name.strip():
        problems.append({"field": "name", "code": "invalid_recipient",
                         "message": "name: the name must not be blank"})
    elif name is not None and (found := text_problem(name)) is not None:
        problems.append({"field": "name", "code": found.code,
                         "message": f"name: {found.message}"})
    checks.raise_problems(problems, "the correction is not valid")
    if phone is not None and not is_e164(phone.strip()):
        raise InvalidInput("phone must be in E.164 form: + then 7-15 digits",
                           code="invalid_phone")
    now = rt.now()
    with rt.db.uow() as uow:
        env = load(uow.session, principal, envelope_id, for_update=True)
        rec = _active_recipient(uow.session, env, recipient_id)
        if env.status not in (EnvelopeStatus.DRAFT.value, EnvelopeStatus.SENT.value) or \
                rec.status in (RecipientStatus.COMPLETED.value, RecipientStatus.DECLINED.value):
            raise Conflict("this recipient can no longer be corrected",
                           code="recipient_not_correctable")
        before = {"name": rec.name, "email": rec.email, "phone": rec.phone}
        if name is not None:
            rec.name = name.strip()
        if email is not None:
            rec.email = email
        if phone is not None:
            if "sms_otp" not in rec.auth_method.split("+"):
                raise InvalidInput("this recipient does not authenticate by SMS",
                                   code="phone_without_sms_otp")
            rec.phone = phone.strip()
        after = {"name": rec.name, "email": rec.email, "phone": rec.phone}
        if after == before:
            return view_of(uow.session, env)
        audit.record(uow.session, env, "recipient:corrected", actor=actor.label, now=now,
                     ip=actor.ip, user_agent=actor.user_agent,
                     data={"recipient_id": rec.id, "before": before, "after": after})
        if (before["email"], before["phone"]) != (after["email"], after["phone"]):
            rec.token_hash = None
            END_SESSIONS(uow.session, rec.id)
            if rec.status in ASKED:
                clear_delivery_failure(rec)
                rec.status = RecipientStatus.SENT.value
                notify(uow.session, env, [rec.id], now, rt.link_key)
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

