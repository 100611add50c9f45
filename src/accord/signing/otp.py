"""One-time codes by email (``email_otp``) and SMS (``sms_otp``), per OWASP ASVS 2.7/2.8.

A code is 6 digits from ``secrets``, valid for 10 minutes, good for one use, bound to its
recipient and envelope, and dead after 5 wrong tries (the right code is then refused too).
Asking for a new code supersedes the old one. Sends are capped per recipient and channel
(5 an hour) and per client IP (20 an hour); past a cap the signer gets a 429 saying when
to try again. A wrong, expired, used, superseded or exhausted code all get the same
answer, ``domain.CODE_INVALID``; only the audit trail records which it was.

How the code reaches the signer without being stored in clear
-------------------------------------------------------------
The code is generated in the signer's request, which in one transaction stores

* the challenge row with only ``HMAC-SHA256(k_mac, challenge:envelope:recipient:code)``,
  where ``k_mac`` is derived from the master key (``crypto.code_mac``): the database
  alone cannot confirm a guess, offline or not;
* an outbox row of an id-only kind (``email:signer_code`` / ``sms:signer_code``) whose
  payload is the challenge id and the code sealed with AES-256-GCM under another key
  derived from the master key, the kind and challenge id bound as associated data.

The worker's handler opens the sealed code, checks the challenge is still live (not
superseded, used, exhausted or expired; the envelope still out for signature) and sends
it; otherwise it sends nothing. We chose this over generating the code in the handler
because the challenge then exists, with its expiry and rate limits, from the moment the
signer asks, in the same transaction as its audit event; and an at-least-once
redelivery sends the same code again instead of silently replacing the one the signer
may already be typing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accord.audit import services as audit
from accord.db import new_id
from accord.delivery.services import enqueue
from accord.envelopes import services as envelopes
from accord.envelopes.ceremony import Envelope, Recipient
from accord.errors import AccordError, InvalidInput
from accord.runtime import Runtime
from accord.signing import domain
from accord.signing.auth import begin, failed, passed
from accord.signing.crypto import code_mac, code_matches, new_code, seal
from accord.signing.domain import CHANNEL, Factor
from accord.signing.models import SignerChallenge
from accord.signing.services import Client, actor_of

EMAIL_CODE = "email:signer_code"
SMS_CODE = "sms:signer_code"
KIND = {"email": EMAIL_CODE, "sms": SMS_CODE}


class TooManyCodes(AccordError):
    status = 429
    code = "too_many_codes"


def seal_context(kind: str, challenge_id: str) -> str:
    return f"{kind}:{challenge_id}"


def _sent_since(s: Session, since: datetime, *, recipient_id: str | None = None,
                channel: str | None = None, ip: str | None = None) -> list[datetime]:
    query = select(SignerChallenge.created_at).where(SignerChallenge.created_at > since)
    if recipient_id is not None:
        query = query.where(SignerChallenge.recipient_id == recipient_id,
                            SignerChallenge.channel == channel)
    if ip is not None:
        query = query.where(SignerChallenge.ip == ip)
    return list(s.scalars(query))


def _check_caps(s: Session, rec: Recipient, channel: str, client: Client,
                now: datetime) -> None:
    since = now - domain.SEND_WINDOW
    retry = domain.send_retry_at(_sent_since(s, since, recipient_id=rec.id, channel=channel),
                                 domain.SENDS_PER_RECIPIENT)
    if retry is not None:
        raise TooManyCodes(
            f"You have asked for {domain.SENDS_PER_RECIPIENT} codes in the last hour, the "
            f"most we send. You can ask for a new one after {retry:%H:%M} UTC.",
            details={"retry_at": retry.isoformat()})
    ip = (client.ip or "")[:64]
    if ip:
        retry = domain.send_retry_at(_sent_since(s, since, ip=ip), domain.SENDS_PER_IP)
        if retry is not None:
            raise TooManyCodes(
                "Too many codes have been asked for from your network in the last hour. "
                f"You can ask for a new one after {retry:%H:%M} UTC.",
                code="too_many_codes_ip", details={"retry_at": retry.isoformat()})


def destination(rec: Recipient, factor: Factor) -> str:
    if factor is Factor.SMS_OTP and rec.phone:
        return domain.mask_phone(rec.phone)
    return domain.mask_email(rec.email)


def request_code(rt: Runtime, session_token: str | None, csrf: str | None,
                 client: Client) -> None:
    """Send a (new) code for the session's next factor; any older code stops working."""
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        _sess, rec, env, factor = begin(s, session_token, csrf, now, *CHANNEL)
        channel = CHANNEL[factor]
        _check_caps(s, rec, channel, client, now)
        s.execute(update(SignerChallenge)
                  .where(SignerChallenge.recipient_id == rec.id,
                         SignerChallenge.channel == channel,
                         SignerChallenge.superseded.is_(False))
                  .values(superseded=True))
        challenge_id, code = new_id(), new_code()
        s.add(SignerChallenge(
            id=challenge_id, org_id=rec.org_id, recipient_id=rec.id, envelope_id=env.id,
            channel=channel, code_hash=code_mac(rt, challenge_id=challenge_id,
                                                envelope_id=env.id, recipient_id=rec.id,
                                                code=code),
            created_at=now, expires_at=now + domain.CODE_TTL, attempts=0, used_at=None,
            superseded=False, ip=(client.ip or "")[:64] or None))
        kind = KIND[channel]
        enqueue(s, kind=kind, now=now, org_id=env.org_id,
                payload={"challenge_id": challenge_id,
                         "sealed_code": seal(rt, code, context=seal_context(kind,
                                                                            challenge_id))})
        audit.record(s, env, "recipient:auth_challenge_sent", actor=actor_of(rec), now=now,
                     ip=client.ip, user_agent=client.user_agent,
                     data={"recipient_id": rec.id, "factor": factor.value,
                           "channel": channel, "to": destination(rec, factor),
                           "challenge_id": challenge_id,
                           "expires_at": (now + domain.CODE_TTL).isoformat()})
        envelopes.commit_or_conflict(s)


