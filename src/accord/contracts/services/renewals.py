"""Renewals: the periodic sweep over contracts nearing their end, and the pipeline.

The sweep (``sweep``, run by every ``accord worker`` and ``accord serve``; see
``contracts.tasks``) does, for each contract in force, in the organisation's local date:

* a renewal notice to the owner and watchers at each window (the contract's own
  ``renewal_windows``, else the organisation's; default 120, 90, 60 days before the end);
* the opt-out warning of an auto-renewing contract, ``renewal_opt_out_warning_days``
  before its opt-out notice date;
* ``active``/``renewed`` -> ``renewal_due`` once the first window opens
  (``contract:renewal_due``), and -> ``expired`` (flagged) the day after its end date
  without renewal (``contract:expired``, with a notice to the owner);
* the renewal addendum at ``renewal_addendum_days`` (``contracts.services.addenda``).

Exactly once, whatever the number of workers and restarts: each notice is a
``ContractNotice`` row whose unique key (contract, kind, window, term end) is inserted in
the same transaction as the outbox email it sends and the status change; the contract row
is locked first (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a worker skips a contract
another holds; SQLite's writers queue at ``BEGIN IMMEDIATE``), and a racing insert that
still collides rolls everything back. A crash before the commit leaves nothing, so the
next pass does it; after the commit the notice row says it is done.

The pipeline (what is due in 30/60/90/120 days, overdue) is ``services.pipeline``.

When a worker was down and several windows passed, one notice goes out (naming the
nearest window) and every passed window is recorded: no burst of stale notices.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from accord.accounts.services import active_principals, org_settings
from accord.audit import services as audit
from accord.contracts.domain import (
    IN_FORCE,
    ContractStatus,
    due_windows,
    local_today,
    next_status,
)
from accord.contracts.models import Contract, ContractNotice
from accord.contracts.services.retention import refresh_retention
from accord.contracts.settings import RenewalSettings, contract_windows, renewal_settings
from accord.delivery.mail import Email
from accord.delivery.services import send_email
from accord.runtime import Runtime
from accord.webhooks import services as webhooks
from accord.webhooks.domain import EVENTS as WEBHOOK_EVENTS

log = logging.getLogger("accord.contracts.renewals")

RENEWAL, OPT_OUT, ADDENDUM, EXPIRED = "renewal", "opt_out", "addendum", "expired"
ADDENDUM_LINK = "renewal_addendum"  # ContractLink.kind
BATCH = 500  # contracts acted on per pass (the next pass takes the rest)
CHUNK = 1000  # candidates read at once
IN_FORCE_VALUES = tuple(s.value for s in IN_FORCE)


# -- what is due: pure ------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """What one contract needs today (``sent``: the notices of this term already out)."""

    status: ContractStatus  # what it moves to (its status if nothing changes)
    windows: tuple[int, ...] = ()  # renewal windows passed and not yet noticed
    opt_out: bool = False
    expired_notice: bool = False
    addendum: bool = False

    def work(self, current: str) -> bool:
        return (self.status.value != current or bool(self.windows) or self.opt_out
                or self.expired_notice)


def due_for(*, status: str, end: date | None, own_windows: Any, auto_renew: bool,
            opt_out: date | None, org: RenewalSettings, today: date,
            sent: set[tuple[str, int]]) -> Due:
    try:
        current = ContractStatus(status)
    except ValueError:
        return Due(ContractStatus.TERMINATED)
    if current not in IN_FORCE or end is None:
        return Due(current)
    windows = contract_windows(own_windows, org)
    moved = next_status(current, end=end, today=today, renewal_window=max(windows))
    if moved == ContractStatus.EXPIRED:
        return Due(moved, expired_notice=(EXPIRED, 0) not in sent)
    pending = tuple(w for w in due_windows(end, windows, today) if (RENEWAL, w) not in sent)
    warn = (auto_renew and opt_out is not None and org.opt_out_warning_days > 0
            and opt_out - timedelta(days=org.opt_out_warning_days) <= today <= opt_out
            and (OPT_OUT, 0) not in sent)
    addendum = (org.template is not None and org.addendum_days > 0
                and end - timedelta(days=org.addendum_days) <= today <= end
                and (ADDENDUM, 0) not in sent)
    return Due(moved, pending, warn, False, addendum)


# -- reading -----------------------------------------------------------------------------


def settings_of(session: Session, org_ids: set[str]) -> dict[str, RenewalSettings]:
    raw = org_settings(session, org_ids)
    return {oid: renewal_settings(raw.get(oid, {})) for oid in org_ids}


def _sent(session: Session, pairs: Iterable[tuple[str, date]]) -> dict[str, set[tuple[str,
                                                                                       int]]]:
    """The notices already out for each (contract, term end)."""
    wanted = dict(pairs)
    out: dict[str, set[tuple[str, int]]] = {cid: set() for cid in wanted}
    if not wanted:
        return out
    rows = session.execute(select(ContractNotice.contract_id, ContractNotice.kind,
                                  ContractNotice.window_days, ContractNotice.term_end)
                           .where(ContractNotice.contract_id.in_(list(wanted))))
    for cid, kind, days, term_end in rows:
        if wanted.get(cid) == term_end:
            out[cid].add((kind, days))
    return out


def _org_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Contract.org_id).distinct().where(
        Contract.status.in_(IN_FORCE_VALUES), Contract.end_date.is_not(None))))


def _candidates(session: Session, org_id: str, org: RenewalSettings, today: date,
                after: str) -> list[Any]:
    """A chunk of the organisation's contracts in force that may have something due."""
    own = and_(Contract.renewal_windows.is_not(None),
               cast(Contract.renewal_windows, String) != "null")
    opt = and_(Contract.auto_renew.is_(True), Contract.opt_out_date.is_not(None),
               Contract.opt_out_date <= today + timedelta(days=org.opt_out_warning_days))
    return list(session.execute(
        select(Contract.id, Contract.status, Contract.end_date, Contract.renewal_windows,
               Contract.auto_renew, Contract.opt_out_date)
        .where(Contract.org_id == org_id, Contract.status.in_(IN_FORCE_VALUES),
               Contract.end_date.is_not(None), Contract.id > after,
               or_(Contract.end_date <= today + timedelta(days=org.horizon), own, opt))
        .order_by(Contract.id).limit(CHUNK)).all())


