"""The contracts API: import (byte for byte), read, change, terminate, link, documents and
the audit trail; per organisation (another's contract is a 404); hostile input is a 4xx."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Runtime
from tests.factories import Member, member, pdf

META = {"title": "Acme support 2026", "type": "support_services",
        "customer_account_id": "ACME-1", "customer_name": "Acme Corp",
        "parties": [{"name": "Acme Corp", "email": "legal@acme.example", "role": "customer"}],
        "effective_date": "2026-01-01", "term_months": 12, "auto_renew": True,
        "notice_days": 30, "value": "12000.50", "currency": "EUR", "tags": ["gold", "emea"],
        "sla": {"severities": {"1": {"first_response": "1h", "resolution": "8h"}},
                "calendar": {"kind": "24x7"}}}


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver")


def _import(client: TestClient, m: Member, data: bytes, meta: Any = META,
            name: str = "acme.pdf") -> Any:
    return client.post("/api/v1/contracts/import", headers=m.auth,
                       files={"file": (name, data, "application/pdf")},
                       data={"meta": meta if isinstance(meta, str) else json.dumps(meta)})


def test_import_keeps_the_pdf_byte_for_byte(rt: Runtime, client: TestClient) -> None:
    m = member(rt, role="legal")
    data = pdf(pages=1, title="Signed elsewhere") + b"%% a trailing comment\n"
    r = _import(client, m, data)
    assert r.status_code == 201, r.text
    got = r.json()
    c = got["contract"]
    assert (c["source"], c["status"], c["type"], c["owner_id"]) == (
        "import", "active", "support_services", m.user_id)
    assert (c["end_date"], c["opt_out_date"], c["value"], c["currency"]) == (
        "2026-12-31", "2026-12-01", "12000.50", "EUR")
    assert c["tags"] == ["emea", "gold"] and c["sla_terms"]["calendar"] == {"kind": "24x7"}
    [doc] = got["documents"]
    assert doc["kind"] == "import" and doc["sha256"] == hashlib.sha256(data).hexdigest()
    down = client.get(f"/api/v1/contracts/{c['id']}/documents/{doc['id']}", headers=m.auth)
    assert down.status_code == 200 and down.content == data
    assert down.headers["content-type"] == "application/pdf"
    listed = client.get(f"/api/v1/contracts/{c['id']}/documents", headers=m.auth).json()
    assert [d["id"] for d in listed] == [doc["id"]]
    trail = client.get(f"/api/v1/contracts/{c['id']}/audit", headers=m.auth).json()
    assert [e["tag"] for e in trail] == ["contract:filed"]
    with rt.db.uow() as uow:  # the PDF's text is searchable at once
        from accord.contracts.models import Contract

        row = uow.session.get(Contract, c["id"])
        assert row is not None and "Customer signature" in row.search_text


def test_another_organisation_sees_nothing(rt: Runtime, client: TestClient) -> None:
    m = member(rt, role="manager")
    c = _import(client, m, pdf()).json()
    stranger = member(rt, role="admin", org_name="Stranger Org")
    cid, did = c["contract"]["id"], c["documents"][0]["id"]
    for method, path, body in [
            ("GET", f"/api/v1/contracts/{cid}", None),
            ("PATCH", f"/api/v1/contracts/{cid}", {"title": "Mine now"}),
            ("POST", f"/api/v1/contracts/{cid}/terminate", {"reason": "no"}),
            ("GET", f"/api/v1/contracts/{cid}/documents", None),
            ("GET", f"/api/v1/contracts/{cid}/documents/{did}", None),
            ("GET", f"/api/v1/contracts/{cid}/audit", None),
            ("POST", f"/api/v1/contracts/{cid}/links",
             {"envelope_id": "x", "kind": "amendment"})]:
        r = client.request(method, path, json=body, headers=stranger.auth)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "contract_not_found"
    assert client.get(f"/api/v1/contracts/{cid}", headers=m.auth).json()[
        "contract"]["title"] == "Acme support 2026"


def test_patch_and_terminate(rt: Runtime, client: TestClient) -> None:
    m = member(rt, role="manager")
    agent = member(rt, role="agent", org_id=m.org_id)
    c = _import(client, m, pdf()).json()["contract"]
    url = f"/api/v1/contracts/{c['id']}"
    r = client.patch(url, headers=m.auth, json={
        "owner_id": agent.user_id, "watchers": [m.user_id], "tags": ["platinum"],
        "renewal_windows": [30, 90], "expected_version": c["version"]})
    assert r.status_code == 200, r.text
    got = r.json()["contract"]
    assert (got["owner_id"], got["watchers"], got["tags"], got["renewal_windows"]) == (
        agent.user_id, [m.user_id], ["platinum"], [90, 30])
    assert got["version"] > c["version"]
    stale = client.patch(url, headers=m.auth, json={"title": "x",
                                                    "expected_version": c["version"]})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_mismatch"
    assert client.patch(url, headers=agent.auth, json={"title": "x"}).status_code == 403
    r = client.post(f"{url}/terminate", headers=m.auth, json={"reason": "Customer left"})
    assert r.status_code == 200 and r.json()["contract"]["status"] == "terminated"
    again = client.post(f"{url}/terminate", headers=m.auth, json={"reason": "again"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_terminated"
    assert client.patch(url, headers=m.auth, json={"title": "x"}).status_code == 409
    trail = client.get(f"{url}/audit", headers=m.auth).json()
    assert [e["tag"] for e in trail] == ["contract:filed", "contract:updated",
                                         "contract:terminated"]


@pytest.mark.parametrize(("meta", "code"), [
    ("not json", "invalid_meta"),
    ("[1, 2]", "invalid_meta"),
    ({"type": "lease"}, "invalid_meta"),
    ({"surprise": 1}, "invalid_meta"),
    ({"effective_date": "2026-02-30"}, "invalid_meta"),
    ({"effective_date": "2026-05-01", "end_date": "2026-01-01"}, "invalid_contract_field"),
    ({"value": "-1"}, "invalid_meta"),
    ({"value": "NaN"}, "invalid_meta"),
    ({"customer_name": "bad\u0000name"}, "invalid_meta"),
    ({"owner_id": "no-such-user"}, "unknown_user"),
    ({"tags": ["x"] * 51}, "invalid_meta"),
    ("{" * 5000, "invalid_meta"),
])
def test_hostile_metadata_is_a_4xx(rt: Runtime, client: TestClient, meta: Any,
                                   code: str) -> None:
    m = member(rt, role="admin")
    r = _import(client, m, pdf(), meta=meta)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code


def test_hostile_files_and_ids_are_4xx(rt: Runtime, client: TestClient,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    m = member(rt, role="admin")
    r = _import(client, m, b"%PDF-1.7\nnot really a pdf")
    assert r.status_code == 422 and r.json()["error"]["code"].startswith("document_")
    r = _import(client, m, b"")
    assert r.status_code == 422
    r = client.post("/api/v1/contracts/import", headers=m.auth, data={"meta": "{}"})
    assert r.status_code == 422  # no file
    monkeypatch.setattr(rt, "settings", rt.settings.model_copy(
        update={"max_document_bytes": 2000}))
    r = _import(client, m, pdf(pages=3) + b"0" * 3000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "document_too_large"
    assert client.get("/api/v1/contracts/" + "x" * 37, headers=m.auth).status_code == 422
    assert client.get("/api/v1/contracts/nope", headers=m.auth).status_code == 404
    r = client.patch("/api/v1/contracts/nope", headers=m.auth, json={"renewal_windows": [0]})
    assert r.status_code in (404, 422)


def test_patch_refuses_bad_values(rt: Runtime, client: TestClient) -> None:
    m = member(rt, role="admin")
    c = _import(client, m, pdf()).json()["contract"]
    url = f"/api/v1/contracts/{c['id']}"
    for body, code in [({"renewal_windows": [0]}, "invalid_windows"),
                       ({"renewal_windows": []}, "invalid_windows"),
                       ({"owner_id": "someone-else"}, "unknown_user"),
                       ({"watchers": ["x"] * 21}, "invalid_request"),
                       ({"title": "a\nb"}, "invalid_request"),
                       ({"status": "renewed"}, "invalid_request")]:
        r = client.patch(url, headers=m.auth, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == code, body


def test_the_version_column_refuses_a_lost_update(rt: Runtime, client: TestClient) -> None:
    """Two writers of one contract: the one that read the older version loses (409)."""
    from accord.contracts.models import Contract
    from accord.contracts.services import commit_or_conflict
    from accord.contracts.services.records import update_contract
    from accord.errors import Conflict

    m = member(rt, role="admin")
    cid = _import(client, m, pdf()).json()["contract"]["id"]
    with rt.db.uow() as uow:
        stale = uow.session.get(Contract, cid)
        assert stale is not None
        read_version = stale.version
        uow.session.expunge(stale)
    update_contract(rt, m.principal, cid, {"title": "First writer"})
    with rt.db.uow() as uow:
        stale = uow.session.merge(stale, load=False)  # the copy read before the change
        assert stale.version == read_version
        stale.title = "Second writer"
        with pytest.raises(Conflict):
            commit_or_conflict(uow.session)
    assert client.get(f"/api/v1/contracts/{cid}", headers=m.auth).json()[
        "contract"]["title"] == "First writer"


def test_api_key_scopes(rt: Runtime, client: TestClient) -> None:
    from accord.accounts.services import create_api_key

    m = member(rt, role="manager")
    cid = _import(client, m, pdf()).json()["contract"]["id"]
    keys = {scope: {"Authorization": "Bearer " + create_api_key(rt, m.user_id, scope,
                                                                [scope])[1]}
            for scope in ("contracts:read", "contracts:write", "envelopes:read")}
    url = f"/api/v1/contracts/{cid}"
    assert client.get(url, headers=keys["contracts:read"]).status_code == 200
    assert client.get(url, headers=keys["envelopes:read"]).status_code == 403
    r = client.patch(url, headers=keys["contracts:read"], json={"tags": ["x"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "scope_missing"
    assert client.patch(url, headers=keys["contracts:write"],
                        json={"tags": ["x"]}).status_code == 200
