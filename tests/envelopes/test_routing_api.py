"""Routing rules end to end through the API, on SQLite and PostgreSQL: the shipped support
services agreement's three rules, skip and reorder on API envelopes, audit events, 422s."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.delivery.services import list_mailbox
from accord.delivery.worker import drain
from accord.drafting.examples import load_examples
from accord.drafting.services import seed_examples
from accord.runtime import Runtime
from tests.factories import Member, csrf, envelope_body, member, sign, signing_link

SSA = "support-services-agreement"
PEOPLE = {"customer": {"name": "Cleo Customer", "email": "cleo@customer.example"},
          "provider": {"name": "Pat Provider", "email": "pat@brightline.example"},
          "account_manager": {"name": "Amy Manager", "email": "amy@brightline.example"}}


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver")


@pytest.fixture
def agent(rt: Runtime) -> Member:
    admin = member(rt, role="admin")
    seed_examples(rt, admin.org_id, publisher_user_id=admin.user_id)
    return member(rt, role="agent", org_id=admin.org_id)


def _data(**changes: Any) -> dict[str, Any]:
    seed = next(t for t in load_examples().templates if t.key == SSA)
    return {**copy.deepcopy(seed.sample_data), "tier": "premium", **changes}


def _from_template(client: TestClient, who: Member, data: dict[str, Any],
                   recipients: dict[str, Any] | None = None, status: int = 201,
                   send: bool = True) -> dict[str, Any]:
    r = client.post("/api/v1/envelopes/from-template", headers=who.auth, json={
        "template_key": SSA, "data": data, "recipients": recipients or PEOPLE, "send": send})
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def _events(client: TestClient, who: Member, env_id: str, prefix: str = "routing:",
            ) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/envelopes/{env_id}/audit", headers=who.auth)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["tag"].startswith(prefix)]


def _mailed(rt: Runtime, who: Member, email: str) -> bool:
    drain(rt)
    return any(email in m.to_addr and m.subject.startswith("Please sign")
               for m in list_mailbox(rt, who.org_id, limit=200))


def _sign_all_fields(client: TestClient, link: str, name: str) -> Any:
    """Sign, filling every text field and ticking every box the page asks for."""
    client.cookies.clear()
    page = client.get(link)
    r = client.post("/sign/consent", data={"csrf_token": csrf(page.text), "agree": "yes"})
    values = {f"field_{fid}": name for fid in re.findall(
        r'<input type="text" id="f-([^"]+)" name="field_', r.text)}
    values.update(dict.fromkeys(re.findall(
        r'<input type="checkbox" id="f-[^"]+" name="(field_[^"]+)"', r.text), "on"))
    return sign(client, link, name=name, values=values)


def _by_key(env: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in env["recipients"]}


def test_value_over_50k_adds_legal_before_the_customer(rt: Runtime, client: TestClient,
                                                       agent: Member) -> None:
    env = _from_template(client, agent, _data(annual_fee={"amount": "60000.00",
                                                          "currency": "USD"}))
    people = _by_key(env)
    assert set(people) == {"legal", "customer", "provider", "account_manager"}
    assert people["legal"]["email"] == "legal@brightline.example"  # the role's default
    assert people["legal"]["role"] == "approver"
    assert people["legal"]["routing_order"] < people["customer"]["routing_order"] < (
        people["provider"]["routing_order"])
    assert people["legal"]["status"] == "sent" and people["customer"]["status"] == "waiting"
    # the customer's link is issued only once legal approves
    assert not _mailed(rt, agent, "cleo@customer.example")
    r = sign(client, signing_link(rt, agent.org_id, "legal@brightline.example"),
             name="Brightline Legal")
    assert r.status_code == 200, r.text
    assert _mailed(rt, agent, "cleo@customer.example")
    view = client.get(f"/api/v1/envelopes/{env['id']}", headers=agent.auth).json()
    assert _by_key(view)["customer"]["status"] == "sent"
    # the audit trail says which rule fired and why, and which did not
    events = _events(client, agent, env["id"])
    fired = [e for e in events if e["tag"] == "routing:rule_fired"]
    assert [e["data"]["rule_id"] for e in fired] == ["legal-over-50k"]
    legal = fired[0]["data"]
    assert legal["values"] == {"annual_fee": {"amount": "60000.00", "currency": "USD"}}
    assert "> 50000: true" in legal["reason"] and legal["phase"] == "create"
    assert legal["description"].startswith("Contract value")
    assert legal["changes"][0]["action"] == "add_recipient"
    assert legal["changes"][0]["recipient_id"] == people["legal"]["id"]
    skipped = {e["data"]["rule_id"]: e["data"] for e in events
               if e["tag"] == "routing:rule_skipped"}
    assert set(skipped) == {"eu-data-protection", "enterprise-sms"}
    assert skipped["eu-data-protection"]["values"] == {"region": "US"}
    assert skipped["enterprise-sms"]["values"] == {"tier": "premium"}


def test_rule_events_are_not_repeated_as_routing_advances(rt: Runtime, client: TestClient,
                                                          agent: Member) -> None:
    env = _from_template(client, agent, _data(annual_fee={"amount": "75000",
                                                          "currency": "USD"}))
    before = _events(client, agent, env["id"])
    for email, name in (("legal@brightline.example", "Legal"),
                        ("cleo@customer.example", "Cleo Customer"),
                        ("pat@brightline.example", "Pat Provider")):
        r = _sign_all_fields(client, signing_link(rt, agent.org_id, email), name)
        assert r.status_code == 200, r.text
    view = client.get(f"/api/v1/envelopes/{env['id']}", headers=agent.auth).json()
    assert view["status"] == "completed"
    assert [r["key"] for r in view["recipients"]].count("legal") == 1
    assert _events(client, agent, env["id"]) == before  # evaluated again, nothing changed
    # the certificate lists the rule-added approver like anyone else
    cert = client.get(f"/api/v1/envelopes/{env['id']}/document", headers=agent.auth)
    assert cert.status_code == 200


def test_region_eu_adds_the_data_protection_approver(rt: Runtime, client: TestClient,
                                                     agent: Member) -> None:
    env = _from_template(client, agent, _data(region="EU"))
    people = _by_key(env)
    assert "data_protection" in people and "legal" not in people
    assert people["data_protection"]["routing_order"] < people["customer"]["routing_order"]
    (fired,) = [e for e in _events(client, agent, env["id"])
                if e["tag"] == "routing:rule_fired"]
    assert fired["data"]["rule_id"] == "eu-data-protection"
    assert fired["data"]["values"] == {"region": "EU"}
    # both: legal first, then data protection, then the customer
    both = _by_key(_from_template(client, agent, _data(
        region="EU", annual_fee={"amount": "90000", "currency": "USD"})))
    assert (both["legal"]["routing_order"] < both["data_protection"]["routing_order"]
            < both["customer"]["routing_order"])


def test_a_request_recipient_wins_over_the_default(rt: Runtime, client: TestClient,
                                                   agent: Member) -> None:
    people = {**PEOPLE, "data_protection": {"name": "Dora DPO", "email": "dora@dpo.example"}}
    env = _from_template(client, agent, _data(region="EU"), people)
    assert _by_key(env)["data_protection"]["email"] == "dora@dpo.example"
    # given but the rule does not fire: not on the envelope
    env = _from_template(client, agent, _data(region="UK"), people)
    assert "data_protection" not in _by_key(env)


def test_enterprise_tier_forces_sms_on_the_customer(rt: Runtime, client: TestClient,
                                                    agent: Member) -> None:
    r = client.post("/api/v1/envelopes/from-template", headers=agent.auth, json={
        "template_key": SSA, "data": _data(tier="enterprise"), "recipients": PEOPLE})
    assert r.status_code == 422 and r.json()["error"]["code"] == "phone_required"
    assert r.json()["error"]["details"]["role"] == "customer"
    with_phone = {**PEOPLE, "customer": {**PEOPLE["customer"], "phone": "+15555550123"}}
    env = _from_template(client, agent, _data(tier="enterprise"), with_phone)
    assert _by_key(env)["customer"]["auth_method"] == "sms_otp"
    assert _by_key(env)["provider"]["auth_method"] == "email_link"
    # the same phone on a premium envelope is dropped, not refused
    env = _from_template(client, agent, _data(tier="premium"), with_phone)
    assert _by_key(env)["customer"]["auth_method"] == "email_link"


def _raw(rules: list[dict[str, Any]], data: dict[str, Any], **kw: Any) -> dict[str, Any]:
    body = envelope_body(recipients=[
        {"name": "Ann Signer", "email": "ann@customer.example", "routing_order": 1,
         "key": "customer"},
        {"name": "Bob Signer", "email": "bob@provider.example", "routing_order": 2,
         "key": "provider"},
        {"name": "Carl Copy", "email": "carl@provider.example", "role": "cc",
         "routing_order": 3, "key": "copy"},
        {"name": "Lee Legal", "email": "lee@provider.example", "role": "approver",
         "routing_order": 1, "key": "legal"}], **kw)
    return {**body, "rules": rules, "data": data}


RULES = [
    {"id": "small-no-copy", "description": "Small deals skip the copy",
     "when": {"var": "deal.value", "op": "lt", "value": 1000},
     "then": [{"action": "skip_role", "role": "copy"}]},
    {"id": "provider-first", "description": "Renewals: the provider signs first",
     "when": {"all": [{"var": "kind", "op": "in", "value": ["renewal", "amendment"]},
                      {"not": {"var": "rush", "op": "eq", "value": True}}]},
     "then": [{"action": "reorder", "role": "provider", "before": "customer"}]},
    {"id": "legal-big", "description": "Big deals add legal after the provider",
     "when": {"var": "deal.value", "op": "gte", "value": 50000},
     "then": [{"action": "add_recipient", "role": "legal", "after": "provider"}]},
]


def test_skip_and_reorder_on_an_api_envelope(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    r = client.post("/api/v1/envelopes", headers=m.auth,
                    json=_raw(RULES, {"deal": {"value": 500}, "kind": "renewal"}))
    assert r.status_code == 201, r.text
    env = r.json()
    people = _by_key(env)
    assert set(people) == {"customer", "provider"}  # copy skipped, legal not added
    assert people["provider"]["routing_order"] < people["customer"]["routing_order"]
    assert people["provider"]["status"] == "sent"
    # the customer's fields moved with them (indexes were remapped)
    fields = {f["recipient_id"] for f in env["fields"]}
    assert fields == {people["customer"]["id"], people["provider"]["id"]}
    tags = [(e["tag"], e["data"]["rule_id"]) for e in _events(client, m, env["id"])]
    assert tags == [("routing:rule_fired", "small-no-copy"),
                    ("routing:rule_fired", "provider-first"),
                    ("routing:rule_skipped", "legal-big")]


def test_add_after_and_set_order_on_an_api_envelope(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    rules = [*RULES, {"id": "cc-last", "description": "The copy goes last",
                      "when": {"var": "deal.value", "op": "exists"},
                      "then": [{"action": "set_order", "role": "copy", "routing_order": 9}]}]
    r = client.post("/api/v1/envelopes", headers=m.auth, json=_raw(
        rules, {"deal": {"value": 80000}, "kind": "new"}, send=False))
    assert r.status_code == 201, r.text
    people = _by_key(r.json())
    assert [people[k]["routing_order"] for k in ("customer", "provider", "legal", "copy")] \
        == [1, 2, 3, 9]
    r = client.post(f"/api/v1/envelopes/{r.json()['id']}/send", headers=m.auth)
    assert r.status_code == 200, r.text
    assert _by_key(r.json())["customer"]["status"] == "sent"


def test_drift_is_put_back_before_the_next_step(rt: Runtime, client: TestClient) -> None:
    from accord.envelopes.models import Recipient

    m = member(rt)
    r = client.post("/api/v1/envelopes", headers=m.auth, json=_raw(
        RULES, {"deal": {"value": 80000}, "kind": "new"}))
    env = r.json()
    legal_id = _by_key(env)["legal"]["id"]
    with rt.db.uow() as uow:  # someone moved legal out of its planned step
        uow.session.get(Recipient, legal_id).routing_order = 50  # type: ignore[union-attr]
        uow.commit()
    sign(client, signing_link(rt, m.org_id, "ann@customer.example"), name="Ann Signer")
    view = client.get(f"/api/v1/envelopes/{env['id']}", headers=m.auth).json()
    assert _by_key(view)["legal"]["routing_order"] == 3
    step = [e for e in _events(client, m, env["id"]) if e["data"]["phase"] == "step"]
    assert [(e["tag"], e["data"]["rule_id"]) for e in step] == [
        ("routing:rule_fired", "legal-big")]


INVALID: list[tuple[list[dict[str, Any]], str]] = [
    ([{"id": "x", "description": "d", "when": {"var": "a", "op": "like", "value": 1},
       "then": [{"action": "skip_role", "role": "copy"}]}], "rule_operator_invalid"),
    ([{"id": "x", "description": "d", "when": {"var": "a", "op": "eq", "value": 1},
       "then": [{"action": "skip_role", "role": "nobody"}]}], "rule_role_undeclared"),
    ([{"id": "x", "description": "d", "when": {"var": "a", "op": "eq", "value": 1},
       "then": [{"action": "explode", "role": "copy"}]}], "rule_action_invalid"),
    ([{"id": "x", "when": {"var": "a", "op": "eq", "value": 1},
       "then": [{"action": "skip_role", "role": "copy"}]},
      {"id": "x", "description": "d", "when": {"any": []}, "then": []}], "rules_invalid"),
]


@pytest.mark.parametrize(("rules", "code"), INVALID)
def test_invalid_rules_are_a_422_with_codes(rt: Runtime, client: TestClient,
                                            rules: list[dict[str, Any]], code: str) -> None:
    m = member(rt)
    r = client.post("/api/v1/envelopes", headers=m.auth, json=_raw(rules, {}))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert all({"field", "code", "message"} <= set(d) for d in error["details"])
    listed = client.get("/api/v1/envelopes", headers=m.auth).json()
    assert listed["items"] == []  # nothing half-written


def test_every_problem_is_listed_at_once(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    rules: list[dict[str, Any]] = [{"id": "x", "when": {"var": "a", "op": "eq", "value": 1},
                                    "then": [{"action": "skip_role", "role": "copy"}]},
                                   {"id": "x", "description": "d",
                                    "when": {"any": []}, "then": []}]
    r = client.post("/api/v1/envelopes", headers=m.auth, json=_raw(rules, {}))
    codes = sorted(d["code"] for d in r.json()["error"]["details"])
    assert codes == ["rule_action_invalid", "rule_condition_invalid",
                     "rule_description_invalid", "rule_id_duplicate"]


def test_duplicate_recipient_keys_are_refused(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    body = envelope_body(recipients=[
        {"name": "A", "email": "a@x.example", "key": "same"},
        {"name": "B", "email": "b@x.example", "key": "same"}], fields=[])
    r = client.post("/api/v1/envelopes", headers=m.auth, json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "recipient_key_duplicate"