@dataclass(frozen=True)
class Pending:
    contract_id: str
    org_id: str
    work: bool  # notices or a status move (``process``)
    addendum: bool  # the renewal addendum (``addenda.draft_addendum``)


def pending(rt: Runtime, *, limit: int = BATCH) -> list[Pending]:
    """Contracts (all organisations) with something due now: up to ``limit``."""
    now = rt.now()
    out: list[Pending] = []
    with rt.db.uow() as uow:
        s = uow.session
        orgs = settings_of(s, set(_org_ids(s)))
        for org_id, org in sorted(orgs.items()):
            today = local_today(now, org.time_zone)
            after = ""
            while len(out) < limit:
                rows = _candidates(s, org_id, org, today, after)
                if not rows:
                    break
                after = rows[-1].id
                sent = _sent(s, ((r.id, r.end_date) for r in rows))
                for r in rows:
                    due = due_for(status=r.status, end=r.end_date,
                                  own_windows=r.renewal_windows, auto_renew=r.auto_renew,
                                  opt_out=r.opt_out_date, org=org, today=today,
                                  sent=sent[r.id])
                    if due.work(r.status) or due.addendum:
                        out.append(Pending(r.id, org_id, due.work(r.status), due.addendum))
    return out[:limit]


# -- events --------------------------------------------------------------------------------


def contract_event(session: Session, contract: Contract, tag: str, *, now: datetime,
                   data: dict[str, Any]) -> None:
    """A ``contract:*`` event: the webhook (``contract.<verb>``, if it is one) and, where
    the audit log takes contract trails, the audit event (in a savepoint: while the trail
    is keyed by envelope, the append is refused and only the webhook goes out)."""
    event_type = tag.replace(":", ".")
    if event_type in WEBHOOK_EVENTS:  # the shape of records' ``tell``
        body = {"contract_id": contract.id, "type": contract.type,
                "status": contract.status, **data}
        webhooks.emit(session, contract.org_id, event_type, body, now)
    try:
        with session.begin_nested():
            audit.record(session, contract, tag, actor="system", now=now,
                         data={"contract_id": contract.id, **data})
    except IntegrityError:
        log.debug("audit trail of contracts not available: %s not recorded", tag)


# -- notices ---------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def addressees(session: Session, contract: Contract) -> list[str]:
    """The owner's and the watchers' emails (active users of the organisation)."""
    ids = {str(w) for w in (contract.watchers or []) if isinstance(w, str)}
    if contract.owner_id:
        ids.add(contract.owner_id)
    people = active_principals(session, contract.org_id, ids)
    first = [people[contract.owner_id].email] if contract.owner_id in people else []
    return first + sorted({p.email for uid, p in people.items()
                           if uid != contract.owner_id} - set(first))


def contract_url(rt: Runtime, contract_id: str) -> str:
    return f"{rt.settings.base_url.rstrip('/')}/console/contracts/{contract_id}"


def _describe(c: Contract) -> str:
    who = f" with {c.customer_name}" if c.customer_name else ""
    return f"\"{_one_line(c.title)}\"{who}"


