"""Envelopes' wiring: the signing-request email (with its delivered/failed hooks), the
reminder and expiry-warning emails, and the lifecycle sweep (expiry, expiry warnings,
reminders)."""

from __future__ import annotations

from accord.envelopes.lifecycle import sweep
from accord.envelopes.services import SIGNING_REQUEST
from accord.envelopes.tasks import (
    EXPIRY_WARNING,
    REMINDER,
    expiry_warning_email,
    reminder_email,
    signing_request_addressee,
    signing_request_delivered,
    signing_request_email,
    signing_request_failed,
)
from accord.wiring import Sweep, Task, Wiring

WIRING = Wiring(
    feature="envelopes",
    tasks=(Task(SIGNING_REQUEST, signing_request_email, delivered=signing_request_delivered,
                failed=signing_request_failed, addressee=signing_request_addressee),
           Task(REMINDER, reminder_email), Task(EXPIRY_WARNING, expiry_warning_email)),
    sweeps=(Sweep("lifecycle", sweep, every_s=30.0),),
)
