"""The renewal addendum: at ``renewal_addendum_days`` before a contract's end, an envelope
drafted from the organisation's renewal template (``renewal_template``, a published
template key) filled with the contract's data, through drafting's services, and linked to
the contract (``ContractLink(kind="renewal_addendum")``): when it completes, filing renews
the contract. In ``confirm`` mode it stays a draft that the owner reviews and sends (they
get an email); in ``auto`` mode it is sent at once, the owner as its sender.

Once per term: the ``ContractNotice(kind="addendum")`` row, the envelope, the link and the
owner's email commit in one transaction, under the contract's lock. The document is
rendered before that transaction (rendering takes a while); a worker that then finds the
addendum already drafted throws its rendering away (blobs are content-addressed).

The template's variables are filled from the contract by name, those the template
declares among: ``contract.id``, ``contract.title``, ``customer_account_id``,
``customer_name`` / ``customer.legal_name``, ``effective_date``, ``end_date`` (the
current end), ``new_end_date`` / ``renewal_end_date``, ``term_months``, ``value`` /
``annual_fee`` (money or number), ``currency``, ``auto_renew``, ``notice_days`` /
``renewal_notice_days``. Recipients: each role takes the contract party of the same role,
the owner for a ``provider``/``owner``/``account_manager`` role, else the first other party
for a signer role, else the role's default recipient.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from accord.access import Principal
from accord.accounts.services import active_principals
from accord.contracts.domain import IN_FORCE, add_months, local_today
from accord.contracts.models import Contract, ContractLink, ContractNotice
from accord.contracts.services.renewals import (
    ADDENDUM,
    ADDENDUM_LINK,
    _sent,
    contract_event,
    contract_url,
    lock_or_skip,
    settings_of,
)
from accord.contracts.settings import AUTO, RenewalSettings
from accord.db import new_id
from accord.delivery.mail import Email
from accord.delivery.services import send_email
from accord.drafting.domain import RoleSpec
from accord.drafting.services import bulk
from accord.envelopes.services import Actor
from accord.errors import AccordError
from accord.runtime import Runtime

log = logging.getLogger("accord.contracts.addenda")
OWNER_ROLES = frozenset({"provider", "owner", "account_manager", "sender"})
DEFAULT_TERM_MONTHS = 12


def new_end(c: Contract) -> date:
    """The end of the renewed term: one more term (or 12 months) after the current end."""
    assert c.end_date is not None
    return add_months(c.end_date + timedelta(days=1),
                      c.term_months or DEFAULT_TERM_MONTHS) - timedelta(days=1)


def contract_data(c: Contract, specs: Sequence[Any]) -> dict[str, Any]:
    """The contract's values for the variables the template declares (flat names)."""
    value = str(c.value) if c.value is not None else None
    offered: dict[str, Any] = {
        "contract.id": c.id, "contract.title": c.title,
        "customer_account_id": c.customer_account_id, "customer_name": c.customer_name,
        "customer.legal_name": c.customer_name,
        "effective_date": c.effective_date.isoformat() if c.effective_date else None,
        "end_date": c.end_date.isoformat() if c.end_date else None,
        "new_end_date": new_end(c).isoformat(), "renewal_end_date": new_end(c).isoformat(),
        "term_months": c.term_months, "currency": c.currency, "auto_renew": c.auto_renew,
        "notice_days": c.notice_days, "renewal_notice_days": c.notice_days,
        "value": value, "annual_fee": value}
    out: dict[str, Any] = {}
    for spec in specs:
        got = offered.get(spec.name)
        if got is None:
            continue
        if spec.type == "money" and isinstance(got, str):
            got = {"amount": got, "currency": c.currency or getattr(spec, "currency", None)
                   or "USD"}
        out[spec.name] = got
    return out


def recipients_for(roles: Sequence[RoleSpec], c: Contract,
                   owner: Principal) -> dict[str, dict[str, str]]:
    parties = [p for p in (c.parties or []) if isinstance(p, Mapping)
               and p.get("email") and p.get("name")]
    others = [p for p in parties if str(p["email"]).lower() != owner.email.lower()]
    out: dict[str, dict[str, str]] = {}
    for role in roles:
        same = next((p for p in parties if p.get("role") == role.key), None)
        if same is not None:
            out[role.key] = {"name": str(same["name"]), "email": str(same["email"])}
        elif role.key in OWNER_ROLES:
            out[role.key] = {"name": owner.name, "email": owner.email}
        elif role.type == "signer" and others:
            first = others.pop(0)
            out[role.key] = {"name": str(first["name"]), "email": str(first["email"])}
    return out


def _due(c: Contract, org: RenewalSettings, today: date, sent: set[tuple[str, int]]) -> bool:
    return (c.status in {s.value for s in IN_FORCE} and c.end_date is not None
            and org.template is not None and org.addendum_days > 0
            and c.end_date - timedelta(days=org.addendum_days) <= today <= c.end_date
            and (ADDENDUM, 0) not in sent)


