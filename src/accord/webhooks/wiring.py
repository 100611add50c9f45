"""Webhooks' wiring: the delivery task of the ``webhook`` outbox kind, on its own retry
schedule, the audit listener that turns audit events into webhook messages, and the
subscription that turns bulk send's finished batches into ``bulk_batch.finished``."""

from __future__ import annotations

from accord.webhooks.domain import RETRY_SCHEDULE_S
from accord.webhooks.services import KIND, on_audit, on_bulk_finished
from accord.webhooks.tasks import deliver
from accord.wiring import Subscription, Task, Wiring

WIRING = Wiring(
    feature="webhooks",
    tasks=(Task(KIND, deliver, retry_schedule=RETRY_SCHEDULE_S),),
    audit_listeners=(on_audit,),
    subscriptions=(Subscription("bulk_batch.finished", on_bulk_finished),),
)
