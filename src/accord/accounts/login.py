"""Signing staff in: password with throttling, the second factor (TOTP or a recovery code),
enrolment when the organisation requires MFA for the role, and password reset by email.

A console session moves through stages: ``mfa`` (password passed, code pending) or
``enrol`` (must set up TOTP first), then ``full``. Only a ``full`` session opens the
console.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
import segno
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from accord.accounts.models import ConsoleSession, Organisation, PasswordReset, User
from accord.accounts.services import (
    ConsoleLogin,
    _check_password,
    _principal,
    hash_password,
    token_hash,
)
from accord.errors import AccordError, InvalidInput, Unauthorized
from accord.runtime import Runtime, derive_key

MAX_FAILURES = 5
LOCK_MINUTES = 15
RESET_MINUTES = 30
RECOVERY_CODES = 10
DEFAULT_MFA_ROLES = ("admin", "legal", "compliance")
PASSWORD_RESET = "email:password_reset"  # noqa: S105 - an outbox kind, not a password


class TooManyAttempts(AccordError):
    status = 429
    code = "too_many_attempts"


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


# -- helpers ----------------------------------------------------------------------------


def mfa_roles(org: Organisation) -> tuple[str, ...]:
    roles = (org.settings or {}).get("mfa_required_roles")
    return tuple(roles) if isinstance(roles, list) else DEFAULT_MFA_ROLES


def _stage_after_password(session: Session, user: User) -> str:
    if user.totp_enabled_at is not None:
        return "mfa"
    org = session.get(Organisation, user.org_id)
    if org is not None and user.role in mfa_roles(org):
        return "enrol"
    return "full"


def start_session(rt: Runtime, session: Session, user: User, *, via: str) -> ConsoleLogin:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = rt.now()
    session.add(ConsoleSession(
        token_hash=token_hash(token), user_id=user.id, org_id=user.org_id, csrf_token=csrf,
        created_at=now, expires_at=now + timedelta(hours=rt.settings.session_hours),
        stage=_stage_after_password(session, user), via=via))
    return ConsoleLogin(token=token, csrf_token=csrf, principal=_principal(user))


def _totp_box(rt: Runtime) -> AESGCM:
    return AESGCM(derive_key(rt.secret_key, "totp-secrets"))


def _seal_secret(rt: Runtime, user_id: str, secret: str) -> str:
    nonce = secrets.token_bytes(12)
    ct = _totp_box(rt).encrypt(nonce, secret.encode(), user_id.encode())
    return base64.b64encode(nonce + ct).decode()


def _open_secret(rt: Runtime, user_id: str, sealed: str) -> str:
    raw = base64.b64decode(sealed)
    return _totp_box(rt).decrypt(raw[:12], raw[12:], user_id.encode()).decode()


def _session_row(session: Session, token: str, now: datetime) -> ConsoleSession:
    row = session.get(ConsoleSession, token_hash(token)) if token else None
    if row is None or row.expires_at <= now:
        raise Unauthorized("please log in", code="not_logged_in")
    return row


# -- password ----------------------------------------------------------------------------


def login(rt: Runtime, email: str, password: str) -> tuple[ConsoleLogin, str]:
    """Check the password; returns the new session and its stage (full, mfa or enrol).

    Five wrong passwords in a row lock the account for 15 minutes (429 with the time
    left); the answer for an unknown email is the same as for a wrong password."""
    from accord.accounts.services import _DUMMY_HASH

    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        user = s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            _check_password(_DUMMY_HASH, password)
            raise Unauthorized("wrong email or password", code="invalid_credentials")
        if user.locked_until is not None and user.locked_until > now:
            wait = int((user.locked_until - now).total_seconds()) + 1
            raise TooManyAttempts(f"too many failed attempts: try again in "
                                  f"{(wait + 59) // 60} minute(s)",
                                  details={"retry_after": wait})
        if not _check_password(user.password_hash, password) or not user.active:
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
                user.failed_logins = 0
            uow.commit()
            raise Unauthorized("wrong email or password", code="invalid_credentials")
        user.failed_logins, user.locked_until = 0, None
        login_ = start_session(rt, s, user, via="password")
        stage = _stage_after_password(s, user)
        uow.commit()
        return login_, stage


def session_state(rt: Runtime, token: str) -> tuple[str, str]:
    """(stage, CSRF token) of a session at any stage."""
    with rt.db.uow() as uow:
        row = _session_row(uow.session, token, rt.now())
        return row.stage, row.csrf_token


# -- second factor -----------------------------------------------------------------------


def _check_totp(rt: Runtime, user: User, code: str, now: datetime) -> bool:
    if not user.totp_secret_enc:
        return False
    totp = pyotp.TOTP(_open_secret(rt, user.id, user.totp_secret_enc))
    code = code.replace(" ", "")
    for offset in (-1, 0, 1):  # one step of clock drift either way
        at = now + timedelta(seconds=30 * offset)
        step = int(at.timestamp()) // 30
        if hmac.compare_digest(totp.at(at), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False  # a code is good once
            user.totp_last_step = step
            return True
    return False


def _use_recovery_code(user: User, code: str) -> bool:
    digest = hashlib.sha256(code.strip().lower().replace("-", "").encode()).hexdigest()
    codes = list(user.recovery_codes or [])
    for stored in codes:
        if hmac.compare_digest(stored, digest):
            codes.remove(stored)
            user.recovery_codes = codes
            return True
    return False


def verify_second_factor(rt: Runtime, token: str, code: str) -> None:
    """Complete an ``mfa``-stage session with a TOTP code or a recovery code. Wrong codes
    count towards the same lock as wrong passwords."""
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        row = _session_row(s, token, now)
        if row.stage != "mfa":
            raise Unauthorized("no code is expected for this session", code="not_logged_in")
        user = s.get(User, row.user_id)
        if user is None:
            raise Unauthorized("please log in", code="not_logged_in")
        if user.locked_until is not None and user.locked_until > now:
            raise TooManyAttempts("too many failed attempts; try again later")
        if _check_totp(rt, user, code, now) or _use_recovery_code(user, code):
            row.stage = "full"
            user.failed_logins = 0
            uow.commit()
            return
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
            s.delete(row)
        uow.commit()
        raise Unauthorized("that code is not valid", code="invalid_code")


def begin_enrolment(rt: Runtime, token: str) -> Enrolment:
    """A new TOTP secret for the session's user (stored encrypted, not active yet)."""
    with rt.db.uow() as uow:
        s = uow.session
        row = _session_row(s, token, rt.now())
        if row.stage == "mfa":
            raise Unauthorized("enter your current code first", code="mfa_required")
        user = s.get(User, row.user_id)
        if user is None:
            raise Unauthorized("please log in", code="not_logged_in")
        secret = pyotp.random_base32()
        user.totp_secret_enc = _seal_secret(rt, user.id, secret)
        user.totp_enabled_at = None
        uow.commit()
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="Accord")
        svg = segno.make(uri, error="m").svg_inline(scale=4)
        return Enrolment(secret=secret, uri=uri, qr_svg=svg)