@dataclass(frozen=True)
class _Draft:
    """An addendum rendered outside any transaction, to be committed under the lock."""

    contract_id: str
    term_end: date
    owner: Principal
    org: RenewalSettings
    prepared: bulk.Prepared
    context: dict[str, Any]
    document: bytes
    fields: tuple[Any, ...]


def _prepare(rt: Runtime, contract_id: str) -> _Draft | None:
    now = rt.now()
    with rt.db.uow() as uow:  # what is due, read without a lock
        s = uow.session
        c = s.get(Contract, contract_id)
        if c is None or c.end_date is None or c.owner_id is None:
            return None
        org = settings_of(s, {c.org_id})[c.org_id]
        if not _due(c, org, local_today(now, org.time_zone),
                    _sent(s, [(c.id, c.end_date)])[c.id]) or org.template is None:
            return None
        owner = active_principals(s, c.org_id, {c.owner_id}).get(c.owner_id)
        if owner is None:
            log.warning("contract %s: owner inactive, no renewal addendum", c.id)
            return None
        s.expunge(c)  # its values, read here, fill the template below
    try:
        p = bulk.published_version(rt, owner, org.template)
        context, problems = bulk.check(p, contract_data(c, p.specs))
        if problems:
            log.warning("contract %s: renewal template %r does not take its data: %s",
                        c.id, org.template, "; ".join(f"{x.variable}: {x.message}"
                                                     for x in problems[:5]))
            return None
        document, fields = bulk.render_row(rt, p, context)
    except AccordError as exc:
        log.warning("contract %s: renewal addendum not drafted: %s", contract_id, exc)
        return None
    return _Draft(contract_id, c.end_date, owner, org, p, context, document, fields)


def draft_addendum(rt: Runtime, contract_id: str) -> bool:
    """Draft (or send) the contract's renewal addendum if it is due and not drafted yet.
    True when this call drafted it. A template that is missing, unpublished or does not
    take the contract's data is logged and tried again on the next pass."""
    d = _prepare(rt, contract_id)
    return d is not None and _commit(rt, d)


def _commit(rt: Runtime, d: _Draft) -> bool:
    now = rt.now()
    auto = d.org.addendum_mode == AUTO
    with rt.db.uow() as uow:
        s = uow.session
        c = lock_or_skip(rt, s, d.contract_id)
        today = local_today(now, d.org.time_zone)
        if c is None or c.end_date != d.term_end or not _due(
                c, d.org, today, _sent(s, [(c.id, d.term_end)])[c.id]):
            return False
        s.add(ContractNotice(org_id=c.org_id, contract_id=c.id, kind=ADDENDUM, window_days=0,
                             term_end=d.term_end, sent_at=now))
        try:
            s.flush()
            env_id = bulk.create_in(
                rt, d.owner, s, d.prepared, envelope_id=new_id(), context=d.context,
                document=d.document, rendered_fields=d.fields,
                recipients=recipients_for(d.prepared.roles, c, d.owner),
                subject=f"Renewal addendum: {' '.join(c.title.split())[:150]}",
                message=f"Renewal of {' '.join(c.title.split())[:150]} to {new_end(c)}.",
                expires_in_days=max(1, min(120, (d.term_end - today).days + 1)),
                actor=Actor("system:renewals"), send=auto)
            s.add(ContractLink(envelope_id=env_id, contract_id=c.id, org_id=c.org_id,
                               kind=ADDENDUM_LINK, created_at=now))
            _tell_owner(rt, s, c, d.owner, env_id, auto=auto, now=now)
            contract_event(s, c, "contract:renewal_addendum_drafted", now=now,
                           data={"envelope_id": env_id, "sent": auto,
                                 "new_end_date": new_end(c).isoformat()})
            s.commit()
        except AccordError as exc:
            log.warning("contract %s: renewal addendum not drafted: %s", c.id, exc)
            return False
        except (IntegrityError, StaleDataError):  # another worker drafted it
            return False
        return True


def _tell_owner(rt: Runtime, session: Session, c: Contract, owner: Principal, env_id: str,
                *, auto: bool, now: datetime) -> None:
    base = rt.settings.base_url.rstrip("/")
    title = " ".join(c.title.split())[:150]
    if auto:
        subject = f"Renewal addendum sent: {title}"
        body = (f"The renewal addendum of \"{title}\" (to {new_end(c)}) was sent for "
                f"signature.\n\n{base}/console/envelopes/{env_id}\n{contract_url(rt, c.id)}\n")
    else:
        subject = f"Renewal addendum to review: {title}"
        body = (f"A renewal addendum of \"{title}\" (to {new_end(c)}) is drafted from your "
                f"organisation's renewal template. Review it and send it:\n\n"
                f"{base}/console/envelopes/{env_id}\n\n{contract_url(rt, c.id)}\n")
    send_email(session, Email(to=(owner.email,), subject=subject, body=body), now=now,
               org_id=c.org_id)
