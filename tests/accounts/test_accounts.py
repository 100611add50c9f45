"""Accounts: password hashing, API keys shown once and stored hashed, sessions, seeding."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from accord.access import Permission, Principal, allowed
from accord.accounts import login as login_service
from accord.accounts import services
from accord.accounts.models import ApiKey, User
from accord.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from accord.runtime import Runtime
from tests.factories import PASSWORD, member


def test_passwords_are_argon2_hashed_and_checked(rt: Runtime) -> None:
    m = member(rt)
    with rt.db.uow() as uow:
        user = uow.session.get(User, m.user_id)
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
    login, stage = login_service.login(rt, m.email.upper(), PASSWORD)
    assert stage == "full"
    principal, csrf = services.session_principal(rt, login.token)
    assert principal.user_id == m.user_id and csrf == login.csrf_token
    with pytest.raises(Unauthorized):
        login_service.login(rt, m.email, "wrong password!!")
    with pytest.raises(Unauthorized):
        login_service.login(rt, "nobody@example.com", PASSWORD)
    services.logout(rt, login.token)
    with pytest.raises(Unauthorized):
        services.session_principal(rt, login.token)


def test_sessions_expire(rt: Runtime, clock: object) -> None:
    m = member(rt)
    login, _stage = login_service.login(rt, m.email, PASSWORD)
    clock.advance(hours=rt.settings.session_hours + 1)  # type: ignore[attr-defined]
    with pytest.raises(Unauthorized):
        services.session_principal(rt, login.token)


def test_api_keys_are_stored_hashed(rt: Runtime) -> None:
    m = member(rt)
    with rt.db.uow() as uow:
        rows = list(uow.session.scalars(select(ApiKey).where(ApiKey.user_id == m.user_id)))
        assert len(rows) == 1
        assert m.api_key not in (rows[0].key_hash, rows[0].prefix)
        assert len(rows[0].key_hash) == 64
    assert services.authenticate_api_key(rt, m.api_key).org_id == m.org_id
    with pytest.raises(Unauthorized):
        services.authenticate_api_key(rt, m.api_key + "x")


def test_user_validation(rt: Runtime) -> None:
    m = member(rt)
    with pytest.raises(InvalidInput) as exc:
        services.create_user(rt, m.org_id, email="x@example.com", name="X", role="root",
                             password=PASSWORD)
    assert exc.value.code == "invalid_role"
    with pytest.raises(InvalidInput) as exc:
        services.create_user(rt, m.org_id, email="y@example.com", name="Y", role="agent",
                             password="short")
    assert exc.value.code == "weak_password"
    with pytest.raises(Conflict):
        services.create_user(rt, m.org_id, email=m.email, name="Z", role="agent",
                             password=PASSWORD)


def test_seed_demo_only_on_an_empty_database(rt: Runtime) -> None:
    creds = services.seed_demo(rt)
    assert creds is not None
    login, stage = login_service.login(rt, creds.email, creds.password)
    assert login.principal.role == "admin"
    assert stage == "enrol"  # MFA is required for admins by default
    assert services.authenticate_api_key(rt, creds.api_key).org_id == creds.org_id
    assert services.seed_demo(rt) is None


def test_compliance_reads_but_cannot_send() -> None:
    assert allowed("compliance", Permission.AUDIT_READ)
    assert not allowed("compliance", Permission.ENVELOPE_SEND)
    assert not allowed("nonsense", Permission.ENVELOPE_READ)
    p = Principal("o", "u", "compliance", "c@example.com", "C")
    with pytest.raises(Forbidden):
        p.require(Permission.ENVELOPE_SEND)
