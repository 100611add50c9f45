"""Helpers of the renewal tests: an organisation with renewal settings, contracts inserted
through the model (filing is records' part), what the sweep left behind."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from accord.accounts.services import admin
from accord.contracts.domain import opt_out_date
from accord.contracts.models import Contract, ContractNotice
from accord.delivery.services import list_mailbox
from accord.delivery.worker import drain
from accord.runtime import Runtime
from tests.factories import Member, member


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def organisation(rt: Runtime, **settings: Any) -> Member:
    """An admin of a new organisation with ``settings`` (contracts' declared ones)."""
    boss = member(rt, role="admin")
    if settings:
        admin.update_settings(rt, boss.principal, **settings)
    return boss


def add_contract(rt: Runtime, owner: Member, *, end: date | None, status: str = "active",
                 title: str = "Support agreement", watchers: list[str] | None = None,
                 auto_renew: bool = False, notice_days: int | None = None,
                 windows: list[int] | None = None, term_months: int | None = 12,
                 parties: list[dict[str, str]] | None = None,
                 customer: str = "Harbour Ltd", owner_id: str | None = "owner") -> str:
    with rt.db.uow() as uow:
        c = Contract(org_id=owner.org_id, title=title, type="support_services",
                     status=status, owner_id=owner.user_id if owner_id == "owner" else owner_id,
                     customer_account_id="acct-1", customer_name=customer,
                     parties=parties if parties is not None else [
                         {"name": "Dana Customer", "email": "dana@customer.example",
                          "role": "customer"}],
                     effective_date=date(2026, 1, 1), end_date=end, term_months=term_months,
                     auto_renew=auto_renew, notice_days=notice_days,
                     opt_out_date=opt_out_date(end, notice_days, auto_renew),
                     value=Decimal("12000.00"), currency="EUR", renewal_windows=windows,
                     watchers=watchers or [], source="import", search_text="")
        uow.session.add(c)
        uow.commit()
        return c.id


def notices(rt: Runtime, contract_id: str) -> list[tuple[str, int]]:
    with rt.db.uow() as uow:
        rows = uow.session.execute(select(ContractNotice.kind, ContractNotice.window_days)
                                   .where(ContractNotice.contract_id == contract_id)
                                   .order_by(ContractNotice.kind,
                                             ContractNotice.window_days.desc()))
        return [(k, w) for k, w in rows]


def contract(rt: Runtime, contract_id: str) -> Contract:
    with rt.db.uow() as uow:
        c = uow.session.get(Contract, contract_id)
        assert c is not None
        uow.session.expunge(c)  # keeps what was read (leaving the unit rolls back)
        return c


def mails(rt: Runtime, org_id: str) -> list[tuple[str, str]]:
    """(to, subject) of every email delivered to the local mailbox, oldest first."""
    drain(rt)
    return [(m.to_addr, m.subject) for m in reversed(list_mailbox(rt, org_id, limit=200))]
