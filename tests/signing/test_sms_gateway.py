"""The HTTP SMS gateway against a tiny HTTP server on 127.0.0.1, and the SMS path through
the outbox worker with the gateway configured."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from accord.app import create_app
from accord.config import Settings
from accord.db import Database
from accord.delivery.errors import PermanentFailure
from accord.delivery.models import SmsMessage
from accord.delivery.sms import HttpSmsGateway, SmsGatewayError, SmsSender
from accord.delivery.worker import drain
from accord.runtime import Runtime, build_runtime
from accord.signing.tasks import send_sms_code
from tests.conftest import Clock
from tests.factories import member
from tests.signing.conftest import PHONE, create, enter_code, is_consent, open_link, recipient
from tests.signing.conftest import send_code as ask_for_code


@dataclass
class Gateway:
    """What the fake gateway received, and what it answers next."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 201
    delay_s: float = 0.0


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = Gateway(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length).decode()
            state.requests.append({"path": self.path, "headers": dict(self.headers),
                                   "form": {k: v[0] for k, v in parse_qs(body).items()}})
            if state.delay_s:
                time.sleep(state.delay_s)
            payload = b'{"sid": "SM1", "status": "queued"}'
            try:
                self.send_response(state.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out
                pass

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/2010-04-01/Accounts/AC1/Messages.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _gateway(gw: Gateway, timeout_s: float = 2.0) -> HttpSmsGateway:
    return HttpSmsGateway(gw.url, account="AC1", token="s3cret", sender="+15550009999",
                          timeout_s=timeout_s)


def test_gateway_posts_the_form_with_basic_auth(gateway: Gateway) -> None:
    _gateway(gateway).send(PHONE, "123456 is your code", message_id="ch-1")
    [req] = gateway.requests
    assert req["path"] == "/2010-04-01/Accounts/AC1/Messages.json"
    assert req["form"] == {"To": PHONE, "From": "+15550009999", "Body": "123456 is your code"}
    assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(
        b"AC1:s3cret").decode()
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert req["headers"]["Idempotency-Key"] == "ch-1"


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_gateway_4xx_is_permanent(gateway: Gateway, status: int) -> None:
    gateway.status = status
    with pytest.raises(PermanentFailure) as exc:
        _gateway(gateway).send(PHONE, "123456 is your code", message_id="ch-1")
    assert str(status) in str(exc.value) and "123456" not in str(exc.value)


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_gateway_5xx_is_retried(gateway: Gateway, status: int) -> None:
    gateway.status = status
    with pytest.raises(SmsGatewayError) as exc:
        _gateway(gateway).send(PHONE, "123456 is your code", message_id="ch-1")
    assert not isinstance(exc.value, PermanentFailure)


def test_gateway_timeout_and_refused_connection_are_retried(gateway: Gateway) -> None:
    gateway.delay_s = 1.0
    started = time.monotonic()
    with pytest.raises(SmsGatewayError, match="unreachable"):
        _gateway(gateway, timeout_s=0.2).send(PHONE, "body", message_id="ch-1")
    assert time.monotonic() - started < 1.0
    closed = re.sub(r":\d+/", ":9/", gateway.url)  # the discard port: nothing listens
    with pytest.raises(SmsGatewayError, match="unreachable"):
        HttpSmsGateway(closed, account="a", token="b", sender="c").send(PHONE, "body",
                                                                       message_id="x")


def test_gateway_refuses_what_is_not_a_phone_number(gateway: Gateway) -> None:
    with pytest.raises(PermanentFailure):
        _gateway(gateway).send("555-0100", "body", message_id="ch-1")
    assert gateway.requests == []


def test_codes_go_through_the_configured_gateway(gateway: Gateway, settings: Settings,
                                                 database: Database, clock: Clock) -> None:
    rt = build_runtime(settings.model_copy(update={
        "sms_url": gateway.url, "sms_account": "AC1", "sms_token": "s3cret",
        "sms_from": "+15550009999"}), database=database)
    rt.clock = clock
    client = TestClient(create_app(rt), base_url="http://testserver")
    sender = member(rt)
    create(client, sender, recipient(auth=["sms_otp"], phone=PHONE))
    page = ask_for_code(client, open_link(rt, client, sender))
    drain(rt)
    [req] = gateway.requests
    found = re.match(r"(\d{6}) is your code to sign with Acme Support\.", req["form"]["Body"])
    assert found, req["form"]
    assert req["form"]["To"] == PHONE
    assert is_consent(enter_code(client, page, found.group(1)))
    with rt.db.uow() as uow:  # the gateway was used, not the local sink
        assert uow.session.scalar(select(func.count()).select_from(SmsMessage)) == 0


@dataclass
class FakeSms:
    """The fake SmsSender for tests: records what it was asked to send."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, to: str, body: str, *, message_id: str) -> None:
        self.sent.append((to, body, message_id))


def test_the_sms_handler_sends_only_live_codes(rt: Runtime, frozen: Clock,
                                               client: TestClient) -> None:
    from accord.delivery.models import OutboxMessage

    fake = FakeSms()
    sender: SmsSender = fake
    m = member(rt)
    create(client, m, recipient(auth=["sms_otp"], phone=PHONE))
    ask_for_code(client, open_link(rt, client, m))
    with rt.db.uow() as uow:
        payload = uow.session.scalars(select(OutboxMessage.payload).where(
            OutboxMessage.kind == "sms:signer_code")).one()
    send_sms_code(rt, payload, lambda _rt, _org: sender)
    send_sms_code(rt, payload, lambda _rt, _org: sender)  # at least once: the same code
    assert len(fake.sent) == 2 and fake.sent[0] == fake.sent[1]
    assert fake.sent[0][0] == PHONE and fake.sent[0][2] == payload["challenge_id"]
    frozen.advance(minutes=10)  # expired: nothing is sent any more
    send_sms_code(rt, payload, lambda _rt, _org: sender)
    assert len(fake.sent) == 2
    frozen.advance(minutes=-5)
    with pytest.raises(PermanentFailure):  # a tampered sealed code
        send_sms_code(rt, {**payload, "sealed_code": payload["sealed_code"][:-4] + "AAAA"},
                      lambda _rt, _org: sender)
