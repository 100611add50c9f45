"""Reassign, remind and the reminder settings through the HTTP API, no mocks."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.delivery.services import list_mailbox
from accord.runtime import Runtime
from tests.conftest import Clock
from tests.factories import Member, envelope_body, member, sign, signing_link


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver")


def _tags(client: TestClient, m: Member, env_id: str) -> list[dict[str, Any]]:
    trail = client.get(f"/api/v1/envelopes/{env_id}/audit", headers=m.auth).json()
    return list(trail["events"])


def test_reassign_kills_the_old_link_and_the_new_one_works(rt: Runtime,
                                                          client: TestClient) -> None:
    m = member(rt)
    env = client.post("/api/v1/envelopes", json=envelope_body(), headers=m.auth).json()
    old = signing_link(rt, m.org_id, "ann@customer.example")
    opened = TestClient(create_app(rt), base_url="http://testserver")
    assert opened.get(old).status_code == 200  # a session opened with the old link
    unknown = client.get("/s/" + "x" * 43)
    ann = env["recipients"][0]["id"]
    r = client.post(f"/api/v1/envelopes/{env['id']}/recipients/{ann}/reassign",
                    json={"name": "Dora Deputy", "email": "Dora@Customer.example"},
                    headers=m.auth)
    assert r.status_code == 200, r.text
    assert r.json()["recipients"][0]["email"] == "dora@customer.example"
    assert r.json()["recipients"][0]["id"] == ann  # the part (and its fields) stays
    dead = client.get(old)
    assert dead.status_code == unknown.status_code == 404
    assert dead.text == unknown.text  # the same page as an unknown token
    assert opened.get("/sign").status_code == 401  # the old session ended too
    new = signing_link(rt, m.org_id, "dora@customer.example")
    assert sign(client, new, name="Dora Deputy").status_code == 200
    events = _tags(client, m, env["id"])
    reassigned = [e for e in events if e["tag"] == "recipient:reassigned"]
    assert reassigned[0]["data"]["before"]["email"] == "ann@customer.example"
    assert reassigned[0]["data"]["after"]["email"] == "dora@customer.example"
    assert reassigned[0]["actor"] == f"user:{m.email}"
    told = [msg for msg in list_mailbox(rt, m.org_id, limit=100)
            if msg.to_addr == "ann@customer.example" and "No longer needed" in msg.subject]
    assert len(told) == 1
    # Dora has signed: her part cannot be handed on any more
    r = client.post(f"/api/v1/envelopes/{env['id']}/recipients/{ann}/reassign",
                    json={"name": "Eve", "email": "eve@customer.example"}, headers=m.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "recipient_not_reassignable"


def test_reassign_checks_input_and_factors(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    body = envelope_body(recipients=[
        {"name": "Ann", "email": "ann@customer.example", "auth": ["sms_otp"],
         "phone": "+15550100123"},
        {"name": "Bob", "email": "bob@provider.example", "routing_order": 2}], fields=[])
    env = client.post("/api/v1/envelopes", json=body, headers=m.auth).json()
    ann, bob = env["recipients"][0]["id"], env["recipients"][1]["id"]
    url = f"/api/v1/envelopes/{env['id']}/recipients/{ann}/reassign"
    r = client.post(url, json={"name": "Dora", "email": "dora@customer.example"},
                    headers=m.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "phone_required"
    r = client.post(url, json={"name": "Dora", "email": "not-an-email"}, headers=m.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert r.json()["error"]["details"][0]["type"] == "invalid_email"
    r = client.post(url, json={"name": "Ann", "email": "ann@customer.example",
                               "phone": "+15550100123"}, headers=m.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "same_recipient"
    r = client.post(url, json={"name": "Dora", "email": "dora@customer.example",
                               "status": "completed"}, headers=m.auth)
    assert r.status_code == 422  # mass assignment refused
    r = client.post(url, json={"name": "Dora", "email": "dora@customer.example",
                               "phone": "+15550100999"}, headers=m.auth)
    assert r.status_code == 200, r.text
    assert r.json()["recipients"][0]["auth_method"] == "sms_otp"  # the factors stay
    assert not [e for e in _tags(client, m, env["id"]) if e["tag"] == "recipient:notified"
                and e["data"]["recipient_id"] == bob]  # Bob's turn has not come
    # waiting recipients can be reassigned too; they get a link when their turn comes
    r = client.post(f"/api/v1/envelopes/{env['id']}/recipients/{bob}/reassign",
                    json={"name": "Carla", "email": "carla@provider.example"},
                    headers=m.auth)
    assert r.status_code == 200 and r.json()["recipients"][1]["status"] == "waiting"
    r = client.post(f"/api/v1/envelopes/{env['id']}/recipients/nope/reassign",
                    json={"name": "Carla", "email": "carla@provider.example"},
                    headers=m.auth)
    assert r.status_code == 404


def test_remind_and_reminder_settings(rt: Runtime, client: TestClient, clock: Clock) -> None:
    m = member(rt)
    body = envelope_body() | {"reminder_interval_hours": 12}
    env = client.post("/api/v1/envelopes", json=body, headers=m.auth).json()
    url = f"/api/v1/envelopes/{env['id']}/reminders"
    life = client.get(url, headers=m.auth).json()
    assert life["reminder_interval_hours"] == 12
    assert life["organisation_reminder_interval_hours"] == 48
    assert life["expiry_warning_days"] == 3
    ann, bob = env["recipients"][0]["id"], env["recipients"][1]["id"]
    assert life["recipients"][0]["next_reminder_at"] is not None
    assert life["recipients"][1]["next_reminder_at"] is None
    r = client.post(f"/api/v1/envelopes/{env['id']}/recipients/{ann}/remind", headers=m.auth)
    assert r.status_code == 200
    r = client.post(f"/api/v1/envelopes/{env['id']}/recipients/{bob}/remind", headers=m.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "recipient_not_active"
    assert client.get(url, headers=m.auth).json()["recipients"][0]["reminder_count"] == 1
    r = client.patch(url, json={"interval_hours": None}, headers=m.auth)
    assert r.status_code == 200 and r.json()["reminder_interval_hours"] == 48
    assert client.patch(url, json={"interval_hours": 721}, headers=m.auth).status_code == 422
    assert client.patch(url, json={}, headers=m.auth).status_code == 422
    assert client.patch(url, json={"interval_hours": 0}, headers=m.auth).json()[
        "reminder_interval_hours"] == 0
    tags = [e["tag"] for e in _tags(client, m, env["id"])]
    assert "recipient:reminded" in tags and "envelope:reminders_changed" in tags
    drain_link = signing_link(rt, m.org_id, "ann@customer.example")
    assert client.get(drain_link).status_code == 200  # reminding kept the link alive


def test_organisation_settings_carry_the_lifecycle(rt: Runtime, client: TestClient) -> None:
    admin = member(rt, role="admin")
    r = client.patch("/api/v1/organisation/settings",
                     json={"reminder_interval_hours": 24, "expiry_warning_days": 5},
                     headers=admin.auth)
    assert r.status_code == 200, r.text
    assert r.json()["reminder_interval_hours"] == 24 and r.json()["expiry_warning_days"] == 5
    r = client.patch("/api/v1/organisation/settings", json={"expiry_warning_days": 31},
                     headers=admin.auth)
    assert r.status_code == 422
    got = client.get("/api/v1/organisation/settings", headers=admin.auth).json()
    assert got["expiry_warning_days"] == 5


def test_raw_envelope_delegation_flag(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    env = client.post("/api/v1/envelopes", json=envelope_body() | {"allow_delegation": True},
                      headers=m.auth).json()
    life = client.get(f"/api/v1/envelopes/{env['id']}/reminders", headers=m.auth).json()
    assert [r["may_delegate"] for r in life["recipients"]] == [True, True, False]  # not cc
