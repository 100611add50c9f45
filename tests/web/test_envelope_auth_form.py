"""Signer authentication on the new-envelope form, through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

from accord.envelopes import services as envelopes
from accord.runtime import Runtime
from tests.factories import Member
from tests.web.conftest import login, signable_pdf

FILES = [("documents", ("agreement.pdf", signable_pdf(), "application/pdf"))]


def _row(name: str = "", email: str = "", *, role: str = "signer", anchor: str = "",
         phone: str = "", access_code: str = "",
         kba: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    pairs = [*kba, ("", ""), ("", "")][:2]
    return {"name": name, "email": email, "role": role, "order": "1", "anchor": anchor,
            "phone": phone, "access_code": access_code, "kba": pairs}


def _form(token: str, rows: list[dict[str, Any]], auth: list[str]) -> dict[str, Any]:
    """The form as a browser posts it; ``auth`` holds the ticked boxes ("<row>:<factor>")."""
    return {
        "csrf_token": token, "subject": "Support agreement", "send_now": "yes",
        "recipient_name": [r["name"] for r in rows],
        "recipient_email": [r["email"] for r in rows],
        "recipient_role": [r["role"] for r in rows],
        "recipient_order": [r["order"] for r in rows],
        "recipient_anchor": [r["anchor"] for r in rows],
        "recipient_auth": auth,
        "recipient_phone": [r["phone"] for r in rows],
        "recipient_access_code": [r["access_code"] for r in rows],
        "recipient_kba_q1": [r["kba"][0][0] for r in rows],
        "recipient_kba_a1": [r["kba"][0][1] for r in rows],
        "recipient_kba_q2": [r["kba"][1][0] for r in rows],
        "recipient_kba_a2": [r["kba"][1][1] for r in rows],
    }


def test_each_row_offers_signer_authentication(client: TestClient, agent: Member) -> None:
    login(client, agent)
    page = client.get("/console/envelopes/new").text
    assert page.count('name="recipient_auth" value="') == 12
    for value in ("email_otp", "sms_otp", "access_code", "kba"):
        assert f'<label for="r3-auth-{value}" class="check"><input type="checkbox" ' \
               f'id="r3-auth-{value}" name="recipient_auth" value="3:{value}">' in page
    for name in ("recipient_phone", "recipient_access_code", "recipient_kba_q1",
                 "recipient_kba_a1", "recipient_kba_q2", "recipient_kba_a2"):
        assert page.count(f'name="{name}"') == 3
    assert '<details class="auth">' in page  # closed until used
    for input_id in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', page):
        assert f'<label for="{input_id}"' in page or input_id == "send_now", input_id


def test_an_sms_code_needs_a_phone(rt: Runtime, client: TestClient, agent: Member) -> None:
    token = login(client, agent)
    rows = [_row("Ann Customer", "ann@customer.example", anchor="Signature:"),
            _row("Bob Provider", "bob@provider.example"), _row()]
    r = client.post("/console/envelopes", data=_form(token, rows, ["2:sms_otp"]),
                    files=FILES, follow_redirects=False)
    assert r.status_code == 422
    text = html.unescape(r.text)
    assert "Recipient row 2: “SMS code” needs the recipient's mobile number." in text
    assert 'value="2:sms_otp" checked' in r.text
    assert r.text.count('<details class="auth" open>') == 1
    assert 'value="Bob Provider"' in r.text
    assert envelopes.list_envelopes(rt, agent.principal).total == 0

    # the other mistakes a sender can make, each named by row, none creating anything
    cases: list[tuple[list[dict[str, Any]], list[str], str]] = [
        ([_row("Ann", "ann@customer.example", phone="+15550100123")], [],
         "Recipient row 1: a mobile number is only used with “SMS code”"),
        ([_row("Ann", "ann@customer.example", phone="555 0100")], ["1:sms_otp"],
         "Recipient row 1: enter the mobile number in international form"),
        ([_row(), _row("Ann", "ann@customer.example", access_code="12345")],
         ["2:access_code"], "Recipient row 2: access_code needs at least 6 characters"),
        ([_row("Ann", "ann@customer.example")], ["1:kba"],
         "Recipient row 1: “Knowledge questions” needs at least one question"),
        ([_row("Ann", "ann@customer.example"),
          _row("Carl", "carl@provider.example", role="cc")], ["2:email_otp"],
         "Recipient row 2: cc recipients only get a copy"),
    ]
    for rows, auth, message in cases:
        r = client.post("/console/envelopes", data=_form(token, rows, auth), files=FILES)
        assert r.status_code == 422, message
        assert message in html.unescape(r.text)
    assert envelopes.list_envelopes(rt, agent.principal).total == 0


def test_access_code_and_questions_reach_the_recipient(rt: Runtime, client: TestClient,
                                                       agent: Member) -> None:
    token = login(client, agent)
    rows = [_row("Ann Customer", "ann@customer.example", anchor="Signature:",
                 access_code="tulip-4417",
                 kba=(("Your customer number?", "C-1001"),
                      ("City of your head office?", "St. John's Wood"))),
            _row("Bob Provider", "bob@provider.example", phone="+15550100123"), _row()]
    r = client.post("/console/envelopes",
                    data=_form(token, rows, ["1:access_code", "1:kba", "2:sms_otp",
                                             "2:email_otp"]),
                    files=FILES, follow_redirects=False)
    assert r.status_code == 303, r.text
    env_id = r.headers["location"].rsplit("/", 1)[-1]
    api = client.get(f"/api/v1/envelopes/{env_id}", headers=agent.auth)
    assert api.status_code == 200
    methods = {x["email"]: x["auth_method"] for x in api.json()["recipients"]}
    assert methods == {"ann@customer.example": "access_code+kba",
                       "bob@provider.example": "email_otp+sms_otp"}
    assert "tulip-4417" not in api.text
    assert "C-1001" not in api.text
