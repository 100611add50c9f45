"""Signer authentication with secrets the sender gave out of band: an access code and
knowledge-based (KBA) questions; and what every factor shares: the step guard, passing a
factor, auditing a failure.

Both secrets are stored only as Argon2id hashes (KBA answers normalised first: see
``domain.normalise_answer``) and checked with Argon2's constant-time verification. Five
wrong answers to one of them lock the recipient out of the current link: every page then
says to ask the sender to send the envelope again. The count belongs to the link's nonce,
so a new link (a resend) starts afresh. Every attempt is audited; no answer ever is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from accord.audit import services as audit
from accord.envelopes import ceremony
from accord.envelopes import services as envelopes
from accord.envelopes.ceremony import Envelope, Recipient
from accord.errors import AccordError, Conflict, Forbidden, InvalidInput
from accord.runtime import Runtime
from accord.signing import domain, factors
from accord.signing.crypto import secret_matches
from accord.signing.domain import Factor
from accord.signing.models import SignerSession
from accord.signing.services import Client, actor_of, check_csrf, load_signer

LOCKED = ("Too many wrong answers: this signing link is locked. Ask the sender to send the "
          "envelope to you again; the new email lets you try again.")


class Locked(Forbidden):
    code = "signer_locked"


def begin(s: Session, session_token: str | None, csrf: str | None, now: datetime,
          *expected: Factor) -> tuple[SignerSession, Recipient, Envelope, Factor]:
    """Load and lock for an authentication step; the session's next factor must be one of
    ``expected`` (a stale form gets Conflict, a locked recipient Locked)."""
    sess, rec, env = load_signer(s, session_token, now, authenticated=False)
    check_csrf(sess, csrf)
    if factors.locked_by(rec) is not None:
        raise Locked(LOCKED)
    nxt = domain.next_factor(factors.required(rec), factors.passed(s, sess.token_hash))
    if nxt is None or nxt not in expected:
        raise Conflict("this step is already done; reload the page", code="auth_step_done")
    return sess, rec, env, nxt


def passed(s: Session, sess: SignerSession, rec: Recipient, env: Envelope, factor: Factor,
           now: datetime, client: Client, **data: Any) -> None:
    """Record ``factor`` as passed for this session, and audit it."""
    factors.record_pass(s, sess, factor, now)
    audit.record(s, env, "recipient:authenticated", actor=actor_of(rec), now=now,
                 ip=client.ip, user_agent=client.user_agent,
                 data={"recipient_id": rec.id, "factor": factor.value,
                       "auth_method": rec.auth_method, **data})


def failed(s: Session, rec: Recipient, env: Envelope, factor: Factor, reason: str,
           now: datetime, client: Client, **data: Any) -> None:
    audit.record(s, env, "recipient:auth_failed", actor=actor_of(rec), now=now,
                 ip=client.ip, user_agent=client.user_agent,
                 data={"recipient_id": rec.id, "factor": factor.value, "reason": reason,
                       **data})


def _wrong_secret(s: Session, rec: Recipient, env: Envelope, factor: Factor, now: datetime,
                  client: Client) -> AccordError:
    """Count a wrong access code or KBA form; lock the recipient at the limit. Returns the
    error to raise once the transaction is committed."""
    config = domain.with_failure(rec.auth_config or {}, rec.link_nonce, factor)
    ceremony.record_auth_state(rec, config)
    count = domain.failures(config, rec.link_nonce, factor)
    failed(s, rec, env, factor, "wrong_answer", now, client, attempt=count)
    left = domain.MAX_SECRET_FAILURES - count
    if left > 0:
        what = ("That access code is not right." if factor is Factor.ACCESS_CODE
                else "At least one answer is not right.")
        return InvalidInput(f"{what} {left} {'try' if left == 1 else 'tries'} left before "
                            f"this link locks.", code=f"{factor.value}_invalid")
    audit.record(s, env, "recipient:auth_locked", actor="system", now=now,
                 data={"recipient_id": rec.id, "factor": factor.value, "attempts": count})
    _tell_sender(s, rec, env, factor, now)
    return Locked(LOCKED)


def _tell_sender(s: Session, rec: Recipient, env: Envelope, factor: Factor,
                 now: datetime) -> None:
    from accord.delivery.mail import Email
    from accord.delivery.services import send_email

    sender = envelopes.sender_email(s, env)
    if not sender:
        return
    what = "access code" if factor is Factor.ACCESS_CODE else "identity questions"
    send_email(s, Email(
        to=(sender,), subject=f"Signer locked out: {env.subject}",
        body=(f"{rec.name} <{rec.email}> gave {domain.MAX_SECRET_FAILURES} wrong answers to "
              f"the {what} of \"{env.subject}\" and can no longer open it.\n\n"
              f"If this was them, confirm the {what} with them and send the envelope to "
              f"them again: the new link lets them try again.\n")),
        now=now, org_id=env.org_id)


def verify_access_code(rt: Runtime, session_token: str | None, csrf: str | None, code: str,
                       client: Client) -> None:
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        sess, rec, env, factor = begin(s, session_token, csrf, now, Factor.ACCESS_CODE)
        stored = (rec.auth_config or {}).get("access_code")
        if secret_matches(stored if isinstance(stored, str) else None, code.strip()[:200]):
            ceremony.record_auth_state(rec, domain.with_success(rec.auth_config or {},
                                                                rec.link_nonce, factor))
            passed(s, sess, rec, env, factor, now, client)
            envelopes.commit_or_conflict(s)
            return
        error = _wrong_secret(s, rec, env, factor, now, client)
        envelopes.commit_or_conflict(s)
    raise error


def verify_kba(rt: Runtime, session_token: str | None, csrf: str | None,
               answers: Sequence[str], client: Client) -> None:
    """All questions are answered on one form; one wrong answer fails the whole form (which
    one is not said) and counts as one wrong try."""
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        sess, rec, env, factor = begin(s, session_token, csrf, now, Factor.KBA)
        stored = (rec.auth_config or {}).get("kba") or []
        given = list(answers) + [""] * max(0, len(stored) - len(answers))
        # every answer is checked, right or wrong, so the time taken says nothing
        results = [secret_matches(str(q.get("answer_hash") or "") or None,
                                  domain.normalise_answer(a[:domain.KBA_ANSWER_MAX]))
                   for q, a in zip(stored, given, strict=False)]
        if stored and all(results):
            ceremony.record_auth_state(rec, domain.with_success(rec.auth_config or {},
                                                                rec.link_nonce, factor))
            passed(s, sess, rec, env, factor, now, client, questions=len(stored))
            envelopes.commit_or_conflict(s)
            return
        error = _wrong_secret(s, rec, env, factor, now, client)
        envelopes.commit_or_conflict(s)
    raise error
