"""Console log-in and log-out through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Runtime
from accord.web.deps import SESSION_COOKIE
from tests.factories import PASSWORD, Member
from tests.web.conftest import HTML, csrf_of, login, post_login


def test_root_and_console_send_visitors_to_login(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console"
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/console"
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    assert '<label for="email">' in page.text
    assert '<label for="password">' in page.text
    assert 'name="next" value="/console"' in page.text


@pytest.mark.parametrize("email", ["known", "nobody@example.com"])
def test_failed_login_shows_one_message_and_sets_no_session(client: TestClient,
                                                            agent: Member, email: str) -> None:
    r = post_login(client, agent.email if email == "known" else email, "not the password")
    assert r.status_code == 401
    assert "Wrong email or password." in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_login_sets_a_session_cookie_and_opens_the_console(client: TestClient,
                                                           agent: Member) -> None:
    r = post_login(client, agent.email.upper(), PASSWORD)
    assert r.status_code == 303
    assert r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=lax" in lowered
    assert "path=/" in lowered
    assert "max-age=43200" in lowered
    assert "secure" not in lowered
    page = client.get("/console")
    assert page.status_code == 200
    assert "Acme Support" in page.text
    assert "No envelopes" in page.text
    assert 'action="/logout"' in page.text


@pytest.mark.parametrize(("next_", "expected"), [
    ("/console/mailbox", "/console/mailbox"),
    ("/console?status=sent", "/console?status=sent"),
    ("//evil.example", "/console"),
    ("https://evil.example", "/console"),
    ("/\\evil.example", "/console"),
    ("/\t/evil.example", "/console"),
    ("evil.example", "/console"),
])
def test_next_only_follows_same_origin_paths(client: TestClient, agent: Member, next_: str,
                                             expected: str) -> None:
    form = client.get("/login", params={"next": next_})
    assert "evil.example" not in form.text
    r = post_login(client, agent.email, PASSWORD, next=next_)
    assert r.status_code == 303
    assert r.headers["location"] == expected


def test_logout_needs_the_csrf_token_then_ends_the_session(client: TestClient,
                                                           agent: Member) -> None:
    token = login(client, agent)
    for data in ({}, {"csrf_token": "forged"}):
        r = client.post("/logout", data=data, follow_redirects=False)
        assert r.status_code == 403
        assert "security token" in r.text
    assert client.get("/console").status_code == 200  # still logged in

    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert f'{SESSION_COOKIE}=""' in r.headers["set-cookie"]
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_a_stolen_cookie_is_useless_after_logout(client: TestClient, agent: Member,
                                                  new_client: Callable[[], TestClient]) -> None:
    token = login(client, agent)
    stolen = client.cookies[SESSION_COOKIE]
    client.post("/logout", data={"csrf_token": token})
    other = new_client()
    other.cookies.set(SESSION_COOKIE, stolen)
    assert other.get("/console", follow_redirects=False).status_code == 303


def test_pages_follow_the_csp(client: TestClient, agent: Member) -> None:
    login(client, agent)
    for path in ("/login", "/console", "/console/envelopes/new", "/console/mailbox",
                 "/console/envelopes/nope"):
        html = client.get(path).text
        for inline in ("<script", "<style", "style="):
            assert inline not in html, (path, inline)
        assert '<link rel="stylesheet" href="/static/console.css">' in html
        assert 'name="viewport"' in html
    css = client.get("/static/console.css")
    assert css.status_code == 200
    assert "font-family" in css.text
    assert csrf_of(client.get("/console").text)
    assert client.get("/console", headers=HTML).headers["cache-control"] == "no-store"


def test_behind_https_the_cookie_is_secure_and_host_prefixed(rt: Runtime,
                                                             agent: Member) -> None:
    secure = dataclasses.replace(rt, settings=rt.settings.model_copy(
        update={"secure_cookies": True, "session_hours": 2}))
    client = TestClient(create_app(secure), base_url="https://testserver", headers=HTML)
    r = post_login(client, agent.email, PASSWORD)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith(f"__host-{SESSION_COOKIE}=")
    assert "; secure" in cookie
    assert "max-age=7200" in cookie
    assert "domain=" not in cookie
    assert client.get("/console").status_code == 200
