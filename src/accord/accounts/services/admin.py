"""Administration: users, API keys and organisation settings. Admins manage everything;
every user may list, create and revoke their own API keys. Through the API that takes a
key with the ``api-keys:manage`` scope, and a key never sees, creates or revokes a key
broader than itself (``domain.key_within``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from accord.access import Permission, Principal, Role, key_within, scopes_for
from accord.accounts.models import ApiKey, ConsoleSession, Organisation, User
from accord.accounts.services import create_api_key, create_user
from accord.errors import Forbidden, InvalidInput, NotFound
from accord.runtime import Runtime
from accord.validation import check_fields, require_email
from accord.wiring import OrgSetting


@dataclass(frozen=True)
class UserView:
    id: str
    email: str
    name: str
    role: str
    team: str | None
    active: bool
    mfa_enabled: bool
    created_at: datetime


@dataclass(frozen=True)
class ApiKeyView:
    id: str
    name: str
    prefix: str
    owner_id: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKeyView
    secret: str  # shown once


@dataclass(frozen=True)
class OrgSettings:
    mfa_required_roles: list[str]
    template_approval_required: bool
    sso_issuer: str | None
    sso_client_id: str | None
    # declared by envelopes (its wiring.OrgSetting): the value in force; 0 = off
    reminder_interval_hours: int
    expiry_warning_days: int
    # declared by contracts (its wiring.OrgSetting; rules in contracts.settings)
    time_zone: str = "UTC"
    renewal_windows: list[int] = field(default_factory=lambda: [120, 90, 60])
    renewal_opt_out_warning_days: int = 30
    renewal_addendum_days: int = 60
    renewal_template: str | None = None
    renewal_addendum_mode: str = "confirm"
    retention_policies: dict[str, str] = field(default_factory=dict)  # type -> policy


# Settings other features own (``wiring.OrgSetting``), by key; ``registry.install()``
# declares them. Accounts stores them; what they mean is their feature's.
_declared: dict[str, OrgSetting] = {}


def declare_setting(setting: OrgSetting) -> None:
    """Store and offer ``setting`` (idempotent; a feature's wiring declares it)."""
    _declared[setting.key] = setting


def _declared_setting(key: str) -> OrgSetting:
    try:
        return _declared[key]
    except KeyError:
        raise InvalidInput(f"unknown organisation setting {key!r}",
                           code="unknown_setting") from None


def _user_view(u: User) -> UserView:
    return UserView(u.id, u.email, u.name, u.role, u.team, u.active,
                    u.totp_enabled_at is not None, u.created_at)


def _key_view(k: ApiKey) -> ApiKeyView:
    return ApiKeyView(k.id, k.name, k.prefix, k.user_id, list(k.scopes or ["*"]),
                      k.created_at, k.revoked_at)


def list_users(rt: Runtime, principal: Principal) -> list[UserView]:
    principal.require(Permission.USERS_MANAGE)
    with rt.db.uow() as uow:
        rows = uow.session.scalars(select(User).where(User.org_id == principal.org_id)
                                   .order_by(User.email))
        return [_user_view(u) for u in rows]


def add_user(rt: Runtime, principal: Principal, *, email: str, name: str, role: str,
             team: str | None = None) -> tuple[UserView, str]:
    """Create a user with a random first password (returned once); they can reset it."""
    principal.require(Permission.USERS_MANAGE)
    email = require_email(email)
    check_fields(name=(name, False), team=(team, False))
    password = secrets.token_urlsafe(15)
    uid = create_user(rt, principal.org_id, email=email, name=name, role=role,
                      password=password, team=team)
    with rt.db.uow() as uow:
        user = uow.session.get(User, uid)
        assert user is not None
        return _user_view(user), password


def update_user(rt: Runtime, principal: Principal, user_id: str, *, role: str | None = None,
                team: str | None = None, active: bool | None = None) -> UserView:
    principal.require(Permission.USERS_MANAGE)
    if role is not None and role not in {r.value for r in Role}:
        raise InvalidInput(f"unknown role {role!r}", code="invalid_role")
    with rt.db.uow() as uow:
        user = uow.session.scalar(select(User).where(User.id == user_id,
                                                     User.org_id == principal.org_id))
        if user is None:
            raise NotFound("no such user", code="user_not_found")
        if user.id == principal.user_id and (active is False or
                                             (role is not None and role != Role.ADMIN)):
            raise InvalidInput("you cannot demote or deactivate yourself",
                               code="cannot_demote_self")
        if role is not None:
            user.role = role
        if team is not None:
            user.team = team or None
        if active is not None:
            user.active = active
        if active is False or role is not None:
            # sessions and keys take effect immediately: end the sessions
            uow.session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
        uow.commit()
        return _user_view(user)


def _within(principal: Principal, key: ApiKey, owner_role: str) -> bool:
    return key_within(owner_role, frozenset(key.scopes or ["*"]), principal.role,
                      principal.scopes)


def list_keys(rt: Runtime, principal: Principal) -> list[ApiKeyView]:
    """One's own keys (admins: the organisation's), none broader than the calling key."""
    principal.require(Permission.API_KEYS_MANAGE)
    with rt.db.uow() as uow:
        q = (select(ApiKey, User.role).join(User, User.id == ApiKey.user_id)
             .where(ApiKey.org_id == principal.org_id))
        if not principal.can(Permission.USERS_MANAGE):
            q = q.where(ApiKey.user_id == principal.user_id)
        rows = uow.session.execute(q.order_by(ApiKey.created_at, ApiKey.id))
        return [_key_view(k) for k, role in rows if _within(principal, k, role)]


def new_key(rt: Runtime, principal: Principal, *, name: str,
            scopes: list[str] | None) -> NewApiKey:
    """A key for oneself, limited to ``scopes`` (which must lie within one's role, and
    within the calling key's scopes when an API key asks)."""
    principal.require(Permission.API_KEYS_MANAGE)
    allowed = set(scopes_for(principal.role))
    if scopes and any(s not in allowed for s in scopes):
        raise Forbidden(f"your role allows the scopes {', '.join(sorted(allowed))}",
                        code="scope_not_allowed")
    if not key_within(principal.role, frozenset(scopes or ["*"]), principal.role,
                      principal.scopes):
        raise Forbidden("a key cannot create a key with more scopes than it has",
                        code="scope_not_allowed")
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a key needs a name (1-200 characters)", code="invalid_name")
    key_id, secret = create_api_key(rt, principal.user_id, name.strip(), scopes)
    with rt.db.uow() as uow:
        row = uow.session.get(ApiKey, key_id)
        assert row is not None
        return NewApiKey(_key_view(row), secret)


def revoke_key(rt: Runtime, principal: Principal, key_id: str) -> ApiKeyView:
    """Revoke a key (one's own; admins any in the organisation), never one broader than
    the calling key. Effective at once."""
    principal.require(Permission.API_KEYS_MANAGE)
    with rt.db.uow() as uow:
        found = uow.session.execute(
            select(ApiKey, User.role).join(User, User.id == ApiKey.user_id)
            .where(ApiKey.id == key_id, ApiKey.org_id == principal.org_id)).first()
        if found is None or (found[0].user_id != principal.user_id
                             and not principal.can(Permission.USERS_MANAGE)):
            raise NotFound("no such API key", code="api_key_not_found")
        row, owner_role = found
        if not _within(principal, row, owner_role):
            raise Forbidden("this API key may not revoke a key with more scopes than it has",
                            code="scope_not_allowed")
        if row.revoked_at is None:
            row.revoked_at = rt.now()
        uow.commit()
        return _key_view(row)


def get_settings(rt: Runtime, principal: Principal) -> OrgSettings:
    principal.require(Permission.SETTINGS_MANAGE)
    with rt.db.uow() as uow:
        org = uow.session.get(Organisation, principal.org_id)
        assert org is not None
        return _settings_view(org)


def _settings_view(org: Organisation) -> OrgSettings:
    from accord.accounts.login import mfa_roles

    raw: dict[str, Any] = org.settings or {}
    sso = raw.get("oidc") if isinstance(raw.get("oidc"), dict) else None
    return OrgSettings(
        mfa_required_roles=list(mfa_roles(org)),
        template_approval_required=bool(raw.get("template_approval_required", True)),
        sso_issuer=sso.get("issuer") if sso else None,
        sso_client_id=sso.get("client_id") if sso else None,
        **{key: setting.read(raw) for key, setting in _declared.items()})


def update_settings(rt: Runtime, principal: Principal, *,
                    mfa_required_roles: list[str] | None = None,
                    template_approval_required: bool | None = None,
                    sso: dict[str, str] | None = None,
                    **declared: Any) -> OrgSettings:
    """Change the organisation's settings; ``declared`` are settings another feature
    declared (``reminder_interval_hours=24``): None keeps one, its feature checks a value."""
    principal.require(Permission.SETTINGS_MANAGE)
    # checked before anything is written
    owned = {key: _declared_setting(key).check(value) for key, value in declared.items()
             if value is not None}
    from accord.accounts import oidc
    from accord.accounts.login import set_mfa_roles

    if mfa_required_roles is not None:
        set_mfa_roles(rt, principal.org_id, mfa_required_roles)
    if sso is not None:
        oidc.configure(rt, principal.org_id, issuer=sso.get("issuer", ""),
                       client_id=sso.get("client_id", ""),
                       client_secret=sso.get("client_secret", ""))
    with rt.db.uow() as uow:
        org = uow.session.get(Organisation, principal.org_id)
        assert org is not None
        if template_approval_required is not None:
            org.settings = {**(org.settings or {}),
                            "template_approval_required": template_approval_required}
        if owned:
            org.settings = {**(org.settings or {}), **owned}
        uow.commit()
        return _settings_view(org)
