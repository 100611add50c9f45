"""The contract record's rules. Pure: no database, no web, no I/O.

Contract:  active -> renewal_due -> renewed (a completed renewal addendum set a new end date;
           it is in force again) -> renewal_due -> ...
           active | renewal_due | renewed -> expired (past its end date, not renewed)
           any but terminated -> terminated (ended early by a party)

Term arithmetic is in calendar dates: a 12-month term that takes effect on 2026-01-01 ends
on 2026-12-31 (the last day the contract is in force). The opt-out notice date of an
auto-renewing contract is the last day a party may still give notice: ``notice_days``
before the end date. Renewal windows are whole days before the end date, counted in the
organisation's time zone: the 90-day notice of a contract ending on 2027-03-31 is due from
2026-12-31 00:00 local time, whatever the UTC offset (DST included).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class ContractType(StrEnum):
    SUPPORT_SERVICES = "support_services"
    SLA_AMENDMENT = "sla_amendment"
    MAINTENANCE = "maintenance"
    NDA = "nda"
    CONSENT = "consent"
    RENEWAL_ADDENDUM = "renewal_addendum"


# Types that change an existing contract instead of starting one.
AMENDING = frozenset({ContractType.SLA_AMENDMENT, ContractType.RENEWAL_ADDENDUM})


class ContractStatus(StrEnum):
    ACTIVE = "active"
    RENEWAL_DUE = "renewal_due"
    RENEWED = "renewed"
    EXPIRED = "expired"
    TERMINATED = "terminated"


IN_FORCE = frozenset({ContractStatus.ACTIVE, ContractStatus.RENEWAL_DUE,
                      ContractStatus.RENEWED})

DEFAULT_RENEWAL_WINDOWS: tuple[int, ...] = (120, 90, 60)
DEFAULT_ADDENDUM_WINDOW = 60
MAX_WINDOW_DAYS = 3660
MAX_TERM_MONTHS = 1200


class ContractError(Exception):
    """A rule of the contract record was broken; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the month's last day (Jan 31 + 1 = Feb 28)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def end_of_term(effective: date, term_months: int) -> date:
    """The last day in force of a term of ``term_months`` starting on ``effective``."""
    if not 1 <= term_months <= MAX_TERM_MONTHS:
        raise ContractError("invalid_term", f"a term is 1 to {MAX_TERM_MONTHS} months")
    return add_months(effective, term_months) - timedelta(days=1)


def opt_out_date(end: date | None, notice_days: int | None, auto_renew: bool) -> date | None:
    """The last day notice may be given to stop an auto-renewal (None if not applicable)."""
    if end is None or not auto_renew or notice_days is None:
        return None
    return end - timedelta(days=notice_days)


def check_windows(windows: Iterable[int]) -> tuple[int, ...]:
    """Renewal notice windows, largest first, each 1..MAX_WINDOW_DAYS days, no repeats."""
    out = sorted({int(w) for w in windows}, reverse=True)
    if not out or any(not 1 <= w <= MAX_WINDOW_DAYS for w in out):
        raise ContractError("invalid_windows",
                            f"renewal windows are 1 to {MAX_WINDOW_DAYS} days before the end")
    if len(out) > 12:
        raise ContractError("invalid_windows", "at most 12 renewal windows")
    return tuple(out)


