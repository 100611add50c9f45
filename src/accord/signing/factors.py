"""A recipient's authentication factors: set up when the envelope is created, passed per
signer session, and described on the certificate of completion.

``configure`` runs for ``envelopes.services.create`` through the ``CONFIGURE_AUTH`` hook
(before its transaction: Argon2 is slow); the other helpers read in the caller's session
and own no transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.envelopes.ceremony import Recipient
from accord.envelopes.hooks import AuthRequest, RecipientAuth
from accord.errors import InvalidInput
from accord.signing import domain
from accord.signing.crypto import hash_secret
from accord.signing.domain import CHANNEL, AuthRuleError, Factor
from accord.signing.models import SignerChallenge, SignerFactor, SignerSession


def configure(requests: Sequence[AuthRequest]) -> list[RecipientAuth]:
    """Check every recipient's request (InvalidInput naming ``recipients[i]``), then hash
    the secrets. Nothing is hashed unless every request is valid. The handler of
    ``envelopes.hooks.CONFIGURE_AUTH`` (envelopes asks for it when it creates an envelope
    or reassigns a recipient)."""
    specs = []
    for i, req in enumerate(requests):
        try:
            specs.append(domain.check_request(role=req.role, factors=list(req.factors),
                                              phone=req.phone, access_code=req.access_code,
                                              kba=list(req.kba)))
        except AuthRuleError as exc:
            raise InvalidInput(f"recipients[{i}]: {exc.message}", code=exc.code,
                               details={"recipient": i}) from exc
    out = []
    for spec in specs:
        config: dict[str, Any] = {}
        if spec.access_code is not None:
            config["access_code"] = hash_secret(spec.access_code)
        if spec.kba:
            config["kba"] = [{"question": q, "answer_hash": hash_secret(a)}
                             for q, a in spec.kba]
        out.append(RecipientAuth(method=spec.method, config=config, phone=spec.phone))
    return out


def required(rec: Recipient) -> tuple[Factor, ...]:
    return domain.parse_method(rec.auth_method)


def passed(s: Session, session_hash: str) -> set[str]:
    return set(s.scalars(select(SignerFactor.factor)
                         .where(SignerFactor.session_hash == session_hash)))


def locked_by(rec: Recipient) -> Factor | None:
    return domain.locked_by(rec.auth_config or {}, rec.link_nonce)


def blocked(s: Session, sess: SignerSession, rec: Recipient) -> bool:
    """True while this signer session may not see or act on the documents: a factor is
    still to pass, or the recipient is locked out."""
    need = required(rec)
    if not need:
        return False
    return locked_by(rec) is not None or domain.next_factor(
        need, passed(s, sess.token_hash)) is not None


def questions(rec: Recipient) -> list[str]:
    return [str(q.get("question", "")) for q in (rec.auth_config or {}).get("kba", [])]


@dataclass(frozen=True)
class AuthStep:
    """The factor a signer session has to pass next, as the page shows it."""

    factor: str
    number: int  # 1-based, among the recipient's factors
    total: int
    locked: bool
    destination: str | None  # masked phone or email for one-time codes
    code_sent: bool  # a code was sent on this channel before
    questions: list[str]
    tries_left: int | None  # access code and KBA


def step(s: Session, sess: SignerSession, rec: Recipient) -> AuthStep | None:
    need = required(rec)
    if not need:
        return None
    lock = locked_by(rec)
    nxt = domain.next_factor(need, passed(s, sess.token_hash))
    factor = lock or nxt
    if factor is None:
        return None
    destination, sent, tries = None, False, None
    if factor in CHANNEL:
        destination = (domain.mask_phone(rec.phone) if factor is Factor.SMS_OTP and rec.phone
                       else domain.mask_email(rec.email))
        sent = s.scalar(select(SignerChallenge.id).where(
            SignerChallenge.recipient_id == rec.id,
            SignerChallenge.channel == CHANNEL[factor]).limit(1)) is not None
    else:
        tries = domain.MAX_SECRET_FAILURES - domain.failures(rec.auth_config or {},
                                                             rec.link_nonce, factor)
    return AuthStep(factor=factor.value, number=need.index(factor) + 1, total=len(need),
                    locked=lock is not None, destination=destination, code_sent=sent,
                    questions=questions(rec) if factor is Factor.KBA else [],
                    tries_left=tries)


def record_pass(s: Session, sess: SignerSession, factor: Factor, now: datetime) -> None:
    if s.get(SignerFactor, (sess.token_hash, factor.value)) is None:
        s.add(SignerFactor(session_hash=sess.token_hash, factor=factor.value, passed_at=now))


def passed_at(s: Session, rec: Recipient) -> datetime | None:
    """When the recipient's signer session that passed every factor finished the last one
    (the latest such session up to the recipient's completion)."""
    need = {f.value for f in required(rec)}
    if not need:
        return None
    rows = s.execute(select(SignerFactor.session_hash, SignerFactor.factor,
                            SignerFactor.passed_at)
                     .join(SignerSession, SignerSession.token_hash == SignerFactor.session_hash)
                     .where(SignerSession.recipient_id == rec.id))
    by_session: dict[str, dict[str, datetime]] = {}
    for session_hash, factor, at in rows:
        by_session.setdefault(session_hash, {})[factor] = at
    done = [max(times.values()) for times in by_session.values() if need <= set(times)]
    if rec.completed_at is not None:
        done = [t for t in done if t <= rec.completed_at] or done
    return max(done) if done else None


def certificate_line(s: Session, rec: Recipient) -> str:
    """``email link + SMS code (+1•••••0123) + access code; passed 2026-11-21 19:42 UTC``."""
    return domain.certificate_line(required(rec), phone=rec.phone,
                                   kba_count=len(questions(rec)),
                                   passed_at=passed_at(s, rec))
