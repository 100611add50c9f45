"""Filing: a completed envelope files a contract record, or, when it was sent to amend or
renew one (a ``ContractLink``), adds to that contract's version history and applies what
it changes. A completed renewal addendum renews the contract (new end date, ``renewed``).

``on_envelope_completed`` is the subscriber of signing's ``envelope.completed`` event: it
runs in the transaction that records the completion, so it files exactly once with it.
Bad data never blocks the completion: a mapping that cannot be read files what it can and
flags the contract with the reason. Only an outage (the database) raises."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.contracts import domain
from accord.contracts.domain import (
    AMENDING,
    ContractError,
    ContractStatus,
    ContractType,
    Filed,
    filed_from,
)
from accord.contracts.models import Contract, ContractDocument, ContractLink
from accord.contracts.services import (
    SYSTEM,
    actor_label,
    commit_or_conflict,
    load,
    next_seq,
    refresh_search_text,
    set_tags,
    tags_of,
    tell,
    trail,
)
from accord.contracts.services.indexing import queue_index
from accord.contracts.services.retention import assign_policy, refresh_retention
from accord.drafting.services import contract_values_of
from accord.envelopes import queries as envelopes
from accord.errors import Conflict, InvalidInput, NotFound
from accord.runtime import Runtime

log = logging.getLogger("accord.contracts.filing")

LINK_KINDS = ("amendment", "renewal_addendum")
_ODD = (TypeError, ValueError, ArithmeticError)
MAX_REASON = 2000


# -- reading the mapped values leniently ---------------------------------------------------


def _sla(value: Any) -> Any:
    """A template's SLA rows (``[{severity, response, resolution, ...}]``) as structured
    terms ``{"severities": {"1": {"first_response": ..., "resolution": ...}}}``; a mapping
    is kept as it is."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, list):
        return value
    severities: dict[str, dict[str, Any]] = {}
    for row in value:
        if not isinstance(row, Mapping) or row.get("severity") in (None, ""):
            continue
        terms = {("first_response" if k == "response" else str(k)): v
                 for k, v in row.items() if k != "severity" and v not in (None, "")}
        severities[str(row["severity"])] = terms
    return {"severities": severities}


