"""The contract record's pure rules: term arithmetic, renewal windows, status moves, and
filing fields from a template's variable mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.contracts.domain import (
    ContractError,
    ContractStatus,
    ContractType,
    add_months,
    check_windows,
    due_windows,
    end_of_term,
    filed_from,
    local_today,
    next_status,
    opt_out_date,
    renew,
    terminate,
)

S = ContractStatus


def test_a_year_from_new_year_ends_on_new_years_eve() -> None:
    assert end_of_term(date(2026, 1, 1), 12) == date(2026, 12, 31)
    assert end_of_term(date(2026, 3, 15), 1) == date(2026, 4, 14)


def test_month_ends_clamp() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 12, 31), -10) == date(2026, 2, 28)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 1, 1)),
       st.integers(min_value=1, max_value=600))
def test_a_term_ends_the_day_before_the_next_one_starts(start: date, months: int) -> None:
    end = end_of_term(start, months)
    assert start <= end
    assert (end.toordinal() + 1) == add_months(start, months).toordinal()


def test_terms_out_of_range_are_refused() -> None:
    for months in (0, -1, 1201):
        with pytest.raises(ContractError) as err:
            end_of_term(date(2026, 1, 1), months)
        assert err.value.code == "invalid_term"


def test_opt_out_date_only_for_auto_renewing_contracts() -> None:
    end = date(2027, 3, 31)
    assert opt_out_date(end, 30, True) == date(2027, 3, 1)
    assert opt_out_date(end, 30, False) is None
    assert opt_out_date(None, 30, True) is None
    assert opt_out_date(end, None, True) is None


def test_windows_are_checked_and_sorted() -> None:
    assert check_windows([60, 120, 90, 90]) == (120, 90, 60)
    for bad in ([], [0], [5000], list(range(1, 20))):
        with pytest.raises(ContractError):
            check_windows(bad)


def test_due_windows_count_days_before_the_end() -> None:
    end = date(2027, 3, 31)
    assert due_windows(end, (120, 90, 60), date(2026, 11, 30)) == []
    assert due_windows(end, (120, 90, 60), date(2026, 12, 1)) == [120]
    assert due_windows(end, (120, 90, 60), date(2026, 12, 31)) == [120, 90]
    assert due_windows(end, (120, 90, 60), date(2027, 3, 31)) == [120, 90, 60]
    assert due_windows(end, (120, 90, 60), date(2027, 4, 1)) == []


def test_the_local_date_decides_across_time_zones_and_dst() -> None:
    # 2027-03-28 01:30 UTC: still the 27th in New York, already the 28th in Paris, and
    # the night Europe moves its clocks forward.
    now = datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert local_today(now, "America/New_York") == date(2027, 3, 27)
    assert local_today(now, "Europe/Paris") == date(2027, 3, 28)
    end = date(2027, 6, 26)  # its 90-day window opens on 2027-03-28
    assert due_windows(end, (90,), local_today(now, "Europe/Paris")) == [90]
    assert due_windows(end, (90,), local_today(now, "America/New_York")) == []
    with pytest.raises(ValueError):
        local_today(datetime(2027, 3, 28), "Europe/Paris")


def test_status_moves_with_the_calendar() -> None:
    end = date(2027, 3, 31)
    assert next_status(S.ACTIVE, end=end, today=date(2027, 1, 29), renewal_window=60) == S.ACTIVE
    assert next_status(S.ACTIVE, end=end, today=date(2027, 1, 30),
                       renewal_window=60) == S.RENEWAL_DUE
    assert next_status(S.RENEWAL_DUE, end=end, today=date(2027, 4, 1),
                       renewal_window=60) == S.EXPIRED
    assert next_status(S.TERMINATED, end=end, today=date(2027, 4, 1),
                       renewal_window=60) == S.TERMINATED
    assert next_status(S.ACTIVE, end=None, today=date(2030, 1, 1), renewal_window=60) == S.ACTIVE


def test_renewal_and_termination() -> None:
    assert renew(S.RENEWAL_DUE, date(2027, 3, 31), date(2028, 3, 31)) == S.RENEWED
    assert renew(S.EXPIRED, date(2027, 3, 31), date(2028, 3, 31)) == S.RENEWED
    with pytest.raises(ContractError) as err:
        renew(S.ACTIVE, date(2027, 3, 31), date(2027, 3, 31))
    assert err.value.code == "invalid_renewal"
    with pytest.raises(ContractError):
        renew(S.TERMINATED, None, date(2028, 1, 1))
    assert terminate(S.ACTIVE) == S.TERMINATED
    with pytest.raises(ContractError):
        terminate(S.TERMINATED)


MAPPING = {"customer_account_id": "account", "effective_date": "start", "term_months": "term",
           "auto_renew": "renews", "notice_days": "notice", "value": "fee",
           "currency": "ccy", "tags": "labels", "type": "kind"}


def test_filing_reads_the_mapped_variables() -> None:
    filed = filed_from({"account": "ACME-7", "start": "2026-01-01", "term": 12,
                        "renews": True, "notice": 30, "fee": "1200.50", "ccy": "eur",
                        "labels": "gold, emea,gold", "kind": "maintenance", "other": 1},
                       MAPPING)
    assert filed.customer_account_id == "ACME-7"
    assert filed.type == ContractType.MAINTENANCE
    assert filed.end_date == date(2026, 12, 31)
    assert filed.auto_renew is True and filed.notice_days == 30
    assert filed.value == Decimal("1200.50") and filed.currency == "EUR"
    assert filed.tags == ("emea", "gold")


def test_filing_refuses_bad_values_with_a_code() -> None:
    cases = [{"start": "01/02/2026"}, {"term": 1.5}, {"term": True}, {"fee": "-1"},
             {"fee": "NaN"}, {"kind": "lease"}, {"renews": "perhaps"},
             {"start": "2026-05-01", "end": "2026-04-01"}]
    mapping = dict(MAPPING, end_date="end")
    for values in cases:
        with pytest.raises(ContractError) as err:
            filed_from(values, mapping)
        assert err.value.code == "invalid_contract_field", values
    with pytest.raises(ContractError) as err:
        filed_from({}, {"colour": "c"})
    assert err.value.code == "invalid_contract_mapping"
