"""What every group of contract use cases shares: loading a contract for a principal (per
organisation, 404 otherwise), the views the API, console and CLI show, the tags and the
text full-text search reads, and the ``contract:*`` audit trail of each contract (its own
hash-linked chain; ``contract.*`` webhooks go through the webhooks feature).

The groups: ``records`` (read, edit, terminate), ``filing`` (a completed envelope files,
amends or renews), ``imports`` (signed PDFs made elsewhere), ``indexing`` (document text
for search), ``renewals`` (the renewal sweep and its notices), ``addenda`` (the renewal
addendum drafted from the organisation's template), ``pipeline`` (what is due for
renewal, by band)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from accord.access import Permission, Principal
from accord.audit import services as audit
from accord.contracts.domain import ContractError
from accord.contracts.models import Contract, ContractDocument, ContractLink, ContractTag
from accord.errors import Conflict, InvalidInput, NotFound
from accord.webhooks import services as webhooks

MAX_SEARCH_TEXT = 200_000  # characters of document text and metadata kept for search
SYSTEM = "system"


@dataclass(frozen=True)
class DocumentView:
    id: str
    seq: int
    kind: str  # original | amendment | renewal_addendum | import
    title: str
    envelope_id: str | None
    sha256: str | None
    size: int | None
    changes: dict[str, Any]
    filed_at: datetime


@dataclass(frozen=True)
class LinkView:
    envelope_id: str
    kind: str
    created_at: datetime


@dataclass(frozen=True)
class ContractView:
    id: str
    title: str
    type: str
    status: str
    owner_id: str | None
    customer_account_id: str | None
    customer_name: str | None
    parties: list[dict[str, Any]]
    effective_date: date | None
    end_date: date | None
    term_months: int | None
    auto_renew: bool
    notice_days: int | None
    opt_out_date: date | None
    value: str | None
    currency: str | None
    tags: list[str]
    sla_terms: dict[str, Any] | None
    renewal_windows: list[int] | None
    watchers: list[str]
    source: str
    envelope_id: str | None
    flagged: bool
    flag_reason: str | None
    created_at: datetime
    updated_at: datetime
    terminated_at: datetime | None
    version: int
    retention_policy: str = "standard"
    retain_until: date | None = None  # the last day it must be kept (None: not known yet)


@dataclass(frozen=True)
class ContractDetail:
    """The contract page: the record, every document (its version history) and every
    envelope that made or changed it (with the links still waiting for completion)."""

    contract: ContractView
    documents: list[DocumentView]
    envelopes: list[LinkView]


def invalid(exc: ContractError) -> InvalidInput:
    return InvalidInput(exc.message, code=exc.code)


def tags_of(session: Session, contract_id: str) -> list[str]:
    with session.no_autoflush:
        return sorted(session.scalars(select(ContractTag.tag).where(
            ContractTag.contract_id == contract_id)))


def set_tags(session: Session, contract: Contract, tags: Iterable[str]) -> list[str]:
    """Replace the contract's tags (trimmed, at most 64 characters, 50 tags)."""
    clean = sorted({t.strip()[:64] for t in tags if t and t.strip()})[:50]
    session.execute(delete(ContractTag).where(ContractTag.contract_id == contract.id))
    session.add_all([ContractTag(contract_id=contract.id, tag=t, org_id=contract.org_id)
                     for t in clean])
    return clean


def view(contract: Contract, tags: Sequence[str]) -> ContractView:
    return ContractView(
        id=contract.id, title=contract.title, type=contract.type, status=contract.status,
        owner_id=contract.owner_id, customer_account_id=contract.customer_account_id,
        customer_name=contract.customer_name, parties=list(contract.parties or []),
        effective_date=contract.effective_date, end_date=contract.end_date,
        term_months=contract.term_months, auto_renew=contract.auto_renew,
        notice_days=contract.notice_days, opt_out_date=contract.opt_out_date,
        value=None if contract.value is None else f"{contract.value:.2f}",
        currency=contract.currency, tags=list(tags), sla_terms=contract.sla_terms,
        renewal_windows=contract.renewal_windows, watchers=list(contract.watchers or []),
        source=contract.source, envelope_id=contract.envelope_id, flagged=contract.flagged,
        flag_reason=contract.flag_reason, created_at=contract.created_at,
        updated_at=contract.updated_at, terminated_at=contract.terminated_at,
        version=contract.version, retention_policy=contract.retention_policy,
        retain_until=contract.retain_until)


