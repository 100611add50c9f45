"""Legal holds: which holds cover a contract, and the guard every path that changes or
deletes a contract record, its documents or its trail calls first.

A hold covers a contract when it is active (``released_at`` is None) and either lists the
contract (a contract hold, or a saved-search hold that matched it when placed) or names
its customer account (a customer hold, which also covers contracts filed later).

``guard`` refuses a change to a held contract with 409 ``legal_hold``; the refusal itself
is recorded on the contract's trail (``contract:hold_refused``) once the refused change
is rolled back, in a transaction of its own (``AccordError.after_rollback``), so the
record of the attempt survives the attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from accord.audit import services as audit
from accord.contracts.models import Contract, LegalHold, LegalHoldItem
from accord.errors import Conflict

HOLD_REFUSED = "contract:hold_refused"


class LegalHoldError(Conflict):
    """A change to a contract under legal hold (409 ``legal_hold``)."""

    code = "legal_hold"


def holds_on(session: Session, contract: Contract) -> list[LegalHold]:
    """The active holds covering ``contract``, oldest first."""
    covers: ColumnElement[bool] = LegalHold.id.in_(select(LegalHoldItem.hold_id).where(
        LegalHoldItem.contract_id == contract.id))
    if contract.customer_account_id:
        covers = or_(covers, and_(LegalHold.scope == "customer",
                                  LegalHold.customer_account_id
                                  == contract.customer_account_id))
    with session.no_autoflush:
        return list(session.scalars(select(LegalHold).where(
            LegalHold.org_id == contract.org_id, LegalHold.released_at.is_(None), covers)
            .order_by(LegalHold.placed_at, LegalHold.id)))


def guard(session: Session, contract: Contract, action: str, *, actor: str,
          now: datetime, data: dict[str, Any] | None = None) -> None:
    """Refuse ``action`` on ``contract`` if a hold covers it: raise LegalHoldError (409
    ``legal_hold``, the holds in ``details``) and, once the caller's transaction is rolled
    back, record ``contract:hold_refused`` (action, actor, holds) on the contract's trail."""
    holds = holds_on(session, contract)
    if holds:
        raise refusal(contract, holds, action, actor=actor, now=now, data=data)


def refusal(contract: Contract, holds: Sequence[LegalHold], action: str, *, actor: str,
            now: datetime, data: dict[str, Any] | None = None) -> LegalHoldError:
    listed = [{"id": h.id, "matter": h.matter, "scope": h.scope} for h in holds]
    matters = ", ".join(sorted({h.matter for h in holds}))
    exc = LegalHoldError(f"the contract is under legal hold ({matters}): it cannot be "
                         f"changed or deleted", details={"holds": listed, "action": action})
    contract_id, org_id = contract.id, contract.org_id

    def record(db: Any) -> None:
        with db.uow() as uow:
            row = uow.session.get(Contract, contract_id)
            if row is None or row.org_id != org_id:
                return
            audit.record(uow.session, row, HOLD_REFUSED, actor=actor, now=now,
                         data={"contract_id": contract_id, "action": action,
                               "holds": [h["id"] for h in listed], **(data or {})})
            uow.commit()

    exc.after_rollback.append(record)
    return exc
