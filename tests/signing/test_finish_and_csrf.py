"""Issue 8: a second finish by the same signer session is a 409 ``already_finished`` (not
a dead link); signer CSRF failures are 403 ``csrf_failed``, like the console's."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from accord.runtime import Runtime
from tests.factories import Member, csrf, signing_link
from tests.signing.conftest import create, open_link, recipient
from tests.web.conftest import HTML

SIGN = {"signature_kind": "typed", "signature_text": "Ann Signer", "intent": "yes"}


def test_a_second_finish_is_a_conflict_for_the_same_session_only(
        rt: Runtime, client: TestClient, new_client: Callable[..., TestClient],
        sender: Member) -> None:
    create(client, sender, recipient(), recipient(name="Bob", email="bob@customer.example",
                                                  routing_order=2))
    link = signing_link(rt, sender.org_id, "ann@customer.example")
    page = client.get(link)
    page = client.post("/sign/consent", data={"csrf_token": csrf(page.text), "agree": "yes"})
    token = csrf(page.text)
    done = client.post("/sign/finish", data={"csrf_token": token, **SIGN})
    assert done.status_code == 200, done.text  # redirected to the confirmation

    again = client.post("/sign/finish", data={"csrf_token": token, **SIGN})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "already_finished"
    html = client.post("/sign/finish", data={"csrf_token": token, **SIGN}, headers=HTML)
    assert html.status_code == 409 and "already finished" in html.text
    decline = client.post("/sign/decline", data={"csrf_token": token, "reason": "changed"})
    assert decline.status_code == 409
    assert decline.json()["error"]["code"] == "already_finished"
    # without the session's CSRF token the finished session learns nothing more
    forged = client.post("/sign/finish", data={"csrf_token": "forged", **SIGN})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"

    # a stranger (no session) with the used link meets exactly an unknown link
    stranger = new_client()
    dead, unknown = stranger.get(link), stranger.get("/s/" + "A" * 43)
    assert dead.status_code == unknown.status_code == 404
    assert dead.text == unknown.text
    r = stranger.post("/sign/finish", data={"csrf_token": token, **SIGN})
    assert r.status_code == 401 and r.json()["error"]["code"] == "signer_session_invalid"


def test_signer_csrf_failures_are_403_like_the_console(
        rt: Runtime, client: TestClient, sender: Member) -> None:
    create(client, sender, recipient(auth=["access_code"], access_code="blue-harbour-42"))
    page = open_link(rt, client, sender)
    for path, data in (("/sign/auth/access-code", {"access_code": "blue-harbour-42"}),
                       ("/sign/auth/send-code", {})):
        for token in ("", "forged"):
            r = client.post(path, data={"csrf_token": token, **data})
            assert r.status_code == 403, (path, token, r.status_code)
            assert r.json()["error"]["code"] == "csrf_failed", (path, r.text)
    page = client.post("/sign/auth/access-code", data={"csrf_token": csrf(page.text),
                                                       "access_code": "blue-harbour-42"})
    assert page.status_code == 200
    for path, data in (("/sign/consent", {"agree": "yes"}),
                       ("/sign/decline", {"reason": "no"}),
                       ("/sign/finish", SIGN),
                       ("/sign/delegate", {"name": "Dora", "email": "dora@example.com",
                                           "reason": "away"})):
        r = client.post(path, data={"csrf_token": "forged", **data})
        assert r.status_code == 403, (path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "csrf_failed", path
    html = client.post("/sign/consent", data={"csrf_token": "forged", "agree": "yes"},
                       headers=HTML)
    assert html.status_code == 403 and "reload the page" in html.text
