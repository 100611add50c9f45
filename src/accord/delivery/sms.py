"""Text messages: the ``SmsSender`` protocol, a Twilio-style HTTP gateway, and the local
SMS sink used when no gateway is configured (shown in the console at /console/sms).

Bodies carry one-time codes: nothing here logs a body or a full phone number, and error
messages name only status codes. The sink keeps bodies sealed (AES-256-GCM under a key
derived from the master key), so a copy of the database alone holds no code; the console
opens them for the organisation's own users, as the phone would.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accord.config import Settings
from accord.delivery.errors import DeliveryError, PermanentFailure
from accord.delivery.models import SmsMessage
from accord.runtime import Runtime, derive_key
from accord.storage.blobs import load_master_key

log = logging.getLogger("accord.delivery")

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MAX_BODY = 1600  # ten concatenated segments; codes need one
MAX_PAGE = 200
SINK_KEY = "sms-sink"


class SmsSender(Protocol):
    def send(self, to: str, body: str, *, message_id: str) -> None:
        """Send ``body`` to the E.164 number ``to``. ``message_id`` identifies the message
        across retries: sending the same id twice must be harmless where the channel
        allows it (the sink ignores it; the gateway gets it as an idempotency key)."""
        ...


class SmsGatewayError(DeliveryError):
    """The gateway could not take the message now; the outbox retries it."""


def check_message(to: str, body: str) -> None:
    if not E164.match(to):
        raise PermanentFailure("the SMS recipient is not an E.164 phone number")
    if not body or len(body) > MAX_BODY:
        raise PermanentFailure(f"an SMS body has 1-{MAX_BODY} characters")


def mask(number: str) -> str:
    """For logs: ``+15550100123`` -> ``+1…0123``."""
    return f"{number[:2]}…{number[-4:]}"


class HttpSmsGateway:
    """Twilio-style: POST form ``To``, ``From``, ``Body`` to ``url`` with HTTP basic auth.

    2xx is sent; 408, 429 and 5xx are retried by the outbox (SmsGatewayError); any other
    answer is permanent (PermanentFailure: the message goes dead). Short timeouts keep a
    slow gateway from holding the worker's lease."""

    def __init__(self, url: str, *, account: str, token: str, sender: str,
                 timeout_s: float = 5.0, transport: httpx.BaseTransport | None = None) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("the SMS gateway URL must be http(s)")
        self.url = url
        self.auth = (account, token)
        self.sender = sender
        self.timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))
        self.transport = transport

    def send(self, to: str, body: str, *, message_id: str) -> None:
        check_message(to, body)
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport,
                              follow_redirects=False) as client:
                resp = client.post(self.url, data={"To": to, "From": self.sender, "Body": body},
                                   auth=self.auth, headers={"Idempotency-Key": message_id})
        except httpx.HTTPError as exc:  # timeouts, refused connections, protocol errors
            raise SmsGatewayError(f"SMS gateway unreachable ({type(exc).__name__})") from exc
        status = resp.status_code
        if 200 <= status < 300:
            log.info("sms %s: accepted by the gateway for %s", message_id, mask(to))
            return
        if status in (408, 429) or status >= 500:
            raise SmsGatewayError(f"SMS gateway answered {status}; will retry")
        raise PermanentFailure(f"SMS gateway refused the message ({status})")


_keys: dict[tuple[str | None, str], bytes] = {}
_lock = threading.Lock()


def _sink_box(settings: Settings) -> AESGCM:
    cache_key = (settings.master_key, str(settings.data_dir.resolve()))
    with _lock:
        if cache_key not in _keys:
            _keys[cache_key] = derive_key(load_master_key(settings.master_key,
                                                          settings.data_dir), SINK_KEY)
        return AESGCM(_keys[cache_key])


def _seal(settings: Settings, body: str, context: str) -> str:
    nonce = secrets.token_bytes(12)
    ct = _sink_box(settings).encrypt(nonce, body.encode(), context.encode())
    return base64.urlsafe_b64encode(nonce + ct).decode()


def _open(settings: Settings, sealed: str, context: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return _sink_box(settings).decrypt(raw[:12], raw[12:], context.encode()).decode()
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
        return "(this message cannot be opened with this instance's master key)"


class SmsSink:
    """The embedded default: keeps messages in the ``sms_sink`` table for the console.

    Idempotent per ``message_id`` (unique column): a second send is a no-op."""

    def __init__(self, rt: Runtime, org_id: str | None) -> None:
        self.rt = rt
        self.org_id = org_id

    def send(self, to: str, body: str, *, message_id: str) -> None:
        check_message(to, body)
        if self._seen(message_id):
            return
        try:
            with self.rt.db.uow() as uow:
                uow.session.add(SmsMessage(
                    org_id=self.org_id, message_id=message_id, to_number=to,
                    body_sealed=_seal(self.rt.settings, body, message_id),
                    created_at=self.rt.now()))
                uow.commit()
        except IntegrityError:
            if not self._seen(message_id):
                raise
        log.info("sms %s: kept in the local SMS sink", message_id)

    def _seen(self, message_id: str) -> bool:
        with self.rt.db.uow() as uow:
            return uow.session.scalar(select(SmsMessage.id).where(
                SmsMessage.message_id == message_id)) is not None


def sender_for(rt: Runtime, org_id: str | None) -> SmsSender:
    """The HTTP gateway when ``ACCORD_SMS_URL`` is set, else the local sink."""
    s = rt.settings
    if not s.sms_url:
        return SmsSink(rt, org_id)
    if not s.sms_account or not s.sms_token:
        raise PermanentFailure("ACCORD_SMS_ACCOUNT and ACCORD_SMS_TOKEN are required with "
                               "ACCORD_SMS_URL")
    return HttpSmsGateway(s.sms_url, account=s.sms_account, token=s.sms_token,
                          sender=s.sms_from, timeout_s=s.sms_timeout_s)


@dataclass(frozen=True)
class SmsView:
    id: str
    to_number: str
    body: str
    created_at: datetime


def list_sms(rt: Runtime, org_id: str, *, limit: int = 50, offset: int = 0) -> list[SmsView]:
    """The organisation's messages in the local SMS sink, newest first, opened."""
    limit, offset = max(1, min(limit, MAX_PAGE)), max(0, offset)
    with rt.db.uow() as uow:
        rows = uow.session.scalars(
            select(SmsMessage).where(SmsMessage.org_id == org_id)
            .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc())
            .limit(limit).offset(offset)).all()
        return [SmsView(id=r.id, to_number=r.to_number,
                        body=_open(rt.settings, r.body_sealed, r.message_id),
                        created_at=r.created_at) for r in rows]
