"""Per-recipient authentication in the envelope API: accepted, stored hashed, audited; and
refused with stable codes when it cannot work."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from accord.envelopes import services as envelopes
from accord.envelopes.models import Envelope, Recipient
from accord.errors import InvalidInput
from accord.runtime import Runtime
from tests.factories import Member, envelope_body, pdf
from tests.signing.conftest import PHONE, SIGNATURE, events, recipient


def _post(client: TestClient, m: Member, *recipients: dict[str, Any]) -> Any:
    return client.post("/api/v1/envelopes", headers=m.auth, json=envelope_body(
        recipients=list(recipients), fields=[{"recipient": 0, **SIGNATURE}], send=False))


def test_factors_are_stored_hashed_and_audited(rt: Runtime, client: TestClient,
                                               sender: Member) -> None:
    r = _post(client, sender, recipient(
        auth=["kba", "access_code", "sms_otp", "email_otp"], phone=PHONE,
        access_code="open-sesame", kba=[{"question": "Favourite colour?", "answer": "Teal"}]))
    assert r.status_code == 201, r.text
    env = r.json()
    assert env["recipients"][0]["auth_method"] == "email_otp+sms_otp+access_code+kba"
    assert "open-sesame" not in r.text and PHONE not in r.text
    with rt.db.uow() as uow:
        rec = uow.session.scalars(select(Recipient)).one()
        assert rec.phone == PHONE
        stored = repr(rec.auth_config)
    assert "open-sesame" not in stored and "teal" not in stored.lower()
    assert "Favourite colour?" in stored
    created = events(rt, env["id"], "envelope:created")[0]
    assert created.data["recipients"][0]["auth_method"] == "email_otp+sms_otp+access_code+kba"
    assert "open-sesame" not in repr(created.data)


def test_no_factors_means_the_email_link(rt: Runtime, client: TestClient,
                                         sender: Member) -> None:
    r = _post(client, sender, recipient())
    assert r.status_code == 201
    assert r.json()["recipients"][0]["auth_method"] == "email_link"


@pytest.mark.parametrize(("auth", "code"), [
    ({"auth": ["sms_otp"]}, "phone_required"),
    ({"auth": ["sms_otp"], "phone": "555-0100"}, "invalid_phone"),
    ({"auth": ["sms_otp"], "phone": "+0123456789"}, "invalid_phone"),
    ({"auth": ["sms_otp"], "phone": "+1555010012345678"}, "invalid_phone"),
    ({"auth": ["access_code"], "access_code": "12345"}, "access_code_too_short"),
    ({"auth": ["access_code"], "access_code": "  12345   "}, "access_code_too_short"),
    ({"auth": ["access_code"]}, "access_code_too_short"),
    ({"auth": ["kba"]}, "kba_required"),
    ({"auth": ["kba"], "kba": [{"question": "Pet?", "answer": "?!"}]}, "invalid_kba_answer"),
    ({"auth": ["sms_otp", "sms_otp"], "phone": PHONE}, "duplicate_auth_factor"),
    ({"phone": PHONE}, "phone_without_sms_otp"),
    ({"access_code": "123456"}, "access_code_without_factor"),
    ({"auth": ["retina_scan"]}, "invalid_request"),
])
def test_bad_authentication_is_refused_with_a_stable_code(
        rt: Runtime, client: TestClient, sender: Member, auth: dict[str, Any],
        code: str) -> None:
    r = _post(client, sender, recipient(**auth))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    with rt.db.uow() as uow:  # nothing was written
        assert uow.session.scalar(select(func.count()).select_from(Envelope)) == 0


def test_cc_recipients_are_not_authenticated(client: TestClient, sender: Member) -> None:
    r = _post(client, sender, recipient(),
              {"name": "Carl", "email": "carl@x.example", "role": "cc", "routing_order": 2,
               "auth": ["access_code"], "access_code": "123456"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "auth_for_cc"
    assert r.json()["error"]["message"].startswith("recipients[1]:")


def test_service_callers_keep_the_old_signature(rt: Runtime, sender: Member) -> None:
    """``envelopes.services.create`` with the fields it always had still works, and the new
    ones are checked there too (not only by the API)."""
    doc = envelopes.DocumentInput("a.pdf", pdf())
    env_id = envelopes.create(rt, sender.principal, subject="S", documents=[doc],
                              recipients=[envelopes.RecipientInput("Ann", "ann@x.example")],
                              fields=[])
    assert envelopes.get(rt, sender.principal, env_id).recipients[0].auth_method == \
        "email_link"
    with pytest.raises(InvalidInput) as exc:
        envelopes.create(rt, sender.principal, subject="S", documents=[doc], fields=[],
                         recipients=[envelopes.RecipientInput("Ann", "ann@x.example",
                                                              auth=("sms_otp",))])
    assert exc.value.code == "phone_required"
