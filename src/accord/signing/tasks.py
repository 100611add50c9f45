"""Background work of the signing feature: the signing-request email and one-time codes.

The link in the email is derived again here from the recipient's stored nonce; the outbox
row holds only the recipient id. Safe to run twice: a recipient who has finished, or whose
envelope is no longer out for signature, gets no email.

One-time codes arrive sealed in the outbox payload (see ``signing.otp``); the handlers
open them only for a challenge that can still be answered, so a late or repeated delivery
never sends a dead code. Running twice sends the same code again (the SMS sink keeps one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from accord.delivery import sms
from accord.delivery.errors import PermanentFailure
from accord.delivery.handlers import DeadLetter
from accord.delivery.mail import Email
from accord.envelopes.domain import EnvelopeStatus
from accord.envelopes.models import Envelope, Recipient
from accord.runtime import Runtime
from accord.signing import domain
from accord.signing.crypto import SealError, unseal
from accord.signing.links import current_token
from accord.signing.models import SignerChallenge
from accord.signing.otp import EMAIL_CODE, SMS_CODE, seal_context


def signing_request_email(rt: Runtime, payload: dict[str, Any]) -> Email | None:
    from accord.accounts.services import org_name

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
    from accord.audit import services as audit
    from accord.envelopes.services import (
        apply_state,
        commit_or_conflict,
        lock,
        recipients_of,
        state_of,
    )

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
    from accord.envelopes.services import commit_or_conflict
    from accord.errors import Conflict

    for _ in range(3):  # a signer acting meanwhile bumps the envelope's version
        try:
            with rt.db.uow() as uow:
                if _record_failure(rt, uow.session, letter):
                    commit_or_conflict(uow.session)
                return
        except Conflict:
            continue


def _record_failure(rt: Runtime, session: Session, letter: DeadLetter) -> bool:
    from accord.audit import services as audit
    from accord.delivery.services import send_email
    from accord.envelopes.services import (
        apply_state,
        lock,
        recipients_of,
        sender_email,
        state_of,
    )

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


@dataclass(frozen=True)
class CodeMessage:
    code: str
    org_id: str
    org: str
    name: str
    email: str
    phone: str | None
    subject: str


def _code_message(rt: Runtime, kind: str, payload: dict[str, Any]) -> CodeMessage | None:
    """The code to send, or None when its challenge can no longer be answered."""
    from accord.accounts.services import org_name

    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        ch = s.get(SignerChallenge, str(payload.get("challenge_id")))
        rec = s.get(Recipient, ch.recipient_id) if ch else None
        env = s.get(Envelope, ch.envelope_id) if ch else None
        if (ch is None or rec is None or env is None
                or env.status != EnvelopeStatus.SENT.value or rec.token_hash is None
                or domain.code_refusal(attempts=ch.attempts, used=ch.used_at is not None,
                                       superseded=ch.superseded, expires_at=ch.expires_at,
                                       now=now) is not None):
            return None
        org = org_name(s, env.org_id)
        try:
            code = unseal(rt, str(payload.get("sealed_code")),
                          context=seal_context(kind, ch.id))
        except SealError as exc:  # another instance's key, or tampered: cannot improve
            raise PermanentFailure("the sealed code does not open") from exc
        return CodeMessage(code=code, org_id=env.org_id, org=org, name=rec.name,
                           email=rec.email, phone=rec.phone, subject=env.subject)


def signer_code_email(rt: Runtime, payload: dict[str, Any]) -> Email | None:
    msg = _code_message(rt, EMAIL_CODE, payload)
    if msg is None:
        return None
    minutes = int(domain.CODE_TTL.total_seconds() // 60)
    return Email(to=(msg.email,), subject=f"Your code for \"{msg.subject}\"",
                 body=(f"Hello {msg.name},\n\nYour one-time code is:\n\n    {msg.code}\n\n"
                       f"Type it on the signing page within {minutes} minutes; it works "
                       f"once. {msg.org} will never ask you for this code: do not share "
                       f"it. If you did not ask for it, ignore this email.\n"))


def send_sms_code(rt: Runtime, payload: dict[str, Any],
                  sender_for: Callable[[Runtime, str | None], sms.SmsSender] = sms.sender_for,
                  ) -> None:
    """Text the code; ``sender_for`` picks the gateway or the sink (tests pass a fake)."""
    msg = _code_message(rt, SMS_CODE, payload)
    if msg is None:
        return
    if not msg.phone:
        raise PermanentFailure("the recipient has no phone number")
    minutes = int(domain.CODE_TTL.total_seconds() // 60)
    body = (f"{msg.code} is your code to sign with {msg.org[:40]}. It expires in {minutes} "
            f"minutes. Do not share it.")
    sender_for(rt, msg.org_id).send(msg.phone, body,
                                    message_id=str(payload.get("challenge_id")))


def signer_code_sms(rt: Runtime, payload: dict[str, Any]) -> None:
    send_sms_code(rt, payload)

