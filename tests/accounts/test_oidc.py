"""OpenID Connect single sign-on against a local provider started by the test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from accord.accounts import oidc
from accord.app import create_app
from accord.runtime import Runtime
from tests.accounts.oidc_provider import Provider, serve
from tests.factories import Member, member
from tests.web.conftest import HTML


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    server, thread = serve(p)
    yield p
    server.should_exit = True
    thread.join(timeout=5)


def _org_slug(rt: Runtime, m: Member) -> str:
    from accord.accounts.models import Organisation

    with rt.db.uow() as uow:
        org = uow.session.get(Organisation, m.org_id)
        assert org is not None
        return org.slug


def _sso(client: TestClient, slug: str) -> httpx.Response:
    """Play the browser: Accord -> provider -> back to Accord's callback."""
    start = client.get("/login/sso", params={"org": slug, "next": "/console"},
                       follow_redirects=False)
    assert start.status_code == 303, start.text
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302, at_provider.text
    callback = at_provider.headers["location"].replace("http://testserver", "")
    return client.get(callback, follow_redirects=False)


def _configure(rt: Runtime, m: Member, p: Provider) -> None:
    oidc.configure(rt, m.org_id, issuer=p.issuer, client_id=p.client_id,
                   client_secret=p.client_secret)


def test_sso_signs_in_a_known_user(rt: Runtime, provider: Provider) -> None:
    m = member(rt)
    provider.email = m.email
    _configure(rt, m, provider)
    client = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    r = _sso(client, _org_slug(rt, m))
    assert r.status_code == 303 and r.headers["location"] == "/console", r.text
    assert client.get("/console").status_code == 200


def test_sso_still_requires_mfa_where_the_organisation_demands_it(
        rt: Runtime, provider: Provider) -> None:
    admin = member(rt, role="admin", mfa_roles=["admin"])
    provider.email = admin.email
    _configure(rt, admin, provider)
    client = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    r = _sso(client, _org_slug(rt, admin))
    assert r.headers["location"].startswith("/account/mfa/setup")
    assert client.get("/console", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("problem", ["nonce", "unknown_user", "unverified", "state",
                                     "client_secret"])
def test_sso_rejects_bad_answers(rt: Runtime, provider: Provider, problem: str) -> None:
    m = member(rt)
    provider.email = "stranger@example.com" if problem == "unknown_user" else m.email
    provider.tamper_nonce = problem == "nonce"
    provider.email_verified = problem != "unverified"
    _configure(rt, m, provider)
    if problem == "client_secret":
        oidc.configure(rt, m.org_id, issuer=provider.issuer, client_id=provider.client_id,
                       client_secret="wrong")
    client = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    if problem == "state":
        start = client.get("/login/sso", params={"org": _org_slug(rt, m)},
                           follow_redirects=False)
        back = httpx.get(start.headers["location"], follow_redirects=False)
        forged = back.headers["location"].replace("http://testserver", "").replace(
            "state=", "state=x")
        r = client.get(forged, follow_redirects=False)
    else:
        r = _sso(client, _org_slug(rt, m))
    assert r.status_code == 401
    assert client.get("/console", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("verified", [None, False, "false", 1])
def test_sso_needs_a_verified_email_claim(rt: Runtime, provider: Provider,
                                          verified: object) -> None:
    """An ID token without ``email_verified`` (or with anything but true) signs nobody in,
    and the login page says why."""
    m = member(rt)
    provider.email = m.email
    provider.email_verified = verified
    _configure(rt, m, provider)
    client = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    r = _sso(client, _org_slug(rt, m))
    assert r.status_code == 401
    assert "has not confirmed that this email address is verified" in r.text
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_sso_for_an_unconfigured_organisation(rt: Runtime) -> None:
    m = member(rt)
    client = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    r = client.get("/login/sso", params={"org": _org_slug(rt, m)})
    assert r.status_code == 404
    assert "not set up" in r.text
