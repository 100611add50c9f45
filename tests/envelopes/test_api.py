"""The main path through HTTP, no mocks, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.documents.services import trust_roots
from accord.documents.verify import verify_pdf
from accord.runtime import Runtime
from tests.factories import Member, envelope_body, member, pdf, sign, signing_link


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver")


def _create(client: TestClient, m: Member, **kw: Any) -> dict[str, Any]:
    r = client.post("/api/v1/envelopes", json=envelope_body(**kw), headers=m.auth)
    assert r.status_code == 201, r.text
    return r.json()


def test_two_signers_in_order_and_a_cc_complete_and_seal(rt: Runtime,
                                                         client: TestClient) -> None:
    m = member(rt)
    env = _create(client, m)
    assert env["status"] == "sent"
    assert [r["status"] for r in env["recipients"]] == ["sent", "waiting", "cc"]
    # anchor placement put the signature on the last page
    sig = next(f for f in env["fields"] if f["kind"] == "signature")
    assert sig["page"] == 2
    assert "token" not in str(env).lower()

    ann_link = signing_link(rt, m.org_id, "ann@customer.example")
    r = sign(client, ann_link, name="Ann Signer")
    assert r.status_code == 200 and 'id="done"' in r.text
    # the link is dead once used up
    assert client.get(ann_link).status_code == 404

    state = client.get(f"/api/v1/envelopes/{env['id']}", headers=m.auth).json()
    assert [r["status"] for r in state["recipients"]] == ["completed", "sent", "cc"]

    bob = state["recipients"][1]
    text_field = next(f for f in state["fields"]
                      if f["recipient_id"] == bob["id"] and f["kind"] == "text")
    r = sign(client, signing_link(rt, m.org_id, "bob@provider.example"), name="Bob Signer",
             values={f"field_{text_field['id']}": "PO-4711"})
    assert r.status_code == 200 and "Everyone has finished" in r.text

    done = client.get(f"/api/v1/envelopes/{env['id']}", headers=m.auth).json()
    assert done["status"] == "completed"
    assert next(f for f in done["fields"] if f["id"] == text_field["id"])["value"] == "PO-4711"
    sealed = client.get(f"/api/v1/envelopes/{env['id']}/document", headers=m.auth)
    assert sealed.status_code == 200
    assert sealed.headers["content-type"] == "application/pdf"
    report = verify_pdf(sealed.content, trust_roots(rt))
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.envelope_id == env["id"]

    trail = client.get(f"/api/v1/envelopes/{env['id']}/audit", headers=m.auth).json()
    tags = [e["tag"] for e in trail["events"]]
    for tag in ("envelope:created", "envelope:sent", "recipient:delivered", "recipient:link_opened",
                "recipient:consented", "recipient:viewed", "recipient:field_filled",
                "recipient:signed", "envelope:completed", "document:sealed",
                "document:downloaded"):
        assert tag in tags, tag
    assert tags.index("envelope:sent") < tags.index("recipient:signed")

    # everyone, cc included, is mailed the completed copy
    from accord.delivery.services import list_mailbox
    from accord.delivery.worker import drain

    drain(rt)
    completed_to = {msg.to_addr for msg in list_mailbox(rt, m.org_id, limit=100)
                    if msg.subject.startswith("Completed:")}
    assert completed_to == {"ann@customer.example", "bob@provider.example",
                            "carl@provider.example"}


def test_not_your_turn_page(rt: Runtime, client: TestClient) -> None:
    from accord.envelopes.links import issue_link
    from accord.envelopes.models import Recipient

    m = member(rt)
    env = _create(client, m)
    bob_id = env["recipients"][1]["id"]
    with rt.db.uow() as uow:  # a link handed out early (e.g. by a later resend feature)
        token = issue_link(rt.link_key, uow.session.get(Recipient, bob_id))
        uow.commit()
    page = client.get(f"/s/{token}")
    assert page.status_code == 200
    assert "Not your turn yet" in page.text
    assert client.post("/sign/finish", data={"csrf_token": "x"}).status_code in (403, 409)


def test_link_is_exchanged_for_a_cookie_and_dead_tokens_look_unknown(
        rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    env = _create(client, m)
    link = signing_link(rt, m.org_id, "ann@customer.example")
    r = client.get(link, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/sign"
    assert "accord_signer" in r.headers["set-cookie"]
    assert "httponly" in r.headers["set-cookie"].lower()
    assert r.headers["referrer-policy"] == "no-referrer"
    unknown = client.get("/s/" + "A" * 43)
    client.post(f"/api/v1/envelopes/{env['id']}/void", json={"reason": "wrong customer"},
                headers=m.auth)
    dead = client.get(link)
    assert unknown.status_code == dead.status_code == 404
    assert unknown.text == dead.text


def test_decline_with_reason(rt: Runtime, client: TestClient) -> None:
    from tests.factories import csrf

    m = member(rt)
    env = _create(client, m)
    page = client.get(signing_link(rt, m.org_id, "ann@customer.example"))
    r = client.post("/sign/decline", data={"csrf_token": csrf(page.text), "reason": ""})
    assert r.status_code == 422
    r = client.post("/sign/decline", data={"csrf_token": csrf(page.text),
                                           "reason": "Price is wrong"})
    assert r.status_code == 200 and "You declined" in r.text
    state = client.get(f"/api/v1/envelopes/{env['id']}", headers=m.auth).json()
    assert state["status"] == "declined"
    assert state["recipients"][0]["decline_reason"] == "Price is wrong"


def test_signing_requires_consent_intent_and_csrf(rt: Runtime, client: TestClient) -> None:
    from tests.factories import csrf

    m = member(rt)
    _create(client, m)
    page = client.get(signing_link(rt, m.org_id, "ann@customer.example"))
    token = csrf(page.text)
    finish = {"csrf_token": token, "signature_kind": "typed", "signature_text": "Ann",
              "intent": "yes"}
    assert client.post("/sign/finish", data=finish).status_code == 409  # no consent yet
    assert client.post("/sign/consent", data={"csrf_token": "forged", "agree": "yes"}
                       ).status_code == 403
    client.post("/sign/consent", data={"csrf_token": token, "agree": "yes"})
    r = client.post("/sign/finish", data={**finish, "intent": ""})
    assert r.status_code == 422 and "intent_required" in r.text
    r = client.post("/sign/finish", data={**finish, "signature_kind": "drawn",
                                          "signature_data": "data:image/png;base64,AAAA"})
    assert r.status_code == 422


def test_bad_documents_get_clear_errors_and_write_nothing(rt: Runtime,
                                                          client: TestClient) -> None:
    m = member(rt)
    cases = {
        "document_not_pdf": b"hello, I am not a PDF",
        "document_empty": b"",
    }
    for code, data in cases.items():
        r = client.post("/api/v1/envelopes", json=envelope_body(document=data), headers=m.auth)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == code
    truncated = pdf()[:2000]
    r = client.post("/api/v1/envelopes", json=envelope_body(document=truncated), headers=m.auth)
    assert r.status_code == 422
    body = envelope_body()
    body["documents"][0]["content_base64"] = "***"
    r = client.post("/api/v1/envelopes", json=body, headers=m.auth)
    assert r.json()["error"]["code"] == "invalid_base64"
    r = client.post("/api/v1/envelopes", json=envelope_body(fields=[
        {"recipient": 0, "kind": "signature", "anchor": "No such text"}]), headers=m.auth)
    assert r.json()["error"]["code"] == "anchor_not_found"
    r = client.post("/api/v1/envelopes", json=envelope_body(fields=[
        {"recipient": 0, "kind": "signature", "anchor": "   "}]), headers=m.auth)
    assert r.json()["error"]["code"] == "field_blank_anchor"
    r = client.post("/api/v1/envelopes", json=envelope_body(fields=[
        {"recipient": 0, "kind": "signature", "page": 9, "x": 1, "y": 1}]), headers=m.auth)
    assert r.json()["error"]["code"] == "field_bad_page"
    r = client.post("/api/v1/envelopes", json=envelope_body(fields=[
        {"recipient": 2, "kind": "signature", "page": 1, "x": 1, "y": 1}]), headers=m.auth)
    assert r.json()["error"]["code"] == "field_for_cc"
    r = client.post("/api/v1/envelopes", json={"subject": "x"}, headers=m.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    listing = client.get("/api/v1/envelopes", headers=m.auth).json()
    assert listing["total"] == 0


def test_too_large_and_too_many_pages(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    rt.settings = rt.settings.model_copy(update={"max_document_pages": 1})
    r = client.post("/api/v1/envelopes", json=envelope_body(), headers=m.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "document_too_many_pages"
    rt.settings = rt.settings.model_copy(update={"max_document_pages": 500,
                                                 "max_document_bytes": 1000})
    r = client.post("/api/v1/envelopes", json=envelope_body(), headers=m.auth)
    assert r.status_code == 413 and r.json()["error"]["code"] == "document_too_large"


def test_auth_and_organisation_isolation(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    other = member(rt, org_name="Other Org")
    env = _create(client, m, send=False)
    assert client.get("/api/v1/envelopes").json()["error"]["code"] == "missing_api_key"
    r = client.get("/api/v1/envelopes", headers={"Authorization": "Bearer acc_nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    for method, path in (("get", ""), ("post", "/send"), ("get", "/audit"),
                         ("get", "/document")):
        r = getattr(client, method)(f"/api/v1/envelopes/{env['id']}{path}", headers=other.auth)
        assert r.status_code == 404, (path, r.text)
    r = client.post(f"/api/v1/envelopes/{env['id']}/void", json={"reason": "x"},
                    headers=other.auth)
    assert r.status_code == 404
    assert client.get("/api/v1/envelopes", headers=other.auth).json()["total"] == 0
    compliance = member(rt, role="compliance", org_id=m.org_id)
    r = client.post("/api/v1/envelopes", json=envelope_body(), headers=compliance.auth)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert client.get(f"/api/v1/envelopes/{env['id']}", headers=compliance.auth
                      ).status_code == 200


def test_list_paginates_and_filters(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    ids = [_create(client, m, send=i % 2 == 0)["id"] for i in range(5)]
    page = client.get("/api/v1/envelopes?limit=2&offset=0", headers=m.auth).json()
    assert page["total"] == 5 and len(page["items"]) == 2
    sent = client.get("/api/v1/envelopes?status=sent", headers=m.auth).json()
    assert sent["total"] == 3
    assert {i["id"] for i in sent["items"]} <= set(ids)
    bad = client.get("/api/v1/envelopes?status=nonsense", headers=m.auth)
    assert bad.status_code == 422


def test_void_then_send_conflicts(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    env = _create(client, m, send=False)
    r = client.post(f"/api/v1/envelopes/{env['id']}/void", json={"reason": "dup"},
                    headers=m.auth)
    assert r.json()["status"] == "voided"
    r = client.post(f"/api/v1/envelopes/{env['id']}/send", headers=m.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "envelope_not_draft"
    r = client.get(f"/api/v1/envelopes/{env['id']}/document", headers=m.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_completed"


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/envelopes" in spec["paths"]
    assert "/api/v1/envelopes/{envelope_id}/void" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_signer_page_is_light(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    _create(client, m)
    page = client.get(signing_link(rt, m.org_id, "ann@customer.example"))
    from tests.factories import csrf

    r = client.post("/sign/consent", data={"csrf_token": csrf(page.text), "agree": "yes"})
    weight = len(r.content) + len(client.get("/static/signer.css").content) + len(
        client.get("/static/signer.js").content)
    assert weight < 200_000
    assert "https://" not in r.text.split("<main>")[0]  # nothing from a CDN in the head
    img = client.get(r.text.split('src="')[1].split('"')[0])
    assert img.status_code == 200 and img.content[:8] == b"\x89PNG\r\n\x1a\n"
