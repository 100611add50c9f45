"""Background work of the signing feature: the one-time codes by email and SMS (the
signing-request email is envelopes' own: ``envelopes.tasks``).

One-time codes arrive sealed in the outbox payload (see ``signing.otp``); the handlers
open them only for a challenge that can still be answered, so a late or repeated delivery
never sends a dead code. Running twice sends the same code again (the SMS sink keeps one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accord.delivery import sms
from accord.delivery.errors import PermanentFailure
from accord.delivery.mail import Email
from accord.envelopes import ceremony
from accord.runtime import Runtime
from accord.signing import domain
from accord.signing.crypto import SealError, unseal
from accord.signing.models import SignerChallenge
from accord.signing.otp import EMAIL_CODE, SMS_CODE, seal_context


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
        rec = ceremony.recipient(s, ch.recipient_id) if ch else None
        env = ceremony.envelope(s, ch.envelope_id) if ch else None
        if (ch is None or rec is None or env is None or not ceremony.link_live(env, rec)
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

