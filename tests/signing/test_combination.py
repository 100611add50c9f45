"""Email link + SMS code + access code, end to end: the order of the steps, what each
session passed, the audit trail and the certificate of completion's authentication line."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from accord.delivery.worker import drain
from accord.envelopes.models import Recipient
from accord.runtime import Runtime
from accord.signing.factors import certificate_line
from accord.signing.models import SignerFactor
from tests.conftest import Clock
from tests.factories import Member, csrf
from tests.signing.conftest import (
    PHONE,
    create,
    enter_code,
    events,
    is_consent,
    open_link,
    post,
    recipient,
    send_code,
    sms_code,
)

CODE = "harbour-1984"


def test_email_link_sms_code_and_access_code(rt: Runtime, client: TestClient,
                                             sender: Member, frozen: Clock) -> None:
    env = create(client, sender,
                 recipient(auth=["access_code", "sms_otp"], phone=PHONE, access_code=CODE),
                 {"name": "Carl Copy", "email": "carl@provider.example", "role": "cc",
                  "routing_order": 2}, fields=[{"recipient": 0, "kind": "signature",
                                                "anchor": "Customer signature:",
                                                "anchor_x_offset": 110,
                                                "anchor_y_offset": 10}])
    assert [r["auth_method"] for r in env["recipients"]] == ["sms_otp+access_code",
                                                             "email_link"]
    # the SMS code comes first (fixed order), whatever order the sender listed
    page = open_link(rt, client, sender)
    assert "step 1 of 2" in page.text and "Text me a code" in page.text
    page = enter_code(client, send_code(client, page), sms_code(rt, sender))
    assert "step 2 of 2" in page.text and 'name="access_code"' in page.text
    frozen.advance(minutes=2)
    page = post(client, "/sign/auth/access-code", page, access_code="not-it-at-all")
    assert page.status_code == 422
    page = post(client, "/sign/auth/access-code", page, access_code=CODE)
    assert is_consent(page)
    with rt.db.uow() as uow:
        passed = {f.factor: f.passed_at for f in uow.session.scalars(select(SignerFactor))}
    assert set(passed) == {"sms_otp", "access_code"}
    assert passed["access_code"] - passed["sms_otp"] == timedelta(minutes=2)

    page = client.post("/sign/consent", data={"csrf_token": csrf(page.text), "agree": "yes"})
    assert 'id="sign-form"' in page.text
    done = client.post("/sign/finish", data={"csrf_token": csrf(page.text), "intent": "yes",
                                             "signature_kind": "typed",
                                             "signature_text": "Ann Signer"})
    assert done.status_code == 200 and 'id="done"' in done.text

    trail = [(e.tag, e.data.get("factor"), e.data.get("reason"))
             for e in events(rt, env["id"], "recipient:")]
    auth_part = trail[trail.index(("recipient:link_opened", None, None)):]
    assert auth_part[:6] == [
        ("recipient:link_opened", None, None),
        ("recipient:auth_challenge_sent", "sms_otp", None),
        ("recipient:authenticated", "sms_otp", None),
        ("recipient:auth_failed", "access_code", "wrong_answer"),
        ("recipient:authenticated", "access_code", None),
        ("recipient:consented", None, None)]
    assert ("recipient:signed", None, None) in auth_part

    expected = ("email link + SMS code (+1•••••0123) + access code; passed "
                f"{passed['access_code']:%Y-%m-%d %H:%M} UTC")
    with rt.db.uow() as uow:
        recs = {r.email: r for r in uow.session.scalars(select(Recipient))}
        assert certificate_line(uow.session, recs["ann@customer.example"]) == expected
        assert certificate_line(uow.session, recs["carl@provider.example"]) == "email link"

    drain(rt)  # the completion task seals the envelope
    sealed = client.get(f"/api/v1/envelopes/{env['id']}/document", headers=sender.auth)
    assert sealed.status_code == 200
    reader = PdfReader(io.BytesIO(sealed.content))
    text = " ".join(page.extract_text() or "" for page in reader.pages)
    text = re.sub(r"\s+", " ", text)
    assert "SMS code (+1•••••0123) + access code" in text, text[-2000:]
    assert f"passed {passed['access_code']:%Y-%m-%d %H:%M} UTC" in text
    assert PHONE not in text and CODE not in text


def test_pages_before_authentication_show_nothing_of_the_documents(
        rt: Runtime, client: TestClient, sender: Member) -> None:
    env = create(client, sender, recipient(auth=["access_code"], access_code=CODE))
    page = open_link(rt, client, sender)
    doc = env["documents"][0]["id"]
    assert client.get(f"/sign/documents/{doc}/pages/1.png").status_code == 403
    r = client.post("/sign/finish", data={"csrf_token": csrf(page.text), "intent": "yes",
                                          "signature_kind": "typed", "signature_text": "A"})
    assert r.status_code == 403
    r = client.post("/sign/decline", data={"csrf_token": csrf(page.text), "reason": "no"})
    assert r.status_code == 403
    # forms without the session's CSRF token are refused
    r = client.post("/sign/auth/access-code", data={"csrf_token": "forged",
                                                   "access_code": CODE})
    assert r.status_code == 403
    # the signer's page carries no inline script or style (CSP) and no code in any URL
    assert "<script>" not in page.text and "style=" not in page.text
    assert 'method="post"' in page.text and "?" not in re.findall(r'action="([^"]+)"',
                                                                  page.text)[0]
    state = client.get(f"/api/v1/envelopes/{env['id']}", headers=sender.auth).json()
    assert state["recipients"][0]["viewed_at"] is None
