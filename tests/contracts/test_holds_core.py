"""The legal-hold core: which holds cover a contract (its own, its customer's, a saved
search's snapshot; released ones no longer), and the guard's refusal, recorded on the
contract's trail after the refused change is rolled back."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from accord.audit.models import AuditEvent
from accord.contracts.models import Contract, LegalHold, LegalHoldItem
from accord.contracts.services.holds import HOLD_REFUSED, LegalHoldError, guard, holds_on
from accord.runtime import Runtime
from tests.contracts.renewals_helpers import add_contract, organisation, utc

NOW = utc(2026, 3, 1, 12)


def _hold(rt: Runtime, org_id: str, scope: str, *, contract_id: str | None = None,
          customer: str | None = None, released: bool = False) -> str:
    with rt.db.uow() as uow:
        h = LegalHold(org_id=org_id, scope=scope, customer_account_id=customer,
                      matter="Acme v. Harbour", reason="litigation",
                      placed_by="Compliance <c@x>", placed_at=NOW,
                      released_at=NOW if released else None)
        uow.session.add(h)
        uow.session.flush()
        if contract_id:
            uow.session.add(LegalHoldItem(hold_id=h.id, contract_id=contract_id,
                                          org_id=org_id))
        uow.commit()
        return h.id


def _covering(rt: Runtime, contract_id: str) -> list[str]:
    with rt.db.uow() as uow:
        c = uow.session.get(Contract, contract_id)
        assert c is not None
        return [h.id for h in holds_on(uow.session, c)]


def test_holds_cover_their_contract_their_customer_and_not_after_release(rt: Runtime) -> None:
    boss = organisation(rt)
    a = add_contract(rt, boss, end=date(2027, 1, 1))
    b = add_contract(rt, boss, end=date(2027, 1, 1))
    assert _covering(rt, a) == []
    own = _hold(rt, boss.org_id, "contract", contract_id=a)
    _hold(rt, boss.org_id, "contract", contract_id=b, released=True)
    assert _covering(rt, a) == [own]
    assert _covering(rt, b) == []
    customer = _hold(rt, boss.org_id, "customer", customer="acct-1")
    assert _covering(rt, b) == [customer]
    other = organisation(rt)  # another organisation's hold on the same account id
    c = add_contract(rt, other, end=date(2027, 1, 1))
    assert _covering(rt, c) == []


def test_a_refused_change_is_rolled_back_and_the_refusal_recorded(rt: Runtime) -> None:
    boss = organisation(rt)
    cid = add_contract(rt, boss, end=date(2027, 1, 1))
    hold = _hold(rt, boss.org_id, "contract", contract_id=cid)

    def edit() -> None:
        with rt.db.uow() as uow:
            c = uow.session.get(Contract, cid)
            assert c is not None
            c.title = "changed"
            guard(uow.session, c, "edit", actor="Dana <d@x>", now=NOW)
            uow.commit()

    with pytest.raises(LegalHoldError) as err:
        edit()
    assert err.value.status == 409 and err.value.code == "legal_hold"
    assert err.value.details["holds"][0]["id"] == hold
    with rt.db.uow() as uow:
        c = uow.session.get(Contract, cid)
        assert c is not None and c.title == "Support agreement"
        events = uow.session.execute(select(AuditEvent.actor, AuditEvent.data).where(
            AuditEvent.envelope_id == cid, AuditEvent.tag == HOLD_REFUSED)).all()
    assert len(events) == 1
    actor, data = events[0]
    assert data["action"] == "edit" and data["holds"] == [hold]
    assert actor == "Dana <d@x>"
