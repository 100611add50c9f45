"""Staff login: lockout, TOTP enrolment and verification, recovery codes, password reset,
and CSRF on the login forms - through HTTP, on both databases, with a frozen clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.delivery.services import list_mailbox
from accord.delivery.worker import drain
from accord.runtime import Runtime
from accord.web.deps import SESSION_COOKIE
from tests.conftest import Clock
from tests.factories import PASSWORD, Member, member
from tests.web.conftest import HTML, csrf_of, post_login

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver", headers=HTML)


def _enrol(client: TestClient, clock: Clock) -> tuple[str, list[str]]:
    page = client.get("/account/mfa/setup")
    assert page.status_code == 200
    assert "<svg" in page.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert secret
    code = pyotp.TOTP(secret.group(1)).at(clock())
    done = client.post("/account/mfa/setup", data={"code": code,
                                                   "csrf_token": csrf_of(page.text)})
    assert done.status_code == 200, done.text
    codes = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", done.text)
    assert len(codes) == 10
    return secret.group(1), codes


def test_login_form_needs_its_csrf_token(client: TestClient, rt: Runtime) -> None:
    m = member(rt)
    r = client.post("/login", data={"email": m.email, "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 403
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")


def test_five_wrong_passwords_lock_the_account(client: TestClient, rt: Runtime,
                                               clock: Clock) -> None:
    clock.freeze(T0)
    m = member(rt)
    for _ in range(5):
        assert post_login(client, m.email, "wrong password, sorry").status_code == 401
    r = post_login(client, m.email, PASSWORD)  # even the right password, while locked
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 800
    clock.advance(minutes=15, seconds=1)
    assert post_login(client, m.email, PASSWORD).status_code == 303


def test_admin_must_enrol_then_uses_codes(rt: Runtime, clock: Clock) -> None:
    clock.freeze(T0)
    admin = member(rt, role="admin", mfa_roles=["admin", "legal", "compliance"])
    client = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    r = post_login(client, admin.email, PASSWORD)
    assert r.headers["location"].startswith("/account/mfa/setup")
    # the console stays shut until enrolment is done
    assert client.get("/console", follow_redirects=False).headers["location"].startswith(
        "/account/mfa/setup")
    secret, recovery = _enrol(client, clock)
    assert client.get("/console").status_code == 200

    # next login asks for a code
    other = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    r = post_login(other, admin.email, PASSWORD)
    assert r.headers["location"].startswith("/login/mfa")
    assert other.get("/console", follow_redirects=False).headers["location"].startswith(
        "/login/mfa")
    form = other.get("/login/mfa")
    bad = other.post("/login/mfa", data={"code": "000000", "csrf_token": csrf_of(form.text)})
    assert bad.status_code == 401
    used = pyotp.TOTP(secret).at(clock())  # used once at enrolment: replay refused
    assert other.post("/login/mfa", data={"code": used, "csrf_token": csrf_of(form.text)}
                      ).status_code == 401
    clock.advance(seconds=30)
    ok = other.post("/login/mfa", data={"code": pyotp.TOTP(secret).at(clock()),
                                        "csrf_token": csrf_of(form.text)},
                    follow_redirects=False)
    assert ok.status_code == 303
    assert other.get("/console").status_code == 200

    # a recovery code works once
    third = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    post_login(third, admin.email, PASSWORD)
    form = third.get("/login/mfa")
    assert third.post("/login/mfa", data={"code": recovery[0],
                                          "csrf_token": csrf_of(form.text)},
                      follow_redirects=False).status_code == 303
    fourth = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    post_login(fourth, admin.email, PASSWORD)
    form = fourth.get("/login/mfa")
    assert fourth.post("/login/mfa", data={"code": recovery[0],
                                           "csrf_token": csrf_of(form.text)}
                       ).status_code == 401


def test_agents_need_no_mfa_by_default(rt: Runtime, client: TestClient) -> None:
    agent = member(rt, mfa_roles=["admin", "legal", "compliance"])
    assert post_login(client, agent.email, PASSWORD).headers["location"] == "/console"


def _reset_link(rt: Runtime, m: Member) -> str:
    drain(rt)
    for msg in list_mailbox(rt, m.org_id, limit=50):
        found = re.search(r"http://testserver(/password/reset/[A-Za-z0-9_\-]+)", msg.body)
        if msg.to_addr == m.email and found:
            return found.group(1)
    raise AssertionError("no reset email")


def test_password_reset_by_email(rt: Runtime, client: TestClient, clock: Clock) -> None:
    clock.freeze(T0)
    m = member(rt)
    session = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    assert post_login(session, m.email, PASSWORD).status_code == 303

    form = client.get("/password/forgot")
    for email in (m.email, "nobody@example.com"):  # same answer for unknown addresses
        r = client.post("/password/forgot", data={"email": email,
                                                  "csrf_token": csrf_of(form.text)})
        assert r.status_code == 200 and 'id="reset-sent"' in r.text
    link = _reset_link(rt, m)
    r = client.get(link, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/password/reset"
    page = client.get("/password/reset")
    short = client.post("/password/reset", data={"password": "short",
                                                 "csrf_token": csrf_of(page.text)})
    assert short.status_code == 422
    r = client.post("/password/reset", data={"password": "a brand new passphrase",
                                             "csrf_token": csrf_of(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303
    assert post_login(client, m.email, "a brand new passphrase").status_code == 303
    assert post_login(client, m.email, PASSWORD).status_code == 401
    # every old session ended; the link is single use
    assert session.get("/console", follow_redirects=False).status_code == 303
    assert client.get(link).status_code == 422


def test_reset_links_expire(rt: Runtime, client: TestClient, clock: Clock) -> None:
    clock.freeze(T0)
    m = member(rt)
    form = client.get("/password/forgot")
    client.post("/password/forgot", data={"email": m.email, "csrf_token": csrf_of(form.text)})
    link = _reset_link(rt, m)
    clock.advance(minutes=31)
    assert client.get(link).status_code == 422
