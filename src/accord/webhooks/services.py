"""Use cases of outbound webhooks: endpoints (admins), messages and their attempts,
replay, and ``emit`` - the one way any feature queues an event.

Events are queued in the caller's transaction: ``emit`` adds one ``webhook_messages`` row
and one outbox row (kind "webhook") per enabled endpoint that wants the event, so an event
exists exactly when the state change that caused it committed. Envelope and recipient
events come from the audit log (a listener on ``audit.services.record``); other features
fire hooks that webhooks subscribe to in their wiring (``bulk_batch.finished``), or call
``emit`` themselves.

Who may do what: managing endpoints and reading deliveries both need
``settings:manage`` (admins). Deliveries show endpoint URLs, receivers' answers and
event data of every envelope in the organisation, so they are not for every sender.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.audit.services import Recorded, Subject
from accord.config import Settings
from accord.delivery import queries as outbox
from accord.delivery.domain import PENDING
from accord.delivery.errors import DeliveryError, InvalidState, NotFound
from accord.delivery.services import enqueue
from accord.envelopes.queries import recipients_of, status_of
from accord.errors import InvalidInput
from accord.runtime import Runtime, derive_key
from accord.webhooks.domain import (
    EVENTS,
    ROTATION_OVERLAP,
    SECRET_BYTES,
    TAG_EVENTS,
    TEST_EVENT,
    WebhookRuleError,
    check_event_type,
    check_url,
    format_secret,
    normalise_filters,
    payload,
    wants,
)
from accord.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from accord.webhooks.sender import Policy
from accord.webhooks.views import (
    AttemptView,
    EndpointView,
    EndpointWithSecret,
    MessageDetail,
    MessageView,
    ReplayResult,
    attempt_view,
    endpoint_view,
    message_view,
)

KIND = "webhook"
MAX_ENDPOINTS = 20
MAX_PAGE = 200
STATUS_FILTERS = outbox.STATE_FILTERS
__all__ = ["AttemptView", "DeliveryError", "EndpointView", "EndpointWithSecret",
           "MessageDetail", "MessageView", "ReplayResult", "create_endpoint",
           "delete_endpoint", "emit", "get_endpoint", "get_message", "list_endpoints",
           "list_messages", "replay", "replay_failed", "rotate_secret", "send_test",
           "update_endpoint"]


def policy(settings: Settings) -> Policy:
    return Policy(require_https=settings.webhook_require_https,
                  allow_loopback=settings.webhook_allow_loopback,
                  connect_timeout_s=settings.webhook_connect_timeout_s,
                  timeout_s=settings.webhook_timeout_s)



# -- secrets ------------------------------------------------------------------------------


def _box(rt: Runtime) -> AESGCM:
    return AESGCM(derive_key(rt.secret_key, "webhook-secrets"))


def seal_secret(rt: Runtime, endpoint_id: str, secret: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = _box(rt).encrypt(nonce, secret.encode(), endpoint_id.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def open_secret(rt: Runtime, endpoint_id: str, sealed: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return _box(rt).decrypt(raw[:12], raw[12:], endpoint_id.encode()).decode()
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise DeliveryError("the webhook secret cannot be opened with this instance's "
                            "master key") from exc


def _new_secret() -> str:
    return format_secret(secrets.token_bytes(SECRET_BYTES))


def _invalid(exc: WebhookRuleError) -> InvalidInput:
    return InvalidInput(exc.message, code=exc.code)


# -- endpoints ----------------------------------------------------------------------------


def _load(session: Session, org_id: str, endpoint_id: str,
          for_update: bool = False) -> WebhookEndpoint:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id,
                                         WebhookEndpoint.org_id == org_id)
    if for_update:
        stmt = stmt.with_for_update()
    ep = session.scalar(stmt)
    if ep is None:
        raise NotFound("no such webhook endpoint in your organisation",
                       code="endpoint_not_found")
    return ep


def _check_url(rt: Runtime, url: str) -> str:
    s = rt.settings
    try:
        check_url(url, require_https=s.webhook_require_https,
                  allow_loopback=s.webhook_allow_loopback)
    except WebhookRuleError as exc:
        raise _invalid(exc) from exc
    return url


def _check_filters(event_types: list[str]) -> list[str]:
    try:
        return normalise_filters(event_types)
    except WebhookRuleError as exc:
        raise _invalid(exc) from exc


def _check_description(description: str) -> str:
    description = description.strip()
    if len(description) > 200 or any(ord(c) < 32 for c in description):
        raise InvalidInput("a description is one line of at most 200 characters",
                           code="invalid_description")
    return description


def create_endpoint(rt: Runtime, principal: Principal, *, url: str, description: str = "",
                    event_types: list[str] | None = None) -> EndpointWithSecret:
    """Register an endpoint; the returned secret is shown this once."""
    principal.require(Permission.SETTINGS_MANAGE)
    url = _check_url(rt, url)
    desc, filters = _check_description(description), _check_filters(event_types or [])
    now = rt.now()
    secret = _new_secret()
    with rt.db.uow() as uow:
        count = len(uow.session.scalars(select(WebhookEndpoint.id).where(
            WebhookEndpoint.org_id == principal.org_id)).all())
        if count >= MAX_ENDPOINTS:
            raise InvalidState(f"an organisation has at most {MAX_ENDPOINTS} webhook "
                               "endpoints", code="too_many_endpoints")
        ep_id = str(uuid.uuid4())
        ep = WebhookEndpoint(
            id=ep_id, org_id=principal.org_id, url=url, description=desc,
            event_types=filters, secret_sealed=seal_secret(rt, ep_id, secret),
            enabled=True, created_by=principal.user_id, created_at=now, updated_at=now)
        uow.session.add(ep)
        uow.commit()
        return EndpointWithSecret(endpoint_view(ep), secret)


def list_endpoints(rt: Runtime, principal: Principal) -> list[EndpointView]:
    principal.require(Permission.SETTINGS_MANAGE)
    with rt.db.uow() as uow:
        rows = uow.session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.org_id == principal.org_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id))
        return [endpoint_view(r) for r in rows]


def get_endpoint(rt: Runtime, principal: Principal, endpoint_id: str) -> EndpointView:
    principal.require(Permission.SETTINGS_MANAGE)
    with rt.db.uow() as uow:
        return endpoint_view(_load(uow.session, principal.org_id, endpoint_id))


def update_endpoint(rt: Runtime, principal: Principal, endpoint_id: str, *,
                    url: str | None = None, description: str | None = None,
                    event_types: list[str] | None = None,
                    enabled: bool | None = None) -> EndpointView:
    """Change what is given. Enabling a disabled endpoint forgets its failures (replay its
    dead messages afterwards if they are still wanted)."""
    principal.require(Permission.SETTINGS_MANAGE)
    if url is not None:
        url = _check_url(rt, url)
    if description is not None:
        description = _check_description(description)
    filters = _check_filters(event_types) if event_types is not None else None
    now = rt.now()
    with rt.db.uow() as uow:
        ep = _load(uow.session, principal.org_id, endpoint_id, for_update=True)
        if url is not None:
            ep.url = url
        if description is not None:
            ep.description = description
        if filters is not None:
            ep.event_types = filters
        if enabled is True and not ep.enabled:
            ep.enabled, ep.disabled_at, ep.disabled_reason = True, None, None
            ep.failing_since = None
        elif enabled is False and ep.enabled:
            ep.enabled, ep.disabled_at = False, now
            ep.disabled_reason = f"disabled by {principal.email}"[:300]
        ep.updated_at = now
        uow.commit()
        return endpoint_view(ep)


def rotate_secret(rt: Runtime, principal: Principal, endpoint_id: str) -> EndpointWithSecret:
    """A new secret (shown once). The previous one keeps signing alongside it for 24 hours
    so receivers can switch without losing messages."""
    principal.require(Permission.SETTINGS_MANAGE)
    now = rt.now()
    secret = _new_secret()
    with rt.db.uow() as uow:
        ep = _load(uow.session, principal.org_id, endpoint_id, for_update=True)
        ep.previous_secret_sealed = ep.secret_sealed
        ep.previous_secret_until = now + ROTATION_OVERLAP
        ep.secret_sealed = seal_secret(rt, ep.id, secret)
        ep.updated_at = now
        uow.commit()
        return EndpointWithSecret(endpoint_view(ep), secret)


def delete_endpoint(rt: Runtime, principal: Principal, endpoint_id: str) -> None:
    """Delete the endpoint with its messages, attempts and undelivered outbox rows."""
    principal.require(Permission.SETTINGS_MANAGE)
    with rt.db.uow() as uow:
        s = uow.session
        ep = _load(s, principal.org_id, endpoint_id, for_update=True)
        outbox.discard(s, _outbox_ids(ep.id))
        s.execute(delete(WebhookAttempt).where(WebhookAttempt.endpoint_id == ep.id))
        s.execute(delete(WebhookMessage).where(WebhookMessage.endpoint_id == ep.id))
        s.delete(ep)
        uow.commit()


# -- emitting -----------------------------------------------------------------------------


def _json_safe(data: dict[str, Any]) -> None:
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DeliveryError(f"webhook data is not JSON-safe: {exc}") from exc


def _queue(session: Session, ep: WebhookEndpoint, event_type: str, body: dict[str, Any],
           now: datetime) -> str:
    msg_id = "msg_" + uuid.uuid4().hex
    row = enqueue(session, kind=KIND, payload={"message_id": msg_id}, now=now,
                  org_id=ep.org_id)
    session.add(WebhookMessage(id=msg_id, org_id=ep.org_id, endpoint_id=ep.id,
                               event_type=event_type, payload=body, outbox_id=row.id,
                               created_at=now))
    return msg_id


def _wanting(session: Session, org_id: str, event_type: str) -> list[WebhookEndpoint]:
    with session.no_autoflush:  # the caller's pending changes flush at its commit
        rows = session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.org_id == org_id, WebhookEndpoint.enabled.is_(True))
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)).all()
    return [ep for ep in rows if wants(list(ep.event_types or []), event_type)]


def emit(session: Session, org_id: str, event_type: str, data: dict[str, Any],
         now: datetime) -> list[str]:
    """Queue ``event_type`` for every enabled endpoint of ``org_id`` that wants it, in the
    caller's transaction (the caller commits). Returns the message ids.

    ``data`` holds ids and statuses only: never signing tokens, never document content.
    """
    try:
        check_event_type(event_type)
    except WebhookRuleError as exc:
        raise DeliveryError(exc.message, code=exc.code) from exc
    if event_type == TEST_EVENT:
        raise DeliveryError("test events go to one endpoint: use send_test")
    _json_safe(data)
    body = payload(event_type, data, now)
    return [_queue(session, ep, event_type, body, now)
            for ep in _wanting(session, org_id, event_type)]


def _audit_data(session: Session, envelope_id: str, status: str,
                event: Recorded) -> dict[str, Any]:
    data: dict[str, Any] = {"envelope_id": envelope_id, "envelope_status": status}
    recipient_id = (event.data or {}).get("recipient_id")
    if recipient_id:
        with session.no_autoflush:
            recs = {r.id: r for r in recipients_of(session, envelope_id)}
        rec = recs.get(str(recipient_id))
        data["recipient_id"] = str(recipient_id)
        if rec is not None:
            data.update(recipient_role=rec.role, recipient_status=rec.status,
                        routing_order=rec.routing_order)
    if event.tag == "recipient:delivery_failed":
        data["reason"] = (event.data or {}).get("reason")
    return data


def on_audit(session: Session, subject: Subject, event: Recorded) -> None:
    """The audit listener: envelope and recipient tags become webhook events."""
    event_type = TAG_EVENTS.get(event.tag)
    if event_type is None:
        return
    endpoints = _wanting(session, event.org_id, event_type)
    if not endpoints:
        return
    status = status_of(session, event.subject_id)
    if status is None:  # not an envelope's trail
        return
    body = payload(event_type, _audit_data(session, event.subject_id, status, event),
                   event.occurred_at)
    for ep in endpoints:
        _queue(session, ep, event_type, body, event.occurred_at)


def on_bulk_finished(session: Session, org_id: str, data: dict[str, Any],
                     now: datetime) -> None:
    """The subscription to bulk send's finished hook: a ``bulk_batch.finished`` event."""
    emit(session, org_id, "bulk_batch.finished", data, now)


