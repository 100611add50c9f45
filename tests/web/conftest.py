"""Fixtures for the console pages: an app per test, logged-in clients, a signable PDF."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Runtime
from tests.factories import PASSWORD, Member, member

HTML = {"accept": "text/html"}


@lru_cache(maxsize=1)
def signable_pdf() -> bytes:
    """Two A4 pages; the second carries the "Signature:" anchor."""
    from weasyprint import HTML as Html

    out: bytes = Html(string=(
        "<html><head><style>@page { size: A4; margin: 2cm }</style></head><body>"
        "<h1>Support agreement</h1><p>Terms and conditions.</p>"
        "<p style='page-break-before: always'>Agreed by the customer.</p>"
        "<p>Signature: ______________________</p></body></html>")).write_pdf()
    return out


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def post_login(client: TestClient, email: str, password: str, **extra: str) -> Any:
    """Submit the login form the way a browser does (its CSRF token included)."""
    form = client.get("/login")
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf_of(form.text), **extra},
                       follow_redirects=False)


def login(client: TestClient, m: Member) -> str:
    """Log ``m`` in on ``client``; returns the session's CSRF token (from the console)."""
    r = post_login(client, m.email, PASSWORD)
    assert r.status_code == 303, r.text
    page = client.get("/console", headers=HTML)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver", headers=HTML)


@pytest.fixture
def new_client(rt: Runtime) -> Callable[[], TestClient]:
    """Another browser (own cookie jar) on the same app."""
    app = create_app(rt)

    def _new() -> TestClient:
        return TestClient(app, base_url="http://testserver", headers=HTML)

    return _new


@pytest.fixture
def agent(rt: Runtime) -> Member:
    return member(rt, org_name="Acme Support")
