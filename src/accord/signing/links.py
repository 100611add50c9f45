"""The end of a recipient's signer sessions. The signing link itself is the envelope's
(``envelopes.links``); the sessions opened with it are signing's.

``end_sessions`` handles ``envelopes.hooks.END_SESSIONS`` (installed by ``signing.wiring``):
envelopes asks for it when it corrects a recipient's address or hands their part to
someone else.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from accord.signing.models import SignerChallenge, SignerFactor, SignerSession


def end_sessions(session: Session, recipient_id: str) -> None:
    """End every signer session of a recipient (after their email was corrected, or their
    part went to someone else); one-time codes already sent can no longer be used."""
    session.execute(update(SignerChallenge).where(SignerChallenge.recipient_id == recipient_id,
                                                  SignerChallenge.used_at.is_(None))
                    .values(superseded=True).execution_options(synchronize_session=False))

    hashes = select(SignerSession.token_hash).where(SignerSession.recipient_id == recipient_id)
    session.execute(delete(SignerFactor).where(SignerFactor.session_hash.in_(hashes)))
    session.execute(delete(SignerSession).where(SignerSession.recipient_id == recipient_id))
