"""Webhooks' wiring: the delivery task of the ``webhook`` outbox kind, on its own retry
schedule, and the audit listener that turns audit events into webhook messages."""

from __future__ import annotations

from accord.webhooks.domain import RETRY_SCHEDULE_S
from accord.webhooks.services import KIND, on_audit
from accord.webhooks.tasks import deliver
from accord.wiring import Task, Wiring

WIRING = Wiring(
    feature="webhooks",
    tasks=(Task(KIND, deliver, retry_schedule=RETRY_SCHEDULE_S),),
    audit_listeners=(on_audit,),
)
