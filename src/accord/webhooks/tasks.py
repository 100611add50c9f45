"""The outbox handler of kind "webhook": sign, POST (SSRF-safe), record the attempt, and
disable an endpoint that has failed for more than five days.

The worker calls ``deliver`` outside any transaction, at least once per attempt; the
retry schedule (Standard Webhooks: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) and
"dead after the last attempt" are the worker's, registered with the kind.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.accounts.services import user_email
from accord.delivery.errors import DeliveryError, PermanentFailure
from accord.delivery.mail import Email
from accord.delivery.services import send_email
from accord.runtime import Runtime
from accord.webhooks.domain import DISABLE_AFTER, should_disable, signed_headers
from accord.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from accord.webhooks.sender import Outcome, post
from accord.webhooks.services import open_secret, policy

log = logging.getLogger("accord.webhooks.services")


class EndpointDisabled(PermanentFailure):
    """The message's endpoint is disabled: it goes dead (replay it after enabling)."""


class AttemptFailed(DeliveryError):
    """The receiver did not answer 2xx (or could not be reached): retried on schedule."""


@dataclass(frozen=True)
class _Job:
    message_id: str
    endpoint_id: str
    org_id: str
    url: str
    secrets: list[str]
    body: str


def body_of(message_payload: dict[str, Any]) -> str:
    """The exact text that is sent and signed."""
    return json.dumps(message_payload, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _job(rt: Runtime, message_id: str, now: datetime) -> _Job | None:
    with rt.db.uow() as uow:
        msg = uow.session.get(WebhookMessage, message_id)
        ep = uow.session.get(WebhookEndpoint, msg.endpoint_id) if msg else None
        if msg is None or ep is None:
            return None  # the endpoint was deleted: nothing to deliver
        if not ep.enabled:
            raise EndpointDisabled("endpoint disabled")
        keys = [open_secret(rt, ep.id, ep.secret_sealed)]
        if (ep.previous_secret_sealed and ep.previous_secret_until is not None
                and ep.previous_secret_until > now):
            keys.append(open_secret(rt, ep.id, ep.previous_secret_sealed))
        return _Job(msg.id, ep.id, ep.org_id, ep.url, keys, body_of(msg.payload))


def deliver(rt: Runtime, payload: dict[str, Any]) -> None:
    """Handler of kind "webhook": payload ``{"message_id"}``."""
    now = rt.now()
    job = _job(rt, str(payload.get("message_id")), now)
    if job is None:
        return
    headers = signed_headers(job.secrets, job.message_id, int(now.timestamp()), job.body)
    outcome = post(job.url, job.body.encode(), headers, policy(rt.settings))
    record_attempt(rt, job, outcome, now)
    if not outcome.ok:
        raise AttemptFailed(outcome.error or "delivery failed")


def record_attempt(rt: Runtime, job: _Job, outcome: Outcome, now: datetime) -> None:
    """Store the attempt and the endpoint's health, in one transaction; disable the
    endpoint (and email its owner) when it has failed for more than five days."""
    with rt.db.uow() as uow:
        s = uow.session
        if s.get(WebhookMessage, job.message_id) is None:
            return  # deleted with its endpoint while this attempt ran
        s.add(WebhookAttempt(
            org_id=job.org_id, message_id=job.message_id, endpoint_id=job.endpoint_id,
            attempted_at=now, ok=outcome.ok, status_code=outcome.status_code,
            error=(outcome.error or "")[:500] or None, duration_ms=outcome.duration_ms,
            address=outcome.address, response_excerpt=outcome.response_excerpt))
        ep = s.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == job.endpoint_id)
                      .with_for_update())
        if ep is not None:
            if outcome.ok:
                ep.failing_since, ep.last_success_at = None, now
            elif ep.failing_since is None:
                ep.failing_since = now
            elif ep.enabled and should_disable(ep.failing_since, now):
                _disable(s, ep, now)
        uow.commit()


def _disable(s: Session, ep: WebhookEndpoint, now: datetime) -> None:
    days = DISABLE_AFTER.days
    ep.enabled, ep.disabled_at = False, now
    ep.disabled_reason = (f"no successful delivery for more than {days} days "
                          f"(failing since {ep.failing_since:%Y-%m-%d %H:%M} UTC)")
    ep.updated_at = now
    log.warning("webhook endpoint %s disabled: %s", ep.id, ep.disabled_reason)
    owner = user_email(s, ep.created_by) if ep.created_by else None
    if owner is None:
        log.warning("webhook endpoint %s has no owner to tell", ep.id)
        return
    send_email(s, Email(
        to=(owner,), subject="Webhook endpoint disabled",
        body=(f"Accord disabled the webhook endpoint you registered:\n\n  {ep.url}\n\n"
              f"Reason: {ep.disabled_reason}.\n\nIts undelivered messages are kept as "
              "failed. When the receiver works again, enable the endpoint (console: "
              "Admin > Webhooks, or PATCH /api/v1/webhooks/endpoints/"
              f"{ep.id} with {{\"enabled\": true}}) and replay the failed messages.\n")),
        now=now, org_id=ep.org_id)
