"""Contracts' wiring: a completed envelope files (or amends, or renews) a contract record
through signing's ``envelope.completed`` event."""

from __future__ import annotations

from accord.contracts.services.filing import on_envelope_completed
from accord.wiring import Subscription, Wiring

WIRING = Wiring(
    feature="contracts",
    subscriptions=(Subscription("envelope.completed", on_envelope_completed),),
)
