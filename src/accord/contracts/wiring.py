"""Contracts' wiring: a completed envelope files (or amends, or renews) a contract record
through signing's ``envelope.completed`` event; the ``contract:index`` task reads the filed
documents' text for search."""

from __future__ import annotations

from accord.contracts.services.filing import on_envelope_completed
from accord.contracts.services.indexing import INDEX, index_contract
from accord.wiring import Subscription, Task, Wiring

WIRING = Wiring(
    feature="contracts",
    tasks=(Task(INDEX, index_contract),),
    subscriptions=(Subscription("envelope.completed", on_envelope_completed),),
)
