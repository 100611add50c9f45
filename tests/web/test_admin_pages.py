"""The admin console pages (users, settings), API keys and the dashboard through HTTP, on
SQLite and PostgreSQL, with no mocks."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from accord.access import scopes_for
from accord.accounts.models import Organisation
from accord.accounts.pages.admin import router
from accord.accounts.services import admin
from accord.app import create_app
from accord.runtime import Runtime
from tests.factories import Member, envelope_body, member
from tests.web.conftest import HTML, login, post_login

Browser = Callable[[], TestClient]


def admin_app(rt: Runtime) -> FastAPI:
    """The app with the admin pages (mounted here until app.py mounts them itself)."""
    app = create_app(rt)
    if not any(getattr(r, "path", "") == "/console/admin/users" for r in app.routes):
        app.include_router(router)
    return app


@pytest.fixture
def browser(rt: Runtime) -> Browser:
    """A new browser (own cookie jar) on one app per test."""
    app = admin_app(rt)
    return lambda: TestClient(app, base_url="http://testserver", headers=HTML)


@pytest.fixture
def boss(rt: Runtime) -> Member:
    return member(rt, role="admin", org_name="Acme Support")


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not on the page"
    return html.unescape(match.group(1))


def _edit(token: str, m: Member | admin.UserView, *, role: str, was_role: str,
          team: str = "", was_team: str = "", active: bool = True,
          was_active: bool = True) -> dict[str, str]:
    data = {"csrf_token": token, "role": role, "was_role": was_role, "team": team,
            "was_team": was_team, "was_active": "yes" if was_active else "no"}
    if active:
        data["active"] = "yes"
    return data


def test_admin_adds_a_user_and_sees_the_first_password_once(
        rt: Runtime, browser: Browser, boss: Member) -> None:
    client = browser()
    token = login(client, boss)
    page = client.get("/console/admin/users")
    assert page.status_code == 200
    assert boss.email in page.text
    assert 'href="/console/admin/users" aria-current="page">Admin<' in page.text

    r = client.post("/console/admin/users", data={
        "csrf_token": token, "email": "Nina.New@Example.com", "name": "Nina New",
        "role": "manager", "team": "Support EU"})
    assert r.status_code == 200, r.text
    password = _found(r'id="initial-password">([^<]+)<', r.text)
    assert len(password) >= 12
    assert "shown only now" in r.text
    assert "change it" in r.text

    listing = client.get("/console/admin/users").text
    assert "nina.new@example.com" in listing
    assert "Support EU" in listing
    assert password not in listing
    nina = next(u for u in admin.list_users(rt, boss.principal) if u.name == "Nina New")
    assert (nina.role, nina.team, nina.active, nina.mfa_enabled) == (
        "manager", "Support EU", True, False)

    # the new user logs in with it
    other = browser()
    assert post_login(other, "nina.new@example.com", password).status_code == 303
    assert other.get("/console").status_code == 200

    # errors re-render the form with the input kept, and create nobody
    again = client.post("/console/admin/users", data={
        "csrf_token": token, "email": "nina.new@example.com", "name": "Nina Again",
        "role": "agent", "team": ""})
    assert again.status_code == 422
    assert "A user with this email exists." in again.text
    assert 'value="Nina Again"' in again.text
    nameless = client.post("/console/admin/users", data={
        "csrf_token": token, "email": "x@example.com", "name": " ", "role": "legal",
        "team": "Legal"})
    assert nameless.status_code == 422
    assert "Give the user&#39;s name" in nameless.text
    assert 'value="Legal"' in nameless.text
    assert '<option value="legal" selected>' in nameless.text
    assert len(admin.list_users(rt, boss.principal)) == 2


def test_non_admins_get_403_on_admin_pages(rt: Runtime, browser: Browser,
                                           boss: Member) -> None:
    for role in ("agent", "manager", "legal", "compliance"):
        someone = member(rt, role=role, org_id=boss.org_id)
        client = browser()
        token = login(client, someone)
        console = client.get("/console").text
        assert 'href="/console/admin/users"' not in console
        assert 'href="/console/account/keys"' in console
        for path in ("/console/admin", "/console/admin/users", "/console/admin/settings"):
            r = client.get(path, follow_redirects=False)
            assert r.status_code == 403, (role, path)
            assert "Not allowed" in r.text
        r = client.post("/console/admin/users", data={
            "csrf_token": token, "email": f"sneaky-{role}@example.com", "name": "Sneaky",
            "role": "admin"})
        assert r.status_code == 403
        r = client.post(f"/console/admin/users/{someone.user_id}", data=_edit(
            token, someone, role="admin", was_role=role))
        assert r.status_code == 403
        r = client.post("/console/admin/settings", data={
            "csrf_token": token, "template_approval_required": ""})
        assert r.status_code == 403
    assert len(admin.list_users(rt, boss.principal)) == 5
    assert all(u.role != "admin" or u.id == boss.user_id
               for u in admin.list_users(rt, boss.principal))
    assert admin.get_settings(rt, boss.principal).template_approval_required is True


def test_a_role_change_ends_the_users_sessions(rt: Runtime, browser: Browser,
                                              boss: Member) -> None:
    agent = member(rt, role="agent", org_id=boss.org_id)
    admin_client, agent_client = browser(), browser()
    token = login(admin_client, boss)
    login(agent_client, agent)
    assert 'href="/console/dashboard"' not in agent_client.get("/console").text
    assert agent_client.get("/console/dashboard").status_code == 403

    # a team change alone keeps them logged in
    r = admin_client.post(f"/console/admin/users/{agent.user_id}", data=_edit(
        token, agent, role="agent", was_role="agent", team="Tier 2"), follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/admin/users?notice=updated"
    assert agent_client.get("/console", follow_redirects=False).status_code == 200

    r = admin_client.post(f"/console/admin/users/{agent.user_id}", data=_edit(
        token, agent, role="manager", was_role="agent", team="Tier 2", was_team="Tier 2"),
        follow_redirects=False)
    assert r.status_code == 303
    assert "logs the user out" in admin_client.get(r.headers["location"]).text
    r = agent_client.get("/console", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")

    login(agent_client, agent)
    assert 'href="/console/dashboard"' in agent_client.get("/console").text
    assert agent_client.get("/console/dashboard").status_code == 200

    # deactivation ends the session and the next login
    r = admin_client.post(f"/console/admin/users/{agent.user_id}", data=_edit(
        token, agent, role="manager", was_role="manager", team="Tier 2", was_team="Tier 2",
        active=False), follow_redirects=False)
    assert r.status_code == 303
    assert agent_client.get("/console", follow_redirects=False).status_code == 303
    assert post_login(agent_client, agent.email, "correct horse battery staple"
                      ).status_code == 401
    view = next(u for u in admin.list_users(rt, boss.principal) if u.id == agent.user_id)
    assert (view.role, view.team, view.active) == ("manager", "Tier 2", False)


def test_an_admin_cannot_demote_or_deactivate_themself(rt: Runtime, browser: Browser,
                                                        boss: Member) -> None:
    client = browser()
    token = login(client, boss)
    for data in (_edit(token, boss, role="agent", was_role="admin"),
                 _edit(token, boss, role="admin", was_role="admin", active=False)):
        r = client.post(f"/console/admin/users/{boss.user_id}", data=data)
        assert r.status_code == 422
        assert "You cannot demote or deactivate yourself." in r.text
        assert "<details class=\"row-edit\" open>" in r.text
    # still an active admin, still logged in; a team change of one's own is fine
    r = client.post(f"/console/admin/users/{boss.user_id}", data=_edit(
        token, boss, role="admin", was_role="admin", team="IT"), follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/console/admin/users").status_code == 200
    me = next(u for u in admin.list_users(rt, boss.principal) if u.id == boss.user_id)
    assert (me.role, me.active, me.team) == ("admin", True, "IT")


def test_an_api_key_is_shown_once_and_works_with_its_scopes(
        rt: Runtime, browser: Browser, boss: Member) -> None:
    agent = member(rt, role="agent", org_id=boss.org_id)
    client = browser()
    token = login(client, agent)
    page = client.get("/console/account/keys")
    assert page.status_code == 200
    offered = re.findall(r'name="scope" value="([^"]+)"', page.text)
    assert offered == scopes_for("agent")
    assert "admin" not in offered

    r = client.post("/console/account/keys", data={
        "csrf_token": token, "name": "Helpdesk connector", "scope": ["envelopes:read"]})
    assert r.status_code == 200, r.text
    key = _found(r'id="api-key">([^<]+)<', r.text)
    auth = {"Authorization": f"Bearer {key}"}
    me = client.get("/api/v1/me", headers=auth)
    assert me.status_code == 200
    assert me.json()["email"] == agent.email
    assert me.json()["scopes"] == ["envelopes:read"]
    assert client.get("/api/v1/envelopes", headers=auth).status_code == 200
    write = client.post("/api/v1/envelopes", headers=auth, json=envelope_body())
    assert write.status_code == 403
    assert write.json()["error"]["code"] == "scope_missing"

    listing = client.get("/console/account/keys").text
    assert "Helpdesk connector" in listing
    assert key not in listing
    assert f"<code>{key[:12]}…</code>" in listing

    # beyond the role, or no scope at all: refused, with the input kept
    for scopes, message in ((["admin"], "Your role allows the scopes"),
                            ([], "Tick at least one scope")):
        bad = client.post("/console/account/keys", data={
            "csrf_token": token, "name": "Too much", "scope": scopes})
        assert bad.status_code == 422
        assert message in bad.text
        assert 'value="Too much"' in bad.text

    new = next(k for k in admin.list_keys(rt, agent.principal)
               if k.name == "Helpdesk connector")
    r = client.post(f"/console/account/keys/{new.id}/revoke", data={"csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    assert "The key is revoked" in client.get(r.headers["location"]).text

    # admins see everyone's keys with their owner, and may revoke them
    admin_client = browser()
    admin_token = login(admin_client, boss)
    keys_page = admin_client.get("/console/account/keys").text
    assert agent.email in keys_page
    assert keys_page.count('action="/console/account/keys/') == 2  # both "test" keys
    agents_key = next(k for k in admin.list_keys(rt, boss.principal)
                      if k.owner_id == agent.user_id and k.revoked_at is None)
    r = admin_client.post(f"/console/account/keys/{agents_key.id}/revoke",
                          data={"csrf_token": admin_token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/me", headers=agent.auth).status_code == 401
    # and agents cannot revoke the admin's
    admins_key = next(k for k in admin.list_keys(rt, boss.principal)
                      if k.owner_id == boss.user_id)
    r = client.post(f"/console/account/keys/{admins_key.id}/revoke",
                    data={"csrf_token": token})
    assert r.status_code == 404
    assert client.get("/api/v1/me", headers=boss.auth).status_code == 200


def _sso_secret(rt: Runtime, org_id: str) -> str | None:
    with rt.db.uow() as uow:
        org = uow.session.get(Organisation, org_id)
        assert org is not None
        sso = (org.settings or {}).get("oidc")
        return sso["client_secret"] if sso else None


def test_settings_are_saved_and_the_client_secret_never_shown(
        rt: Runtime, browser: Browser, boss: Member) -> None:
    client = browser()
    token = login(client, boss)
    page = client.get("/console/admin/settings")
    assert page.status_code == 200
    assert 'id="redirect-uri">http://testserver/login/sso/callback<' in page.text
    assert 'id="approval" name="template_approval_required" value="yes" checked' in page.text

    secret = "s3cret-from-the-identity-provider"
    form = {"csrf_token": token, "mfa_required_roles": ["admin", "legal"],
            "sso_issuer": "https://idp.example.com/", "sso_client_id": "accord-console",
            "sso_client_secret": secret}
    r = client.post("/console/admin/settings", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    saved = admin.get_settings(rt, boss.principal)
    assert sorted(saved.mfa_required_roles) == ["admin", "legal"]
    assert saved.template_approval_required is False
    assert (saved.sso_issuer, saved.sso_client_id) == ("https://idp.example.com",
                                                       "accord-console")
    shown = client.get(r.headers["location"]).text
    assert "Settings saved." in shown
    assert secret not in shown
    assert 'value="https://idp.example.com"' in shown
    assert 'value="accord-console"' in shown
    assert 'id="mfa-legal" name="mfa_required_roles" value="legal" checked' in shown
    assert 'id="mfa-agent" name="mfa_required_roles" value="agent">' in shown
    assert 'value="yes" checked' not in shown
    assert "leave blank to keep it" in shown

    # a blank secret keeps the stored one while the provider stays the same
    sealed = _sso_secret(rt, boss.org_id)
    keep = {**form, "sso_client_secret": "", "template_approval_required": "yes",
            "mfa_required_roles": ["admin"]}
    r = client.post("/console/admin/settings", data=keep, follow_redirects=False)
    assert r.status_code == 303
    assert _sso_secret(rt, boss.org_id) == sealed
    saved = admin.get_settings(rt, boss.principal)
    assert (saved.mfa_required_roles, saved.template_approval_required) == (["admin"], True)

    # a new provider needs its secret: refused, input kept, nothing changed
    r = client.post("/console/admin/settings", data={
        **keep, "sso_issuer": "https://other-idp.example.com", "mfa_required_roles": []})
    assert r.status_code == 422
    assert "Enter the client secret again" in r.text
    assert 'value="https://other-idp.example.com"' in r.text
    assert admin.get_settings(rt, boss.principal) == saved
    assert _sso_secret(rt, boss.org_id) == sealed


def test_the_dashboard_is_for_managers_and_admins(rt: Runtime, browser: Browser,
                                                  boss: Member) -> None:
    manager = member(rt, role="manager", org_id=boss.org_id)
    agent = member(rt, role="agent", org_id=boss.org_id)
    r = browser().post("/api/v1/envelopes", headers=manager.auth, json=envelope_body())
    assert r.status_code == 201, r.text

    client = browser()
    login(client, manager)
    page = client.get("/console/dashboard")
    assert page.status_code == 200
    assert 'aria-current="page">Dashboard<' in page.text
    assert 'id="stat-total">1<' in page.text
    assert 'id="status-sent">1<' in page.text
    assert 'id="stat-completed-30">0<' in page.text
    assert manager.email in page.text

    admin_client = browser()
    login(admin_client, boss)
    assert admin_client.get("/console/dashboard").status_code == 200

    agent_client = browser()
    login(agent_client, agent)
    denied = agent_client.get("/console/dashboard")
    assert denied.status_code == 403
    assert "Not allowed" in denied.text


def test_every_post_checks_the_csrf_token(rt: Runtime, browser: Browser,
                                          boss: Member) -> None:
    agent = member(rt, role="agent", org_id=boss.org_id)
    client = browser()
    token = login(client, boss)
    key = admin.list_keys(rt, boss.principal)[0]
    posts: dict[str, dict[str, Any]] = {
        "/console/admin/users": {"email": "x@example.com", "name": "X", "role": "admin"},
        f"/console/admin/users/{agent.user_id}": {"role": "admin", "was_role": "agent",
                                                  "active": "yes", "was_active": "yes"},
        "/console/admin/settings": {"mfa_required_roles": ["agent"]},
        "/console/account/keys": {"name": "X", "scope": ["admin"]},
        f"/console/account/keys/{key.id}/revoke": {},
    }
    before = (admin.list_users(rt, boss.principal), admin.list_keys(rt, boss.principal),
              admin.get_settings(rt, boss.principal))
    for path, data in posts.items():
        for bad in ({}, {"csrf_token": token[:-1] + ("A" if token[-1] != "A" else "B")},
                    {"csrf_token": "é"}):
            r = client.post(path, data={**data, **bad}, follow_redirects=False)
            assert r.status_code == 403, (path, bad)
            assert "security token" in r.text
    after = (admin.list_users(rt, boss.principal), admin.list_keys(rt, boss.principal),
             admin.get_settings(rt, boss.principal))
    assert after == before