def send_test(rt: Runtime, principal: Principal, endpoint_id: str) -> MessageView:
    """Queue a ``webhook.test`` event for this endpoint only (whatever its filter)."""
    principal.require(Permission.SETTINGS_MANAGE)
    now = rt.now()
    with rt.db.uow() as uow:
        ep = _load(uow.session, principal.org_id, endpoint_id)
        if not ep.enabled:
            raise InvalidState("the endpoint is disabled; enable it first",
                               code="endpoint_disabled")
        body = payload(TEST_EVENT, {"endpoint_id": ep.id,
                                    "description": EVENTS[TEST_EVENT]}, now)
        msg_id = _queue(uow.session, ep, TEST_EVENT, body, now)
        uow.commit()
    return get_message(rt, principal, msg_id).message


# -- messages, attempts, replay -----------------------------------------------------------


def _outbox_ids(endpoint_id: str) -> Any:
    return select(WebhookMessage.outbox_id).where(
        WebhookMessage.endpoint_id == endpoint_id).scalar_subquery()


def _views(session: Session, messages: list[WebhookMessage]) -> list[MessageView]:
    states = outbox.states(session, [m.outbox_id for m in messages])
    return [message_view(m, states.get(m.outbox_id)) for m in messages]


def list_messages(rt: Runtime, principal: Principal, *, endpoint_id: str | None = None,
                  status: str | None = None, limit: int = 50,
                  offset: int = 0) -> list[MessageView]:
    """Messages, newest first. ``status``: pending, delivered, dead, or failed (dead, or
    pending after at least one failed attempt)."""
    principal.require(Permission.SETTINGS_MANAGE)
    if status is not None and status not in STATUS_FILTERS:
        raise InvalidInput(f"status is one of {', '.join(STATUS_FILTERS)}",
                           code="invalid_status")
    stmt = select(WebhookMessage).where(WebhookMessage.org_id == principal.org_id)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookMessage.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookMessage.outbox_id.in_(outbox.ids_in_state(status)))
    stmt = (stmt.order_by(WebhookMessage.created_at.desc(), WebhookMessage.id.desc())
            .limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset)))
    with rt.db.uow() as uow:
        return _views(uow.session, list(uow.session.scalars(stmt)))


