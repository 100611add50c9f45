"""Use cases on one contract record: read it (with its documents and envelopes), change
what people keep by hand (owner, watchers, tags, renewal windows, title, customer), terminate
it, download one of its documents, read its audit trail. Each owns its transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from accord.access import Permission, Principal
from accord.accounts.services import users_in_org
from accord.audit import services as audit
from accord.contracts import domain
from accord.contracts.domain import ContractError, ContractStatus
from accord.contracts.models import ContractDocument
from accord.contracts.services import (
    ContractDetail,
    DocumentView,
    actor_label,
    commit_or_conflict,
    detail,
    document_view,
    documents_of,
    invalid,
    load,
    refresh_search_text,
    set_tags,
    tags_of,
    trail,
)
from accord.contracts.services.retention import refresh_retention
from accord.errors import Conflict, InvalidInput, NotFound
from accord.runtime import Runtime

MAX_WATCHERS = 20
MAX_TAGS = 50
MAX_REASON = 1000


@dataclass(frozen=True)
class Download:
    filename: str
    data: bytes
    sha256: str | None


def get_contract(rt: Runtime, principal: Principal, contract_id: str) -> ContractDetail:
    with rt.db.uow() as uow:
        return detail(uow.session, load(uow.session, principal, contract_id))


def _users(session: Session, org_id: str, ids: Sequence[str], what: str) -> list[str]:
    wanted = list(dict.fromkeys(str(i) for i in ids))
    known = users_in_org(session, org_id, set(wanted))
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise InvalidInput(f"{what}: no such user in this organisation: "
                           f"{', '.join(u[:40] for u in unknown[:5])}", code="unknown_user")
    return wanted


def _text(value: str | None, name: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit or any(ord(ch) < 32 for ch in value):
        raise InvalidInput(f"{name} is one line of at most {limit} characters",
                           code="invalid_contract_field")
    return value or None


def _windows(value: Any) -> list[int] | None:
    try:
        return None if value is None else list(domain.check_windows(value))
    except ContractError as exc:
        raise invalid(exc) from exc


def _normalised(session: Session, org_id: str, name: str, value: Any) -> Any:
    """An editable field's value as stored (InvalidInput if it is not valid)."""
    if name == "title":
        clean = _text(value, "title", 300)
        if clean is None:
            raise InvalidInput("title cannot be empty", code="invalid_contract_field")
        return clean
    if name == "owner_id":
        return None if value is None else _users(session, org_id, [value], "owner_id")[0]
    if name == "watchers":
        if len(value) > MAX_WATCHERS:
            raise InvalidInput(f"at most {MAX_WATCHERS} watchers", code="too_many_watchers")
        return _users(session, org_id, value, "watchers")
    if name == "renewal_windows":
        return _windows(value)
    if name in ("customer_account_id", "customer_name"):
        return _text(value, name, 200)
    if name == "tags":
        if len(value) > MAX_TAGS:
            raise InvalidInput(f"at most {MAX_TAGS} tags", code="too_many_tags")
        return sorted({t for t in (_text(v, "tag", 64) for v in value) if t})
    raise InvalidInput(f"{name} cannot be changed here", code="invalid_contract_field")


EDITABLE = ("title", "owner_id", "watchers", "tags", "renewal_windows",
            "customer_account_id", "customer_name")


def update_contract(rt: Runtime, principal: Principal, contract_id: str,
                    given: Mapping[str, Any], *,
                    expected_version: int | None = None) -> ContractDetail:
    """Change the fields ``given`` (any of ``EDITABLE``; the rest stays). With
    ``expected_version`` (the ``version`` read) a change made since is refused with 409. A
    terminated contract keeps its record as it is (409)."""
    with rt.db.uow() as uow:
        s = uow.session
        contract = load(s, principal, contract_id, Permission.CONTRACT_MANAGE)
        if expected_version is not None and expected_version != contract.version:
            raise Conflict("the contract was changed since you read it",
                           code="version_mismatch")
        if contract.status == ContractStatus.TERMINATED:
            raise Conflict("a terminated contract cannot be changed",
                           code="contract_terminated")
        changes: dict[str, Any] = {}
        for name, value in given.items():
            clean = _normalised(s, contract.org_id, name, value)
            if name == "tags":
                if clean != tags_of(s, contract.id):
                    changes["tags"] = set_tags(s, contract, clean)
            elif getattr(contract, name) != clean:
                setattr(contract, name, clean)
                changes[name] = clean
        if changes:
            contract.updated_at = rt.now()
            flag_modified(contract, "updated_at")  # tags alone change the row's version too
            refresh_search_text(s, contract)
            trail(s, contract, "contract:updated", actor=actor_label(principal),
                  now=rt.now(), data={"changes": changes})
            commit_or_conflict(s)
        return detail(s, contract)


def terminate_contract(rt: Runtime, principal: Principal, contract_id: str, *,
                       reason: str, expected_version: int | None = None) -> ContractDetail:
    """End the contract early (409 if it is terminated already)."""
    clean = (reason or "").strip()
    if not clean or len(clean) > MAX_REASON:
        raise InvalidInput(f"give a reason of 1-{MAX_REASON} characters",
                           code="invalid_reason")
    with rt.db.uow() as uow:
        s = uow.session
        contract = load(s, principal, contract_id, Permission.CONTRACT_MANAGE)
        if expected_version is not None and expected_version != contract.version:
            raise Conflict("the contract was changed since you read it",
                           code="version_mismatch")
        try:
            contract.status = domain.terminate(ContractStatus(contract.status)).value
        except ContractError as exc:
            raise Conflict(exc.message, code=exc.code) from exc
        now = rt.now()
        contract.terminated_at = contract.updated_at = now
        refresh_retention(contract, now)
        refresh_search_text(s, contract)
        trail(s, contract, "contract:terminated", actor=actor_label(principal), now=now,
              data={"reason": clean})
        commit_or_conflict(s)
        return detail(s, contract)


def list_documents(rt: Runtime, principal: Principal, contract_id: str) -> list[DocumentView]:
    with rt.db.uow() as uow:
        contract = load(uow.session, principal, contract_id)
        return [document_view(d) for d in documents_of(uow.session, contract.id)]


def download(rt: Runtime, principal: Principal, contract_id: str,
             document_id: str) -> Download:
    """The stored bytes of one document, exactly as filed (a sealed PDF, an import)."""
    with rt.db.uow() as uow:
        contract = load(uow.session, principal, contract_id)
        doc = uow.session.get(ContractDocument, document_id)
        if doc is None or doc.contract_id != contract.id:
            raise NotFound("no such document", code="document_not_found")
        blob, sha, title = doc.blob, doc.sha256, doc.title
    if blob is None:
        raise Conflict("this document has no stored file", code="document_unavailable")
    data = rt.blobs.get(blob)
    safe = "".join(ch if ch.isalnum() or ch in "-_ ." else "_" for ch in title)[:100].strip()
    name = safe if safe.lower().endswith(".pdf") else f"{safe or 'contract'}.pdf"
    return Download(filename=name, data=data, sha256=sha)


def audit_trail(rt: Runtime, principal: Principal, contract_id: str) -> list[dict[str, Any]]:
    """The contract's own hash-linked ``contract:*`` events."""
    with rt.db.uow() as uow:
        principal.require(Permission.AUDIT_READ)
        contract = load(uow.session, principal, contract_id)
        return audit.events(uow.session, contract.id)

