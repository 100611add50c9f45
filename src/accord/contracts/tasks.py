"""Background work of contracts: the renewal sweep (``contracts.wiring`` declares it; every
``accord worker`` and ``accord serve`` run it). Given ids, safe to run twice and in
several processes at once (see ``services.renewals``)."""

from __future__ import annotations

import logging

from accord.contracts.services.addenda import draft_addendum
from accord.contracts.services.renewals import BATCH, SweepResult, pending, process
from accord.runtime import Runtime

log = logging.getLogger("accord.contracts.tasks")


def renewal_sweep(rt: Runtime, *, limit: int = BATCH) -> SweepResult:
    """One pass over every organisation: renewal notices, opt-out warnings, status moves
    (renewal_due, expired) and renewal addenda. A contract that fails is logged and the
    pass goes on (the next pass tries it again)."""
    result = SweepResult()
    for item in pending(rt, limit=limit):
        if item.work:
            try:
                process(rt, item.contract_id, result)
            except Exception:  # one bad contract must not stop the pass
                log.exception("renewals: contract %s failed", item.contract_id)
        if item.addendum:
            try:
                result.addenda += draft_addendum(rt, item.contract_id)
            except Exception:  # idem
                log.exception("renewals: addendum of contract %s failed", item.contract_id)
    return result
