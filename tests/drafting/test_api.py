"""Templates through HTTP, no mocks, on SQLite and PostgreSQL: authoring and approval,
envelopes from templates (fields, hashes, prefill, every problem at once), PDF templates."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import NoMatchFound

from accord.app import create_app
from accord.drafting import api as drafting_api
from accord.envelopes import services as envelopes
from accord.envelopes.models import Envelope
from accord.runtime import Runtime
from tests.drafting.test_services import (
    CLAUSE_V1,
    RECIPIENTS,
    ROLES,
    SAMPLE,
    SOURCE,
    VARIABLES,
    pdf_text,
)
from tests.factories import Member, b64, member, pdf


def _app(rt: Runtime) -> FastAPI:
    app = create_app(rt)
    try:
        app.url_path_for("list_templates")
    except NoMatchFound:  # until app.py mounts the drafting API
        app.include_router(drafting_api.router)
    return app


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(_app(rt), base_url="http://testserver")


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def publish_library(client: TestClient, legal: Member, *, key: str = "service-order",
                    body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The liability clause and a template, both through review and published."""
    if client.get("/api/v1/clauses/liability", headers=legal.auth).status_code == 404:
        ok(client.post("/api/v1/clauses", headers=legal.auth, json={
            "key": "liability", "title": "Limitation of liability", "body": CLAUSE_V1}), 201)
        ok(client.post("/api/v1/clauses/liability/submit", headers=legal.auth))
        ok(client.post("/api/v1/clauses/liability/publish", headers=legal.auth))
    ok(client.post("/api/v1/templates", headers=legal.auth, json=body or {
        "key": key, "name": "Service Order", "kind": "markdown", "source": SOURCE,
        "variables": VARIABLES, "roles": ROLES, "sample_data": SAMPLE,
        "prefill": {"customer.legal_name": "account.name", "tier": "account.support_tier"}}),
       201)
    ok(client.post(f"/api/v1/templates/{key}/submit", headers=legal.auth))
    view: dict[str, Any] = ok(client.post(f"/api/v1/templates/{key}/publish",
                                          headers=legal.auth))
    return view


def from_template(client: TestClient, who: Member, **kw: Any) -> Any:
    body = {"template_key": "service-order", "data": SAMPLE, "recipients": RECIPIENTS, **kw}
    return client.post("/api/v1/envelopes/from-template", headers=who.auth, json=body)


def document_text(rt: Runtime, env_id: str) -> str:
    with rt.db.uow() as uow:
        blob = envelopes.documents_of(uow.session, env_id)[0].blob
    return pdf_text(rt.blobs.get(blob))


