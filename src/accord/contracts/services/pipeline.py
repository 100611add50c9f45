"""The renewals pipeline: the organisation's contracts in force ending within 120 days,
by band (``30``: 0-30 days, ``60``: 31-60, ``90``: 61-90, ``120``: 91-120), and those
``overdue`` (past their end, still in force or expired and flagged), soonest end first, in
the organisation's local date. Cursor-paginated (keyset on end date and id)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.contracts.domain import ContractStatus, local_today
from accord.contracts.models import Contract, ContractLink
from accord.contracts.services.renewals import ADDENDUM_LINK, IN_FORCE_VALUES, settings_of
from accord.errors import InvalidInput
from accord.runtime import Runtime

BANDS: Mapping[str, tuple[int | None, int | None]] = {
    "overdue": (None, -1), "30": (0, 30), "60": (31, 60), "90": (61, 90), "120": (91, 120)}

MAX_PAGE = 200


@dataclass(frozen=True)
class RenewalItem:
    """One contract of the pipeline."""

    id: str
    title: str
    type: str
    status: str
    customer_name: str | None
    customer_account_id: str | None
    owner_id: str | None
    end_date: date
    days_left: int  # negative: overdue by that many days
    band: str  # overdue | 30 | 60 | 90 | 120
    auto_renew: bool
    opt_out_date: date | None
    flagged: bool
    value: str | None
    currency: str | None
    addendum_envelope_id: str | None  # the latest renewal addendum drafted for it


@dataclass(frozen=True)
class Pipeline:
    today: date  # in the organisation's time zone
    time_zone: str
    counts: dict[str, int]  # per band
    items: list[RenewalItem]
    next_cursor: str | None


def band_of(days_left: int) -> str:
    for name, (low, high) in BANDS.items():
        if (low is None or days_left >= low) and (high is None or days_left <= high):
            return name
    return "later"


def _band_filter(name: str, today: date) -> Any:
    low, high = BANDS[name]
    if name == "overdue":
        return and_(Contract.end_date < today, or_(
            Contract.status.in_(IN_FORCE_VALUES),
            and_(Contract.status == ContractStatus.EXPIRED.value, Contract.flagged.is_(True))))
    assert low is not None
    assert high is not None
    return and_(Contract.status.in_(IN_FORCE_VALUES),
                Contract.end_date >= today + timedelta(days=low),
                Contract.end_date <= today + timedelta(days=high))


def _encode_cursor(end: date, cid: str) -> str:
    return base64.urlsafe_b64encode(f"{end.isoformat()}|{cid}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[date, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        day, cid = raw.split("|", 1)
        if not 1 <= len(cid) <= 36:
            raise ValueError(cid)
        return date.fromisoformat(day), cid
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API gave", code="invalid_cursor") from None


def pipeline(rt: Runtime, principal: Principal, *, band: str | None = None,
             owner_id: str | None = None, limit: int = 50,
             cursor: str | None = None) -> Pipeline:
    """The organisation's contracts due for renewal (ending within 120 days, or past
    their end without renewal), soonest end first; ``band`` keeps one band, ``owner_id``
    one owner's. Cursor-paginated; counts per band over the whole organisation."""
    principal.require(Permission.CONTRACT_READ)
    if band is not None and band not in BANDS:
        raise InvalidInput(f"band is one of {', '.join(BANDS)}", code="invalid_band")
    limit = max(1, min(limit, MAX_PAGE))
    after = _decode_cursor(cursor) if cursor else None
    with rt.db.uow() as uow:
        s = uow.session
        org = settings_of(s, {principal.org_id})[principal.org_id]
        today = local_today(rt.now(), org.time_zone)
        mine = [Contract.org_id == principal.org_id, Contract.end_date.is_not(None)]
        if owner_id is not None:
            mine.append(Contract.owner_id == owner_id)
        counts = {name: int(s.scalar(select(func.count()).select_from(Contract).where(
            *mine, _band_filter(name, today))) or 0) for name in BANDS}
        wanted = _band_filter(band, today) if band else or_(
            *(_band_filter(name, today) for name in BANDS))
        query = select(Contract).where(*mine, wanted)
        if after is not None:
            query = query.where(or_(Contract.end_date > after[0],
                                    and_(Contract.end_date == after[0], Contract.id > after[1])))
        rows = list(s.scalars(query.order_by(Contract.end_date, Contract.id)
                              .limit(limit + 1)))
        page = rows[:limit]
        links = _addenda_of(s, [c.id for c in page])
        items = [_item(c, today, links.get(c.id)) for c in page]  # read in the unit
    last = items[-1] if len(rows) > limit and items else None
    return Pipeline(today=today, time_zone=org.time_zone, counts=counts, items=items,
                    next_cursor=_encode_cursor(last.end_date, last.id)
                    if last is not None else None)


def _addenda_of(session: Session, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(select(ContractLink.contract_id, ContractLink.envelope_id)
                           .where(ContractLink.contract_id.in_(ids),
                                  ContractLink.kind == ADDENDUM_LINK)
                           .order_by(ContractLink.created_at))
    return {str(cid): str(eid) for cid, eid in rows}  # the latest wins


def _item(c: Contract, today: date, addendum: str | None) -> RenewalItem:
    assert c.end_date is not None
    left = (c.end_date - today).days
    return RenewalItem(
        id=c.id, title=c.title, type=c.type, status=c.status, customer_name=c.customer_name,
        customer_account_id=c.customer_account_id, owner_id=c.owner_id,
        end_date=c.end_date, days_left=left, band=band_of(left), auto_renew=c.auto_renew,
        opt_out_date=c.opt_out_date, flagged=c.flagged,
        value=str(c.value) if c.value is not None else None, currency=c.currency,
        addendum_envelope_id=addendum)
