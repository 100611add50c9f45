"""The signer's ceremony: open a link, authenticate, consent, view, fill fields, adopt,
sign or decline.

Every step is an audit event. Signing links are exchanged for a short-lived signer session
(cookie) on first use so the token leaves the address bar. A recipient with authentication
factors must pass them all in that session (``signing.auth``, ``signing.otp``) before the
documents are shown or anything can be done with them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from accord.accounts.services import org_name
from accord.audit import services as audit
from accord.documents.limits import PdfLimits
from accord.documents.pdf import DocumentError, render_page_png
from accord.envelopes import ceremony
from accord.envelopes import services as envelopes
from accord.envelopes.ceremony import Envelope, Field, Recipient
from accord.envelopes.domain import FieldKind, RecipientRole
from accord.envelopes.links import hash_token
from accord.envelopes.services.routing import recheck as recheck_routing
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from accord.runtime import Runtime
from accord.signing import completion, disclosure, factors
from accord.signing.factors import AuthStep
from accord.signing.models import SignerSession
from accord.signing.signature import adopt

DEAD_LINK = "this signing link is not valid"


@dataclass(frozen=True)
class Client:
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class SignerDocument:
    id: str
    name: str
    page_sizes: list[tuple[float, float]]


@dataclass(frozen=True)
class SignerView:
    envelope_id: str
    subject: str
    message: str
    organisation: str
    envelope_status: str
    recipient_id: str
    name: str
    email: str
    role: str
    status: str
    your_turn: bool
    consented: bool
    finished: bool
    csrf_token: str
    documents: list[SignerDocument]
    fields: list[envelopes.FieldView]
    auth: AuthStep | None = None  # set while a factor is still to pass (or locked out)
    may_delegate: bool = False  # the sender allowed handing this part on (delegation)


@dataclass(frozen=True)
class SignatureInput:
    kind: str  # typed | drawn
    text: str | None = None
    drawn: str | None = None  # PNG data URL


def actor_of(r: Recipient) -> str:
    return f"recipient:{r.email}"


def _live_recipient(session: Session, recipient: Recipient | None,
                    now: datetime) -> tuple[Recipient, Envelope]:
    found = ceremony.live(session, recipient, now)
    if found is None:
        raise NotFound(DEAD_LINK, code="link_invalid")
    return found


def open_link(rt: Runtime, token: str, client: Client) -> str:
    """Exchange a signing-link token for a signer session token (the cookie)."""
    now = rt.now()
    if not token or len(token) > 100:
        raise NotFound(DEAD_LINK, code="link_invalid")
    with rt.db.uow() as uow:
        s = uow.session
        rec, env = _live_recipient(s, ceremony.recipient_of_link(s, token), now)
        session_token = secrets.token_urlsafe(32)
        s.add(SignerSession(token_hash=hash_token(session_token), recipient_id=rec.id,
                            org_id=rec.org_id, csrf_token=secrets.token_urlsafe(32),
                            created_at=now,
                            expires_at=now + timedelta(hours=rt.settings.signer_session_hours)))
        audit.record(s, env, "recipient:link_opened", actor=actor_of(rec), now=now,
                     ip=client.ip, user_agent=client.user_agent,
                     data={"recipient_id": rec.id, "auth_method": rec.auth_method})
        envelopes.commit_or_conflict(s)
        return session_token


def _session(s: Session, session_token: str | None, now: datetime) -> SignerSession:
    row = s.get(SignerSession, hash_token(session_token)) if session_token else None
    if row is None or row.expires_at <= now:
        raise Unauthorized("your signing session has ended; open the link from your email "
                           "again", code="signer_session_invalid")
    return row


def load_signer(s: Session, session_token: str | None, now: datetime, *,
                authenticated: bool = True) -> tuple[SignerSession, Recipient, Envelope]:
    """The live session, recipient and (locked) envelope. ``authenticated`` also requires
    every authentication factor passed in this session (Forbidden otherwise)."""
    sess = _session(s, session_token, now)
    rec, env = _live_recipient(s, ceremony.recipient(s, sess.recipient_id), now)
    if authenticated and factors.blocked(s, sess, rec):
        raise Forbidden("confirm who you are first", code="auth_required")
    return sess, rec, env


def check_csrf(sess: SignerSession, csrf: str | None) -> None:
    """Refuse a form without this session's token: 403 ``csrf_failed``, as the console."""
    if not csrf or not secrets.compare_digest(csrf, sess.csrf_token):
        raise Forbidden("this form did not come from your current signing session; reload "
                        "the page and try again", code="csrf_failed")


