"""Delegation from the signing page: allowed or refused per template role (and per raw
envelope), the delegator's link and session die, the delegate's link works."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.delivery.services import list_mailbox
from accord.drafting import services as drafting
from accord.errors import InvalidInput
from accord.runtime import Runtime
from tests.drafting.test_services import RECIPIENTS, ROLES, SAMPLE, make_clause, make_template
from tests.factories import Member, csrf, envelope_body, member, sign, signing_link

HTML = {"accept": "text/html"}


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver", headers=HTML)


def _from_template(rt: Runtime) -> tuple[Member, str]:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    roles = [{**ROLES[0], "allow_delegation": True}, *ROLES[1:]]
    make_template(rt, legal.principal, roles=roles)
    env_id = drafting.create_from_template(rt, legal.principal, template_key="service-order",
                                           data=SAMPLE, recipients=RECIPIENTS, send=True)
    return legal, env_id


def _events(client: TestClient, m: Member, env_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/envelopes/{env_id}/audit", headers=m.auth)
    return list(r.json()["events"])


def _delegate(client: TestClient, page_html: str, **form: str) -> Any:
    data = {"csrf_token": csrf(page_html), "name": "Dora Deputy",
            "email": "dora@customer.example", **form}
    return client.post("/sign/delegate", data=data)


def test_template_role_allows_delegation(rt: Runtime, client: TestClient) -> None:
    legal, env_id = _from_template(rt)
    link = signing_link(rt, legal.org_id, "ann@customer.example")
    unknown = client.get("/s/" + "x" * 43)
    page = client.get(link)
    assert page.status_code == 200 and 'action="/sign/delegate"' in page.text
    assert _delegate(client, page.text, csrf_token="wrong").status_code == 403  # CSRF
    bad = _delegate(client, page.text, email="not an email")
    assert bad.status_code == 422 and 'data-code="invalid_recipient"' in bad.text
    done = _delegate(client, page.text, reason="I am on leave")
    assert done.status_code == 200 and 'id="delegated"' in done.text
    assert client.get("/sign").status_code == 401  # the delegator's session ended
    dead = client.get(link)
    assert dead.status_code == 404 and dead.text == unknown.text
    new = signing_link(rt, legal.org_id, "dora@customer.example")
    # the delegate may not hand it on again
    fresh = client.get(new)
    assert fresh.status_code == 200 and 'action="/sign/delegate"' not in fresh.text
    assert _delegate(client, fresh.text, email="eve@customer.example").status_code == 403
    assert sign(client, new, name="Dora Deputy").status_code == 200
    api = TestClient(create_app(rt), base_url="http://testserver")
    events = _events(api, legal, env_id)
    delegated = [e for e in events if e["tag"] == "recipient:delegated"]
    assert len(delegated) == 1
    assert delegated[0]["actor"] == "recipient:ann@customer.example"
    assert delegated[0]["data"]["from"]["email"] == "ann@customer.example"
    assert delegated[0]["data"]["to"]["email"] == "dora@customer.example"
    assert delegated[0]["data"]["reason"] == "I am on leave"
    assert any(e["tag"] == "recipient:signed" for e in events)
    told = [m for m in list_mailbox(rt, legal.org_id, limit=100)
            if m.to_addr == legal.email and m.subject.startswith("Delegated:")]
    assert len(told) == 1 and "dora@customer.example" in told[0].body


def test_role_without_delegation_is_refused(rt: Runtime, client: TestClient) -> None:
    legal, _env_id = _from_template(rt)
    sign(client, signing_link(rt, legal.org_id, "ann@customer.example"), name="Ann Lee")
    page = client.get(signing_link(rt, legal.org_id, "bob@provider.example"))
    assert page.status_code == 200 and 'action="/sign/delegate"' not in page.text
    r = _delegate(client, page.text)
    assert r.status_code == 403 and "did not allow" in r.text


def test_bad_allow_delegation_is_refused_at_upload(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    for roles in ([{**ROLES[0], "allow_delegation": "yes"}, *ROLES[1:]],
                  [*ROLES[:2], {**ROLES[2], "allow_delegation": True}]):
        with pytest.raises(InvalidInput) as exc:
            make_template(rt, legal.principal, roles=roles, publish=False)
        assert "allow_delegation" in str(exc.value.details)


def test_raw_envelope_flag_and_sender_secrets(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    api = TestClient(create_app(rt), base_url="http://testserver")
    body = envelope_body(recipients=[
        {"name": "Ann", "email": "ann@customer.example", "auth": ["access_code"],
         "access_code": "blue-harbour-42"},
        {"name": "Bob", "email": "bob@provider.example", "routing_order": 2}], fields=[])
    env = api.post("/api/v1/envelopes", json=body | {"allow_delegation": True},
                   headers=m.auth).json()
    page = client.get(signing_link(rt, m.org_id, "ann@customer.example"))
    passed = client.post("/sign/auth/access-code", data={
        "csrf_token": csrf(page.text), "access_code": "blue-harbour-42"})
    assert passed.status_code == 200 and 'action="/sign/delegate"' in passed.text
    r = _delegate(client, passed.text)
    assert r.status_code == 409 and "only the sender knows" in r.text
    assert not [e for e in _events(api, m, env["id"]) if e["tag"] == "recipient:delegated"]
    # without the flag, nobody may delegate
    plain = api.post("/api/v1/envelopes", json=envelope_body(), headers=m.auth).json()
    page = client.get(signing_link(rt, m.org_id, "ann@customer.example"))
    assert plain["id"] and 'action="/sign/delegate"' not in page.text
