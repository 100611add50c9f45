"""Resend and correction: the old link dies, the new one works; sessions of a corrected
recipient end; finished recipients cannot be corrected."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Runtime
from tests.factories import envelope_body, member, sign, signing_link


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver")


def test_resend_kills_the_old_link(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    env = client.post("/api/v1/envelopes", json=envelope_body(), headers=m.auth).json()
    old = signing_link(rt, m.org_id, "ann@customer.example")
    ann = env["recipients"][0]["id"]
    r = client.post(f"/api/v1/envelopes/{env['id']}/recipients/{ann}/resend", headers=m.auth)
    assert r.status_code == 200
    new = signing_link(rt, m.org_id, "ann@customer.example")
    assert new != old
    assert client.get(old).status_code == 404
    assert sign(client, new, name="Ann Signer").status_code == 200

    r = client.post(f"/api/v1/envelopes/{env['id']}/recipients/{ann}/resend", headers=m.auth)
    assert r.status_code == 409  # Ann is done
    trail = client.get(f"/api/v1/envelopes/{env['id']}/audit", headers=m.auth).json()
    assert "recipient:resent" in [e["tag"] for e in trail["events"]]


def test_correcting_an_email_moves_the_link(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    env = client.post("/api/v1/envelopes", json=envelope_body(), headers=m.auth).json()
    old = signing_link(rt, m.org_id, "ann@customer.example")
    opened = TestClient(create_app(rt), base_url="http://testserver")
    assert opened.get(old).status_code == 200  # a session opened with the old link
    ann = env["recipients"][0]["id"]
    r = client.patch(f"/api/v1/envelopes/{env['id']}/recipients/{ann}",
                     json={"email": "ann.lee@customer.example"}, headers=m.auth)
    assert r.status_code == 200
    assert r.json()["recipients"][0]["email"] == "ann.lee@customer.example"
    assert client.get(old).status_code == 404
    assert opened.get("/sign").status_code == 401  # the old session ended too
    new = signing_link(rt, m.org_id, "ann.lee@customer.example")
    assert sign(client, new, name="Ann Lee").status_code == 200
    r = client.patch(f"/api/v1/envelopes/{env['id']}/recipients/{ann}",
                     json={"email": "x@example.com"}, headers=m.auth)
    assert r.status_code == 409
    r = client.patch(f"/api/v1/envelopes/{env['id']}/recipients/{ann}",
                     json={"email": "x@example.com", "status": "completed"}, headers=m.auth)
    assert r.status_code == 422  # mass assignment refused
    trail = client.get(f"/api/v1/envelopes/{env['id']}/audit", headers=m.auth).json()
    corrected = [e for e in trail["events"] if e["tag"] == "recipient:corrected"]
    assert corrected[0]["data"]["before"]["email"] == "ann@customer.example"


def test_void_kills_links(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    env = client.post("/api/v1/envelopes", json=envelope_body(), headers=m.auth).json()
    link = signing_link(rt, m.org_id, "ann@customer.example")
    client.post(f"/api/v1/envelopes/{env['id']}/void", json={"reason": "wrong"},
                headers=m.auth)
    assert client.get(link).status_code == 404
    ann = env["recipients"][0]["id"]
    assert client.post(f"/api/v1/envelopes/{env['id']}/recipients/{ann}/resend",
                       headers=m.auth).status_code == 409
