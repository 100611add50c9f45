"""Use cases for organisations, users, API keys and console sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row, bindparam, func, select
from sqlalchemy.orm import Session

from accord.access import Permission, Principal, Role
from accord.accounts.models import ApiKey, ConsoleSession, Organisation, User
from accord.errors import Conflict, InvalidInput, NotFound, Unauthorized
from accord.runtime import Runtime

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("accord-timing-equaliser")
API_KEY_PREFIX = "acc_"


@dataclass(frozen=True)
class ConsoleLogin:
    token: str
    csrf_token: str
    principal: Principal


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _principal(user: User, scopes: frozenset[str] | None = None) -> Principal:
    return Principal(org_id=user.org_id, user_id=user.id, role=user.role, email=user.email,
                     name=user.name, team=user.team, scopes=scopes)


def create_organisation(rt: Runtime, name: str, slug: str | None = None) -> str:
    slug = slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80] or "org"
    with rt.db.uow() as uow:
        if uow.session.scalar(select(Organisation).where(Organisation.slug == slug)):
            raise Conflict(f"an organisation with slug {slug!r} exists", code="slug_taken")
        org = Organisation(name=name, slug=slug, settings={}, created_at=rt.now())
        uow.session.add(org)
        uow.commit()
        return org.id


def create_user(rt: Runtime, org_id: str, *, email: str, name: str, role: str,
                password: str, team: str | None = None) -> str:
    email = email.strip().lower()
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"unknown role {role!r}", code="invalid_role")
    if "@" not in email:
        raise InvalidInput("not an email address", code="invalid_email")
    if len(password) < 12:
        raise InvalidInput("passwords need at least 12 characters", code="weak_password")
    with rt.db.uow() as uow:
        if uow.session.scalar(select(User).where(User.email == email)):
            raise Conflict("a user with this email exists", code="email_taken")
        user = User(org_id=org_id, email=email, name=name, role=role, team=team or None,
                    password_hash=hash_password(password), created_at=rt.now())
        uow.session.add(user)
        uow.commit()
        return user.id


def create_api_key(rt: Runtime, user_id: str, name: str,
                   scopes: list[str] | None = None) -> tuple[str, str]:
    """Returns (key id, the key itself). The key is shown once; only its hash is kept.
    ``scopes`` limits the key within its owner's role (default: everything, "*")."""
    from accord.access import Scope

    wanted = sorted(set(scopes)) if scopes else ["*"]
    if any(s != "*" and s not in {x.value for x in Scope} for s in wanted):
        raise InvalidInput(f"unknown scope; use {', '.join(x.value for x in Scope)}",
                           code="invalid_scope")
    secret = secrets.token_urlsafe(32)
    prefix = secret[:8]
    key = f"{API_KEY_PREFIX}{secret}"
    with rt.db.uow() as uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotFound("no such user")
        row = ApiKey(org_id=user.org_id, user_id=user.id, name=name, prefix=prefix,
                     key_hash=token_hash(key), created_at=rt.now(), scopes=wanted)
        uow.session.add(row)
        uow.commit()
        return row.id, key


# Built once: the key's row and its owner in one indexed look-up (key_hash is unique). An
# API key is 256 random bits, so a plain SHA-256 of it is the right hash (a slow password
# hash buys nothing against guessing 2^256 keys) and costs microseconds per request.
_KEY_OWNER = (select(ApiKey.scopes, ApiKey.revoked_at, User.id, User.org_id, User.role,
                     User.email, User.name, User.team, User.active)
              .join(User, User.id == ApiKey.user_id)
              .where(ApiKey.key_hash == bindparam("key_hash")))


def api_key_principal(conn: Connection, key: str) -> Principal:
    """The principal of an API key, inside the caller's transaction (one query)."""
    row = conn.execute(_KEY_OWNER, {"key_hash": token_hash(key)}).first()
    if row is None or row.revoked_at is not None or not row.active:
        raise Unauthorized("invalid API key", code="invalid_api_key")
    return _owner(row, frozenset(row.scopes or ["*"]))


def _owner(row: Row[*tuple[Any, ...]],
           scopes: frozenset[str] | None = None) -> Principal:
    """The principal of a row of the user's columns (``_KEY_OWNER``, ``_SESSION_OWNER``)."""
    return Principal(org_id=row.org_id, user_id=row.id, role=row.role, email=row.email,
                     name=row.name, team=row.team, scopes=scopes)


def authenticate_api_key(rt: Runtime, key: str) -> Principal:
    with rt.db.read() as conn:
        return api_key_principal(conn, key)


@dataclass(frozen=True)
class ApiKeyCredential:
    """An API key as sent (``Authorization: Bearer ...``), not checked yet."""

    key: str = field(repr=False)

    def principal(self, conn: Connection) -> Principal:
        return api_key_principal(conn, self.key)


_SESSION_OWNER = (select(ConsoleSession.expires_at, ConsoleSession.stage,
                         ConsoleSession.csrf_token, User.id, User.org_id, User.role,
                         User.email, User.name, User.team, User.active)
                  .join(User, User.id == ConsoleSession.user_id)
                  .where(ConsoleSession.token_hash == bindparam("token_hash")))


