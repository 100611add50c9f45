"""Background work of envelopes: the signing-request email (with its delivered and failed
hooks) and the recipient lifecycle's reminder and expiry-warning emails.

The link in each email is derived again here from the recipient's stored nonce (the
outbox row holds only the recipient id; see ``envelopes.links``), so an email carries the
link that is live when it is delivered. The handlers are declared in ``envelopes.wiring``.
Safe to run twice: a recipient who has acted, whose link died, or whose envelope is no
longer out for signature gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from accord.accounts.services import org_name
from accord.audit import services as audit
from accord.delivery.handlers import DeadLetter
from accord.delivery.mail import Email
from accord.delivery.services import send_email
from accord.envelopes.domain import EnvelopeStatus, RecipientStatus
from accord.envelopes.links import current_token
from accord.envelopes.models import Envelope, Recipient
from accord.envelopes.services import (
    apply_state,
    commit_or_conflict,
    lock,
    recipients_of,
    sender_email,
    state_of,
)
from accord.errors import Conflict
from accord.runtime import Runtime

REMINDER = "email:signing_reminder"
EXPIRY_WARNING = "email:expiry_warning"


@dataclass(frozen=True)
class _Waiting:
    org: str
    name: str
    email: str
    action: str
    subject: str
    url: str
    expires_at: datetime | None


def _waiting(rt: Runtime, payload: dict[str, Any]) -> _Waiting | None:
    """The recipient still asked to act, with their live link; None when there is none."""
    with rt.db.uow() as uow:
        rec = uow.session.get(Recipient, str(payload.get("recipient_id")))
        env = uow.session.get(Envelope, rec.envelope_id) if rec else None
        if (rec is None or env is None or env.status != EnvelopeStatus.SENT.value
                or rec.status not in (RecipientStatus.SENT.value,
                                      RecipientStatus.DELIVERED.value)):
            return None
        token = current_token(rt.link_key, rec)
        if token is None:
            return None
        return _Waiting(org=org_name(uow.session, env.org_id), name=rec.name, email=rec.email,
                        action="sign" if rec.role == "signer" else "approve",
                        subject=env.subject,
                        url=f"{rt.settings.base_url.rstrip('/')}/s/{token}",
                        expires_at=env.expires_at)


def _deadline(w: _Waiting) -> str:
    return (f"It expires on {w.expires_at:%Y-%m-%d %H:%M} UTC." if w.expires_at else "")


def reminder_email(rt: Runtime, payload: dict[str, Any]) -> Email | None:
    w = _waiting(rt, payload)
    if w is None:
        return None
    return Email(to=(w.email,), subject=f"Reminder: please {w.action} {w.subject}",
                 body=(f"Hello {w.name},\n\n{w.org} is still waiting for you to {w.action} "
                       f"\"{w.subject}\". {_deadline(w)}\n\nOpen the documents:\n{w.url}\n\n"
                       f"This link is personal to you: do not forward it.\n"))


def expiry_warning_email(rt: Runtime, payload: dict[str, Any]) -> Email | None:
    w = _waiting(rt, payload)
    if w is None:
        return None
    return Email(to=(w.email,), subject=f"Expires soon: please {w.action} {w.subject}",
                 body=(f"Hello {w.name},\n\n\"{w.subject}\" from {w.org} is waiting for you "
                       f"to {w.action}. {_deadline(w)} After that the link stops working."
                       f"\n\nOpen the documents:\n{w.url}\n\nThis link is personal to you: "
                       f"do not forward it.\n"))


# -- the signing request ------------------------------------------------------------------

def signing_request_email(rt: Runtime, payload: dict[str, Any]) -> Email | None:
    with rt.db.uow() as uow:
        rec = uow.session.get(Recipient, str(payload.get("recipient_id")))
        env = uow.session.get(Envelope, rec.envelope_id) if rec else None
        if rec is None or env is None or env.status != EnvelopeStatus.SENT.value:
            return None
        token = current_token(rt.link_key, rec)
        if token is None:
            return None
        org = org_name(uow.session, env.org_id)
        action = "sign" if rec.role == "signer" else "approve"
        url = f"{rt.settings.base_url.rstrip('/')}/s/{token}"
        body = (f"Hello {rec.name},\n\n{org} asks you to {action} \"{env.subject}\".\n\n"
                + (f"{env.message}\n\n" if env.message else "")
                + f"Open the documents:\n{url}\n\nThis link is personal to you: do not "
                f"forward it. It stops working when the envelope is completed, voided or "
                f"expires.\n")
        return Email(to=(rec.email,), subject=f"Please {action}: {env.subject}", body=body)


def signing_request_delivered(rt: Runtime, payload: dict[str, Any]) -> None:
    """Audit that the signing request reached the mail server (or the local mailbox); a
    recipient marked ``delivery_failed`` (an admin replayed the email) is ``sent`` again."""
    channel = "smtp" if rt.settings.smtp_host else "local-mailbox"
    with rt.db.uow() as uow:
        rec = uow.session.get(Recipient, str(payload.get("recipient_id")))
        env = lock(uow.session, rec.envelope_id) if rec else None
        if rec is None or env is None:
            return
        recs = recipients_of(uow.session, env.id)
        state = state_of(env, recs)
        if state.restore_delivery(rec.id):
            apply_state(env, recs, state)
        rec.delivery_error = rec.delivery_failed_at = None
        audit.record(uow.session, env, "recipient:delivered", actor="system", now=rt.now(),
                     data={"recipient_id": rec.id, "email": rec.email, "channel": channel})
        commit_or_conflict(uow.session)


def signing_request_failed(rt: Runtime, letter: DeadLetter) -> None:
    """The signing request went dead (refused, or retried for 72 hours): the recipient
    shows ``delivery_failed`` with the reason, the audit trail records
    ``recipient:delivery_failed`` (which webhooks turn into ``recipient.delivery_failed``)
    and the sender is emailed. Nothing happens for a request that a newer one (resend,
    correction) replaced, or once the envelope is no longer out for signature."""
    for _ in range(3):  # a signer acting meanwhile bumps the envelope's version
        try:
            with rt.db.uow() as uow:
                if _record_failure(rt, uow.session, letter):
                    commit_or_conflict(uow.session)
                return
        except Conflict:
            continue


def _record_failure(rt: Runtime, session: Session, letter: DeadLetter) -> bool:
    rec = session.get(Recipient, str(letter.payload.get("recipient_id")))
    env = lock(session, rec.envelope_id) if rec else None
    if rec is None or env is None or env.status != EnvelopeStatus.SENT.value:
        return False
    session.refresh(rec)  # read again under the envelope's lock
    if rec.notified_at is not None and rec.notified_at > letter.created_at:
        return False  # a newer signing request replaced this one
    now = rt.now()
    recs = recipients_of(session, env.id)
    state = state_of(env, recs)
    if not state.fail_delivery(rec.id):
        return False
    apply_state(env, recs, state)
    rec.delivery_error, rec.delivery_failed_at = letter.error, now
    audit.record(session, env, "recipient:delivery_failed", actor="system", now=now,
                 data={"recipient_id": rec.id, "email": rec.email, "reason": letter.error,
                       "permanent": letter.permanent, "attempts": letter.attempts})
    sender = sender_email(session, env)
    if sender:
        url = f"{rt.settings.base_url.rstrip('/')}/console/envelopes/{env.id}"
        how = ("The mail server refused it." if letter.permanent else
               f"Accord tried {letter.attempts} times over three days.")
        send_email(session, Email(
            to=(sender,),
            subject=" ".join(f"Could not deliver to {rec.email}: {env.subject}".split())[:300],
            body=(f"Hello,\n\nAccord could not deliver the signing request for "
                  f"\"{env.subject}\" to {rec.name} <{rec.email}>: {letter.error}\n\n"
                  f"{how} Check the address, then correct the recipient or resend the "
                  f"request from the envelope page:\n{url}\n")),
            now=now, org_id=env.org_id)
    return True


def signing_request_addressee(rt: Runtime, payload: dict[str, Any]) -> str | None:
    """The recipient's current address (for the admin's outbox list)."""
    with rt.db.uow() as uow:
        rec = uow.session.get(Recipient, str(payload.get("recipient_id")))
        return rec.email if rec else None