def _prepared(values: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """The mapped values in the shapes ``filed_from`` reads: money as its amount (its
    currency fills ``currency`` unless mapped), SLA rows as structured terms, a list of
    tags as a list of strings."""
    out = dict(values)
    value_var = mapping.get("value")
    money = out.get(value_var) if value_var else None
    if isinstance(money, Mapping):
        out[str(value_var)] = money.get("amount")
        if "currency" not in mapping and money.get("currency"):
            out["__money_currency"] = money["currency"]
    sla_var = mapping.get("sla")
    if sla_var and sla_var in out:
        out[sla_var] = _sla(out[sla_var])
    tags_var = mapping.get("tags")
    if tags_var and isinstance(out.get(tags_var), list):
        out[tags_var] = [str(t) for t in out[tags_var] if not isinstance(t, Mapping)]
    return out


def read_leniently(values: Mapping[str, Any], mapping: Mapping[str, str],
                   default_type: ContractType) -> tuple[Filed, set[str], list[str]]:
    """(what could be read, the fields that were given, the problems): a field whose value
    cannot be read is left out and named in the problems, never raised."""
    prepared = _prepared(values, mapping)
    mapping = dict(mapping)
    if "__money_currency" in prepared:
        mapping["currency"] = "__money_currency"
    problems: list[str] = []
    good: dict[str, str] = {}
    for field_name, variable in sorted(mapping.items()):
        try:
            filed_from(prepared, {field_name: variable}, default_type)
        except ContractError as exc:
            problems.append(f"{field_name} (variable {variable}): {exc.message}")
            continue
        except _ODD as exc:  # a value of a shape no mapping expects: never block
            problems.append(f"{field_name} (variable {variable}): cannot be read ({exc})")
            continue
        good[field_name] = variable
    try:
        filed = filed_from(prepared, good, default_type)
    except (ContractError, *_ODD) as exc:  # fields that are fine alone but not together
        problems.append(str(exc))
        good.pop("end_date", None)
        try:
            filed = filed_from(prepared, good, default_type)
        except (ContractError, *_ODD) as again:
            problems.append(str(again))
            filed = Filed(type=default_type)
    given = {f for f, var in good.items() if prepared.get(var) not in (None, "")}
    if "sla" in given and filed.sla is None:
        problems.append("sla: the SLA terms are not a list of severities")
    return filed, given, problems


def _type_of(name: str | None) -> ContractType:
    try:
        return ContractType(name or ContractType.SUPPORT_SERVICES)
    except ValueError:
        return ContractType.SUPPORT_SERVICES


def _parties(session: Session, envelope_id: str) -> list[dict[str, Any]]:
    return [{"name": r.name, "email": r.email, "role": r.role_key or r.role}
            for r in envelopes.recipients_of(session, envelope_id) if r.role == "signer"]


def _flag(contract: Contract, problems: list[str]) -> None:
    if not problems:
        return
    reason = "; ".join(problems)
    old = contract.flag_reason
    contract.flagged = True
    contract.flag_reason = (f"{old}; {reason}" if old else reason)[:MAX_REASON]


# -- the subscriber -------------------------------------------------------------------------


def on_envelope_completed(session: Session, *, envelope_id: str, org_id: str,
                          now: datetime) -> None:
    """File the completed envelope (``envelope.completed``), once."""
    env = envelopes.lock(session, envelope_id)
    if env is None or env.org_id != org_id:
        return
    with session.no_autoflush:
        if session.scalar(select(ContractDocument.id).where(
                ContractDocument.envelope_id == envelope_id)) is not None:
            return  # filed already (a redelivered completion)
        link = session.get(ContractLink, envelope_id)
    mapped = contract_values_of(session, envelope_id)
    mapping = mapped.fields if mapped else {}
    values = mapped.values if mapped else {}
    kind = _type_of(mapped.type if mapped else None)
    filed, given, problems = read_leniently(values, mapping, kind)
    doc = ContractDocument(org_id=org_id, envelope_id=envelope_id, title=env.subject,
                           blob=env.sealed_blob, sha256=env.sealed_sha256,
                           size=None, filed_at=now)
    if link is not None:
        contract = session.get(Contract, link.contract_id)
        if contract is not None and contract.org_id == org_id:
            _amend(session, contract, link.kind, doc, filed, given, problems, now)
            return
        problems.append("the contract this envelope was sent to change no longer exists")
    elif filed.type in AMENDING:
        problems.append(f"a {filed.type} envelope with no contract linked: filed as a "
                        "contract of its own")
    file_new(session, env_id=envelope_id, org_id=org_id, title=env.subject,
              owner_id=env.created_by, parties=_parties(session, envelope_id), doc=doc,
              filed=filed, given=given, problems=problems, now=now,
              retention=mapped.retention if mapped else None)


def _apply(contract: Contract, filed: Filed, given: set[str]) -> dict[str, Any]:
    """Set the given fields on the contract; what changed, as JSON, for the history."""
    changes: dict[str, Any] = {}
    for f in dataclass_fields(Filed):
        name = f.name
        if name not in given or name in ("tags", "type"):
            continue
        new = getattr(filed, name)
        attr = "sla_terms" if name == "sla" else name
        if name == "sla":
            new = dict(new) if new is not None else None
        if getattr(contract, attr) != new:
            setattr(contract, attr, new)
            changes[attr] = _json(new)
    if filed.end_date is not None and "end_date" not in given and contract.end_date is None:
        contract.end_date = filed.end_date  # derived from effective date + term
        changes["end_date"] = filed.end_date.isoformat()
    contract.opt_out_date = domain.opt_out_date(contract.end_date, contract.notice_days,
                                                contract.auto_renew)
    return changes


def _json(v: Any) -> Any:
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return f"{v:.2f}"
    return v


def file_new(session: Session, *, env_id: str | None, org_id: str, title: str,
              owner_id: str | None, parties: list[dict[str, Any]], doc: ContractDocument,
              filed: Filed, given: set[str], problems: list[str], now: datetime,
              actor: str = SYSTEM, source: str = "envelope",
              ip: str | None = None, user_agent: str | None = None,
              retention: str | None = None) -> Contract:
    contract = Contract(org_id=org_id, title=title[:300] or "Contract", type=filed.type.value,
                        status=ContractStatus.ACTIVE.value, owner_id=owner_id,
                        parties=parties, auto_renew=False, source=source,
                        envelope_id=env_id, watchers=[], search_text="", flagged=False,
                        created_at=now, updated_at=now)
    changes = _apply(contract, filed, given | {"auto_renew"})
    if filed.end_date is not None and contract.end_date is None:
        contract.end_date = filed.end_date
    _flag(contract, problems)
    assign_policy(session, contract, retention, now)
    session.add(contract)
    session.flush()
    tags = set_tags(session, contract, filed.tags)
    doc.contract_id, doc.seq = contract.id, 1
    doc.kind = "import" if source == "import" else "original"
    doc.changes = {**changes, **({"tags": tags} if tags else {})}
    session.add(doc)
    refresh_search_text(session, contract)
    if source == "envelope" and doc.blob:
        queue_index(session, contract, now)
    trail(session, contract, "contract:filed", actor=actor, now=now, ip=ip,
          user_agent=user_agent,
          data={"envelope_id": env_id, "source": source, "type": contract.type,
                "document_sha256": doc.sha256, "flagged": contract.flagged,
                "flag_reason": contract.flag_reason})
    tell(session, contract, "contract.filed", now, envelope_id=env_id, source=source,
         flagged=contract.flagged)
    if problems:
        log.warning("contract %s filed with problems: %s", contract.id, contract.flag_reason)
    return contract


def _amend(session: Session, contract: Contract, kind: str, doc: ContractDocument,
           filed: Filed, given: set[str], problems: list[str], now: datetime) -> None:
    """An amendment or renewal addendum completed: a new version of the contract."""
    old_end = contract.end_date
    renewing = kind == "renewal_addendum" or filed.type == ContractType.RENEWAL_ADDENDUM
    new_end = filed.end_date if "end_date" in given or renewing else None
    if renewing and new_end is None and filed.term_months and old_end is not None:
        new_end = domain.end_of_term(old_end + timedelta(days=1), filed.term_months)
    apply_given = set(given) - {"effective_date"} if renewing else set(given)
    apply_given.discard("end_date")
    changes = _apply(contract, filed, apply_given)
    renewed = False
    if renewing:
        if new_end is None:
            problems.append("the renewal addendum gives no new end date (end_date or "
                            "term_months)")
        else:
            try:
                contract.status = domain.renew(ContractStatus(contract.status), old_end,
                                               new_end).value
            except ContractError as exc:
                problems.append(exc.message)
            else:
                contract.end_date, renewed = new_end, True
                changes["end_date"] = new_end.isoformat()
                changes["status"] = contract.status
    elif new_end is not None and new_end != old_end:
        contract.end_date = new_end
        changes["end_date"] = new_end.isoformat()
    contract.opt_out_date = domain.opt_out_date(contract.end_date, contract.notice_days,
                                                contract.auto_renew)
    if "tags" in given and filed.tags:
        tags = set_tags(session, contract, {*tags_of(session, contract.id), *filed.tags})
        changes["tags"] = tags
    _flag(contract, problems)
    contract.updated_at = now
    refresh_retention(contract, now)
    doc.contract_id, doc.seq = contract.id, next_seq(session, contract.id)
    doc.kind = "renewal_addendum" if renewing else "amendment"
    doc.changes = changes
    session.add(doc)
    refresh_search_text(session, contract)
    if doc.blob:
        queue_index(session, contract, now)
    trail(session, contract, "contract:renewed" if renewed else "contract:updated",
          actor=SYSTEM, now=now,
          data={"envelope_id": doc.envelope_id, "kind": doc.kind, "seq": doc.seq,
                "changes": changes, "flagged": contract.flagged,
                "problems": problems or None})
    if renewed:
        tell(session, contract, "contract.renewed", now, envelope_id=doc.envelope_id,
             end_date=contract.end_date.isoformat() if contract.end_date else None)


# -- linking an envelope to the contract it changes ----------------------------------------


def link_in(session: Session, contract: Contract, envelope_id: str, kind: str,
            now: datetime, *, actor: str = SYSTEM) -> ContractLink:
    """Mark ``envelope_id`` (of the contract's organisation) as changing ``contract``
    when it completes (in the caller's transaction; renewals use it for the addenda they
    draft). Refused if the envelope is filed or linked already."""
    if kind not in LINK_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(LINK_KINDS)}",
                           code="invalid_link_kind")
    env = envelopes.lock(session, envelope_id)
    if env is None or env.org_id != contract.org_id:
        raise NotFound("no such envelope", code="envelope_not_found")
    if contract.status == ContractStatus.TERMINATED:
        raise Conflict("the contract is terminated", code="contract_terminated")
    if env.status in ("completed", "completing", "voided", "declined", "expired"):
        raise Conflict(f"the envelope is {env.status}: only an envelope still in progress "
                       "can be linked", code="envelope_finished")
    with session.no_autoflush:
        taken = session.get(ContractLink, envelope_id) is not None or session.scalar(
            select(Contract.id).where(Contract.envelope_id == envelope_id)) is not None
    if taken:
        raise Conflict("the envelope is linked to a contract already", code="already_linked")
    link = ContractLink(envelope_id=envelope_id, contract_id=contract.id,
                        org_id=contract.org_id, kind=kind, created_at=now)
    session.add(link)
    trail(session, contract, "contract:linked", actor=actor, now=now,
          data={"envelope_id": envelope_id, "kind": kind})
    return link


def link_envelope(rt: Runtime, principal: Principal, contract_id: str, *, envelope_id: str,
                  kind: str) -> None:
    """The API's and CLI's link: the envelope (one the caller may send) amends or renews
    the contract when it completes."""
    with rt.db.uow() as uow:
        s = uow.session
        contract = load(s, principal, contract_id, Permission.CONTRACT_MANAGE)
        principal.require(Permission.ENVELOPE_SEND)
        envelopes.load(s, principal, envelope_id)  # one the caller may see in full
        link_in(s, contract, envelope_id, kind, rt.now(), actor=actor_label(principal))
        commit_or_conflict(s)
