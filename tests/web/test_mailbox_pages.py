"""The local mailbox pages: admins only (they hold live signing links of every envelope),
scoped to the admin's organisation."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from accord.delivery.mail import Email
from accord.delivery.pages import linkify
from accord.delivery.services import list_mailbox, send_email
from accord.delivery.worker import drain
from accord.runtime import Runtime
from tests.factories import Member, member
from tests.web.conftest import login
from tests.web.test_envelope_pages import ANN, _create


def test_signing_request_shows_only_in_the_organisations_admin_mailbox(
        rt: Runtime, client: TestClient, agent: Member,
        new_client: Callable[[], TestClient]) -> None:
    token = login(client, agent)
    _create(client, token, rows=[ANN])
    drain(rt)
    (sent,) = list_mailbox(rt, agent.org_id)

    # issue 8: agents and managers could read every team's live signing links here
    manager = member(rt, role="manager", org_id=agent.org_id)
    other_team = new_client()
    login(other_team, manager)
    for browser in (client, other_team):
        assert 'href="/console/mailbox"' not in browser.get("/console").text
        for path in ("/console/mailbox", f"/console/mailbox/{sent.id}", "/console/sms"):
            r = browser.get(path)
            assert r.status_code == 403, (path, r.status_code)
            assert "/s/" not in r.text and "ann@customer.example" not in r.text

    boss = member(rt, role="admin", org_id=agent.org_id)
    admin = new_client()
    login(admin, boss)
    assert 'href="/console/mailbox"' in admin.get("/console").text
    box = admin.get("/console/mailbox")
    assert box.status_code == 200
    assert "ann@customer.example" in box.text
    assert "Please sign: Support agreement" in box.text
    found = re.search(r'href="/console/mailbox/([^"]+)"', box.text)
    assert found
    message_path = f"/console/mailbox/{found.group(1)}"
    msg = admin.get(message_path)
    assert msg.status_code == 200
    assert 'id="message-to">ann@customer.example<' in msg.text
    link = re.search(r'<a href="(http://testserver/s/[^"]+)" rel="noopener noreferrer">', msg.text)
    assert link, msg.text

    outsider = member(rt, role="admin", org_name="Other Org")
    other = new_client()
    login(other, outsider)
    other_box = other.get("/console/mailbox")
    assert other_box.status_code == 200
    assert "ann@customer.example" not in other_box.text
    assert "mailbox is empty" in other_box.text
    r = other.get(message_path)
    assert r.status_code == 404
    assert "/s/" not in r.text


def test_message_body_is_escaped_and_only_http_links_are_made(
        rt: Runtime, client: TestClient, agent: Member) -> None:
    body = ("Hi <b>you</b> & co.\nSee https://example.com/a?x=1&y=2.\n"
            "Not javascript:alert(1) nor ftp://example.com/file\n")
    with rt.db.uow() as uow:
        send_email(uow.session, Email(to=("zoe@example.com",), subject="Hello <there>",
                                      body=body), now=rt.now(), org_id=agent.org_id)
        uow.commit()
    drain(rt)
    login(client, member(rt, role="admin", org_id=agent.org_id))
    (message,) = list_mailbox(rt, agent.org_id)
    html = client.get(f"/console/mailbox/{message.id}").text
    assert "Hello &lt;there&gt;" in html
    assert "<b>you</b>" not in html
    assert "Hi &lt;b&gt;you&lt;/b&gt; &amp; co." in html
    assert '<a href="https://example.com/a?x=1&amp;y=2" rel="noopener noreferrer">' in html
    assert html.count("<a href=\"https://") == 1
    assert 'href="javascript' not in html
    assert 'href="ftp' not in html


def test_linkify() -> None:
    assert str(linkify("a <x> https://e.example/p?q=1&r=2, then http://h.example/x).")) == (
        'a &lt;x&gt; <a href="https://e.example/p?q=1&amp;r=2" rel="noopener noreferrer">'
        'https://e.example/p?q=1&amp;r=2</a>, then <a href="http://h.example/x" '
        'rel="noopener noreferrer">http://h.example/x</a>).')
    assert str(linkify('https://e.example/"onclick="x')) == (
        '<a href="https://e.example/" rel="noopener noreferrer">https://e.example/</a>'
        '&#34;onclick=&#34;x')
    assert str(linkify("javascript:alert(1) data:text/html,x")) == (
        "javascript:alert(1) data:text/html,x")
