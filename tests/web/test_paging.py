"""Huge page numbers and offsets are refused or clamped, never a server error (found by
schemathesis: PostgreSQL refuses an OFFSET beyond bigint)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Runtime
from tests.factories import PASSWORD, member
from tests.web.conftest import HTML, post_login

HUGE = "9" * 25


def test_api_offsets_are_bounded(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    client = TestClient(create_app(rt), base_url="http://testserver")
    r = client.get(f"/api/v1/envelopes?offset={HUGE}", headers=admin.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = client.get("/api/v1/envelopes?offset=1000000", headers=admin.auth)
    assert r.status_code == 200 and r.json()["items"] == []


def test_console_pages_clamp_the_page_number(rt: Runtime) -> None:
    admin = member(rt, role="admin")
    browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    assert post_login(browser, admin.email, PASSWORD).status_code == 303
    for path in ("/console", "/console/mailbox"):
        r = browser.get(f"{path}?page={HUGE}")
        assert r.status_code == 200, (path, r.status_code)
