"""Retention of contract records: the policy in force and its date, kept up to date by
``refresh_retention`` (every service that changes a contract's status or dates calls it),
the per-contract override (compliance or admin, ``contract:retention``, audited) and the
disposition review (what is due; ``contract:disposition``). Nothing here destroys anything:
purge and legal hold are later work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.accounts.services import org_settings
from accord.contracts import retention as rules
from accord.contracts.domain import ContractError, local_today
from accord.contracts.models import Contract
from accord.contracts.services import (
    ContractDetail,
    actor_label,
    commit_or_conflict,
    detail,
    invalid,
    load,
    trail,
)
from accord.contracts.settings import read_retention_policies, read_time_zone
from accord.errors import Conflict, InvalidInput
from accord.runtime import Runtime

MAX_REASON = 1000
MAX_PAGE = 200


def facts_of(contract: Contract, now: datetime) -> rules.Facts:
    created = contract.created_at or now
    return rules.Facts(status=contract.status, created=created.date(),
                       effective_date=contract.effective_date, end_date=contract.end_date,
                       terminated=contract.terminated_at.date()
                       if contract.terminated_at else None)


def refresh_retention(contract: Contract, now: datetime) -> None:
    """Recompute ``retain_until`` from the contract's policy, status and dates."""
    policy = contract.retention_policy or rules.DEFAULT_POLICY.value
    if policy not in rules.POLICIES:
        policy = rules.DEFAULT_POLICY.value
    contract.retention_policy = policy
    contract.retain_until = rules.retain_until(policy, facts_of(contract, now))


def assign_policy(session: Session, contract: Contract, template_policy: str | None,
                  now: datetime) -> None:
    """A new contract's policy: the template's if it names one, else the organisation's
    for the contract type (``retention_policies``, default ``standard``)."""
    if template_policy in rules.POLICIES:
        policy = str(template_policy)
    else:
        raw = org_settings(session, {contract.org_id}).get(contract.org_id, {})
        policy = rules.policy_for_type(read_retention_policies(raw), contract.type).value
    contract.retention_policy = policy
    refresh_retention(contract, now)


def set_policy(rt: Runtime, principal: Principal, contract_id: str, *, policy: str,
               reason: str) -> ContractDetail:
    """Override one contract's policy (``contract:retention``), on its audit trail."""
    clean = (reason or "").strip()
    if not clean or len(clean) > MAX_REASON:
        raise InvalidInput(f"give a reason of 1-{MAX_REASON} characters",
                           code="invalid_reason")
    try:
        chosen = rules.check_policy(policy).value
    except ContractError as exc:
        raise invalid(exc) from exc
    with rt.db.uow() as uow:
        s = uow.session
        contract = load(s, principal, contract_id, Permission.CONTRACT_RETENTION)
        before, before_until = contract.retention_policy, contract.retain_until
        if before == chosen:
            raise Conflict(f"the contract's retention policy is {chosen} already",
                           code="retention_unchanged")
        now = rt.now()
        contract.retention_policy = chosen
        refresh_retention(contract, now)
        contract.updated_at = now
        trail(s, contract, "contract:retention_set", actor=actor_label(principal), now=now,
              data={"policy": chosen, "previous_policy": before, "reason": clean,
                    "retain_until": _iso(contract.retain_until),
                    "previous_retain_until": _iso(before_until)})
        commit_or_conflict(s)
        return detail(s, contract)


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


@dataclass(frozen=True)
class DueItem:
    id: str
    title: str
    type: str
    status: str
    customer_name: str | None
    policy: str
    created_at: datetime
    effective_date: date | None
    end_date: date | None
    terminated_at: datetime | None
    retain_until: date
    overdue_days: int
    reason: str


@dataclass(frozen=True)
class Disposition:
    today: date
    items: list[DueItem]
    total: int
    limit: int
    offset: int


def disposition(rt: Runtime, principal: Principal, *, limit: int = 50,
                offset: int = 0) -> Disposition:
    """The organisation's contracts whose retention has run out (``retain_until`` before
    today in its time zone), longest overdue first. A review only: nothing is destroyed."""
    principal.require(Permission.CONTRACT_DISPOSITION)
    if not 1 <= limit <= MAX_PAGE or not 0 <= offset <= 1_000_000:
        raise InvalidInput(f"limit is 1-{MAX_PAGE}, offset 0-1000000", code="invalid_page")
    with rt.db.uow() as uow:
        s = uow.session
        now = rt.now()
        raw = org_settings(s, {principal.org_id}).get(principal.org_id, {})
        today = local_today(now, read_time_zone(raw))
        where = and_(Contract.org_id == principal.org_id,
                     Contract.retain_until.is_not(None), Contract.retain_until < today)
        total = int(s.scalar(select(func.count()).select_from(Contract).where(where)) or 0)
        rows = s.scalars(select(Contract).where(where)
                         .order_by(Contract.retain_until, Contract.id)
                         .limit(limit).offset(offset)).all()
        items = []
        for c in rows:
            until = c.retain_until
            assert until is not None
            items.append(DueItem(
                id=c.id, title=c.title, type=c.type, status=c.status,
                customer_name=c.customer_name, policy=c.retention_policy,
                created_at=c.created_at, effective_date=c.effective_date,
                end_date=c.end_date, terminated_at=c.terminated_at, retain_until=until,
                overdue_days=(today - until).days,
                reason=rules.due_reason(c.retention_policy, facts_of(c, now), until)))
        return Disposition(today=today, items=items, total=total, limit=limit, offset=offset)