def refuse_if_finished(s: Session, session_token: str | None, csrf: str | None,
                       now: datetime) -> None:
    """The signer's own live session posting again after signing, approving or declining
    gets 409 ``already_finished`` (once its CSRF token checks out). Anyone without that
    session still meets the dead link, exactly like an unknown one."""
    sess = _session(s, session_token, now)
    rec = ceremony.recipient(s, sess.recipient_id)
    if rec is not None and ceremony.finished(rec):
        check_csrf(sess, csrf)
        raise Conflict("you have already finished with this envelope; there is nothing "
                       "more to do", code="already_finished")


def view(rt: Runtime, session_token: str | None, client: Client) -> SignerView:
    """What the signer sees. Records the first view (after consent) as recipient:viewed.

    A finished recipient still sees a confirmation (their session stays valid)."""
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        sess = _session(s, session_token, now)
        rec = ceremony.recipient(s, sess.recipient_id)
        env = envelopes.lock(s, rec.envelope_id) if rec else None
        if rec is None or env is None:
            raise NotFound(DEAD_LINK, code="link_invalid")
        recs = envelopes.recipients_of(s, env.id)
        state = envelopes.state_of(env, recs)
        turn = state.is_turn_of(rec.id)
        step = factors.step(s, sess, rec)
        if (step is None and turn and rec.consented_at is not None
                and ceremony.mark_viewed(env, recs, state, rec, now)):
            audit.record(s, env, "recipient:viewed", actor=actor_of(rec), now=now,
                         ip=client.ip, user_agent=client.user_agent,
                         data={"recipient_id": rec.id})
            envelopes.commit_or_conflict(s)
        # nothing of the documents is shown until every factor is passed
        docs = envelopes.documents_of(s, env.id) if step is None else []
        fields = [f for f in envelopes.fields_of(s, env.id)
                  if f.recipient_id == rec.id] if step is None else []
        return SignerView(
            envelope_id=env.id, subject=env.subject,
            message=env.message if step is None else "",
            organisation=org_name(s, env.org_id), envelope_status=env.status,
            recipient_id=rec.id, name=rec.name, email=rec.email, role=rec.role,
            status=rec.status, your_turn=turn, consented=rec.consented_at is not None,
            finished=ceremony.finished(rec),
            csrf_token=sess.csrf_token,
            documents=[SignerDocument(d.id, d.name, [(float(w), float(h))
                                                     for w, h in d.page_sizes])
                       for d in docs],
            fields=[envelopes.field_view(f) for f in fields], auth=step,
            may_delegate=rec.may_delegate)


def consent(rt: Runtime, session_token: str | None, csrf: str | None,
            client: Client) -> None:
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        sess, rec, env = load_signer(s, session_token, now)
        check_csrf(sess, csrf)
        if rec.consented_at is not None:
            return
        ceremony.record_consent(rec, now, disclosure.VERSION, client.ip, client.user_agent)
        audit.record(s, env, "recipient:consented", actor=actor_of(rec), now=now,
                     ip=client.ip, user_agent=client.user_agent,
                     data={"recipient_id": rec.id, "disclosure_version": disclosure.VERSION,
                           "disclosure": disclosure.AGREE})
        envelopes.commit_or_conflict(s)


def page_png(rt: Runtime, session_token: str | None, document_id: str, page: int) -> bytes:
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        _sess, rec, env = load_signer(s, session_token, now)
        doc = ceremony.document(s, env.id, document_id)
        if doc is None or not 1 <= page <= doc.page_count:
            raise NotFound("no such page", code="page_not_found")
        if rec.consented_at is None:
            raise Conflict("accept the electronic records disclosure first",
                           code="consent_required")
        blob = doc.blob
    return _render_cached(rt, blob, page)


_PNG_CACHE: dict[tuple[str, int], bytes] = {}


def _render_cached(rt: Runtime, blob: str, page: int) -> bytes:
    key = (blob, page)
    if key not in _PNG_CACHE:
        if len(_PNG_CACHE) > 256:
            _PNG_CACHE.clear()
        try:  # guarded: a subprocess under memory and time limits
            _PNG_CACHE[key] = render_page_png(rt.blobs.get(blob), page,
                                              limits=PdfLimits.from_settings(rt.settings))
        except DocumentError as exc:
            raise InvalidInput(exc.message, code=exc.code) from exc
    return _PNG_CACHE[key]


def _field_value(f: Field, raw: str | None, now: datetime) -> str | None:
    kind = FieldKind(f.kind)
    if kind in (FieldKind.SIGNATURE, FieldKind.INITIALS):
        return "adopted"
    if kind is FieldKind.DATE_SIGNED:
        return now.strftime("%Y-%m-%d")
    if kind is FieldKind.CHECKBOX:
        checked = (raw or "").lower() in ("on", "true", "1", "yes")
        if f.required and not checked:
            raise InvalidInput(f"tick the box '{f.label or 'checkbox'}'",
                               code="field_required", details={"field_id": f.id})
        return "true" if checked else "false"
    text = (raw or "").strip()
    if f.required and not text:
        raise InvalidInput(f"fill in '{f.label or 'text field'}'", code="field_required",
                           details={"field_id": f.id})
    if len(text) > 500:
        raise InvalidInput("text fields hold at most 500 characters", code="field_too_long",
                           details={"field_id": f.id})
    return text


