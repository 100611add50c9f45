"""What envelopes needs the signer's ceremony (``signing``, above it) to do, as hooks:
``signing.wiring`` handles them and ``registry.install()`` installs the handlers. A process
that did not install them fails loudly (``accord.wiring.HookNotInstalled``).

- ``CONFIGURE_AUTH``: check what the sender asked for each recipient's authentication and
  turn it into the columns to store (secrets hashed); raises InvalidInput naming
  ``recipients[i]``. Called before the envelope's transaction (hashing is slow).
- ``END_SESSIONS``: end every signer session of a recipient, in the caller's session
  (their email was corrected, their part went to someone else).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from accord.wiring import Hook

EMAIL_LINK = "email_link"


@dataclass(frozen=True)
class AuthRequest:
    """What a sender asked for one recipient (secrets in clear, checked by the hook)."""

    role: str
    factors: Sequence[str] = ()
    phone: str | None = None
    access_code: str | None = None
    kba: Sequence[tuple[str, str]] = ()  # (question, answer)


@dataclass(frozen=True)
class RecipientAuth:
    """The columns to store on the recipient: nothing in it is a secret in clear."""

    method: str
    config: dict[str, Any]
    phone: str | None


def factors_of(auth_method: str | None) -> list[str]:
    """The factors a stored ``auth_method`` asks for beyond the email link."""
    return [f for f in (auth_method or EMAIL_LINK).split("+") if f and f != EMAIL_LINK]


CONFIGURE_AUTH: Hook[[Sequence[AuthRequest]], list[RecipientAuth]] = Hook(
    "envelopes.configure_auth")
END_SESSIONS: Hook[[Session, str], None] = Hook("envelopes.end_sessions")
