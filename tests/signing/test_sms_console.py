"""The local SMS sink in the console: admins only, the organisation's own text messages."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from accord.runtime import Runtime
from tests.factories import Member, member
from tests.signing.conftest import PHONE, create, open_link, recipient, send_code, sms_code
from tests.web.conftest import HTML, login


def test_sms_sink_page_is_scoped_to_the_organisation(
        rt: Runtime, client: TestClient, new_client: Callable[..., TestClient],
        sender: Member) -> None:
    create(client, sender, recipient(auth=["sms_otp"], phone=PHONE))
    send_code(client, open_link(rt, client, sender))
    code = sms_code(rt, sender)

    agent = new_client()
    agent.headers.update(HTML)
    login(agent, sender)
    refused = agent.get("/console/sms")  # the sender is an agent: codes are not theirs
    assert refused.status_code == 403 and code not in refused.text

    console = new_client()
    console.headers.update(HTML)
    login(console, member(rt, role="admin", org_id=sender.org_id))
    page = console.get("/console/sms")
    assert page.status_code == 200
    assert PHONE in page.text and f"{code} is your code" in page.text
    assert 'href="/console/sms"' in console.get("/console/mailbox").text

    outsider = new_client()
    outsider.headers.update(HTML)
    login(outsider, member(rt, role="admin", org_name="Other Org"))
    other = outsider.get("/console/sms")
    assert other.status_code == 200
    assert PHONE not in other.text and code not in other.text
    assert "No text messages" in other.text

    anonymous = new_client()
    r = anonymous.get("/console/sms", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
