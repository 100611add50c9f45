"""A template's ``contract`` section: checked at authoring time with every problem named,
stored with the version, and kept valid for templates that have none."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.drafting import services
from accord.drafting.contract import check_contract
from accord.errors import InvalidInput
from accord.runtime import Runtime
from tests.drafting.test_services import make_clause, make_template
from tests.factories import member

TYPES = {"customer.legal_name": "text", "tier": "enum", "fee": "money", "start": "date"}


@pytest.mark.parametrize(("section", "codes"), [
    (None, set()),
    ({"type": "nda", "fields": {"customer_name": "customer.legal_name", "value": "fee"}},
     set()),
    ("nda", {"contract_section_invalid"}),
    ({"type": "lease"}, {"contract_type_invalid"}),
    ({"fields": {"colour": "tier"}}, {"contract_field_unknown"}),
    ({"fields": {"customer_name": "missing"}}, {"contract_variable_unknown"}),
    ({"fields": {"end_date": "tier", "value": "start"}}, {"contract_variable_type"}),
    ({"fields": ["customer_name"]}, {"contract_section_invalid"}),
    ({"type": "nda", "extra": 1}, {"contract_section_invalid"}),
])
def test_check_contract(section: Any, codes: set[str]) -> None:
    assert {i.code for i in check_contract(section, TYPES)} == codes


def test_authoring_refuses_a_bad_section_with_every_problem(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    with pytest.raises(InvalidInput) as exc:
        make_template(rt, legal.principal, publish=False, contract={
            "type": "lease", "fields": {"customer_name": "nope", "value": "tier"}})
    got = {(d["field"], d["code"]) for d in exc.value.details or []}
    assert got == {("contract.type", "contract_type_invalid"),
                   ("contract.fields.customer_name", "contract_variable_unknown"),
                   ("contract.fields.value", "contract_variable_type")}


def test_a_section_is_stored_published_and_kept_across_edits(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    section = {"type": "maintenance", "fields": {"value": "fee",
                                                 "customer_name": "customer.legal_name"}}
    make_template(rt, legal.principal, contract=section)
    v = services.get_template_version(rt, legal.principal, "service-order")
    assert v.contract == {"type": "maintenance", "fields": {
        "customer_name": "customer.legal_name", "value": "fee"}}
    services.edit_template(rt, legal.principal, "service-order", sample_data={
        "customer": {"legal_name": "Initech"}, "tier": "premium", "fee": "10.00"})
    assert services.get_template_version(rt, legal.principal, "service-order").contract == (
        v.contract)
    with pytest.raises(InvalidInput) as exc:  # a mapped variable cannot go away silently
        services.edit_template(rt, legal.principal, "service-order", variables=[
            {"name": "customer.legal_name", "type": "text", "max_length": 100},
            {"name": "tier", "type": "enum", "options": ["standard", "premium"],
             "default": "standard"}], sample_data={"customer": {"legal_name": "X"}})
    assert "contract_variable_unknown" in {d["code"] for d in exc.value.details or []}


def test_templates_without_a_section_stay_valid(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    make_template(rt, legal.principal)
    assert services.get_template_version(rt, legal.principal, "service-order").contract is None
    services.seed_examples(rt, legal.org_id, publisher_user_id=legal.user_id)
    shipped = services.get_template_version(rt, legal.principal, "mutual-nda")
    assert shipped.contract is not None and shipped.contract["type"] == "nda"


def test_the_api_takes_and_checks_the_section(rt: Runtime) -> None:
    from tests.drafting.test_services import ROLES, SAMPLE, SOURCE, VARIABLES

    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    client = TestClient(create_app(rt), base_url="http://testserver")
    body = {"key": "api-order", "name": "API order", "kind": "markdown", "source": SOURCE,
            "variables": VARIABLES, "roles": ROLES, "sample_data": SAMPLE,
            "contract": {"type": "consent", "fields": {"tags": "tier"}}}
    r = client.post("/api/v1/templates", json=body, headers=legal.auth)
    assert r.status_code == 201, r.text
    bad = client.patch("/api/v1/templates/api-order", headers=legal.auth,
                       json={"contract": {"fields": {"sla": "fee"}}})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "contract_variable_type"
