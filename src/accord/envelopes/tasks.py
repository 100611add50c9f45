"""Background work of the recipient lifecycle: the reminder and expiry-warning emails.

Like the signing request, the link is derived again here from the recipient's stored
nonce (the outbox row holds only the recipient id), so a reminder carries the link that
is live when it is delivered. The handlers are declared in ``envelopes.wiring``. Safe to
run twice: a recipient who has acted, whose link died, or whose envelope is no longer out
for signature gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord.delivery.mail import Email
from accord.envelopes.domain import EnvelopeStatus, RecipientStatus
from accord.envelopes.models import Envelope, Recipient
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
    from accord.accounts.services import org_name
    from accord.signing.links import current_token

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