def get_message(rt: Runtime, principal: Principal, message_id: str) -> MessageDetail:
    """One message with its payload and every attempt, oldest first."""
    principal.require(Permission.SETTINGS_MANAGE)
    with rt.db.uow() as uow:
        msg = uow.session.scalar(select(WebhookMessage).where(
            WebhookMessage.id == message_id, WebhookMessage.org_id == principal.org_id))
        if msg is None:
            raise NotFound("no such webhook message in your organisation",
                           code="message_not_found")
        (view,) = _views(uow.session, [msg])
        attempts = uow.session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.message_id == msg.id)
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id))
        return MessageDetail(view, dict(msg.payload),
                             [attempt_view(a) for a in attempts])


def replay(rt: Runtime, principal: Principal, message_id: str) -> MessageView:
    """Send a delivered or dead message again, from the first attempt, with the same
    webhook-id. InvalidState if it is still pending or its endpoint is disabled."""
    principal.require(Permission.SETTINGS_MANAGE)
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        msg = s.scalar(select(WebhookMessage).where(WebhookMessage.id == message_id,
                                                    WebhookMessage.org_id == principal.org_id))
        if msg is None:
            raise NotFound("no such webhook message in your organisation",
                           code="message_not_found")
        ep = _load(s, principal.org_id, msg.endpoint_id)
        if not ep.enabled:
            raise InvalidState("the endpoint is disabled; enable it first",
                               code="endpoint_disabled")
        state = outbox.lock_state(s, msg.outbox_id)
        if state is None:
            msg.outbox_id = enqueue(s, kind=KIND, payload={"message_id": msg.id}, now=now,
                                    org_id=msg.org_id).id
            s.flush()
            state = outbox.states(s, [msg.outbox_id])[msg.outbox_id]
        elif state.status == PENDING:
            raise InvalidState("the message is still being delivered",
                               code="message_pending")
        else:
            state = outbox.restart(s, msg.outbox_id, now)
        view = message_view(msg, state)
        uow.commit()
        return view


def replay_failed(rt: Runtime, principal: Principal, endpoint_id: str) -> ReplayResult:
    """Replay every dead message of one endpoint; returns how many."""
    principal.require(Permission.SETTINGS_MANAGE)
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        ep = _load(s, principal.org_id, endpoint_id)
        if not ep.enabled:
            raise InvalidState("the endpoint is disabled; enable it first",
                               code="endpoint_disabled")
        replayed = outbox.restart_dead(s, _outbox_ids(ep.id), now)
        uow.commit()
        return ReplayResult(replayed=replayed)

