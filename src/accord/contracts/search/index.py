"""``contract_search`` kept in step with the contracts.

Whatever service changes a contract's title, customer, tags or ``search_text`` through the
ORM, the flush re-indexes that contract in the same transaction (a session event: the
services that keep ``search_text`` need not know the index exists). A bulk UPDATE that
bypasses the ORM calls ``reindex`` itself; ``rebuild`` redoes one organisation or all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, event, insert, select, update
from sqlalchemy.orm import Session, UOWTransaction

from accord.contracts.models import Contract, ContractSearch, ContractTag
from accord.contracts.search.query import document

_CHUNK = 500


def contract_document(title: str | None, customer_name: str | None,
                      customer_account_id: str | None, tags: Iterable[str],
                      search_text: str | None) -> str:
    """The words a contract is found by."""
    return document(title or "", customer_name or "", customer_account_id or "",
                    " ".join(sorted(tags)), search_text or "")


def reindex(conn: Connection, contract_ids: Iterable[str]) -> int:
    """Write the index rows of ``contract_ids`` (those that exist); how many changed."""
    ids = sorted(set(contract_ids))
    changed = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        tags: dict[str, list[str]] = {}
        for cid, tag in conn.execute(select(ContractTag.contract_id, ContractTag.tag)
                                     .where(ContractTag.contract_id.in_(chunk))):
            tags.setdefault(cid, []).append(tag)
        rows = conn.execute(
            select(Contract.id, Contract.org_id, Contract.title, Contract.customer_name,
                   Contract.customer_account_id, Contract.search_text, ContractSearch.doc)
            .outerjoin(ContractSearch, ContractSearch.contract_id == Contract.id)
            .where(Contract.id.in_(chunk))).all()
        for cid, org_id, title, name, account, text, indexed in rows:
            doc = contract_document(title, name, account, tags.get(cid, []), text)
            if indexed is None:
                conn.execute(insert(ContractSearch).values(contract_id=cid, org_id=org_id,
                                                           doc=doc))
            elif indexed != doc:
                conn.execute(update(ContractSearch).where(ContractSearch.contract_id == cid)
                             .values(doc=doc))
            else:
                continue
            changed += 1
    return changed


def rebuild(conn: Connection, org_id: str | None = None) -> int:
    """Re-index every contract (of ``org_id``), dropping rows of contracts that are gone."""
    stmt = select(Contract.id)
    if org_id is not None:
        stmt = stmt.where(Contract.org_id == org_id)
    ids = list(conn.execute(stmt).scalars())
    gone = delete(ContractSearch).where(ContractSearch.contract_id.not_in(
        select(Contract.id)))
    conn.execute(gone)
    return reindex(conn, ids)


def _touched(session: Session) -> set[str]:
    ids: set[str] = set()
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Contract) and obj.id:
            ids.add(obj.id)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, ContractTag) and obj.contract_id:
            ids.add(obj.contract_id)
    gone = {obj.id for obj in session.deleted if isinstance(obj, Contract)}
    return ids - gone


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: UOWTransaction, *_: Any) -> None:
    # session.new / dirty / deleted still list what this flush wrote
    ids = _touched(session)
    if ids:
        reindex(session.connection(), ids)