def finish(rt: Runtime, session_token: str | None, csrf: str | None, *,
           values: dict[str, str], signature: SignatureInput | None, intent: bool,
           client: Client) -> bool:
    """Sign (or approve). Returns True when this was the last required signature: the
    envelope is then ``completing`` and its completion (stamping, certificate, seal) is
    queued for the worker in the same transaction (see ``signing.completion``)."""
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        refuse_if_finished(s, session_token, csrf, now)
        sess, rec, env = load_signer(s, session_token, now)
        check_csrf(sess, csrf)
        if rec.consented_at is None:
            raise Conflict("accept the electronic records disclosure first",
                           code="consent_required")
        recs = envelopes.recipients_of(s, env.id)
        recheck_routing(s, env, recs, "step", now)  # before the routing may advance
        state = envelopes.state_of(env, recs)
        if not state.is_turn_of(rec.id):
            raise Conflict("it is not your turn to sign yet", code="not_your_turn")
        if not intent:
            raise InvalidInput("confirm that you intend to sign", code="intent_required")
        fields = [f for f in envelopes.fields_of(s, env.id) if f.recipient_id == rec.id]
        needs_signature = any(f.kind in (FieldKind.SIGNATURE, FieldKind.INITIALS)
                              for f in fields) or rec.role == RecipientRole.SIGNER.value
        filled = {f.id: _field_value(f, values.get(f.id), now) for f in fields}
        adopted = None
        if needs_signature:
            if signature is None:
                raise InvalidInput("adopt a signature first", code="signature_required")
            adopted = adopt(signature.kind, text=signature.text, drawn=signature.drawn)
        # -- all input is valid: write --
        if adopted is not None:
            ceremony.adopt_signature(rec, adopted.kind, rt.blobs.put(adopted.png))
            audit.record(s, env, "recipient:signature_adopted", actor=actor_of(rec), now=now,
                         ip=client.ip, user_agent=client.user_agent,
                         data={"recipient_id": rec.id, "kind": adopted.kind,
                               "image_sha256": rec.signature_blob})
        for f in fields:
            ceremony.fill(f, filled[f.id])
            audit.record(s, env, "recipient:field_filled", actor=actor_of(rec), now=now,
                         ip=client.ip, user_agent=client.user_agent,
                         data={"recipient_id": rec.id, "field_id": f.id, "kind": f.kind,
                               "label": f.label, "value": f.value})
        to_notify, completed = ceremony.complete_recipient(env, recs, state, rec, now,
                                                           client.ip, client.user_agent)
        tag = "recipient:signed" if rec.role == RecipientRole.SIGNER.value else \
            "recipient:approved"
        audit.record(s, env, tag, actor=actor_of(rec), now=now, ip=client.ip,
                     user_agent=client.user_agent,
                     data={"recipient_id": rec.id, "intent": disclosure.INTENT
                           if tag == "recipient:signed" else disclosure.APPROVE_INTENT})
        envelopes.notify(s, env, to_notify, now, rt.link_key)
        if completed:
            completion.queue(s, env, now)
        envelopes.commit_or_conflict(s)
        return completed


def decline(rt: Runtime, session_token: str | None, csrf: str | None, *, reason: str,
            client: Client) -> None:
    from accord.delivery.mail import Email
    from accord.delivery.services import send_email

    now = rt.now()
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise InvalidInput("give a reason for declining (1-1000 characters)",
                           code="invalid_reason")
    with rt.db.uow() as uow:
        s = uow.session
        refuse_if_finished(s, session_token, csrf, now)
        sess, rec, env = load_signer(s, session_token, now)
        check_csrf(sess, csrf)
        recs = envelopes.recipients_of(s, env.id)
        state = envelopes.state_of(env, recs)
        ceremony.decline(env, recs, state, rec, now, reason)
        audit.record(s, env, "recipient:declined", actor=actor_of(rec), now=now, ip=client.ip,
                     user_agent=client.user_agent,
                     data={"recipient_id": rec.id, "reason": reason})
        audit.record(s, env, "envelope:declined", actor="system", now=now,
                     data={"declined_by": rec.email})
        sender = envelopes.sender_email(s, env)
        if sender:
            send_email(s, Email(to=(sender,), subject=f"Declined: {env.subject}",
                                body=f"{rec.name} <{rec.email}> declined \"{env.subject}\".\n\n"
                                     f"Reason: {reason}\n"), now=now, org_id=env.org_id)
        envelopes.commit_or_conflict(s)
