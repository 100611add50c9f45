"""Retention policies, pure: the dates each policy gives, with a frozen clock."""

from __future__ import annotations

from datetime import date

import pytest

from accord.contracts import retention as r
from accord.contracts.domain import ContractError, ContractType
from accord.contracts.settings import check_retention_policies, read_retention_policies
from accord.drafting.contract import RETENTION_POLICIES, check_contract

CREATED = date(2026, 3, 1)


def facts(status: str = "active", **kw: date | None) -> r.Facts:
    return r.Facts(status=status, created=kw.pop("created", CREATED) or CREATED, **kw)


def test_the_policies_drafting_knows_are_retentions() -> None:
    assert RETENTION_POLICIES == r.POLICIES
    assert r.DEFAULT_POLICY == r.Policy.STANDARD


@pytest.mark.parametrize("status", ["active", "renewal_due", "renewed"])
def test_a_standard_contract_in_force_has_no_date(status: str) -> None:
    assert r.retain_until("standard", facts(status, end_date=date(2027, 2, 28))) is None
    assert r.retain_until("hipaa", facts(status, end_date=date(2027, 2, 28))) is None
    assert r.retain_until("audit_log", facts(status)) is None


def test_standard_is_seven_years_after_termination_or_expiry() -> None:
    assert r.retain_until("standard", facts("expired", end_date=date(2027, 2, 28))) == \
        date(2034, 2, 28)
    assert r.retain_until("standard", facts("terminated", end_date=date(2027, 2, 28),
                                            terminated=date(2026, 6, 15))) == date(2033, 6, 15)
    # 29 February into a year without one
    assert r.retain_until("standard", facts("expired", end_date=date(2028, 2, 29))) == \
        date(2035, 2, 28)


def test_hipaa_is_six_years_from_the_later_of_creation_and_last_effective_date() -> None:
    # ended after creation: from the end
    assert r.retain_until("hipaa", facts("expired", end_date=date(2027, 2, 28))) == \
        date(2033, 2, 28)
    # an import of a record that ended before it was filed: from creation
    assert r.retain_until("hipaa", facts("expired", effective_date=date(2019, 1, 1),
                                         end_date=date(2020, 1, 1))) == date(2032, 3, 1)


def test_transactional_is_90_days_from_creation_whatever_the_status() -> None:
    assert r.retain_until("transactional", facts()) == date(2026, 5, 30)
    assert r.retain_until("transactional", facts("terminated",
                                                 terminated=date(2026, 3, 2))) == \
        date(2026, 5, 30)


def test_audit_log_is_at_least_seven_years() -> None:
    assert r.retain_until("audit_log", facts("expired", end_date=date(2026, 4, 1))) == \
        date(2033, 4, 1)
    assert r.retain_until("audit_log", facts("expired", end_date=date(2020, 1, 1))) == \
        date(2033, 3, 1)


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ContractError) as e:
        r.retain_until("forever", facts())
    assert e.value.code == "unknown_retention_policy"


def test_due_reason_names_policy_and_dates() -> None:
    f = facts("expired", end_date=date(2027, 2, 28))
    text = r.due_reason("standard", f, date(2034, 2, 28))
    assert "standard" in text and "2027-02-28" in text and "2034-02-28" in text


def test_the_type_mapping_setting() -> None:
    assert check_retention_policies({"nda": "transactional", "consent": "hipaa"}) == {
        "nda": "transactional", "consent": "hipaa"}
    for bad in ({"nda": "forever"}, {"lease": "standard"}, ["nda"]):
        with pytest.raises(ContractError):
            check_retention_policies(bad)
    assert read_retention_policies({"retention_policies": {"nda": "x"}}) == {}
    assert r.policy_for_type({"nda": "hipaa"}, ContractType.NDA.value) == r.Policy.HIPAA
    assert r.policy_for_type({}, ContractType.NDA.value) == r.Policy.STANDARD


def test_a_template_may_name_a_retention_policy() -> None:
    assert check_contract({"type": "nda", "retention": "hipaa"}, {}) == []
    [issue] = check_contract({"type": "nda", "retention": "forever"}, {})
    assert issue.code == "retention_policy_unknown" and "hipaa" in issue.message