def local_today(now: datetime, tz: str) -> date:
    """The calendar date ``now`` falls on in the organisation's time zone."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(ZoneInfo(tz)).date()


def window_due(end: date, window_days: int) -> date:
    return end - timedelta(days=window_days)


def due_windows(end: date, windows: Sequence[int], today: date) -> list[int]:
    """The windows whose notice is due on ``today`` (local date) for a contract still in
    its term: every window whose day has come, largest first. A contract whose end has
    passed has no renewal windows left (it is expiring instead)."""
    if today > end:
        return []
    return [w for w in sorted(windows, reverse=True) if today >= window_due(end, w)]


def next_status(status: ContractStatus, *, end: date | None, today: date,
                renewal_window: int) -> ContractStatus:
    """What the daily sweep moves a contract to: ``renewal_due`` once the first renewal
    window opens, ``expired`` the day after its end date without renewal."""
    if status not in IN_FORCE or end is None:
        return status
    if today > end:
        return ContractStatus.EXPIRED
    if today >= window_due(end, renewal_window) and status != ContractStatus.RENEWAL_DUE:
        return ContractStatus.RENEWAL_DUE
    return status


def renew(status: ContractStatus, old_end: date | None, new_end: date) -> ContractStatus:
    """A completed renewal addendum: the contract is in force to ``new_end``."""
    if status == ContractStatus.TERMINATED:
        raise ContractError("contract_terminated", "a terminated contract cannot be renewed")
    if old_end is not None and new_end <= old_end:
        raise ContractError("invalid_renewal", "a renewal must move the end date later")
    return ContractStatus.RENEWED


def terminate(status: ContractStatus) -> ContractStatus:
    if status == ContractStatus.TERMINATED:
        raise ContractError("already_terminated", "the contract is already terminated")
    return ContractStatus.TERMINATED


# Contract fields a template variable may fill (Templates declare the mapping).
MAPPABLE_FIELDS = ("customer_account_id", "customer_name", "type", "effective_date",
                   "end_date", "term_months", "auto_renew", "notice_days", "value",
                   "currency", "tags", "sla")


@dataclass(frozen=True)
class Filed:
    """What a completed envelope tells the contract record, from the template's mapping."""

    customer_account_id: str | None = None
    customer_name: str | None = None
    type: ContractType = ContractType.SUPPORT_SERVICES
    effective_date: date | None = None
    end_date: date | None = None
    term_months: int | None = None
    auto_renew: bool = False
    notice_days: int | None = None
    value: Decimal | None = None
    currency: str | None = None
    tags: tuple[str, ...] = ()
    sla: Mapping[str, Any] | None = None


def _as_date(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ContractError("invalid_contract_field", f"{name} must be a date (YYYY-MM-DD)")


def _as_int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ContractError("invalid_contract_field", f"{name} must be a whole number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ContractError("invalid_contract_field", f"{name} must be a whole number") from None
    if number != number.to_integral_value() or not low <= number <= high:
        raise ContractError("invalid_contract_field", f"{name} must be {low} to {high}")
    return int(number)


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "no", "true", "false"):
        return value.lower() in ("yes", "true")
    raise ContractError("invalid_contract_field", f"{name} must be yes or no")


def filed_from(values: Mapping[str, Any], mapping: Mapping[str, str],
               default_type: ContractType = ContractType.SUPPORT_SERVICES) -> Filed:
    """The contract fields of a completed envelope: ``mapping`` names, for each contract
    field, the template variable that holds it; ``values`` are the envelope's values."""
    got: dict[str, Any] = {}
    for field_name, variable in mapping.items():
        if field_name not in MAPPABLE_FIELDS:
            raise ContractError("invalid_contract_mapping",
                                f"{field_name!r} is not a contract field")
        if variable in values and values[variable] not in (None, ""):
            got[field_name] = values[variable]
    kind = default_type
    if "type" in got:
        try:
            kind = ContractType(str(got["type"]))
        except ValueError:
            raise ContractError("invalid_contract_field",
                                f"type must be one of {', '.join(ContractType)}") from None
    effective = _as_date(got["effective_date"], "effective_date") \
        if "effective_date" in got else None
    term = _as_int(got["term_months"], "term_months", 1, MAX_TERM_MONTHS) \
        if "term_months" in got else None
    end = _as_date(got["end_date"], "end_date") if "end_date" in got else None
    if end is None and effective is not None and term is not None:
        end = end_of_term(effective, term)
    if effective and end and end < effective:
        raise ContractError("invalid_contract_field", "end_date is before effective_date")
    value = None
    if "value" in got:
        try:
            value = Decimal(str(got["value"]))
        except ArithmeticError:
            raise ContractError("invalid_contract_field", "value must be a number") from None
        if not value.is_finite() or value < 0:
            raise ContractError("invalid_contract_field", "value must be 0 or more")
    tags = got.get("tags", ())
    if isinstance(tags, str):
        tags = [t for t in (x.strip() for x in tags.split(",")) if t]
    sla = got.get("sla")
    return Filed(
        customer_account_id=str(got["customer_account_id"])[:200]
        if "customer_account_id" in got else None,
        customer_name=str(got["customer_name"])[:200] if "customer_name" in got else None,
        type=kind, effective_date=effective, end_date=end, term_months=term,
        auto_renew=_as_bool(got["auto_renew"], "auto_renew") if "auto_renew" in got else False,
        notice_days=_as_int(got["notice_days"], "notice_days", 0, MAX_WINDOW_DAYS)
        if "notice_days" in got else None,
        value=value, currency=str(got["currency"]).upper()[:3] if "currency" in got else None,
        tags=tuple(sorted({str(t)[:64] for t in tags}))[:50],
        sla=sla if isinstance(sla, Mapping) else None)