def document_view(d: ContractDocument) -> DocumentView:
    return DocumentView(id=d.id, seq=d.seq, kind=d.kind, title=d.title,
                        envelope_id=d.envelope_id, sha256=d.sha256, size=d.size,
                        changes=dict(d.changes or {}), filed_at=d.filed_at)


def documents_of(session: Session, contract_id: str) -> list[ContractDocument]:
    return list(session.scalars(select(ContractDocument).where(
        ContractDocument.contract_id == contract_id).order_by(ContractDocument.seq)))


def next_seq(session: Session, contract_id: str) -> int:
    with session.no_autoflush:
        top = session.scalar(select(func.max(ContractDocument.seq)).where(
            ContractDocument.contract_id == contract_id))
    pending = [d.seq for d in session.new
               if isinstance(d, ContractDocument) and d.contract_id == contract_id]
    return max([top or 0, *pending]) + 1


def detail(session: Session, contract: Contract) -> ContractDetail:
    docs = documents_of(session, contract.id)
    links = list(session.scalars(select(ContractLink).where(
        ContractLink.contract_id == contract.id).order_by(ContractLink.created_at)))
    seen: dict[str, LinkView] = {}
    for d in docs:
        if d.envelope_id:
            seen[d.envelope_id] = LinkView(d.envelope_id, d.kind, d.filed_at)
    for link in links:
        seen.setdefault(link.envelope_id, LinkView(link.envelope_id, link.kind,
                                                   link.created_at))
    return ContractDetail(contract=view(contract, tags_of(session, contract.id)),
                          documents=[document_view(d) for d in docs],
                          envelopes=sorted(seen.values(), key=lambda v: v.created_at))


def load(session: Session, principal: Principal, contract_id: str,
         permission: Permission = Permission.CONTRACT_READ) -> Contract:
    """The principal's organisation's contract (404 for any other: an id from another
    organisation looks unknown), after checking ``permission``."""
    principal.require(permission)
    contract = session.get(Contract, contract_id)
    if contract is None or contract.org_id != principal.org_id:
        raise NotFound("no such contract", code="contract_not_found")
    return contract


def refresh_search_text(session: Session, contract: Contract,
                        document_text: str | None = None) -> None:
    """What full-text search reads: the metadata, the parties, the tags, the documents'
    titles and (given) the documents' text. Services call it after every change."""
    parts: list[str] = [contract.title, contract.type, contract.status,
                        contract.customer_name or "", contract.customer_account_id or "",
                        contract.currency or ""]
    for p in contract.parties or []:
        parts.extend(str(p.get(k) or "") for k in ("name", "email", "role"))
    parts.extend(tags_of(session, contract.id))
    with session.no_autoflush:
        parts.extend(session.scalars(select(ContractDocument.title).where(
            ContractDocument.contract_id == contract.id)))
    parts.extend(d.title for d in session.new
                 if isinstance(d, ContractDocument) and d.contract_id == contract.id)
    head = " ".join(p for p in parts if p)
    if document_text is None:  # keep the document text already indexed
        old = contract.search_text or ""
        marker = old.find("\n")
        document_text = old[marker + 1:] if marker >= 0 else ""
    text = (head.replace("\n", " ") + "\n" + document_text)[:MAX_SEARCH_TEXT]
    contract.search_text = storable_text(text)


def storable_text(text: str) -> str:
    """``text`` as both databases store it: text read out of a PDF may hold NUL bytes and
    lone surrogates, which PostgreSQL refuses (the completion that files the contract
    must not fail on them), so they become spaces."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join(" " if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def trail(session: Session, contract: Contract, tag: str, *, actor: str, now: datetime,
          data: dict[str, Any] | None = None, ip: str | None = None,
          user_agent: str | None = None) -> None:
    """One ``contract:*`` event on the contract's own audit trail."""
    audit.record(session, contract, tag, actor=actor, now=now, ip=ip, user_agent=user_agent,
                 data={"contract_id": contract.id, **(data or {})})


def tell(session: Session, contract: Contract, event_type: str, now: datetime,
         **data: Any) -> None:
    """A ``contract.*`` webhook event (ids, statuses and dates only)."""
    webhooks.emit(session, contract.org_id, event_type,
                  {"contract_id": contract.id, "type": contract.type,
                   "status": contract.status, **data}, now)


def commit_or_conflict(session: Session) -> None:
    try:
        session.commit()
    except (StaleDataError, IntegrityError) as exc:
        session.rollback()
        raise Conflict("the contract was changed by someone else; try again",
                       code="concurrent_update") from exc


def actor_label(principal: Principal) -> str:
    return f"{principal.name} <{principal.email}>"
