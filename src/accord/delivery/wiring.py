"""Delivery's wiring: the built-in ``email`` kind and the webhook deliveries."""

from __future__ import annotations

from accord.delivery.handlers import EMAIL, plain_email
from accord.delivery.webhooks import KIND as WEBHOOK
from accord.delivery.webhooks import on_audit
from accord.delivery.webhooks_deliver import deliver
from accord.delivery.webhooks_domain import RETRY_SCHEDULE_S
from accord.wiring import Task, Wiring

WIRING = Wiring(
    feature="delivery",
    tasks=(Task(EMAIL, plain_email),
           Task(WEBHOOK, deliver, retry_schedule=RETRY_SCHEDULE_S)),
    audit_listeners=(on_audit,),
)
