"""The renewals pipeline by API and console: bands in the organisation's local date,
per-organisation isolation, roles and API-key scopes, cursor pagination, bad input 4xx."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.accounts.services import create_api_key
from accord.app import create_app
from accord.runtime import Runtime
from tests.conftest import Clock
from tests.contracts.renewals_helpers import add_contract, organisation, utc
from tests.factories import Member, member
from tests.web.conftest import login

TODAY = date(2027, 1, 1)  # in Auckland; 2026-12-31 in UTC at the frozen moment
URL = "/api/v1/contracts/renewals"


@pytest.fixture
def world(rt: Runtime, clock: Clock) -> dict[str, Any]:
    boss = organisation(rt, time_zone="Pacific/Auckland")
    agent = member(rt, role="agent", org_id=boss.org_id)
    clock.freeze(utc(2026, 12, 31, 12))  # 2027-01-01 01:00 in Auckland
    ids = {
        "overdue": add_contract(rt, boss, end=TODAY - timedelta(days=1), title="Overdue"),
        "expired": add_contract(rt, boss, end=TODAY - timedelta(days=40), status="expired",
                                title="Expired"),
        "today": add_contract(rt, boss, end=TODAY, title="Ends today"),
        "20": add_contract(rt, agent, end=TODAY + timedelta(days=20), title="In 20"),
        "45": add_contract(rt, boss, end=TODAY + timedelta(days=45), title="In 45",
                           auto_renew=True, notice_days=30),
        "75": add_contract(rt, boss, end=TODAY + timedelta(days=75), title="In 75"),
        "100": add_contract(rt, boss, end=TODAY + timedelta(days=100), title="In 100"),
        "later": add_contract(rt, boss, end=TODAY + timedelta(days=121), title="Later"),
        "gone": add_contract(rt, boss, end=TODAY + timedelta(days=10), status="terminated",
                             title="Terminated"),
    }
    with rt.db.uow() as uow:  # an expired contract someone flagged stays in "overdue"
        from accord.contracts.models import Contract

        c = uow.session.get(Contract, ids["expired"])
        assert c is not None
        c.flagged = True
        uow.commit()
    other = organisation(rt)
    add_contract(rt, other, end=TODAY + timedelta(days=5), title="Someone else's")
    client = TestClient(create_app(rt), base_url="http://testserver")
    return {"boss": boss, "agent": agent, "other": other, "ids": ids, "client": client}


def _get(world: dict[str, Any], who: Member, **params: Any) -> Any:
    return world["client"].get(URL, params=params, headers=who.auth)


def test_bands_in_the_organisation_s_date(world: dict[str, Any]) -> None:
    res = _get(world, world["boss"])
    assert res.status_code == 200
    body = res.json()
    assert body["today"] == TODAY.isoformat()
    assert body["time_zone"] == "Pacific/Auckland"
    assert body["counts"] == {"overdue": 2, "30": 2, "60": 1, "90": 1, "120": 1}
    assert [(i["title"], i["band"], i["days_left"]) for i in body["items"]] == [
        ("Expired", "overdue", -40), ("Overdue", "overdue", -1), ("Ends today", "30", 0),
        ("In 20", "30", 20), ("In 45", "60", 45), ("In 75", "90", 75),
        ("In 100", "120", 100)]
    assert body["items"][4]["opt_out_date"] == (TODAY + timedelta(days=15)).isoformat()
    assert body["next_cursor"] is None
    sixty = _get(world, world["boss"], band="60").json()
    assert [i["title"] for i in sixty["items"]] == ["In 45"]
    mine = _get(world, world["boss"], owner_id=world["agent"].user_id).json()
    assert [i["title"] for i in mine["items"]] == ["In 20"]


def test_cursor_pagination_walks_every_item_once(world: dict[str, Any]) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = _get(world, world["boss"], **params).json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7


def test_isolation_per_organisation(world: dict[str, Any]) -> None:
    body = _get(world, world["other"]).json()
    assert [i["title"] for i in body["items"]] == ["Someone else's"]
    assert body["counts"]["30"] == 1
    # another organisation's owner id filters to nothing, not to their contracts
    leak = _get(world, world["other"], owner_id=world["boss"].user_id).json()
    assert leak["items"] == []


@pytest.mark.parametrize("params", [{"band": "45"}, {"limit": 0}, {"limit": 201},
                                    {"cursor": "not-a-cursor"}, {"cursor": "x" * 201},
                                    {"owner_id": "x" * 37}])
def test_bad_input_is_a_422_with_a_code(world: dict[str, Any], params: dict[str, Any]) -> None:
    res = _get(world, world["boss"], **params)
    assert res.status_code == 422
    assert res.json()["error"]["code"] in ("invalid_request", "invalid_cursor")


def test_roles_and_scopes(rt: Runtime, world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    assert client.get(URL).status_code == 401
    for role in ("legal", "manager", "compliance"):
        who = member(rt, role=role, org_id=world["boss"].org_id)
        assert _get(world, who).status_code == 200
    _kid, narrow = create_api_key(rt, world["agent"].user_id, "narrow",
                                  scopes=["envelopes:read"])
    res = client.get(URL, headers={"Authorization": f"Bearer {narrow}"})
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "scope_missing"
    _kid, right = create_api_key(rt, world["agent"].user_id, "contracts",
                                 scopes=["contracts:read"])
    assert client.get(URL, headers={"Authorization": f"Bearer {right}"}).status_code == 200


def test_console_page(rt: Runtime, world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    login(client, world["agent"])
    page = client.get("/console/contracts/renewals", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert "Renewals" in html
    assert "Overdue" in html
    assert "In 100" in html
    assert "Someone else" not in html
    assert "Within 30 days (2)" in html
    sixty = client.get("/console/contracts/renewals?band=60").text
    assert "In 45" in sixty
    assert "In 100" not in sixty
    mine = client.get("/console/contracts/renewals?mine=1").text
    assert "In 20" in mine
    assert "In 45" not in mine
    bad = client.get("/console/contracts/renewals?cursor=zzz",
                     headers={"Accept": "text/html"})
    assert bad.status_code == 422
