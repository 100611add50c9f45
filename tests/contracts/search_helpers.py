"""Contracts written straight to the tables (through the ORM, so the search index follows)
for the search tests: records' services file them for real elsewhere."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from accord.contracts.models import Contract, ContractTag
from accord.runtime import Runtime

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def add_contract(rt: Runtime, org_id: str, *, title: str = "Support agreement",
                 type: str = "support_services", status: str = "active",
                 tags: tuple[str, ...] = (), text: str = "", n: int = 0,
                 end_date: date | None = None, value: str | None = None,
                 customer: str | None = None, customer_name: str | None = None,
                 owner_id: str | None = None, currency: str | None = "EUR",
                 **extra: Any) -> str:
    with rt.db.uow() as uow:
        c = Contract(org_id=org_id, title=title, type=type, status=status,
                     owner_id=owner_id, customer_account_id=customer,
                     customer_name=customer_name, parties=[], end_date=end_date,
                     value=None if value is None else Decimal(value), currency=currency,
                     watchers=[], source="import", search_text=text,
                     created_at=BASE + timedelta(minutes=n),
                     updated_at=BASE + timedelta(minutes=n), **extra)
        uow.session.add(c)
        uow.session.flush()
        for tag in tags:
            uow.session.add(ContractTag(contract_id=c.id, tag=tag, org_id=org_id))
        uow.session.commit()
        return c.id
