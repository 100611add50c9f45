"""Access codes and knowledge-based questions through HTTP, on both databases."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.delivery.services import list_mailbox
from accord.delivery.worker import drain
from accord.envelopes.links import issue_link
from accord.envelopes.models import Recipient
from accord.runtime import Runtime
from tests.factories import Member
from tests.signing.conftest import create, error_of, events, is_consent, open_link, post, recipient

CODE = "K7-river-42"
QUESTIONS = [{"question": "Which street did you grow up on?", "answer": "St. John's  Wood Road"},
             {"question": "Name of your first pet?", "answer": "Rex"}]


def test_access_code_happy_path(rt: Runtime, client: TestClient, sender: Member) -> None:
    env = create(client, sender, recipient(auth=["access_code"], access_code=CODE))
    page = open_link(rt, client, sender)
    assert 'name="access_code"' in page.text and "/sign/auth/access-code" in page.text
    # before the factor: no consent, no documents
    assert client.post("/sign/consent", data={"agree": "yes"}).status_code == 403
    r = post(client, "/sign/auth/access-code", page, access_code=f"  {CODE} ")
    assert is_consent(r), r.text
    assert [(e.tag, e.data["factor"]) for e in events(rt, env["id"])] == [
        ("recipient:authenticated", "access_code")]
    with rt.db.uow() as uow:
        config = uow.session.scalar(select(Recipient.auth_config))
    assert CODE not in repr(config) and config["access_code"].startswith("$argon2id$")


def test_five_wrong_access_codes_lock_the_recipient_until_a_new_link(
        rt: Runtime, client: TestClient, new_client: Callable[..., TestClient],
        sender: Member) -> None:
    env = create(client, sender, recipient(auth=["access_code"], access_code=CODE))
    page = open_link(rt, client, sender)
    for left in (4, 3, 2, 1):
        page = post(client, "/sign/auth/access-code", page, access_code="guess-123")
        assert page.status_code == 422
        assert f"{left} {'try' if left == 1 else 'tries'} left" in error_of(page)
    locked = post(client, "/sign/auth/access-code", page, access_code="guess-123")
    assert locked.status_code == 403 and 'id="locked"' in locked.text
    assert "Ask the sender to send the envelope to you again" in locked.text
    # the right code no longer helps, in this session or a new one
    assert post(client, "/sign/auth/access-code", page,
                access_code=CODE).status_code == 403
    other = new_client()
    other.cookies.clear()
    from tests.factories import signing_link

    again = other.get(signing_link(rt, sender.org_id, "ann@customer.example"))
    assert again.status_code == 403 and 'id="locked"' in again.text
    failed = events(rt, env["id"], "recipient:auth_failed")
    assert [e.data["attempt"] for e in failed] == [1, 2, 3, 4, 5]
    assert all(CODE not in repr(e.data) and "guess" not in repr(e.data) for e in failed)
    assert [e.data["factor"] for e in events(rt, env["id"], "recipient:auth_locked")] == [
        "access_code"]
    drain(rt)
    assert any(m.subject.startswith("Signer locked out") and m.to_addr == sender.email
               for m in list_mailbox(rt, sender.org_id))
    # the sender resends: a new link (new nonce) lets the signer try again
    with rt.db.uow() as uow:
        rec = uow.session.scalars(select(Recipient)).one()
        token = issue_link(rt.link_key, rec)
        uow.commit()
    fresh = new_client()
    page = fresh.get(f"/s/{token}")
    assert page.status_code == 200 and 'name="access_code"' in page.text
    assert is_consent(post(fresh, "/sign/auth/access-code", page, access_code=CODE))


def test_kba_answers_are_normalised(rt: Runtime, client: TestClient, sender: Member) -> None:
    env = create(client, sender, recipient(auth=["kba"], kba=QUESTIONS))
    page = open_link(rt, client, sender)
    for q in QUESTIONS:
        assert q["question"] in page.text
    # one wrong answer fails the form without saying which
    r = post(client, "/sign/auth/kba", page, answer_0="st johns wood road", answer_1="Max")
    assert r.status_code == 422 and "4 tries left" in error_of(r)
    r = post(client, "/sign/auth/kba", r, answer_0="ST JOHNS WOOD ROAD!",
             answer_1="  rex. ")
    assert is_consent(r), r.text
    tags = [(e.tag, e.data.get("reason")) for e in events(rt, env["id"])]
    assert tags == [("recipient:auth_failed", "wrong_answer"), ("recipient:authenticated", None)]
    with rt.db.uow() as uow:
        config = uow.session.scalar(select(Recipient.auth_config))
    assert "Rex" not in repr(config) and "rex" not in repr(config)
    # a later lockout count starts again after a success
    assert config["failures"]["kba"] == 0


def test_kba_wrong_answers_lock_like_access_codes(rt: Runtime, client: TestClient,
                                                  sender: Member) -> None:
    create(client, sender, recipient(auth=["kba"], kba=QUESTIONS[:1]))
    page = open_link(rt, client, sender)
    for _ in range(5):
        page = post(client, "/sign/auth/kba", page, answer_0="Abbey Road")
    assert page.status_code == 403 and 'id="locked"' in page.text
