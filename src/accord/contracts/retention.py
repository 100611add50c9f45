"""Retention policies of contract records (issue 10, item 4). Pure: which policies exist,
their defaults, and ``retain_until(policy, facts)``: the last day a record must be
kept (it is due for disposition review the day after; ``None`` while that is not known
yet, e.g. a standard contract still in force).

* ``standard``: 7 years after the contract ended (terminated, or expired at its end date).
* ``hipaa``: 6 years from creation or from the date it was last in effect, whichever is
  later (while it is still in effect the later date is not known: ``None``).
* ``transactional``: 90 days from creation.
* ``audit_log``: at least 7 years: 7 years from creation or from the end, whichever is
  later (``None`` while the contract is in force).

Nothing here destroys anything: the dates feed the disposition review only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from accord.contracts.domain import ContractError


class Policy(StrEnum):
    STANDARD = "standard"
    HIPAA = "hipaa"
    TRANSACTIONAL = "transactional"
    AUDIT_LOG = "audit_log"


DEFAULT_POLICY = Policy.STANDARD
POLICIES = tuple(p.value for p in Policy)
ENDED = ("expired", "terminated")  # the statuses of a contract no longer in force


@dataclass(frozen=True)
class Rule:
    years: int = 0
    days: int = 0
    from_creation: bool = False  # counted from creation (else from the end)
    later_of_end: bool = False  # the later of creation and the end
    description: str = ""


RULES: dict[Policy, Rule] = {
    Policy.STANDARD: Rule(years=7, description="7 years after termination or expiry"),
    Policy.HIPAA: Rule(years=6, from_creation=True, later_of_end=True,
                       description="6 years from creation or the last effective date, "
                       "whichever is later"),
    Policy.TRANSACTIONAL: Rule(days=90, from_creation=True,
                               description="90 days from creation"),
    Policy.AUDIT_LOG: Rule(years=7, from_creation=True, later_of_end=True,
                           description="at least 7 years (from creation or the end, "
                           "whichever is later)"),
}


@dataclass(frozen=True)
class Facts:
    """What retention reads of a contract."""

    status: str
    created: date
    effective_date: date | None = None
    end_date: date | None = None
    terminated: date | None = None


def check_policy(value: Any) -> Policy:
    if value not in POLICIES:
        raise ContractError("unknown_retention_policy", f"retention policy {value!r} is not "
                            f"one of {', '.join(POLICIES)}")
    return Policy(value)


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a year without one
        return day.replace(year=day.year + years, day=28)


def ended_on(facts: Facts) -> date | None:
    """The last day the contract was in effect (None while it still is)."""
    if facts.status not in ENDED:
        return None
    if facts.status == "terminated" and facts.terminated is not None:
        return facts.terminated
    return facts.end_date or facts.terminated or facts.effective_date or facts.created


def retain_until(policy: str, facts: Facts) -> date | None:
    rule = RULES[check_policy(policy)]
    end = ended_on(facts)
    if rule.from_creation:
        base = max(facts.created, facts.effective_date or facts.created)
        if rule.later_of_end:
            if end is None:
                return None
            base = max(base, end)
    else:
        if end is None:
            return None
        base = end
    return add_years(base, rule.years) + timedelta(days=rule.days)


def due_reason(policy: str, facts: Facts, until: date) -> str:
    """Why a record is due, in words, for the disposition review."""
    rule = RULES[check_policy(policy)]
    end = ended_on(facts)
    what = f"{policy}: {rule.description}"
    if end is not None:
        what += f"; {facts.status} on {end.isoformat()}"
    return f"{what}; created {facts.created.isoformat()}; retained until {until.isoformat()}"


def check_type_policies(value: Any, types: tuple[str, ...]) -> dict[str, str]:
    """The ``retention_policies`` setting: contract type -> policy (types not named keep
    ``standard``)."""
    if not isinstance(value, Mapping):
        raise ContractError("invalid_retention_policies", "retention_policies maps contract "
                            "types to retention policies")
    out: dict[str, str] = {}
    for kind, policy in value.items():
        if kind not in types:
            raise ContractError("invalid_retention_policies",
                                f"{str(kind)[:40]!r} is not a contract type; known: "
                                f"{', '.join(types)}")
        out[str(kind)] = check_policy(policy).value
    return out


def policy_for_type(mapping: Mapping[str, Any], kind: str) -> Policy:
    value = mapping.get(kind, DEFAULT_POLICY)
    return Policy(value) if value in POLICIES else DEFAULT_POLICY


def today_of(now: datetime) -> date:
    return now.date()
