"""Retention through the services and the API, on both databases: the policy a contract
gets (organisation's per type, template's), retain_until kept when status and dates
change (terminate, the renewal sweep), the override (compliance/admin only, audited) and
the disposition review (what is due; nothing destroyed)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.app import create_app
from accord.contracts.models import Contract
from accord.contracts.services import renewals
from accord.drafting.models import TemplateContractValues
from accord.runtime import Runtime
from tests.conftest import Clock
from tests.contracts.helpers import file_now, from_template, seeded
from tests.contracts.renewals_helpers import add_contract, contract, organisation, utc
from tests.factories import PASSWORD, Member, member, pdf
from tests.web.conftest import HTML, post_login

NOW = utc(2026, 3, 1, 12)
META = {"title": "Acme NDA", "type": "nda", "customer_name": "Acme Corp",
        "effective_date": "2026-01-01", "term_months": 12}


@pytest.fixture
def client(rt: Runtime, clock: Clock) -> TestClient:
    clock.freeze(NOW)
    return TestClient(create_app(rt), base_url="http://testserver")


def _import(client: TestClient, m: Member, meta: dict[str, Any] = META) -> Any:
    r = client.post("/api/v1/contracts/import", headers=m.auth,
                    files={"file": ("nda.pdf", pdf(pages=1, title="NDA"), "application/pdf")},
                    data={"meta": json.dumps(meta)})
    assert r.status_code == 201, r.text
    return r.json()["contract"]


def test_a_contract_in_force_is_standard_and_kept_until_seven_years_after_it_ends(
        rt: Runtime, client: TestClient, clock: Clock) -> None:
    boss = organisation(rt)
    c = _import(client, boss)
    assert (c["retention_policy"], c["retain_until"]) == ("standard", None)
    clock.freeze(utc(2026, 6, 15, 9))
    r = client.post(f"/api/v1/contracts/{c['id']}/terminate", headers=boss.auth,
                    json={"reason": "customer left"})
    assert r.status_code == 200, r.text
    assert r.json()["contract"]["retain_until"] == "2033-06-15"


def test_the_organisation_maps_contract_types_to_policies(rt: Runtime,
                                                          client: TestClient) -> None:
    boss = organisation(rt, retention_policies={"nda": "transactional"})
    c = _import(client, boss)
    assert (c["retention_policy"], c["retain_until"]) == ("transactional", "2026-05-30")
    other = _import(client, boss, {**META, "type": "maintenance"})
    assert other["retention_policy"] == "standard"
    bad = client.patch("/api/v1/organisation/settings", headers=boss.auth,
                       json={"retention_policies": {"nda": "forever"}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_retention_policy"
    got = client.get("/api/v1/organisation/settings", headers=boss.auth).json()
    assert got["retention_policies"] == {"nda": "transactional"}


def test_the_template_names_the_policy(rt: Runtime, clock: Clock) -> None:
    clock.freeze(NOW)
    boss = organisation(rt, retention_policies={"support_services": "transactional"})
    seeded(rt, boss)
    env_id = from_template(rt, boss)
    with rt.db.uow() as uow:
        row = uow.session.get(TemplateContractValues, env_id)
        assert row is not None
        row.contract = {**row.contract, "retention": "hipaa"}
        uow.commit()
    file_now(rt, env_id, boss.org_id, NOW)
    with rt.db.uow() as uow:
        c = uow.session.scalars(select(Contract).where(Contract.envelope_id == env_id)).one()
        assert (c.retention_policy, c.retain_until) == ("hipaa", None)


def test_the_sweep_that_expires_a_contract_dates_its_retention(rt: Runtime,
                                                               clock: Clock) -> None:
    clock.freeze(NOW)
    boss = organisation(rt)
    cid = add_contract(rt, boss, end=date(2026, 2, 1))
    renewals.process(rt, cid)
    c = contract(rt, cid)
    assert (c.status, c.retain_until) == ("expired", date(2033, 2, 1))


@pytest.mark.parametrize(("role", "allowed"), [("compliance", True), ("admin", True),
                                          ("legal", False), ("manager", False),
                                          ("agent", False)])
def test_only_compliance_or_admin_override_the_policy(rt: Runtime, client: TestClient,
                                                      role: str, allowed: bool) -> None:
    boss = organisation(rt)
    c = _import(client, boss)
    who = boss if role == "admin" else member(rt, role=role, org_id=boss.org_id)
    r = client.patch(f"/api/v1/contracts/{c['id']}/retention", headers=who.auth,
                     json={"policy": "transactional", "reason": "one-off purchase"})
    if not allowed:
        assert r.status_code == 403, r.text
        return
    assert r.status_code == 200, r.text
    got = r.json()["contract"]
    assert (got["retention_policy"], got["retain_until"]) == ("transactional", "2026-05-30")
    trail = client.get(f"/api/v1/contracts/{c['id']}/audit", headers=boss.auth).json()
    last = trail[-1]
    assert last["tag"] == "contract:retention_set"
    assert last["data"]["policy"] == "transactional"
    assert last["data"]["previous_policy"] == "standard"
    assert last["data"]["reason"] == "one-off purchase"


def test_the_override_refuses_bad_input_and_other_organisations(rt: Runtime,
                                                                client: TestClient) -> None:
    boss = organisation(rt)
    c = _import(client, boss)
    url = f"/api/v1/contracts/{c['id']}/retention"
    for body in ({"policy": "forever", "reason": "x"}, {"policy": "hipaa"},
                 {"policy": "hipaa", "reason": ""}, {"policy": "hipaa", "reason": "x",
                                                     "extra": 1}):
        assert client.patch(url, headers=boss.auth, json=body).status_code == 422
    same = client.patch(url, headers=boss.auth, json={"policy": "standard", "reason": "x"})
    assert same.status_code == 409 and same.json()["error"]["code"] == "retention_unchanged"
    stranger = member(rt, role="compliance")
    assert client.patch(url, headers=stranger.auth,
                        json={"policy": "hipaa", "reason": "x"}).status_code == 404


def test_the_disposition_review_lists_what_is_due_and_destroys_nothing(
        rt: Runtime, client: TestClient, clock: Clock) -> None:
    boss = organisation(rt, retention_policies={"nda": "transactional"})
    due = _import(client, boss)
    _import(client, boss, {**META, "type": "maintenance"})  # standard, in force
    elsewhere = organisation(rt, retention_policies={"nda": "transactional"})
    _import(client, elsewhere)
    reviewer = member(rt, role="compliance", org_id=boss.org_id)
    url = "/api/v1/contracts/disposition"
    assert client.get(url, headers=reviewer.auth).json()["items"] == []
    clock.freeze(NOW + timedelta(days=90))  # retain_until is today: not due yet
    assert client.get(url, headers=reviewer.auth).json()["total"] == 0
    clock.freeze(NOW + timedelta(days=91))
    got = client.get(url, headers=reviewer.auth).json()
    assert got["total"] == 1
    [item] = got["items"]
    assert (item["id"], item["policy"], item["retain_until"], item["overdue_days"]) == (
        due["id"], "transactional", "2026-05-30", 1)
    assert "90 days from creation" in item["reason"]
    for role in ("legal", "admin"):
        who = boss if role == "admin" else member(rt, role=role, org_id=boss.org_id)
        assert client.get(url, headers=who.auth).json()["total"] == 1
    for role in ("manager", "agent"):
        who = member(rt, role=role, org_id=boss.org_id)
        assert client.get(url, headers=who.auth).status_code == 403
    assert client.get(url + "?limit=0", headers=reviewer.auth).status_code == 422
    assert client.get(url + "?limit=201", headers=reviewer.auth).status_code == 422
    paged = client.get(url + "?limit=1&offset=1", headers=reviewer.auth).json()
    assert (paged["total"], paged["items"]) == (1, [])
    # still there: the review destroys nothing
    assert client.get(f"/api/v1/contracts/{due['id']}", headers=boss.auth).status_code == 200


def test_the_disposition_page(rt: Runtime, client: TestClient, clock: Clock) -> None:
    boss = organisation(rt, retention_policies={"nda": "transactional"})
    due = _import(client, boss)
    clock.freeze(NOW + timedelta(days=100))
    browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    assert post_login(browser, boss.email, PASSWORD).status_code == 303
    page = browser.get("/console/contracts/disposition")
    assert page.status_code == 200
    assert "Nothing is destroyed here" in page.text and due["id"] in page.text
    agent = member(rt, role="agent", org_id=boss.org_id)
    other = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    assert post_login(other, agent.email, PASSWORD).status_code == 303
    assert other.get("/console/contracts/disposition").status_code == 403
