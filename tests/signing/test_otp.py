"""One-time codes by email and SMS through HTTP, with a frozen clock, on both databases."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.delivery.models import OutboxMessage, SmsMessage
from accord.runtime import Runtime
from accord.signing.domain import CODE_INVALID
from accord.signing.models import SignerChallenge, SignerFactor
from tests.conftest import Clock
from tests.factories import Member
from tests.signing.conftest import (
    PHONE,
    create,
    email_code,
    enter_code,
    error_of,
    events,
    is_consent,
    open_link,
    recipient,
    send_code,
    sms_code,
)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_email_code_happy_path(rt: Runtime, client: TestClient, sender: Member) -> None:
    env = create(client, sender, recipient(auth=["email_otp"]))
    page = open_link(rt, client, sender)
    assert 'id="send-code"' in page.text and "Email me a code" in page.text
    assert "a•••@customer.example" in page.text
    # nothing of the documents before the factor is passed
    assert "agreement.pdf" not in page.text and "/pages/1.png" not in page.text
    page = send_code(client, page)
    assert page.status_code == 200 and 'name="code"' in page.text
    assert "Send me a new code" in page.text
    page = enter_code(client, page, email_code(rt, sender))
    assert page.status_code == 200 and is_consent(page), page.text
    tags = [(e.tag, e.data.get("factor")) for e in events(rt, env["id"])]
    assert tags == [("recipient:auth_challenge_sent", "email_otp"),
                    ("recipient:authenticated", "email_otp")]


def test_sms_code_happy_path(rt: Runtime, client: TestClient, sender: Member) -> None:
    env = create(client, sender, recipient(auth=["sms_otp"], phone=PHONE))
    page = open_link(rt, client, sender)
    assert "+1•••••0123" in page.text and "Text me a code" in page.text
    assert PHONE not in page.text
    page = enter_code(client, send_code(client, page), sms_code(rt, sender))
    assert is_consent(page), page.text
    sent = events(rt, env["id"])[0]
    assert sent.data["to"] == "+1•••••0123" and sent.data["channel"] == "sms"
    with rt.db.uow() as uow:
        assert list(uow.session.scalars(select(SignerFactor.factor))) == ["sms_otp"]


def test_code_lives_ten_minutes(rt: Runtime, client: TestClient, sender: Member,
                                frozen: Clock) -> None:
    env = create(client, sender, recipient(auth=["sms_otp"], phone=PHONE))
    page = send_code(client, open_link(rt, client, sender))
    code = sms_code(rt, sender)
    frozen.advance(minutes=10, seconds=1)
    r = enter_code(client, page, code)
    assert r.status_code == 422 and error_of(r) == CODE_INVALID

    page = send_code(client, r)
    code = sms_code(rt, sender)
    frozen.advance(minutes=9, seconds=59)
    assert is_consent(enter_code(client, page, code))
    reasons = [e.data.get("reason") for e in events(rt, env["id"], "recipient:auth_failed")]
    assert reasons == ["expired"]


def test_code_is_single_use_and_bound_to_the_recipient(
        rt: Runtime, client: TestClient, new_client: Callable[..., TestClient],
        sender: Member) -> None:
    env = create(client, sender, recipient(auth=["email_otp"]),
                 {"name": "Bea Signer", "email": "bea@customer.example", "routing_order": 1,
                  "auth": ["email_otp"]})
    page = send_code(client, open_link(rt, client, sender))
    code = email_code(rt, sender)
    # Bea's session cannot use Ann's code
    bea = new_client()
    bea_page = send_code(bea, open_link(rt, bea, sender, "bea@customer.example"))
    r = enter_code(bea, bea_page, code)
    assert r.status_code == 422 and error_of(r) == CODE_INVALID
    # Ann uses it once; a second session of Ann's cannot use it again
    assert is_consent(enter_code(client, page, code))
    again = new_client()
    again_page = open_link(rt, again, sender)
    r = enter_code(again, again_page, code)
    assert r.status_code == 422 and error_of(r) == CODE_INVALID
    failed = events(rt, env["id"], "recipient:auth_failed")
    assert [e.data["reason"] for e in failed] == ["wrong_code", "used"]


def test_five_wrong_tries_kill_the_code(rt: Runtime, client: TestClient,
                                        sender: Member, frozen: Clock) -> None:
    env = create(client, sender, recipient(auth=["sms_otp"], phone=PHONE))
    page = send_code(client, open_link(rt, client, sender))
    code = sms_code(rt, sender)
    for _ in range(5):
        page = enter_code(client, page, _wrong(code))
        assert page.status_code == 422 and error_of(page) == CODE_INVALID
    r = enter_code(client, page, code)  # even the right one
    assert r.status_code == 422 and error_of(r) == CODE_INVALID
    reasons = [e.data["reason"] for e in events(rt, env["id"], "recipient:auth_failed")]
    assert reasons == ["wrong_code"] * 5 + ["too_many_attempts"]
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(SignerChallenge.attempts)) == 5
    # a new code works
    frozen.advance(seconds=1)  # the sink lists newest first; keep the two apart
    page = send_code(client, r)
    assert is_consent(enter_code(client, page, sms_code(rt, sender)))


def test_new_code_supersedes_the_old_one(rt: Runtime, client: TestClient,
                                         sender: Member, frozen: Clock) -> None:
    env = create(client, sender, recipient(auth=["email_otp"]))
    page = send_code(client, open_link(rt, client, sender))
    old = email_code(rt, sender)
    frozen.advance(seconds=1)
    page = send_code(client, page)
    new = email_code(rt, sender)
    r = enter_code(client, page, old)
    if old != new:  # one chance in a million that both are the same digits
        assert r.status_code == 422 and error_of(r) == CODE_INVALID
        reasons = [e.data["reason"] for e in events(rt, env["id"], "recipient:auth_failed")]
        assert reasons == ["superseded"]
    assert is_consent(enter_code(client, r, new))
    with rt.db.uow() as uow:
        rows = uow.session.scalars(select(SignerChallenge)
                                   .order_by(SignerChallenge.created_at)).all()
        assert sorted(c.superseded for c in rows) == [False, True]


def test_wrong_expired_superseded_and_used_codes_get_the_same_answer(
        rt: Runtime, client: TestClient, new_client: Callable[..., TestClient],
        sender: Member, frozen: Clock) -> None:
    create(client, sender, recipient(auth=["sms_otp"], phone=PHONE))
    page = send_code(client, open_link(rt, client, sender))
    first = sms_code(rt, sender)
    wrong = enter_code(client, page, _wrong(first))
    frozen.advance(minutes=11)
    expired = enter_code(client, page, first)
    page = send_code(client, page)
    second = sms_code(rt, sender)
    superseded = enter_code(client, page, first) if first != second else wrong
    # the same page, byte for byte, whatever made the code invalid
    assert wrong.status_code == expired.status_code == superseded.status_code == 422
    assert wrong.text == expired.text == superseded.text
    assert error_of(wrong) == CODE_INVALID
    assert is_consent(enter_code(client, page, second))
    other = new_client()
    used = enter_code(other, open_link(rt, other, sender), second)
    assert used.status_code == 422 and error_of(used) == CODE_INVALID


def test_resends_are_capped_per_recipient(rt: Runtime, client: TestClient, sender: Member,
                                          frozen: Clock) -> None:
    env = create(client, sender, recipient(auth=["sms_otp"], phone=PHONE))
    page = open_link(rt, client, sender)
    for _ in range(5):
        page = send_code(client, page)
        assert page.status_code == 200
    start = frozen()
    r = send_code(client, page)
    assert r.status_code == 429
    assert "You have asked for 5 codes in the last hour" in error_of(r)
    assert f"after {(start.hour + 1) % 24:02d}:{start.minute:02d} UTC" in error_of(r)
    sent = events(rt, env["id"], "recipient:auth_challenge_sent")
    assert len(sent) == 5
    frozen.advance(hours=1)
    assert send_code(client, r).status_code == 200


def test_sends_are_capped_per_ip_address(rt: Runtime, client: TestClient,
                                         new_client: Callable[..., TestClient],
                                         sender: Member) -> None:
    people = [{"name": f"Signer {i}", "email": f"s{i}@customer.example", "routing_order": 1,
               "auth": ["email_otp"]} for i in range(5)]
    create(client, sender, *people)
    office = "203.0.113.7"
    for i in range(4):
        browser = new_client(office)
        page = open_link(rt, browser, sender, f"s{i}@customer.example")
        for _ in range(5):
            page = send_code(browser, page)
            assert page.status_code == 200
    last = new_client(office)
    page = open_link(rt, last, sender, "s4@customer.example")
    r = send_code(last, page)
    assert r.status_code == 429
    assert "from your network" in error_of(r)
    # another network is not held back
    elsewhere = new_client("198.51.100.20")
    page = open_link(rt, elsewhere, sender, "s4@customer.example")
    assert send_code(elsewhere, page).status_code == 200


def test_no_code_is_stored_in_clear(rt: Runtime, client: TestClient, sender: Member) -> None:
    env = create(client, sender, recipient(auth=["email_otp", "sms_otp"], phone=PHONE))
    page = send_code(client, open_link(rt, client, sender))
    code = email_code(rt, sender)
    page = send_code(client, enter_code(client, page, code))
    text = sms_code(rt, sender)
    with rt.db.uow() as uow:
        s = uow.session
        outbox = [(r.kind, r.payload) for r in s.scalars(select(OutboxMessage))
                  if "signer_code" in r.kind]
        sink = [(m.to_number, m.body_sealed, m.message_id)
                for m in s.scalars(select(SmsMessage))]
        challenges = [(c.code_hash, c.id) for c in s.scalars(select(SignerChallenge))]
    assert {k for k, _ in outbox} == {"email:signer_code", "sms:signer_code"}
    assert len(sink) == 1 and len(challenges) == 2
    stored = repr([outbox, sink, challenges, [(e.tag, e.data) for e in events(rt, env["id"])]])
    assert code not in stored and text not in stored
    assert all(set(p) == {"challenge_id", "sealed_code"} for _, p in outbox)


def test_after_void_the_link_and_the_session_are_dead(rt: Runtime, client: TestClient,
                                                      sender: Member) -> None:
    env = create(client, sender, recipient(auth=["sms_otp"], phone=PHONE))
    from tests.factories import signing_link

    link = signing_link(rt, sender.org_id, "ann@customer.example")
    client.cookies.clear()
    page = client.get(link)
    r = client.post(f"/api/v1/envelopes/{env['id']}/void", headers=sender.auth,
                    json={"reason": "wrong customer"})
    assert r.status_code == 200
    dead = client.get(link)
    unknown = client.get("/s/" + "x" * 43)
    assert dead.status_code == unknown.status_code == 404
    assert dead.text == unknown.text
    assert send_code(client, page).status_code == 404
