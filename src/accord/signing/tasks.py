"""Background work of the signing feature: the signing-request email.

The link in the email is derived again here from the recipient's stored nonce; the outbox
row holds only the recipient id. Safe to run twice: a recipient who has finished, or whose
envelope is no longer out for signature, gets no email.
"""

from __future__ import annotations

from typing import Any

from accord.delivery import handlers
from accord.delivery.mail import Email
from accord.envelopes.domain import EnvelopeStatus
from accord.envelopes.models import Envelope, Recipient
from accord.envelopes.services import SIGNING_REQUEST
from accord.runtime import Runtime
from accord.signing.links import current_token


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
    """Audit that the signing request reached the mail server (or the local mailbox)."""
    from accord.audit import services as audit
    from accord.envelopes.services import commit_or_conflict, lock

    channel = "smtp" if rt.settings.smtp_host else "local-mailbox"
    with rt.db.uow() as uow:
        rec = uow.session.get(Recipient, str(payload.get("recipient_id")))
        env = lock(uow.session, rec.envelope_id) if rec else None
        if rec is None or env is None:
            return
        audit.record(uow.session, env, "recipient:delivered", actor="system", now=rt.now(),
                     data={"recipient_id": rec.id, "email": rec.email, "channel": channel})
        commit_or_conflict(uow.session)


handlers.register(SIGNING_REQUEST, signing_request_email, delivered=signing_request_delivered)
