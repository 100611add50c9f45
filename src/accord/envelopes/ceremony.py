"""What the signer's ceremony (``accord.signing``) may read and change of an envelope.

Signing reads envelope rows only through the functions here and ``envelopes.services``
(``lock``, ``recipients_of``, ``fields_of``, ``documents_of``, ``state_of``, ``notify``,
``commit_or_conflict``), and changes them only through the functions here: every state
change of a recipient (viewed, consented, authentication state, signed, declined), field
values and the envelope's completion is done by envelopes. The row classes are named
here for type hints only: a caller reads the rows it is given and never writes them.

Nothing here owns a transaction: each function works in the caller's session (signing's
services own theirs) and leaves the commit to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.envelopes.domain import EnvelopeState, EnvelopeStatus, RecipientStatus, TransitionError
from accord.envelopes.links import hash_token
from accord.envelopes.models import Document, Envelope, Field, Recipient
from accord.envelopes.queries import lock, recipients_of
from accord.envelopes.services.common import apply_state, domain_error, state_of

__all__ = [
    "Document",
    "Envelope",
    "Field",
    "Recipient",
    "adopt_signature",
    "complete_recipient",
    "decline",
    "document",
    "envelope",
    "fill",
    "finished",
    "link_live",
    "live",
    "mark_viewed",
    "recipient",
    "recipient_of_link",
    "record_auth_state",
    "record_consent",
    "sealed",
]

_FINISHED = (RecipientStatus.COMPLETED.value, RecipientStatus.DECLINED.value)


# -- reading ------------------------------------------------------------------------------

def recipient(session: Session, recipient_id: str) -> Recipient | None:
    return session.get(Recipient, recipient_id)


def envelope(session: Session, envelope_id: str) -> Envelope | None:
    """The envelope, not locked (background tasks that only read it)."""
    return session.get(Envelope, envelope_id)


def recipient_of_link(session: Session, token: str) -> Recipient | None:
    """The recipient whose live signing link ``token`` is."""
    return session.scalar(select(Recipient).where(Recipient.token_hash == hash_token(token)))


def document(session: Session, envelope_id: str, document_id: str) -> Document | None:
    return session.scalar(select(Document).where(Document.id == document_id,
                                                 Document.envelope_id == envelope_id))


def finished(rec: Recipient) -> bool:
    """The recipient has signed, approved or declined."""
    return rec.status in _FINISHED


def link_live(env: Envelope, rec: Recipient) -> bool:
    """The envelope is out for signature and the recipient still has a live link."""
    return env.status == EnvelopeStatus.SENT.value and rec.token_hash is not None


def live(session: Session, rec: Recipient | None,
         now: datetime) -> tuple[Recipient, Envelope] | None:
    """The recipient and their envelope, locked, while the recipient's link may be used:
    the envelope out for signature and not past its deadline, the recipient not finished
    and their link not ended. None otherwise."""
    if rec is None:
        return None
    env = lock(session, rec.envelope_id)
    if (env is None or not link_live(env, rec) or finished(rec)
            or (env.expires_at is not None and env.expires_at <= now)):
        return None
    # read again now that the envelope is locked: a concurrent request may have counted a
    # failed attempt on this recipient since it was first loaded
    session.refresh(rec)
    return rec, env


# -- changing -----------------------------------------------------------------------------

def mark_viewed(env: Envelope, recs: Sequence[Recipient], state: EnvelopeState,
                rec: Recipient, now: datetime) -> bool:
    """The recipient saw the documents for the first time (True) or had before (False)."""
    if not state.mark_viewed(rec.id):
        return False
    apply_state(env, recs, state)
    rec.viewed_at = now
    return True


def record_consent(rec: Recipient, now: datetime, version: str, ip: str | None,
                   user_agent: str | None) -> None:
    rec.consented_at, rec.consent_version = now, version
    rec.ip, rec.user_agent = ip, (user_agent or "")[:500]


def record_auth_state(rec: Recipient, config: Mapping[str, Any]) -> None:
    """Store the recipient's authentication configuration with its failure counts."""
    rec.auth_config = dict(config)


def adopt_signature(rec: Recipient, kind: str, blob: str) -> None:
    rec.signature_kind, rec.signature_blob = kind, blob


def fill(field: Field, value: str | None) -> None:
    field.value = value


def complete_recipient(env: Envelope, recs: Sequence[Recipient], state: EnvelopeState,
                       rec: Recipient, now: datetime, ip: str | None,
                       user_agent: str | None) -> tuple[list[str], bool]:
    """The recipient signed or approved: their link ends. Returns who to notify next and
    whether every required recipient has now finished (the envelope is ``completing``).
    Raises Conflict when the state machine refuses."""
    try:
        to_notify, completed = state.complete_recipient(rec.id)
    except TransitionError as exc:
        raise domain_error(exc) from exc
    apply_state(env, recs, state)
    rec.completed_at = now
    rec.ip, rec.user_agent = ip, (user_agent or "")[:500]
    rec.token_hash = None
    return list(to_notify), completed


def decline(env: Envelope, recs: Sequence[Recipient], state: EnvelopeState, rec: Recipient,
            now: datetime, reason: str) -> None:
    """The recipient declined: the envelope is declined and every link ends."""
    try:
        state.decline(rec.id)
    except TransitionError as exc:
        raise domain_error(exc) from exc
    apply_state(env, recs, state)
    rec.declined_at, rec.decline_reason = now, reason
    env.declined_at = now
    for r in recs:
        r.token_hash = None


def sealed(session: Session, env: Envelope, now: datetime, sealed_blob: str) -> None:
    """The completion task stored the sealed PDF: the envelope is completed."""
    recs = recipients_of(session, env.id)
    state = state_of(env, recs)
    try:
        state.sealed()
    except TransitionError as exc:
        raise domain_error(exc) from exc
    apply_state(env, recs, state)
    env.completed_at = now
    env.sealed_blob = env.sealed_sha256 = sealed_blob
