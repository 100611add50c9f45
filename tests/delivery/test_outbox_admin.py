"""The admin's outbox: dead messages listed and replayed through the API, the CLI and the
console, each scoped to the admin's organisation (another's messages look unknown)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from accord.app import create_app
from accord.cli import app as cli_app
from accord.delivery import services
from accord.delivery.domain import DEAD, PENDING, mask_address
from accord.delivery.mail import Attachment, Email
from accord.delivery.models import OutboxMessage
from accord.delivery.worker import drain
from accord.runtime import Runtime
from tests.factories import Member, member
from tests.web.conftest import HTML, login

MISSING_BLOB = "0" * 64


def _dead_email(rt: Runtime, org_id: str, to: str) -> str:
    """An email that the local mailbox refuses for good (its attachment is missing)."""
    email = Email(to=(to,), subject="Contract", body="b",
                  attachments=(Attachment("a.pdf", "application/pdf", MISSING_BLOB),))
    with rt.db.uow() as uow:
        row = services.send_email(uow.session, email, now=rt.now(), org_id=org_id)
        uow.commit()
        row_id = row.id
    drain(rt)
    return row_id


def _status(rt: Runtime, row_id: str) -> str:
    with rt.db.uow() as uow:
        row = uow.session.get(OutboxMessage, row_id)
        assert row is not None
        return row.status


@pytest.fixture
def two_orgs(rt: Runtime) -> tuple[Member, Member, str, str]:
    a = member(rt, role="admin", org_name="Org A")
    b = member(rt, role="admin", org_name="Org B")
    a_dead = _dead_email(rt, a.org_id, "Ann Agent <ann.agent@example.com>")
    b_dead = _dead_email(rt, b.org_id, "bob@globex.example")
    assert _status(rt, a_dead) == _status(rt, b_dead) == DEAD
    return a, b, a_dead, b_dead


def test_mask_address() -> None:
    assert mask_address("ann.agent@example.com") == "an***@example.com"
    assert mask_address("a@example.com") == "a***@example.com"
    assert mask_address("not an address") == "***"


def test_api_lists_and_replays_only_the_own_organisations_dead_messages(
        rt: Runtime, two_orgs: tuple[Member, Member, str, str]) -> None:
    a, b, a_dead, b_dead = two_orgs
    client = TestClient(create_app(rt), base_url="http://testserver")
    r = client.get("/api/v1/outbox", params={"status": "dead"}, headers=a.auth)
    assert r.status_code == 200, r.text
    [row] = r.json()
    assert row["id"] == a_dead and row["kind"] == "email" and row["status"] == DEAD
    assert row["to"] == "an***@example.com" and "payload" not in row
    assert row["attempts"] == 1 and "missing" in row["last_error"]
    assert [m["id"] for m in client.get("/api/v1/outbox", params={"status": "dead"},
                                        headers=b.auth).json()] == [b_dead]
    bad = client.get("/api/v1/outbox", params={"status": "lost"}, headers=a.auth)
    assert bad.status_code == 422
    agent = member(rt, role="agent", org_id=a.org_id)
    assert client.get("/api/v1/outbox", headers=agent.auth).status_code == 403
    assert client.post(f"/api/v1/outbox/{a_dead}/replay", headers=agent.auth
                       ).status_code == 403

    r = client.post(f"/api/v1/outbox/{a_dead}/replay", headers=b.auth)  # another org's
    assert r.status_code == 404 and r.json()["error"]["code"] == "message_not_found"
    assert _status(rt, a_dead) == DEAD
    r = client.post(f"/api/v1/outbox/{a_dead}/replay", headers=a.auth)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["attempts"]) == (PENDING, 0)
    r = client.post(f"/api/v1/outbox/{a_dead}/replay", headers=a.auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "message_not_dead"
    assert _status(rt, b_dead) == DEAD


def test_cli_lists_and_replays_as_an_admin(
        rt: Runtime, two_orgs: tuple[Member, Member, str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, a_dead, b_dead = two_orgs
    monkeypatch.setattr("accord.cli._runtime", lambda: rt)
    # the console's width is fixed when it is made (COLUMNS at import): make it wide here
    monkeypatch.setattr("accord.terminal.out", Console(width=250))
    runner = CliRunner()
    env = {"COLUMNS": "250"}
    r = runner.invoke(cli_app, ["outbox", "list", "--dead", "--as", a.email], env=env)
    assert r.exit_code == 0, r.output
    assert a_dead in r.output and b_dead not in r.output and "an***@example.com" in r.output
    r = runner.invoke(cli_app, ["outbox", "replay", a_dead, "--as", b.email], env=env)
    assert r.exit_code == 2 and "message_not_found" in r.output
    r = runner.invoke(cli_app, ["outbox", "replay", a_dead, "--as", a.email], env=env)
    assert r.exit_code == 0 and f"replayed {a_dead} (email)" in r.output
    assert _status(rt, a_dead) == PENDING
    r = runner.invoke(cli_app, ["outbox", "list", "--dead", "--as", a.email], env=env)
    assert r.exit_code == 0 and "no dead messages" in r.output
    agent = member(rt, role="agent", org_id=a.org_id)
    r = runner.invoke(cli_app, ["outbox", "list", "--as", agent.email], env=env)
    assert r.exit_code == 2 and "forbidden" in r.output


def test_console_page_lists_dead_messages_and_replays_with_csrf(
        rt: Runtime, two_orgs: tuple[Member, Member, str, str]) -> None:
    a, _b, a_dead, b_dead = two_orgs
    browser = TestClient(create_app(rt), base_url="http://testserver", headers=HTML)
    token = login(browser, a)
    page = browser.get("/console/admin/outbox")
    assert page.status_code == 200
    assert f'id="outbox-{a_dead}"' in page.text and b_dead not in page.text
    assert "an***@example.com" in page.text and "ann.agent@" not in page.text
    assert re.search(r"<code>email</code>", page.text)
    assert 'href="/console/admin/outbox"' in page.text  # the admin tab

    url = f"/console/admin/outbox/{a_dead}/replay"
    assert browser.post(url, data={"csrf_token": "forged"}).status_code == 403
    assert _status(rt, a_dead) == DEAD
    other = browser.post(f"/console/admin/outbox/{b_dead}/replay",
                         data={"csrf_token": token}, follow_redirects=False)
    assert other.status_code == 404 and _status(rt, b_dead) == DEAD
    r = browser.post(url, data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("notice=replayed")
    assert _status(rt, a_dead) == PENDING
    after = browser.get("/console/admin/outbox?notice=replayed")
    assert "queued again" in after.text and f'id="outbox-{a_dead}"' not in after.text