def confirm_enrolment(rt: Runtime, token: str, code: str) -> list[str]:
    """Turn TOTP on once the user proves the authenticator works; returns the recovery
    codes (shown once; only their hashes are kept)."""
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        row = _session_row(s, token, now)
        user = s.get(User, row.user_id)
        if user is None or row.stage == "mfa":
            raise Unauthorized("please log in", code="not_logged_in")
        if not user.totp_secret_enc or not _check_totp(rt, user, code, now):
            raise InvalidInput("that code is not valid; check the time on your device",
                               code="invalid_code")
        codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
        user.recovery_codes = [hashlib.sha256(c.encode()).hexdigest() for c in codes]
        user.totp_enabled_at = now
        row.stage = "full"
        uow.commit()
        return [f"{c[:5]}-{c[5:]}" for c in codes]


def set_mfa_roles(rt: Runtime, org_id: str, roles: list[str]) -> None:
    from accord.access import Role

    if any(r not in {x.value for x in Role} for r in roles):
        raise InvalidInput("unknown role", code="invalid_role")
    with rt.db.uow() as uow:
        org = uow.session.get(Organisation, org_id)
        if org is None:
            raise InvalidInput("no such organisation", code="not_found")
        org.settings = {**(org.settings or {}), "mfa_required_roles": sorted(set(roles))}
        uow.commit()