def _matches(rt: Runtime, ch: SignerChallenge, env: Envelope, rec: Recipient,
             code: str) -> bool:
    return code_matches(rt, ch.code_hash, challenge_id=ch.id, envelope_id=env.id,
                        recipient_id=rec.id, code=code)


def verify_code(rt: Runtime, session_token: str | None, csrf: str | None, raw: str,
                client: Client) -> None:
    """Check a code typed by the signer against the recipient's live challenge."""
    now = rt.now()
    code = domain.clean_code(raw)
    with rt.db.uow() as uow:
        s = uow.session
        sess, rec, env, factor = begin(s, session_token, csrf, now, *CHANNEL)
        channel = CHANNEL[factor]
        recent = list(s.scalars(
            select(SignerChallenge)
            .where(SignerChallenge.recipient_id == rec.id,
                   SignerChallenge.envelope_id == env.id,
                   SignerChallenge.channel == channel,
                   SignerChallenge.created_at > now - domain.SEND_WINDOW)
            .order_by(SignerChallenge.created_at.desc(), SignerChallenge.id)))
        live = next((c for c in recent if not c.superseded), None)
        reason = "no_code"
        if live is not None:
            refusal = domain.code_refusal(attempts=live.attempts, used=live.used_at is not None,
                                          superseded=False, expires_at=live.expires_at,
                                          now=now)
            if refusal is None and _matches(rt, live, env, rec, code):
                live.used_at = now
                passed(s, sess, rec, env, factor, now, client, channel=channel,
                       challenge_id=live.id)
                envelopes.commit_or_conflict(s)
                return
            if refusal is None:
                live.attempts += 1
                reason = "wrong_code"
                if any(_matches(rt, c, env, rec, code) for c in recent if c.superseded):
                    reason = "superseded"
            else:
                reason = refusal
        failed(s, rec, env, factor, reason, now, client, channel=channel,
               challenge_id=live.id if live else None,
               attempts=live.attempts if live else 0)
        envelopes.commit_or_conflict(s)
    raise InvalidInput(domain.CODE_INVALID, code="code_invalid")