def session_principal(rt: Runtime, token: str) -> tuple[Principal, str]:
    """The principal and CSRF token of a live console session (one read, no lock)."""
    with rt.db.read() as conn:
        row = conn.execute(_SESSION_OWNER, {"token_hash": token_hash(token)}).first()
    if row is None or row.expires_at <= rt.now():
        raise Unauthorized("please log in", code="not_logged_in")
    if row.stage == "mfa":
        raise Unauthorized("enter your authentication code", code="mfa_pending")
    if row.stage == "enrol":
        raise Unauthorized("set up two-factor authentication first",
                           code="mfa_enrolment_required")
    if not row.active:
        raise Unauthorized("please log in", code="not_logged_in")
    return _owner(row), row.csrf_token


def logout(rt: Runtime, token: str) -> None:
    with rt.db.uow() as uow:
        row = uow.session.get(ConsoleSession, token_hash(token))
        if row is not None:
            uow.session.delete(row)
            uow.commit()


def organisation_name(rt: Runtime, org_id: str) -> str:
    with rt.db.uow() as uow:
        return org_name(uow.session, org_id)


def org_name(session: Session, org_id: str) -> str:
    """The organisation's name, inside the caller's transaction."""
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound("no such organisation")
    return org.name


def org_settings(session: Session, org_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The settings JSON of each organisation, inside the caller's transaction."""
    if not org_ids:
        return {}
    rows = session.execute(select(Organisation.id, Organisation.settings)
                           .where(Organisation.id.in_(org_ids)))
    return {str(oid): dict(raw or {}) for oid, raw in rows}


def organisation_ids(rt: Runtime) -> list[str]:
    with rt.db.uow() as uow:
        return list(uow.session.scalars(select(Organisation.id)))


@dataclass(frozen=True)
class DemoCredentials:
    org_id: str
    email: str
    password: str
    api_key: str


DEMO_EMAIL = "admin@demo.accord.test"


def seed_demo(rt: Runtime) -> DemoCredentials | None:
    """On an empty database, create the demo organisation with an admin and an API key."""
    with rt.db.uow() as uow:
        if uow.session.scalar(select(func.count()).select_from(Organisation)):
            return None
    org_id = create_organisation(rt, "Demo Support Co", "demo")
    password = secrets.token_urlsafe(12)
    user_id = create_user(rt, org_id, email=DEMO_EMAIL, name="Demo Admin", role="admin",
                          password=password)
    _key_id, key = create_api_key(rt, user_id, "demo")
    return DemoCredentials(org_id=org_id, email=DEMO_EMAIL, password=password, api_key=key)


def user_id_by_email(rt: Runtime, email: str) -> str:
    with rt.db.uow() as uow:
        uid = uow.session.scalar(select(User.id).where(User.email == email.strip().lower()))
        if uid is None:
            raise NotFound("no such user")
        return uid


def set_password(rt: Runtime, email: str, password: str) -> None:
    if len(password) < 12:
        raise InvalidInput("passwords need at least 12 characters", code="weak_password")
    with rt.db.uow() as uow:
        user = uow.session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound("no such user")
        user.password_hash = hash_password(password)
        uow.commit()


def org_of_user(rt: Runtime, user_id: str) -> str:
    with rt.db.uow() as uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotFound("no such user")
        return user.org_id


def user_emails(session: Session, user_ids: set[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
    return {str(uid): str(email) for uid, email in rows}


def user_email(session: Session, user_id: str) -> str | None:
    user = session.get(User, user_id)
    return user.email if user else None


def require(principal: Principal, permission: Permission) -> None:
    principal.require(permission)


def principal_for_email(rt: Runtime, email: str) -> Principal:
    """The active user with this email, as a principal (the CLI's ``--as``)."""
    with rt.db.uow() as uow:
        user = uow.session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None or not user.active:
            raise NotFound(f"no active user {email!r}", code="user_not_found")
        return _principal(user)


class Authenticator:
    """Accounts' side of ``web.deps.Authenticator``: API keys and console sessions are
    checked against accounts' tables. ``app.create_app`` installs one on the app."""

    def credential(self, key: str) -> ApiKeyCredential:
        return ApiKeyCredential(key)

    def api_key(self, rt: Runtime, key: str) -> Principal:
        return authenticate_api_key(rt, key)

    def session(self, rt: Runtime, token: str) -> tuple[Principal, str]:
        return session_principal(rt, token)

    def organisation_name(self, rt: Runtime, org_id: str) -> str:
        return organisation_name(rt, org_id)



def org_id_by_slug(rt: Runtime, slug: str) -> str:
    with rt.db.uow() as uow:
        org_id = uow.session.scalar(select(Organisation.id).where(Organisation.slug == slug))
        if org_id is None:
            raise NotFound(f"no organisation with slug {slug!r}",
                           code="organisation_not_found")
        return str(org_id)


def users_in_org(session: Session, org_id: str, user_ids: set[str]) -> set[str]:
    """Which of ``user_ids`` are active users of the organisation (contracts' owners and
    watchers must be)."""
    if not user_ids:
        return set()
    rows = session.scalars(select(User.id).where(User.id.in_(user_ids), User.org_id == org_id,
                                                 User.active.is_(True)))
    return {str(uid) for uid in rows}


def active_principals(session: Session, org_id: str,
                      user_ids: set[str]) -> dict[str, Principal]:
    """The active users among ``user_ids`` that belong to ``org_id``, as principals (a
    background job acting for a contract's owner, notices to its watchers)."""
    if not user_ids:
        return {}
    rows = session.scalars(select(User).where(User.id.in_(user_ids), User.org_id == org_id,
                                              User.active.is_(True)))
    return {u.id: _principal(u) for u in rows}