def _notice_email(rt: Runtime, c: Contract, kind: str, window: int,
                  today: date) -> tuple[str, str]:
    end = c.end_date
    assert end is not None
    left = (end - today).days
    link = contract_url(rt, c.id)
    if kind == OPT_OUT:
        return (f"Opt-out deadline {c.opt_out_date}: {_one_line(c.title)}",
                f"{_describe(c)} renews automatically on {end + timedelta(days=1)} unless "
                f"notice is given by {c.opt_out_date} ({c.notice_days} days before its end "
                f"on {end}).\n\nIf it should not renew, give notice before that date.\n\n"
                f"{link}\n")
    if kind == EXPIRED:
        return (f"Expired: {_one_line(c.title)}",
                f"{_describe(c)} ended on {end} and was not renewed: it is now expired and "
                f"flagged for review.\n\n{link}\n")
    auto = (" It renews automatically unless notice is given by "
            f"{c.opt_out_date}." if c.auto_renew and c.opt_out_date else "")
    return (f"Renewal due in {left} days: {_one_line(c.title)}",
            f"{_describe(c)} ends on {end}, in {left} days ({window}-day renewal notice)."
            f"{auto}\n\n{link}\n")


def _notify(rt: Runtime, session: Session, c: Contract, kind: str, window: int,
            today: date, now: datetime) -> bool:
    to = addressees(session, c)
    if not to:
        return False
    subject, body = _notice_email(rt, c, kind, window, today)
    send_email(session, Email(to=tuple(to), subject=subject, body=body), now=now,
               org_id=c.org_id)
    return True


def lock_or_skip(rt: Runtime, session: Session, contract_id: str) -> Contract | None:
    """Lock the contract for the sweep; on PostgreSQL skip one another transaction holds
    (its holder finishes; a next pass sees what it did)."""
    query = select(Contract).where(Contract.id == contract_id)
    return session.scalar(query.with_for_update(skip_locked=rt.db.is_postgres)
                          .execution_options(populate_existing=True))


@dataclass
class SweepResult:
    notices: int = 0
    opt_out_warnings: int = 0
    renewal_due: int = 0
    expired: int = 0
    addenda: int = 0

    def __str__(self) -> str:
        return (f"{self.notices} renewal notice(s), {self.opt_out_warnings} opt-out "
                f"warning(s), {self.renewal_due} renewal due, {self.expired} expired, "
                f"{self.addenda} addend(a)")


def _claim(session: Session, c: Contract, due: Due, end: date, now: datetime) -> bool:
    """Insert the notice rows of what is due (their unique key claims them) and flush them
    with the status change (the version column guards it); False when another
    transaction got there first (everything of this one is rolled back)."""
    rows = [(RENEWAL, w) for w in due.windows]
    rows += [(OPT_OUT, 0)] if due.opt_out else []
    rows += [(EXPIRED, 0)] if due.expired_notice else []
    for kind, days in rows:
        session.add(ContractNotice(org_id=c.org_id, contract_id=c.id, kind=kind,
                                   window_days=days, term_end=end, sent_at=now))
    try:
        session.flush()
    except (IntegrityError, StaleDataError):
        session.rollback()
        return False
    return True


def process(rt: Runtime, contract_id: str, result: SweepResult | None = None) -> bool:
    """Send what is due for one contract and move its status, in one transaction. False
    when nothing was due any more (or another worker holds or did it)."""
    result = result if result is not None else SweepResult()
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        c = lock_or_skip(rt, s, contract_id)
        if c is None:
            return False
        org = settings_of(s, {c.org_id})[c.org_id]
        today = local_today(now, org.time_zone)
        end = c.end_date
        if end is None:
            return False
        due = due_for(status=c.status, end=end, own_windows=c.renewal_windows,
                      auto_renew=c.auto_renew, opt_out=c.opt_out_date, org=org,
                      today=today, sent=_sent(s, [(c.id, end)])[c.id])
        if not due.work(c.status):
            return False
        before = c.status
        if due.status.value != before:
            c.status, c.updated_at = due.status.value, now
            c.flagged = c.flagged or due.status == ContractStatus.EXPIRED
            refresh_retention(c, now)
        if not _claim(s, c, due, end, now):
            return False  # another worker got there first
        counts = SweepResult()
        if due.windows:  # one notice, for the nearest window passed
            counts.notices += _notify(rt, s, c, RENEWAL, min(due.windows), today, now)
        if due.opt_out:
            counts.opt_out_warnings += _notify(rt, s, c, OPT_OUT, 0, today, now)
        if due.expired_notice:
            _notify(rt, s, c, EXPIRED, 0, today, now)
        if c.status == ContractStatus.EXPIRED.value and before != c.status:
            counts.expired += 1
            contract_event(s, c, "contract:expired", now=now,
                           data={"from": before, "end_date": end.isoformat(),
                                 "flagged": True})
        elif before != c.status:
            counts.renewal_due += 1
            contract_event(s, c, "contract:renewal_due", now=now,
                           data={"from": before, "end_date": end.isoformat(),
                                 "days_left": (end - today).days})
        try:
            s.commit()
        except (IntegrityError, StaleDataError):  # another worker got there first
            s.rollback()
            return False
    result.notices += counts.notices
    result.opt_out_warnings += counts.opt_out_warnings
    result.renewal_due += counts.renewal_due
    result.expired += counts.expired
    return True