def test_authoring_and_approval_over_http(rt: Runtime, client: TestClient) -> None:
    legal = member(rt, role="legal")
    agent = member(rt, role="agent", org_id=legal.org_id)
    view = publish_library(client, legal)
    assert [(v["version"], v["status"]) for v in view["versions"]] == [(1, "published")]
    r = client.patch("/api/v1/templates/service-order", headers=agent.auth,
                     json={"source": "Hi"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    view = ok(client.patch("/api/v1/templates/service-order", headers=legal.auth,
                           json={"source": SOURCE.replace("a year", "a month")}))
    assert [v["status"] for v in view["versions"]] == ["published", "draft"]
    r = client.post("/api/v1/templates/service-order/publish", headers=legal.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "review_required"
    # agents see the published version only
    listed = ok(client.get("/api/v1/templates", headers=agent.auth))
    assert [(t["key"], t["latest_version"]) for t in listed] == [("service-order", 1)]
    assert client.get("/api/v1/templates/service-order/versions/2",
                      headers=agent.auth).status_code == 404
    v2 = ok(client.get("/api/v1/templates/service-order/versions/2", headers=legal.auth))
    assert v2["label"] == "service-order v2" and v2["status"] == "draft"
    d = ok(client.get("/api/v1/templates/service-order/diff?from=1&to=2", headers=legal.auth))
    assert "+{{ fee|money }} a month." in d["lines"]
    r = client.post("/api/v1/templates/service-order/preview", headers=agent.auth, json={})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert "a year" in pdf_text(r.content)  # agents preview the published version
    r = client.post("/api/v1/templates/service-order/preview?version=2", headers=legal.auth,
                    json={"data": SAMPLE})
    assert "a month" in pdf_text(r.content)
    # the organisation setting
    admin = member(rt, role="admin", org_id=legal.org_id)
    assert ok(client.get("/api/v1/organisation/drafting-settings", headers=agent.auth)) == {
        "template_approval_required": True}
    assert client.patch("/api/v1/organisation/settings", headers=legal.auth,
                        json={"template_approval_required": False}).status_code == 403
    ok(client.patch("/api/v1/organisation/settings", headers=admin.auth,
                    json={"template_approval_required": False}))
    assert ok(client.get("/api/v1/organisation/drafting-settings", headers=agent.auth)) == {
        "template_approval_required": False}
    view = ok(client.post("/api/v1/templates/service-order/publish", headers=legal.auth))
    assert view["published_version"] == 2


def test_create_from_template_places_fields_and_records_the_version(
        rt: Runtime, client: TestClient) -> None:
    legal = member(rt, role="legal")
    agent = member(rt, role="agent", org_id=legal.org_id)
    publish_library(client, legal)
    version = ok(client.get("/api/v1/templates/service-order/versions/1", headers=agent.auth))
    env = ok(from_template(client, agent, send=True, subject="Globex service order"), 201)
    assert env["status"] == "sent" and env["subject"] == "Globex service order"
    who = {r["id"]: r for r in env["recipients"]}
    assert [(r["email"], r["role"], r["routing_order"]) for r in env["recipients"]] == [
        ("ann@customer.example", "signer", 1), ("bob@provider.example", "signer", 2),
        ("carl@provider.example", "cc", 3)]
    placed = sorted((who[f["recipient_id"]]["email"], f["kind"], f["page"], f["required"])
                    for f in env["fields"])
    assert placed == [
        ("ann@customer.example", "date_signed", 1, True),
        ("ann@customer.example", "signature", 1, True),
        ("bob@provider.example", "checkbox", 2, False),
        ("bob@provider.example", "signature", 2, True),
        ("bob@provider.example", "text", 2, True)]
    assert next(f for f in env["fields"] if f["kind"] == "text")["label"] == "po number"
    assert all(f["x"] > 0 and f["y"] > 0 and f["width"] > 0 for f in env["fields"])
    with rt.db.uow() as uow:
        row = uow.session.get(Envelope, env["id"])
        assert row is not None
        assert row.template_version_id == version["id"]
        assert row.template_label == "service-order v1"
        assert row.template_sha256 == version["source_sha256"]
        assert row.template_sha256 == hashlib.sha256(SOURCE.encode()).hexdigest()
        assert row.template_clauses is not None
        assert row.template_clauses == version["pinned_clauses"]
        assert row.template_clauses["liability"]["version"] == 1
    text = document_text(rt, env["id"])
    assert f"Envelope {env['id']}" in text and "Globex Ltd" in text and "cap version one" in text


def test_every_problem_at_once(rt: Runtime, client: TestClient) -> None:
    legal = member(rt, role="legal")
    agent = member(rt, role="agent", org_id=legal.org_id)
    publish_library(client, legal)
    r = from_template(client, agent, data={"tier": "gold", "fee": "-3", "colour": "red"},
                      recipients={"customer": RECIPIENTS["customer"],
                                  "witness": {"name": "W", "email": "w@example.com"}})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "template_data_invalid"
    assert {(d["variable"], d["code"]) for d in err["details"]} == {
        ("customer.legal_name", "variable_required"), ("tier", "variable_option"),
        ("fee", "variable_range"), ("colour", "variable_undeclared"),
        ("recipients.provider", "role_recipient_missing"),
        ("recipients.copy", "role_recipient_missing"),
        ("recipients.witness", "recipient_role_undeclared")}
    r = from_template(client, agent, recipients={"customer": RECIPIENTS["customer"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "role_recipient_missing"
    # undeclared variables, nested or dotted, are refused
    r = from_template(client, agent, data={**SAMPLE, "customer": {
        "legal_name": "Globex", "shoe_size": 9}, "customer.vat": "GB1"})
    assert r.status_code == 422
    assert {d["variable"] for d in r.json()["error"]["details"]} == {"customer.shoe_size",
                                                                       "customer.vat"}
    # a draft version cannot make envelopes
    ok(client.patch("/api/v1/templates/service-order", headers=legal.auth,
                    json={"source": SOURCE + "\nv2\n"}))
    r = from_template(client, legal, version=2)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "template_version_not_published"
    assert from_template(client, agent, version=2).status_code == 404
    assert not envelopes.list_envelopes(rt, agent.principal).items


def test_hostile_values_cannot_become_fields(rt: Runtime, client: TestClient) -> None:
    legal = member(rt, role="legal")
    publish_library(client, legal)
    evil = "[[signature:customer]] [[text:provider:iban]] <script>x()</script> {{ 7*7 }}"
    env = ok(from_template(client, legal, data={**SAMPLE, "customer": {"legal_name": evil}}),
             201)
    assert len(env["fields"]) == 5
    text = document_text(rt, env["id"])
    # shown as text: not a field, not markup, not a template expression
    assert evil in text.replace("\n", " ")


def test_prefill_from_a_customer_record(rt: Runtime, client: TestClient) -> None:
    legal = member(rt, role="legal")
    agent = member(rt, role="agent", org_id=legal.org_id)
    publish_library(client, legal)
    record = {"account": {"name": "Umbrella plc", "support_tier": "premium"}}
    env = ok(from_template(client, agent, data={"fee": 500}, customer=record), 201)
    text = document_text(rt, env["id"])
    assert "Umbrella plc" in text and "Premium support applies" in text
    env = ok(from_template(client, agent, data={"fee": 500, "tier": "standard"},
                           customer=record), 201)
    assert "Premium support applies" not in document_text(rt, env["id"])


def test_another_organisations_template_is_404(rt: Runtime, client: TestClient) -> None:
    legal = member(rt, role="legal")
    publish_library(client, legal)
    outsider = member(rt, role="admin", org_name="Initech")
    version_id = ok(client.get("/api/v1/templates/service-order/versions/1",
                               headers=legal.auth))["id"]
    for r in (from_template(client, outsider),
              client.get("/api/v1/templates/service-order", headers=outsider.auth),
              client.get("/api/v1/clauses/liability", headers=outsider.auth),
              client.post("/api/v1/templates/service-order/publish", headers=outsider.auth),
              client.post(f"/api/v1/template-versions/{version_id}/preview",
                          headers=outsider.auth, json={})):
        assert r.status_code == 404, r.text
    assert client.post(f"/api/v1/template-versions/{version_id}/preview",
                       headers=legal.auth, json={}).status_code == 200


def test_upload_errors_list_every_problem(rt: Runtime, client: TestClient) -> None:
    legal = member(rt, role="legal")
    r = client.post("/api/v1/templates", headers=legal.auth, json={
        "key": "Bad", "name": "Bad", "kind": "markdown", "source": "x"})
    assert r.status_code == 422
    assert "invalid_key" in {d["code"] for d in r.json()["error"]["details"]}
    r = client.post("/api/v1/templates", headers=legal.auth, json={
        "key": "bad", "name": "Bad", "kind": "markdown", "roles": ROLES,
        "source": 'Hello {{ clause("ghost") }} [[signature:nobody]]',
        "variables": [{"name": "a", "type": "text"}, {"name": "a", "type": "text"},
                      {"name": "b", "type": "nope"}]})
    assert r.status_code == 422
    got = {d["code"] for d in r.json()["error"]["details"]}
    assert got == {"clause_unknown", "tag_role_undeclared", "spec_duplicate", "spec_type"}
    r = client.post("/api/v1/templates", headers=legal.auth, json={
        "key": "bad", "name": "Bad", "kind": "markdown", "source": "x", "unknown": 1})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_pdf_templates(rt: Runtime, client: TestClient) -> None:
    legal = member(rt, role="legal")
    agent = member(rt, role="agent", org_id=legal.org_id)
    doc = pdf(2, "Consent")
    roles = [{"key": "customer", "name": "Customer"},
             {"key": "provider", "name": "Provider", "routing_order": 2}]
    body: dict[str, Any] = {
        "key": "consent-form", "name": "Consent form", "kind": "pdf",
        "content_base64": b64(doc), "roles": roles,
        "pdf_fields": [{"role": "customer", "kind": "signature",
                        "anchor": "Customer signature:", "anchor_x_offset": 110},
                       {"role": "provider", "kind": "text", "page": 1, "x": 72, "y": 700,
                        "label": "Reference"}]}
    bad = {**body, "pdf_fields": [{"role": "ghost", "kind": "signature", "page": 1, "x": 1,
                                   "y": 1}, {"role": "customer", "kind": "initials",
                                             "page": 9, "x": 1, "y": 1},
                                  {"role": "customer", "kind": "text", "page": 1, "x": 600,
                                   "y": 10}]}
    r = client.post("/api/v1/templates", headers=legal.auth, json=bad)
    assert r.status_code == 422
    assert {d["code"] for d in r.json()["error"]["details"]} == {
        "tag_role_undeclared", "field_bad_page", "field_off_page"}
    r = client.post("/api/v1/templates", headers=legal.auth,
                    json={**body, "content_base64": b64(b"not a pdf")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "document_not_pdf"
    publish_library(client, legal, key="consent-form", body=body)
    version = ok(client.get("/api/v1/templates/consent-form/versions/1", headers=agent.auth))
    assert version["source_sha256"] == hashlib.sha256(doc).hexdigest() == version["pdf_sha256"]
    assert version["fields_sha256"]
    preview = client.post("/api/v1/templates/consent-form/preview", headers=agent.auth)
    assert preview.content == doc
    env = ok(client.post("/api/v1/envelopes/from-template", headers=agent.auth, json={
        "template_key": "consent-form", "recipients": {
            "customer": RECIPIENTS["customer"], "provider": RECIPIENTS["provider"]}}), 201)
    who = {r["id"]: r["email"] for r in env["recipients"]}
    assert sorted((who[f["recipient_id"]], f["kind"], f["page"]) for f in env["fields"]) == [
        ("ann@customer.example", "signature", 2), ("bob@provider.example", "text", 1)]
    with rt.db.uow() as uow:
        row = uow.session.get(Envelope, env["id"])
        assert row is not None and row.template_label == "consent-form v1"
        assert row.template_sha256 == hashlib.sha256(doc).hexdigest()


def test_every_route_is_documented(rt: Runtime) -> None:
    schema = _app(rt).openapi()
    ours = {(path, method): op for path, ops in schema["paths"].items()
            for method, op in ops.items()
            if "templates" in op.get("tags", [])}
    assert len(ours) >= 20
    assert all(op.get("summary") for op in ours.values())
    assert ("/api/v1/envelopes/from-template", "post") in ours
