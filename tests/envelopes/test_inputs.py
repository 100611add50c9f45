"""Input refused at the door, with every problem at once, on SQLite and PostgreSQL: bad
email addresses, line breaks in one-line fields, NUL and other control characters, signers
without a signature field. Nothing is created by a refused request."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.envelopes import services
from accord.errors import InvalidInput
from accord.runtime import Runtime
from tests.factories import Member, envelope_body, member, pdf, signature_fields

BAD_EMAILS = ["a@example.com,b@example.com", "Evil <evil@example.com>", "a@b",
              "ann@example.com\r\nBcc: x@example.com", "ann\x00@example.com", "@example.com",
              "ann@@example.com", "ann@localhost", "ann@[127.0.0.1]"]


@pytest.fixture
def client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt), base_url="http://testserver")


def _count(client: TestClient, m: Member) -> int:
    r = client.get("/api/v1/envelopes", headers=m.auth)
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def _refused(client: TestClient, m: Member, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/envelopes", json=body, headers=m.auth)
    assert r.status_code == 422, r.text
    return dict(r.json()["error"])


def _locs(error: dict[str, Any]) -> list[list[Any]]:
    return [d["loc"] for d in error["details"]]


def test_bad_recipient_emails_are_refused_naming_the_field(rt: Runtime,
                                                           client: TestClient) -> None:
    m = member(rt)
    for bad in BAD_EMAILS:
        body = envelope_body()
        body["recipients"][1]["email"] = bad
        err = _refused(client, m, body)
        assert err["code"] == "invalid_request"
        assert ["body", "recipients", 1, "email"] in _locs(err), (bad, err)
    assert _count(client, m) == 0
    # a good address is normalised: the domain lower-cased (and stored lower-case)
    body = envelope_body()
    body["recipients"][0]["email"] = "Ann.Signer@Customer.EXAMPLE"
    r = client.post("/api/v1/envelopes", json=body, headers=m.auth)
    assert r.status_code == 201, r.text
    assert r.json()["recipients"][0]["email"] == "ann.signer@customer.example"


def test_line_breaks_and_control_characters_are_refused_naming_the_field(
        rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    cases: list[tuple[str, list[Any]]] = [
        ("subject", ["body", "subject"]),
        ("recipient name", ["body", "recipients", 0, "name"]),
        ("document name", ["body", "documents", 0, "name"]),
        ("field label", ["body", "fields", 3, "label"])]
    for bad in ("Support\r\nBcc: evil@example.com", "Support\nagreement",
                "Support\tagreement", "Support\x00agreement", "Support\x1bagreement",
                "Support\x85agreement", "Support\u2028agreement"):
        for what, loc in cases:
            body = envelope_body()
            if what == "subject":
                body["subject"] = bad
            elif what == "recipient name":
                body["recipients"][0]["name"] = bad
            elif what == "document name":
                body["documents"][0]["name"] = bad + ".pdf"
            else:
                body["fields"][3]["label"] = bad
            err = _refused(client, m, body)
            assert loc in _locs(err), (what, repr(bad), err)
            types = {d["type"] for d in err["details"]}
            assert types <= {"line_break_not_allowed", "control_character"}, err
    # every problem at once
    body = envelope_body()
    body["subject"] = "a\nb"
    body["recipients"][0]["name"] = "Ann\x00"
    body["recipients"][1]["email"] = "a@b"
    assert len(_refused(client, m, body)["details"]) == 3
    # a message may have line breaks and tabs, not a NUL
    body = envelope_body(send=False)
    body["message"] = "Hello,\r\n\tplease sign.\n"
    assert client.post("/api/v1/envelopes", json=body, headers=m.auth).status_code == 201
    body["message"] = "Hello\x00"
    assert ["body", "message"] in _locs(_refused(client, m, body))
    # NUL inside the routing data
    body = envelope_body(send=False)
    body["data"] = {"contract_value": "6\x000"}
    assert ["body", "data"] in _locs(_refused(client, m, body))
    assert _count(client, m) == 1


def test_a_clause_title_with_a_line_break_is_refused(rt: Runtime, client: TestClient) -> None:
    m = member(rt, role="legal")
    for title in ("Limitation\nof liability", "Limitation\x00"):
        r = client.post("/api/v1/clauses", json={"key": "liability", "title": title,
                                                 "body": "Text.\n\nMore text."},
                        headers=m.auth)
        assert r.status_code == 422, r.text
        assert ["body", "title"] in _locs(r.json()["error"])
    r = client.get("/api/v1/clauses/liability", headers=m.auth)
    assert r.status_code == 404


def test_nul_in_a_path_or_query_is_a_422(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    for url in ("/api/v1/envelopes/abc%00def", "/api/v1/templates/a%0Ab",
                "/api/v1/envelopes?status=%00", "/api/v1/webhooks/messages?endpoint_id=%00"):
        r = client.get(url, headers=m.auth)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"]["code"] in {"invalid_text", "invalid_request"}


@pytest.mark.parametrize("fields", [
    [],
    [{"recipient": 0, "kind": "text", "page": 1, "x": 72, "y": 700}],
    [{"recipient": 0, "kind": "initials", "page": 1, "x": 72, "y": 700},
     {"recipient": 0, "kind": "date_signed", "page": 1, "x": 172, "y": 700}],
], ids=["no fields", "only text", "initials and date"])
def test_a_signer_without_a_signature_field_is_not_sent(rt: Runtime, client: TestClient,
                                                        fields: list[dict[str, Any]]) -> None:
    m = member(rt)
    body = envelope_body(recipients=[{"name": "Ann", "email": "ann@customer.example"}],
                         fields=fields, signatures=False)
    err = _refused(client, m, body)
    assert err["code"] == "signer_without_signature"
    assert [d["field"] for d in err["details"]] == ["recipients[0]"]
    assert _count(client, m) == 0


def test_two_signers_sharing_one_signature_field(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    recipients: list[dict[str, Any]] = [
        {"name": "Ann", "email": "ann@customer.example"},
        {"name": "Bob", "email": "bob@provider.example", "routing_order": 2},
        {"name": "Cy", "email": "cy@provider.example", "routing_order": 2}]
    fields = [{"recipient": 0, "kind": "signature", "page": 1, "x": 72, "y": 600}]
    err = _refused(client, m, envelope_body(recipients=recipients, fields=fields,
                                            signatures=False))
    assert err["code"] == "signer_without_signature"
    assert [d["field"] for d in err["details"]] == ["recipients[1]", "recipients[2]"]
    assert "Bob" in err["message"] and "Cy" in err["message"]
    # with another problem: both reported at once
    recipients[0]["email"] = "ann@example.com\n"
    body = envelope_body(recipients=recipients, fields=fields, signatures=False)
    r = client.post("/api/v1/envelopes", json=body, headers=m.auth)
    assert r.status_code == 422
    assert _count(client, m) == 0
    # a draft is kept, but sending it is refused and it stays a draft
    recipients[0]["email"] = "ann@customer.example"
    draft = client.post("/api/v1/envelopes", headers=m.auth, json=envelope_body(
        recipients=recipients, fields=fields, signatures=False, send=False))
    assert draft.status_code == 201, draft.text
    r = client.post(f"/api/v1/envelopes/{draft.json()['id']}/send", headers=m.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "signer_without_signature"
    env = client.get(f"/api/v1/envelopes/{draft.json()['id']}", headers=m.auth).json()
    assert env["status"] == "draft"


def test_approvers_approve_without_fields_but_someone_must_act(rt: Runtime,
                                                               client: TestClient) -> None:
    m = member(rt)
    approvers = [{"name": "Lee Legal", "email": "lee@provider.example", "role": "approver"},
                 {"name": "Carl Copy", "email": "carl@provider.example", "role": "cc"}]
    r = client.post("/api/v1/envelopes", headers=m.auth,
                    json=envelope_body(recipients=approvers, fields=[]))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "sent"
    err = _refused(client, m, envelope_body(recipients=approvers[1:], fields=[]))
    assert err["code"] == "no_signers"


def test_services_refuse_the_same_for_console_cli_and_templates(rt: Runtime) -> None:
    m = member(rt)
    doc = services.DocumentInput("a.pdf", pdf())

    def create(**kw: Any) -> str:
        args: dict[str, Any] = {
            "subject": "S", "documents": [doc],
            "recipients": [services.RecipientInput("Ann", "ann@example.com")]}
        args.update(kw)
        args.setdefault("fields", signature_fields(args["recipients"]))
        return services.create(rt, m.principal, **args)

    for bad in BAD_EMAILS:
        with pytest.raises(InvalidInput) as exc:
            create(recipients=[services.RecipientInput("Ann", bad)])
        assert exc.value.code == "invalid_recipient"
        assert exc.value.details[0]["field"] == "recipients[0].email"
    with pytest.raises(InvalidInput) as exc:
        create(subject="S\r\nBcc: x@example.com",
               documents=[services.DocumentInput("a\x00.pdf", pdf())],
               recipients=[services.RecipientInput("Ann\n", "a@b")], send=True)
    assert exc.value.code == "envelope_invalid"
    assert {d["field"] for d in exc.value.details} == {
        "subject", "documents[0].name", "recipients[0].email"}  # the name is trimmed
    with pytest.raises(InvalidInput) as exc:
        create(fields=[], send=True)
    assert exc.value.code == "signer_without_signature"
    env_id = create(recipients=[services.RecipientInput(" Ann ", "Ann@Example.COM ")])
    view = services.get(rt, m.principal, env_id)
    assert (view.recipients[0].name, view.recipients[0].email) == ("Ann", "ann@example.com")
    with pytest.raises(InvalidInput) as exc:
        services.correct(rt, m.principal, env_id, view.recipients[0].id,
                         email="Evil <evil@example.com>")
    assert exc.value.code == "invalid_recipient"
    with pytest.raises(InvalidInput):
        services.correct(rt, m.principal, env_id, view.recipients[0].id, name="A\nB")
    assert [e.status for e in services.list_envelopes(rt, m.principal).items] == ["draft"]


def test_recipient_actions_refuse_bad_emails(rt: Runtime, client: TestClient) -> None:
    m = member(rt)
    env = client.post("/api/v1/envelopes", json=envelope_body(), headers=m.auth).json()
    rid = env["recipients"][0]["id"]
    base = f"/api/v1/envelopes/{env['id']}/recipients/{rid}"
    for bad in ("a@b", "Evil <evil@example.com>", "x@example.com,y@example.com"):
        r = client.patch(base, json={"email": bad}, headers=m.auth)
        assert r.status_code == 422 and ["body", "email"] in _locs(r.json()["error"])
        r = client.post(f"{base}/reassign", json={"name": "Nia", "email": bad},
                        headers=m.auth)
        assert r.status_code == 422 and ["body", "email"] in _locs(r.json()["error"])
    r = client.patch(base, json={"name": "Ann\r\nSigner"}, headers=m.auth)
    assert r.status_code == 422 and ["body", "name"] in _locs(r.json()["error"])
    now = client.get(f"/api/v1/envelopes/{env['id']}", headers=m.auth).json()
    assert now["recipients"][0]["email"] == "ann@customer.example"


def test_users_and_webhooks_take_clean_input(rt: Runtime, client: TestClient) -> None:
    admin = member(rt, role="admin")
    for bad in ("a@b", "Evil <evil@example.com>", "a@example.com,b@example.com"):
        r = client.post("/api/v1/users", json={"email": bad, "name": "New", "role": "agent"},
                        headers=admin.auth)
        assert r.status_code == 422 and ["body", "email"] in _locs(r.json()["error"])
    r = client.post("/api/v1/users", json={"email": "new@example.com", "name": "N\nB",
                                           "role": "agent"}, headers=admin.auth)
    assert r.status_code == 422 and ["body", "name"] in _locs(r.json()["error"])
    r = client.post("/api/v1/webhooks/endpoints", json={
        "url": "https://hooks.example.com/\r\nx", "description": "d\x00"}, headers=admin.auth)
    assert r.status_code == 422
    assert {("url",), ("description",)} <= {tuple(loc[1:]) for loc in _locs(r.json()["error"])}


def test_template_send_refuses_a_signer_without_a_signature(rt: Runtime) -> None:
    from accord.drafting import services as drafting
    from tests.drafting.test_services import RECIPIENTS, SAMPLE, SOURCE, make_clause, make_template

    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    make_template(rt, legal.principal, source=SOURCE.replace(
        "Provider signature: [[signature:provider]]", "Provider: [[initials:provider]]"))
    with pytest.raises(InvalidInput) as exc:
        drafting.create_from_template(rt, legal.principal, template_key="service-order",
                                      data=SAMPLE, recipients=RECIPIENTS, send=True)
    assert exc.value.code == "signer_without_signature"
    assert "Bob Ray" in exc.value.message
    bad = {**RECIPIENTS, "customer": {"name": "Ann Lee", "email": "Ann <ann@x.example>"}}
    with pytest.raises(InvalidInput) as exc:
        drafting.create_from_template(rt, legal.principal, template_key="service-order",
                                      data=SAMPLE, recipients=bad)
    assert services.list_envelopes(rt, legal.principal).total == 0


def test_bulk_rows_of_a_template_without_a_signature_fail_one_by_one(rt: Runtime) -> None:
    import csv
    import io

    import accord.bulk.tasks  # noqa: F401 - registers the bulk rows handler
    from accord.bulk import services as bulk
    from accord.delivery.worker import drain
    from accord.drafting import services as drafting
    from tests.bulk.helpers import ROLES, SOURCE, VARIABLES, csv_rows

    admin = member(rt, role="admin")
    drafting.create_template(rt, admin.principal, key="unsigned", name="Unsigned",
                             kind="markdown", variables=VARIABLES, roles=ROLES,
                             source=SOURCE.replace("[[signature:customer]]",
                                                   "[[text:customer:po]]"))
    drafting.submit_template(rt, admin.principal, "unsigned")
    drafting.publish_template(rt, admin.principal, "unsigned")
    out = bulk.submit(rt, admin.principal, template_key="unsigned", data=csv_rows(2))
    drain(rt)
    _name, text = bulk.results_csv(rt, admin.principal, out.batch.id)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["error_code"] for r in rows] == ["signer_without_signature"] * 2
    assert not any(r["envelope_id"] for r in rows)
    assert services.list_envelopes(rt, admin.principal).total == 0
