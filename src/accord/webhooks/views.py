"""What the webhooks services return: endpoints (never their secret, except once in
``EndpointWithSecret``), messages with their delivery state, attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord.delivery.domain import DELIVERED, PENDING
from accord.delivery.queries import OutboxState
from accord.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage


@dataclass(frozen=True)
class EndpointView:
    id: str
    url: str
    description: str
    event_types: list[str]  # empty: every event
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None
    last_success_at: datetime | None
    previous_secret_until: datetime | None  # the old secret still signs until then
    created_by: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: EndpointView
    secret: str  # whsec_...: shown once, at creation and at rotation


@dataclass(frozen=True)
class MessageView:
    id: str  # the webhook-id header
    endpoint_id: str
    event_type: str
    status: str  # pending, delivered, dead
    attempts: int  # failed attempts so far (since the last replay)
    next_attempt_at: datetime | None  # while pending
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class AttemptView:
    id: str
    attempted_at: datetime
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    address: str | None
    response_excerpt: str


@dataclass(frozen=True)
class MessageDetail:
    message: MessageView
    payload: dict[str, Any]
    attempts: list[AttemptView]


@dataclass(frozen=True)
class ReplayResult:
    replayed: int


def endpoint_view(ep: WebhookEndpoint) -> EndpointView:
    return EndpointView(
        id=ep.id, url=ep.url, description=ep.description,
        event_types=list(ep.event_types or []), enabled=ep.enabled,
        disabled_at=ep.disabled_at, disabled_reason=ep.disabled_reason,
        failing_since=ep.failing_since, last_success_at=ep.last_success_at,
        previous_secret_until=ep.previous_secret_until, created_by=ep.created_by,
        created_at=ep.created_at, updated_at=ep.updated_at)


def message_view(msg: WebhookMessage, row: OutboxState | None) -> MessageView:
    if row is None:  # the outbox row was cleaned up: it had been delivered
        return MessageView(msg.id, msg.endpoint_id, msg.event_type, DELIVERED, 0, None,
                           None, msg.created_at, None)
    return MessageView(
        id=msg.id, endpoint_id=msg.endpoint_id, event_type=msg.event_type,
        status=row.status, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == PENDING else None,
        last_error=row.last_error, created_at=msg.created_at,
        delivered_at=row.delivered_at)


def attempt_view(a: WebhookAttempt) -> AttemptView:
    return AttemptView(id=a.id, attempted_at=a.attempted_at, ok=a.ok,
                       status_code=a.status_code, error=a.error, duration_ms=a.duration_ms,
                       address=a.address, response_excerpt=a.response_excerpt)
