"""Fixtures and helpers for signer authentication: an app with a frozen clock, envelopes
whose recipients have factors, and the codes as the signer receives them (the local
mailbox for email, the local SMS sink for text messages)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.app import create_app
from accord.audit.models import AuditEvent
from accord.delivery import sms
from accord.delivery.services import list_mailbox
from accord.delivery.worker import drain
from accord.runtime import Runtime
from tests.conftest import Clock
from tests.factories import Member, csrf, envelope_body, member, signing_link

PHONE = "+15550100123"
ANN = "ann@customer.example"
SIGNATURE = {"kind": "signature", "anchor": "Customer signature:", "anchor_x_offset": 110,
             "anchor_y_offset": 10}


@pytest.fixture
def frozen(clock: Clock) -> Clock:
    """The clock, frozen at the current minute (certificates are made at "now")."""
    clock.freeze(datetime.now(UTC).replace(second=0, microsecond=0))
    return clock


@pytest.fixture
def app(rt: Runtime, frozen: Clock) -> Any:
    return create_app(rt)


@pytest.fixture
def client(app: Any) -> TestClient:
    return TestClient(app, base_url="http://testserver")


@pytest.fixture
def new_client(app: Any) -> Callable[..., TestClient]:
    """Another browser (own cookies), optionally from another IP address."""

    def _new(ip: str = "testclient") -> TestClient:
        return TestClient(app, base_url="http://testserver", client=(ip, 50000))

    return _new


@pytest.fixture
def sender(rt: Runtime, frozen: Clock) -> Member:
    return member(rt)


def recipient(**auth: Any) -> dict[str, Any]:
    return {"name": "Ann Signer", "email": ANN, "routing_order": 1, **auth}


def create(client: TestClient, m: Member, *recipients: dict[str, Any],
           fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Create and send an envelope; by default one signature field per recipient."""
    if fields is None:
        fields = [{"recipient": i, **SIGNATURE} for i in range(len(recipients))]
    r = client.post("/api/v1/envelopes", headers=m.auth,
                    json=envelope_body(recipients=list(recipients), fields=fields))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def open_link(rt: Runtime, client: TestClient, m: Member, email: str = ANN) -> Any:
    """A fresh browser session on the recipient's link; returns the first page."""
    client.cookies.clear()
    page = client.get(signing_link(rt, m.org_id, email))
    assert page.status_code == 200, page.text
    return page


def email_code(rt: Runtime, m: Member, email: str = ANN) -> str:
    drain(rt)
    for msg in list_mailbox(rt, m.org_id, limit=200):
        if msg.to_addr == email and msg.subject.startswith("Your code"):
            found = re.search(r"^    (\d{6})$", msg.body, re.MULTILINE)
            assert found, msg.body
            return found.group(1)
    raise AssertionError(f"no code mailed to {email}")


def sms_code(rt: Runtime, m: Member, phone: str = PHONE) -> str:
    drain(rt)
    for msg in sms.list_sms(rt, m.org_id, limit=200):
        if msg.to_number == phone:
            found = re.match(r"(\d{6}) is your code", msg.body)
            assert found, msg.body
            return found.group(1)
    raise AssertionError(f"no code texted to {phone}")


def post(client: TestClient, path: str, page: Any, **data: str) -> Any:
    """Submit a form of ``page`` (its CSRF token included)."""
    return client.post(path, data={"csrf_token": csrf(page.text), **data})


def send_code(client: TestClient, page: Any) -> Any:
    return post(client, "/sign/auth/send-code", page)


def enter_code(client: TestClient, page: Any, code: str) -> Any:
    return post(client, "/sign/auth/code", page, code=code)


def error_of(page: Any) -> str:
    found = re.search(r'<p class="error"[^>]*>(.*?)</p>', page.text, re.DOTALL)
    return found.group(1) if found else ""


@dataclass(frozen=True)
class Event:
    tag: str
    data: dict[str, Any]
    ip: str | None


def events(rt: Runtime, envelope_id: str, prefix: str = "recipient:auth") -> list[Event]:
    """The envelope's audit events whose tag starts with ``prefix``, in order."""
    with rt.db.uow() as uow:
        rows = uow.session.scalars(select(AuditEvent)
                                   .where(AuditEvent.envelope_id == envelope_id)
                                   .order_by(AuditEvent.seq)).all()
        return [Event(e.tag, dict(e.data), e.ip) for e in rows if e.tag.startswith(prefix)]


def is_consent(page: Any) -> bool:
    return 'id="consent-continue"' in page.text
