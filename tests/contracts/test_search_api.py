"""Repository search over HTTP: the list with filters and cursor pages, the CSV export,
saved views (own, shared, someone else's) and the console list page, on both databases."""

from __future__ import annotations

import csv
import io
from datetime import date

from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Runtime
from tests.contracts.search_helpers import add_contract
from tests.factories import member
from tests.web.conftest import HTML, csrf_of, login


def _seed(rt: Runtime, org_id: str, owner: str) -> dict[str, str]:
    return {
        "gold": add_contract(rt, org_id, title="Gold support for Acme", n=1, tags=("gold",),
                             text="service credits", end_date=date(2026, 6, 30),
                             value="100", customer="acct-acme", owner_id=owner),
        "nda": add_contract(rt, org_id, title="=cmd|' /C calc'!A0", type="nda", n=2,
                            text="confidential", end_date=date(2027, 1, 1)),
        "old": add_contract(rt, org_id, title="Expired maintenance", type="maintenance",
                            status="expired", n=3, text="service window"),
    }


def test_list_filters_pages_and_errors(rt: Runtime) -> None:
    m = member(rt, role="compliance")
    ids = _seed(rt, m.org_id, m.user_id)
    api = TestClient(create_app(rt), base_url="http://testserver")
    r = api.get("/api/v1/contracts", headers=m.auth)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["items"]] == [ids["old"], ids["nda"], ids["gold"]]
    gold = r.json()["items"][2]
    assert gold["tags"] == ["gold"] and gold["value"] == "100.00"
    assert gold["owner_email"] == m.email
    r = api.get("/api/v1/contracts", headers=m.auth, params={
        "q": "service", "status": ["active", "expired"], "sort": "end_date", "order": "asc"})
    assert [c["id"] for c in r.json()["items"]] == [ids["gold"], ids["old"]]
    assert r.json()["query"] == "service"
    r = api.get("/api/v1/contracts", headers=m.auth, params={
        "type": "nda", "end_from": "2026-12-31", "value_max": "10"})
    assert r.json()["items"] == []  # the NDA has no value
    r = api.get("/api/v1/contracts", headers=m.auth, params={"tag": "gold", "owner": "me"})
    assert [c["id"] for c in r.json()["items"]] == [ids["gold"]]
    first = api.get("/api/v1/contracts", headers=m.auth, params={"limit": 2}).json()
    second = api.get("/api/v1/contracts", headers=m.auth,
                     params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [c["id"] for c in second["items"]] == [ids["gold"]]
    assert second["next_cursor"] is None
    for params, code in [
            ({"limit": 2, "cursor": first["next_cursor"], "q": "x"}, "cursor_mismatch"),
            ({"cursor": "abc.def"}, "invalid_cursor"),
            ({"q": "w " * 17}, "query_too_complex"),
            ({"q": "x" * 501}, "invalid_request"),
            ({"type": "lease"}, "invalid_request"),
            ({"limit": 500}, "invalid_request"),
            ({"end_from": "2026-02-01", "end_to": "2026-01-01"}, "invalid_filters"),
            ({"sort": "id; DROP TABLE contracts"}, "invalid_request"),
            ({"view": "nope"}, "not_found")]:
        r = api.get("/api/v1/contracts", headers=m.auth, params=params)
        assert r.status_code in (404, 422), (params, r.text)
        assert r.json()["error"]["code"] == code, (params, r.text)
    stranger = member(rt, role="admin", org_name="Stranger")
    assert api.get("/api/v1/contracts", headers=stranger.auth).json()["items"] == []


def test_export_csv(rt: Runtime) -> None:
    m = member(rt)
    ids = _seed(rt, m.org_id, m.user_id)
    api = TestClient(create_app(rt), base_url="http://testserver")
    r = api.get("/api/v1/contracts/export.csv", headers=m.auth,
                params={"sort": "created_at", "order": "asc"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert [row[0] for row in rows[1:]] == [ids["gold"], ids["nda"], ids["old"]]
    assert rows[2][1] == "'=cmd|' /C calc'!A0"
    r = api.get("/api/v1/contracts/export.csv", headers=m.auth, params={"q": "confidential"})
    assert len(r.text.splitlines()) == 2


def test_saved_views(rt: Runtime) -> None:
    m = member(rt, role="manager")
    other = member(rt, role="agent", org_id=m.org_id)
    stranger = member(rt, role="admin", org_name="Stranger")
    ids = _seed(rt, m.org_id, m.user_id)
    api = TestClient(create_app(rt), base_url="http://testserver")
    body = {"name": "Gold renewals", "filters": {"tag": ["gold"], "sort": "end_date"}}
    r = api.post("/api/v1/contract-views", headers=m.auth, json=body)
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["mine"] and not view["shared"] and view["filters"]["tag"] == ["gold"]
    r = api.post("/api/v1/contract-views", headers=m.auth, json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "view_name_taken"
    r = api.post("/api/v1/contract-views", headers=m.auth,
                 json={"name": "Bad", "filters": {"tag": ["x"], "sql": "1"}})
    assert r.status_code == 422
    r = api.get("/api/v1/contracts", headers=m.auth, params={"view": view["id"]})
    assert [c["id"] for c in r.json()["items"]] == [ids["gold"]]
    r = api.get("/api/v1/contracts", headers=m.auth,
                params={"view": view["id"], "tag": "none"})  # parameters over the view
    assert r.json()["items"] == []
    # private: others see nothing; shared: others read but may not change it
    assert api.get(f"/api/v1/contract-views/{view['id']}", headers=other.auth
                   ).status_code == 404
    assert api.get("/api/v1/contract-views", headers=other.auth).json() == []
    r = api.patch(f"/api/v1/contract-views/{view['id']}", headers=m.auth,
                  json={"shared": True})
    assert r.status_code == 200 and r.json()["shared"]
    listed = api.get("/api/v1/contract-views", headers=other.auth).json()
    assert [(v["id"], v["mine"]) for v in listed] == [(view["id"], False)]
    r = api.get("/api/v1/contracts", headers=other.auth, params={"view": view["id"]})
    assert [c["id"] for c in r.json()["items"]] == [ids["gold"]]
    for method in ("patch", "delete"):
        r = api.request(method, f"/api/v1/contract-views/{view['id']}", headers=other.auth,
                        json={"name": "Mine now"} if method == "patch" else None)
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_view_owner"
        r = api.request(method, f"/api/v1/contract-views/{view['id']}",
                        headers=stranger.auth,
                        json={"name": "Mine now"} if method == "patch" else None)
        assert r.status_code == 404
    assert api.delete(f"/api/v1/contract-views/{view['id']}", headers=m.auth
                      ).status_code == 204
    assert api.get("/api/v1/contract-views", headers=m.auth).json() == []


def test_console_list_and_saved_views(rt: Runtime) -> None:
    m = member(rt, role="agent")
    ids = _seed(rt, m.org_id, m.user_id)
    browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    login(browser, m)
    page = browser.get("/console/contracts")
    assert page.status_code == 200, page.text
    assert "Gold support for Acme" in page.text and 'href="/console/contracts"' in page.text
    assert "=cmd|" in page.text  # shown as text (autoescaped), not run anywhere
    page = browser.get("/console/contracts", params={"q": "service", "status": "expired"})
    assert "Expired maintenance" in page.text and "Gold support" not in page.text
    bad = browser.get("/console/contracts", params={"q": "w " * 17})
    assert bad.status_code == 422 and "query_too_complex" in bad.text
    r = browser.post("/console/contracts/views", data={
        "csrf_token": csrf_of(page.text), "name": "Expired service",
        "filters": '{"q": "service", "status": ["expired"]}'}, follow_redirects=False)
    assert r.status_code == 303, r.text
    shown = browser.get(r.headers["location"])
    assert "Expired maintenance" in shown.text and "Gold support" not in shown.text
    assert "Expired service" in shown.text
    r = browser.post("/console/contracts/views", data={
        "csrf_token": "forged", "name": "X", "filters": "{}"}, follow_redirects=False)
    assert r.status_code == 403
    export = browser.get("/console/contracts.csv", params={"tag": "gold"})
    assert export.status_code == 200 and ids["gold"] in export.text
    assert ids["nda"] not in export.text
