"""Routing rules on templates: validated at upload with every problem at once, only
declared roles and variables, pinned with the published version, shown and diffed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.drafting import services
from accord.envelopes import services as envelopes
from accord.errors import InvalidInput
from accord.runtime import Runtime
from tests.drafting.test_services import RECIPIENTS, ROLES, SAMPLE, make_clause, make_template
from tests.factories import member

LEGAL_ROLE = {"key": "legal", "name": "Legal", "type": "approver", "routing_order": 1,
              "default_recipient": {"name": "Legal Team", "email": "legal@provider.example"}}
RULE = {"id": "big-fee", "description": "Fees over 1,000 need legal first",
        "when": {"var": "fee", "op": "gt", "value": 1000},
        "then": [{"action": "add_recipient", "role": "legal", "before": "customer"}]}


def test_rules_on_undeclared_roles_and_variables_are_refused_at_upload(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    bad = [{**RULE, "when": {"var": "contract_value", "op": "gt", "value": 1}},
           {**RULE, "id": "r2", "then": [{"action": "skip_role", "role": "ghost"}]},
           {**RULE, "id": "r3", "when": {"var": "tier", "op": "eq", "value": "Enterprise"}}]
    with pytest.raises(InvalidInput) as exc:
        make_template(rt, legal.principal, roles=[*ROLES, LEGAL_ROLE], rules=bad,
                      publish=False)
    found = {(d["field"], d["code"]) for d in exc.value.details}
    assert found == {("rules[0].when.var", "rule_variable_undeclared"),
                     ("rules[1].then[0].role", "rule_role_undeclared"),
                     ("rules[2].when.value", "rule_value_invalid")}


def test_rules_are_pinned_and_used_by_create_from_template(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    make_template(rt, legal.principal, roles=[*ROLES, LEGAL_ROLE], rules=[RULE])
    version = services.get_template_version(rt, legal.principal, "service-order")
    assert version.rules == [RULE]
    agent = member(rt, org_id=legal.org_id)
    env_id = services.create_from_template(rt, agent.principal, template_key="service-order",
                                           data={**SAMPLE, "fee": "1500.00"},
                                           recipients=RECIPIENTS)
    view = envelopes.get(rt, agent.principal, env_id)
    by_key = {r.key: r for r in view.recipients}
    assert by_key["legal"].email == "legal@provider.example"
    assert by_key["legal"].routing_order < by_key["customer"].routing_order
    # editing the rules makes a new draft; the published version keeps its rules
    services.edit_template(rt, legal.principal, "service-order", rules=[])
    assert services.get_template_version(rt, legal.principal, "service-order",
                                         1).rules == [RULE]
    diff = services.diff_template(rt, legal.principal, "service-order", 1, 2)
    assert any("big-fee" in line for line in diff.lines)


def test_a_rule_added_role_without_any_recipient_is_a_422_only_when_it_fires(
        rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    role = {k: v for k, v in LEGAL_ROLE.items() if k != "default_recipient"}
    make_template(rt, legal.principal, roles=[*ROLES, role], rules=[RULE])
    agent = member(rt, org_id=legal.org_id)
    env_id = services.create_from_template(rt, agent.principal, template_key="service-order",
                                           data={**SAMPLE, "fee": "500.00"},
                                           recipients=RECIPIENTS)
    assert "legal" not in {r.key for r in envelopes.get(rt, agent.principal,
                                                         env_id).recipients}
    with pytest.raises(InvalidInput) as exc:
        services.create_from_template(rt, agent.principal, template_key="service-order",
                                      data={**SAMPLE, "fee": "5000"}, recipients=RECIPIENTS)
    assert exc.value.code == "rule_recipient_missing"


def test_upload_through_the_api_gives_codes(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    client = TestClient(create_app(rt), base_url="http://testserver")
    body: dict[str, Any] = {
        "key": "routed", "name": "Routed", "kind": "markdown",
        "source": "Hello {{ customer.legal_name }}\n\n[[signature:customer]]",
        "variables": [{"name": "customer.legal_name", "type": "text"}],
        "roles": [{"key": "customer", "name": "Customer"}, LEGAL_ROLE],
        "rules": [{**RULE, "when": {"var": "fee", "op": "gt", "value": 1}}]}
    r = client.post("/api/v1/templates", json=body, headers=legal.auth)
    assert r.status_code == 422, r.text
    assert {d["code"] for d in r.json()["error"]["details"]} == {"rule_variable_undeclared"}
    body["rules"] = [{**RULE, "when": {"var": "customer.legal_name", "op": "exists"}}]
    r = client.post("/api/v1/templates", json=body, headers=legal.auth)
    assert r.status_code == 201, r.text
    version = client.get("/api/v1/templates/routed/versions/1", headers=legal.auth)
    assert version.status_code == 200, version.text
    assert version.json()["rules"][0]["id"] == "big-fee"
    assert version.json()["roles"][1]["default_recipient"]["email"] == (
        "legal@provider.example")
