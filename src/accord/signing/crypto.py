"""Secrets of signer authentication: one-time codes, their MACs, the sealed copy that rides
in the outbox, and the password hashes of access codes and KBA answers.

Keys are derived from the instance's master key (``accord.runtime.derive_key``), one per
purpose; none is stored in the database, so a copy of the database alone can neither
check a guessed code offline nor open a sealed one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.runtime import Runtime, derive_key
from accord.signing.domain import CODE_DIGITS

CODE_MAC = "signer-otp-mac"
CODE_SEAL = "signer-otp-outbox"

_hasher = PasswordHasher()
# verified against when no hash is stored, so that a missing secret takes as long as a
# wrong one
_DUMMY = _hasher.hash("accord-signer-timing-equaliser")


class SealError(Exception):
    """A sealed value that does not open with this instance's key (or was altered)."""


def purpose_key(rt: Runtime, purpose: str) -> bytes:
    """The 32-byte key for ``purpose``, derived from the instance's secret key."""
    return derive_key(rt.secret_key, purpose)


def new_code() -> str:
    """Six decimal digits from the operating system's CSPRNG."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_mac(rt: Runtime, *, challenge_id: str, envelope_id: str, recipient_id: str,
             code: str) -> str:
    """HMAC-SHA256 of the code, bound to its challenge, envelope and recipient."""
    msg = f"{challenge_id}:{envelope_id}:{recipient_id}:{code}".encode()
    return hmac.new(purpose_key(rt, CODE_MAC), msg, hashlib.sha256).hexdigest()


def code_matches(rt: Runtime, stored: str, *, challenge_id: str, envelope_id: str,
                 recipient_id: str, code: str) -> bool:
    mac = code_mac(rt, challenge_id=challenge_id, envelope_id=envelope_id,
                   recipient_id=recipient_id, code=code)
    return hmac.compare_digest(mac, stored)


def seal(rt: Runtime, plaintext: str, *, context: str) -> str:
    """AES-256-GCM under the outbox key; ``context`` (e.g. the challenge id) is bound as
    associated data, so a sealed value cannot be moved to another row."""
    nonce = secrets.token_bytes(12)
    box = AESGCM(purpose_key(rt, CODE_SEAL))
    ct = box.encrypt(nonce, plaintext.encode(), context.encode())
    return base64.urlsafe_b64encode(nonce + ct).decode()


def unseal(rt: Runtime, sealed: str, *, context: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        box = AESGCM(purpose_key(rt, CODE_SEAL))
        return box.decrypt(raw[:12], raw[12:], context.encode()).decode()
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError) as exc:
        raise SealError("the sealed value does not open") from exc


def hash_secret(secret: str) -> str:
    """An Argon2id hash (salted, slow) of an access code or a normalised KBA answer."""
    return _hasher.hash(secret)


def secret_matches(stored: str | None, secret: str) -> bool:
    """Constant-time Argon2 verification; a missing hash costs the same as a wrong one."""
    try:
        return _hasher.verify(stored or _DUMMY, secret) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
