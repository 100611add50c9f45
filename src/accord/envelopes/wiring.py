"""Envelopes' wiring: reminder and expiry-warning emails, and the lifecycle sweep (expiry,
expiry warnings, reminders)."""

from __future__ import annotations

from accord.envelopes.lifecycle import sweep
from accord.envelopes.tasks import (
    EXPIRY_WARNING,
    REMINDER,
    expiry_warning_email,
    reminder_email,
)
from accord.wiring import Sweep, Task, Wiring

WIRING = Wiring(
    feature="envelopes",
    tasks=(Task(REMINDER, reminder_email), Task(EXPIRY_WARNING, expiry_warning_email)),
    sweeps=(Sweep("lifecycle", sweep, every_s=30.0),),
)
