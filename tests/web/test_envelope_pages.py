"""The envelope console pages through HTTP, on SQLite and PostgreSQL, with no mocks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from accord.delivery.worker import drain
from accord.envelopes import pages
from accord.envelopes import services as envelopes
from accord.runtime import Runtime
from tests.factories import Member, member, sign, signing_link
from tests.web.conftest import login, signable_pdf

ANN = {"name": "Ann Customer", "email": "ann@customer.example", "role": "signer",
       "order": "1", "anchor": "Signature:"}
BOB = {"name": "Bob Provider", "email": "bob@provider.example", "role": "signer",
       "order": "2", "anchor": ""}
BLANK = {"name": "", "email": "", "role": "signer", "order": "1", "anchor": ""}


def _form(token: str, rows: list[dict[str, str]], *, subject: str = "Support agreement",
          send_now: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "csrf_token": token, "subject": subject, "message": "Please sign by Friday.",
        "recipient_name": [r["name"] for r in rows],
        "recipient_email": [r["email"] for r in rows],
        "recipient_role": [r["role"] for r in rows],
        "recipient_order": [r["order"] for r in rows],
        "recipient_anchor": [r["anchor"] for r in rows]}
    if send_now:
        data["send_now"] = "yes"
    return data


def _files(*docs: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("documents", (f"doc{i}.pdf", d, "application/pdf")) for i, d in enumerate(docs)]


def _create(client: TestClient, token: str, rows: list[dict[str, str]] | None = None,
            **kw: Any) -> str:
    r = client.post("/console/envelopes", data=_form(token, rows or [ANN, BOB, BLANK], **kw),
                    files=_files(signable_pdf()), follow_redirects=False)
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/console/envelopes/([^/?]+)", r.headers["location"])
    assert found, r.headers["location"]
    return found.group(1)


def test_new_envelope_form_is_labelled(client: TestClient, agent: Member) -> None:
    login(client, agent)
    page = client.get("/console/envelopes/new")
    assert page.status_code == 200
    html = page.text
    assert 'enctype="multipart/form-data"' in html
    assert "multiple" in html
    assert html.count('name="recipient_name"') == 3
    for input_id in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html):
        assert f'<label for="{input_id}"' in html or input_id == "send_now", input_id
    assert 'id="send_now"' in html
    assert "<label class=\"check\"><input" in html
    assert client.get("/console/envelopes/new", params={"rows": "6"}).text.count(
        'name="recipient_name"') == 6


def test_create_send_and_void_through_the_console(rt: Runtime, client: TestClient,
                                                  agent: Member) -> None:
    token = login(client, agent)
    env_id = _create(client, token)

    page = client.get(f"/console/envelopes/{env_id}")
    assert page.status_code == 200
    html = page.text
    assert 'id="envelope-status">sent<' in html
    assert "Support agreement" in html
    assert "doc0.pdf" in html
    assert "ann@customer.example" in html
    assert "bob@provider.example" in html
    assert "envelope:created" in html
    assert "envelope:sent" in html
    assert "recipient:notified" in html
    assert f"user:{agent.email}" in html
    assert "testclient" in html  # the IP of the staff action
    assert 'action="/console/envelopes/' in html
    assert 'id="void"' in html
    assert 'id="send"' not in html
    assert "Download sealed PDF" not in html

    view = envelopes.get(rt, agent.principal, env_id)
    assert [(r.name, r.routing_order, r.status) for r in view.recipients] == [
        ("Ann Customer", 1, "sent"), ("Bob Provider", 2, "waiting")]
    assert view.documents[0].page_count == 2
    assert view.documents[0].sha256 in html
    ann, bob = view.recipients
    ann_fields = sorted((f.kind, f.page) for f in view.fields if f.recipient_id == ann.id)
    assert ann_fields == [("date_signed", 2), ("signature", 2)]
    sig = next(f for f in view.fields if f.recipient_id == ann.id and f.kind == "signature")
    date = next(f for f in view.fields if f.recipient_id == ann.id and f.kind == "date_signed")
    assert date.x == sig.x + 180
    bob_fields = [(f.kind, f.page, f.x, f.y) for f in view.fields if f.recipient_id == bob.id]
    assert bob_fields == [("signature", 2, 72.0, 650.0)]

    r = client.post(f"/console/envelopes/{env_id}/void",
                    data={"csrf_token": token, "reason": "Wrong customer"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/envelopes/{env_id}"
    html = client.get(r.headers["location"]).text
    assert 'id="envelope-status">voided<' in html
    assert 'id="void-reason">Wrong customer<' in html
    assert "envelope:voided" in html
    assert 'id="void"' not in html

    listing = client.get("/console").text
    assert f'href="/console/envelopes/{env_id}"' in listing
    assert client.get("/console", params={"status": "sent"}).text.count(env_id) == 0
    assert env_id in client.get("/console", params={"status": "voided"}).text


def test_a_draft_is_sent_from_its_page(rt: Runtime, client: TestClient,
                                       agent: Member) -> None:
    token = login(client, agent)
    env_id = _create(client, token, send_now=False)
    html = client.get(f"/console/envelopes/{env_id}").text
    assert 'id="envelope-status">draft<' in html
    assert 'id="send"' in html
    r = client.post(f"/console/envelopes/{env_id}/send", data={"csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    assert envelopes.get(rt, agent.principal, env_id).status == "sent"
    # sending twice is a conflict, shown as an error page
    again = client.post(f"/console/envelopes/{env_id}/send", data={"csrf_token": token})
    assert again.status_code == 409
    assert "cannot send a sent envelope" in again.text


def test_posts_without_the_right_csrf_token_change_nothing(rt: Runtime, client: TestClient,
                                                           agent: Member) -> None:
    token = login(client, agent)
    env_id = _create(client, token, send_now=False)
    wrong_last = "B" if token.endswith("A") else "A"  # never the right token by chance
    for data in ({"reason": "x"}, {"reason": "x", "csrf_token": token[:-1] + wrong_last},
                 {"reason": "x", "csrf_token": "é"}):
        for action in ("send", "void"):
            r = client.post(f"/console/envelopes/{env_id}/{action}", data=data,
                            follow_redirects=False)
            assert r.status_code == 403, r.text
            assert "security token" in r.text
    r = client.post("/console/envelopes", data=_form("wrong", [ANN]),
                    files=_files(signable_pdf()), follow_redirects=False)
    assert r.status_code == 403
    page = envelopes.list_envelopes(rt, agent.principal)
    assert page.total == 1
    assert page.items[0].status == "draft"


def test_form_errors_rerender_with_the_values_kept(rt: Runtime, client: TestClient,
                                                   agent: Member) -> None:
    token = login(client, agent)
    cases = [
        (_form(token, [BLANK, BLANK, BLANK]), _files(signable_pdf()),
         "Add at least one recipient"),
        (_form(token, [ANN]), [], "Choose at least one PDF document."),
        (_form(token, [ANN], subject="  "), _files(signable_pdf()),
         "subject must be 1-300 characters"),
        (_form(token, [BLANK, {**ANN, "anchor": "Nowhere:"}]), _files(signable_pdf()),
         "Recipient row 2: anchor text &#39;Nowhere:&#39; was not found in the first "
         "document"),
        (_form(token, [{**ANN, "email": "not-an-address"}]), _files(signable_pdf()),
         "Recipient row 1 (email): not a valid email address"),
        (_form(token, [ANN], subject="Support\r\nBcc: x@example.com"),
         _files(signable_pdf()), "subject: must be a single line"),
        (_form(token, [{**ANN, "name": "Ann\x00"}]), _files(signable_pdf()),
         "Recipient row 1 (name): contains a NUL"),
        (_form(token, [{**ANN, "order": "first"}]), _files(signable_pdf()),
         "routing order must be a whole number"),
        (_form(token, [ANN]), _files(b"%PDF-1.4 not really"), "Document 1 (doc0.pdf)"),
        (_form(token, [{**ANN, "role": "cc", "anchor": ""}]), _files(signable_pdf()),
         "at least one signer or approver"),
    ]
    for data, files, message in cases:
        r = client.post("/console/envelopes", data=data, files=files)
        assert r.status_code == 422, (message, r.text)
        assert message in r.text
        assert 'role="alert"' in r.text
        assert "choose the PDF files again" in r.text
        assert f'value="{data["subject"]}"' in r.text
        assert "Please sign by Friday." in r.text
        for email in data["recipient_email"]:
            assert f'value="{email}"' in r.text
    assert envelopes.list_envelopes(rt, agent.principal).total == 0


def test_another_organisation_sees_nothing(rt: Runtime, client: TestClient, agent: Member,
                                           new_client: Callable[[], TestClient]) -> None:
    token = login(client, agent)
    env_id = _create(client, token)
    outsider = member(rt, org_name="Other Org")
    other = new_client()
    other_token = login(other, outsider)
    assert env_id not in other.get("/console").text
    for path in ("", "/audit.json", "/document"):
        r = other.get(f"/console/envelopes/{env_id}{path}")
        assert r.status_code == 404, path
        assert "no such envelope" in r.text
    for action in ("send", "void"):
        r = other.post(f"/console/envelopes/{env_id}/{action}",
                       data={"csrf_token": other_token, "reason": "mine now"})
        assert r.status_code == 404
    assert envelopes.get(rt, agent.principal, env_id).status == "sent"


def test_audit_json_and_sealed_pdf_downloads(rt: Runtime, client: TestClient,
                                             agent: Member,
                                             new_client: Callable[[], TestClient]) -> None:
    token = login(client, agent)
    env_id = _create(client, token, rows=[ANN])
    r = client.get(f"/console/envelopes/{env_id}/document")
    assert r.status_code == 409
    assert "not completed" in r.text

    signer = new_client()
    done = sign(signer, signing_link(rt, agent.org_id, ANN["email"]), name="Ann Customer",
                complete=False)
    assert done.status_code == 200, done.text
    # until the worker has sealed it: completing, no download
    html = client.get(f"/console/envelopes/{env_id}").text
    assert 'class="badge s-completing" id="envelope-status">completing<' in html
    assert 'id="completing"' in html and "Download sealed PDF" not in html
    assert client.get(f"/console/envelopes/{env_id}/document").status_code == 409
    assert env_id in client.get("/console", params={"status": "completing"}).text
    drain(rt)

    html = client.get(f"/console/envelopes/{env_id}").text
    assert 'id="envelope-status">completed<' in html
    assert "Download sealed PDF" in html
    assert "recipient:signed" in html or "recipient:completed" in html
    pdf = client.get(f"/console/envelopes/{env_id}/document")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'attachment; filename="{env_id}.pdf"'

    audit = client.get(f"/console/envelopes/{env_id}/audit.json")
    assert audit.status_code == 200
    assert audit.headers["content-disposition"] == (
        f'attachment; filename="{env_id}-audit.json"')
    tags = [e["tag"] for e in audit.json()["events"]]
    assert tags[0] == "envelope:created"
    assert "document:downloaded" in tags


def test_list_paginates_and_rejects_unknown_statuses(rt: Runtime, client: TestClient,
                                                     agent: Member,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    token = login(client, agent)
    ids = [_create(client, token, rows=[ANN], subject=f"Deal {i}", send_now=False)
           for i in range(3)]
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)  # a setting, not a mock: 2 per page
    first = client.get("/console").text
    second = client.get("/console", params={"page": "2"}).text
    junk = client.get("/console", params={"page": "zero"})
    assert "Page 1 of 2" in first
    assert 'rel="next"' in first
    assert "Page 2 of 2" in second
    assert 'rel="prev"' in second
    assert sum(i in first for i in ids) == 2
    assert sum(i in second for i in ids) == 1
    assert junk.status_code == 200
    assert "Page 1 of 2" in junk.text
    r = client.get("/console", params={"status": "bogus"})
    assert r.status_code == 422
    assert "unknown status" in r.text


def test_compliance_reads_but_does_not_send_void_or_read_mail(
        rt: Runtime, client: TestClient, agent: Member,
        new_client: Callable[[], TestClient]) -> None:
    token = login(client, agent)
    env_id = _create(client, token, send_now=False)
    auditor = member(rt, role="compliance", org_id=agent.org_id)
    browser = new_client()
    auditor_token = login(browser, auditor)
    listing = browser.get("/console").text
    assert env_id in listing
    assert "/console/envelopes/new" not in listing
    assert "/console/mailbox" not in listing
    detail = browser.get(f"/console/envelopes/{env_id}").text
    assert "envelope:created" in detail
    assert 'id="send"' not in detail
    assert 'id="void"' not in detail
    assert browser.get("/console/envelopes/new").status_code == 403
    assert browser.get("/console/mailbox").status_code == 403
    r = browser.post(f"/console/envelopes/{env_id}/send", data={"csrf_token": auditor_token})
    assert r.status_code == 403
    assert envelopes.get(rt, agent.principal, env_id).status == "draft"
