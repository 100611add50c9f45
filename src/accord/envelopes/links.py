"""Signing links: 256-bit tokens derived from a server key and a per-recipient nonce.

token = base64url(HMAC-SHA256(link_key, "<recipient id>:<nonce>")). The database keeps only
the nonce and SHA-256(token) on the recipient: a copy of the database alone cannot produce
a working link, and the worker can re-derive the link when it writes the email. A new
nonce kills the old link (resend, correction); clearing ``token_hash`` kills it for good.

The link is the envelope's invitation to a recipient, so it lives here; the signer's
ceremony (``signing``) finds the recipient of a link with ``ceremony.recipient_of_link``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from accord.envelopes.models import Recipient


def derive_token(link_key: bytes, recipient_id: str, nonce: str) -> str:
    mac = hmac.new(link_key, f"{recipient_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(link_key: bytes, recipient: Recipient) -> str:
    """Give the recipient a fresh link (any older one dies) and return its token."""
    nonce = secrets.token_hex(16)
    token = derive_token(link_key, recipient.id, nonce)
    recipient.link_nonce = nonce
    recipient.token_hash = hash_token(token)
    return token


def current_token(link_key: bytes, recipient: Recipient) -> str | None:
    """The token of the recipient's live link, or None when it has none."""
    if recipient.link_nonce is None or recipient.token_hash is None:
        return None
    token = derive_token(link_key, recipient.id, recipient.link_nonce)
    return token if hmac.compare_digest(hash_token(token), recipient.token_hash) else None