# -- password reset ------------------------------------------------------------------------


def _reset_token(rt: Runtime, user_id: str, created_at: str) -> str:
    key = derive_key(rt.secret_key, "password-reset")
    mac = hmac.new(key, f"reset:{user_id}:{created_at}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def request_reset(rt: Runtime, email: str) -> None:
    """Email a reset link if the account exists; the answer is the same either way. The
    outbox row holds only ids: the worker derives the token again."""
    from accord.delivery.services import enqueue

    now = rt.now()
    with rt.db.uow() as uow:
        user = uow.session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None or not user.active:
            return
        created = now.isoformat()
        uow.session.add(PasswordReset(token_hash=token_hash(_reset_token(rt, user.id, created)),
                                      user_id=user.id, created_at=now,
                                      expires_at=now + timedelta(minutes=RESET_MINUTES)))
        enqueue(uow.session, kind=PASSWORD_RESET, payload={"user_id": user.id,
                                                           "created_at": created},
                now=now, org_id=user.org_id)
        uow.commit()


def check_reset(rt: Runtime, token: str) -> None:
    """Raise unless ``token`` is a live reset token (used before showing the form)."""
    with rt.db.uow() as uow:
        row = uow.session.get(PasswordReset, token_hash(token)) if token else None
        if row is None or row.used_at is not None or row.expires_at <= rt.now():
            raise InvalidInput("this reset link is not valid any more; ask for a new one",
                               code="reset_invalid")


def complete_reset(rt: Runtime, token: str, password: str) -> None:
    """Set a new password with a reset token (single use, 30 minutes); every session of the
    user ends and the login lock is lifted."""
    if len(password) < 12:
        raise InvalidInput("passwords need at least 12 characters", code="weak_password")
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        row = s.get(PasswordReset, token_hash(token)) if token else None
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise InvalidInput("this reset link is not valid any more; ask for a new one",
                               code="reset_invalid")
        user = s.get(User, row.user_id)
        if user is None:
            raise InvalidInput("this reset link is not valid any more", code="reset_invalid")
        user.password_hash = hash_password(password)
        user.failed_logins, user.locked_until = 0, None
        row.used_at = now
        s.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
        uow.commit()


def reset_email(rt: Runtime, payload: dict[str, Any]) -> Any:
    """Outbox handler: the password-reset email, with the token derived again."""
    from accord.delivery.mail import Email

    with rt.db.uow() as uow:
        user = uow.session.get(User, str(payload.get("user_id")))
        if user is None:
            return None
        token = _reset_token(rt, user.id, str(payload.get("created_at")))
        row = uow.session.get(PasswordReset, token_hash(token))
        if row is None or row.used_at is not None or row.expires_at <= rt.now():
            return None
        url = f"{rt.settings.base_url.rstrip('/')}/password/reset/{token}"
        return Email(to=(user.email,), subject="Reset your Accord password",
                     body=(f"Hello {user.name},\n\nSomeone (hopefully you) asked to reset "
                           f"your Accord password. Open this link within {RESET_MINUTES} "
                           f"minutes to choose a new one:\n{url}\n\nIf it was not you, "
                           f"ignore this email: your password stays as it is.\n"))

