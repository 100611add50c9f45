"""Repository search: filters on any metadata, full-text ``q``, sort, cursor pagination
and the CSV export. One service for the API, the console and saved views; the same
answers on SQLite (FTS5) and PostgreSQL (tsvector), see ``contracts.search``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.accounts.services import user_emails
from accord.bulk.domain import results_csv
from accord.contracts.domain import ContractStatus, ContractType
from accord.contracts.models import Contract, ContractSearch, ContractTag
from accord.contracts.search import backends
from accord.contracts.search.query import Query, parse
from accord.errors import InvalidInput
from accord.runtime import Runtime, derive_key

MAX_PAGE = 200
MAX_VALUES = 20  # values of one multi-valued filter
MAX_EXPORT_ROWS = 10_000
MAX_CURSOR_CHARS = 600
MAX_AMOUNT = Decimal("1e16")
Sort = Literal["end_date", "value", "created_at", "title"]
Order = Literal["asc", "desc"]


class Filters(BaseModel):
    """What to look for (every field optional; all given ones must hold). The same shape
    is stored by saved views."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: str = Field("", max_length=500, description="Full-text search: words and \"quoted "
                   "phrases\" must all appear, `OR` between two terms makes either do, "
                   "`-word` excludes. Searches the contract's text, title, customer and tags.")
    type: tuple[ContractType, ...] = Field((), max_length=MAX_VALUES)
    status: tuple[ContractStatus, ...] = Field((), max_length=MAX_VALUES)
    owner: tuple[str, ...] = Field((), max_length=MAX_VALUES,
                                   description="Owner user ids; `me` is the caller.")
    customer: str | None = Field(None, max_length=200, description="Customer account id.")
    tag: tuple[str, ...] = Field((), max_length=MAX_VALUES,
                                 description="Tags the contract must all carry.")
    end_from: date | None = Field(None, description="End date on or after.")
    end_to: date | None = Field(None, description="End date on or before.")
    value_min: Decimal | None = Field(None, ge=-MAX_AMOUNT, le=MAX_AMOUNT)
    value_max: Decimal | None = Field(None, ge=-MAX_AMOUNT, le=MAX_AMOUNT)
    currency: str | None = Field(None, min_length=3, max_length=3)
    sort: Sort = "created_at"
    order: Order = "desc"

    @field_validator("owner", "tag")
    @classmethod
    def _short(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if any(not v or len(v) > 64 for v in values):
            raise ValueError("each value is 1-64 characters")
        return tuple(dict.fromkeys(values))

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @model_validator(mode="after")
    def _ranges(self) -> Filters:
        if self.end_from and self.end_to and self.end_from > self.end_to:
            raise ValueError("end_from is after end_to")
        if (self.value_min is not None and self.value_max is not None
                and self.value_min > self.value_max):
            raise ValueError("value_min is more than value_max")
        return self

    def canonical(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def filters_from(data: dict[str, Any]) -> Filters:
    """Filters from untrusted data (a saved view, a form): InvalidInput when not valid."""
    from pydantic import ValidationError

    try:
        return Filters.model_validate(data)
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                   for e in exc.errors(include_url=False, include_context=False)]
        raise InvalidInput("the search filters are not valid", code="invalid_filters",
                           details=details) from exc


class ContractRow(BaseModel):
    id: str
    title: str
    type: str
    status: str
    owner_id: str | None
    owner_email: str | None
    customer_account_id: str | None
    customer_name: str | None
    effective_date: date | None
    end_date: date | None
    opt_out_date: date | None
    auto_renew: bool
    value: str | None = Field(description="Decimal, as a string.")
    currency: str | None
    tags: list[str]
    flagged: bool
    created_at: datetime


class ContractPage(BaseModel):
    items: list[ContractRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null "
                                    "on the last one.")
    query: str = Field(description="The full-text search as understood (normalised).")


_SORT_COLUMNS = {"end_date": Contract.end_date, "value": Contract.value,
                 "created_at": Contract.created_at, "title": Contract.title}
_NULLABLE = {"end_date", "value"}


# --- cursors: opaque, signed with the instance's key, bound to org, filters and sort ---

def _cursor_key(rt: Runtime) -> bytes:
    return derive_key(rt.secret_key, "contract-search-cursor")


def _digest(org_id: str, filters: Filters) -> str:
    return hashlib.sha256(f"{org_id}\n{filters.canonical()}".encode()).hexdigest()[:24]


def _sign(rt: Runtime, body: str) -> str:
    mac = hmac.new(_cursor_key(rt), body.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def encode_cursor(rt: Runtime, org_id: str, filters: Filters, value: Any, last_id: str) -> str:
    payload = {"f": _digest(org_id, filters), "v": value, "i": last_id}
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()
                                    ).decode().rstrip("=")
    return f"{body}.{_sign(rt, body)}"


def _bad_cursor(why: str) -> InvalidInput:
    return InvalidInput(f"the cursor is not valid ({why}): start again without it",
                        code="invalid_cursor")


def decode_cursor(rt: Runtime, org_id: str, filters: Filters, cursor: str) -> tuple[Any, str]:
    """(last sort value, last id); InvalidInput for a cursor altered, of another
    organisation or of other filters."""
    if len(cursor) > MAX_CURSOR_CHARS or cursor.count(".") != 1:
        raise _bad_cursor("malformed")
    body, sig = cursor.split(".")
    if not hmac.compare_digest(sig.encode(), _sign(rt, body).encode()):
        raise _bad_cursor("signature")
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error) as exc:  # pragma: no cover - signed by us
        raise _bad_cursor("malformed") from exc
    if payload.get("f") != _digest(org_id, filters):
        raise InvalidInput("the cursor belongs to another search: start again without it",
                           code="cursor_mismatch")
    return payload.get("v"), str(payload.get("i"))


def _sort_value(filters: Filters, raw: Any) -> Any:
    """The cursor's sort value back in the column's type."""
    if raw is None:
        if filters.sort not in _NULLABLE:
            raise _bad_cursor("value")
        return None
    try:
        if filters.sort == "end_date":
            return date.fromisoformat(raw)
        if filters.sort == "value":
            return Decimal(raw)
        if filters.sort == "created_at":
            return datetime.fromisoformat(raw)
        return str(raw)
    except (TypeError, ValueError, ArithmeticError) as exc:  # pragma: no cover - signed
        raise _bad_cursor("value") from exc


def _cursor_value(filters: Filters, row: Any) -> Any:
    value = getattr(row, filters.sort)
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


# --- the statement ---

def _sort_expr(filters: Filters, postgres: bool) -> ColumnElement[Any]:
    if filters.sort == "title" and postgres:  # code-point order, as SQLite's BINARY
        return Contract.title.collate("C")
    col: ColumnElement[Any] = _SORT_COLUMNS[filters.sort].expression
    return col


def _after(filters: Filters, col: ColumnElement[Any], value: Any,
           last_id: str) -> ColumnElement[bool]:
    """Rows after (value, last_id) in the order: value asc/desc, then id, nulls last."""
    desc = filters.order == "desc"
    next_id = (Contract.id < last_id) if desc else (Contract.id > last_id)
    if value is None:  # in the nulls, at the end
        return and_(col.is_(None), next_id)
    beyond = (col < value) if desc else (col > value)
    cond = or_(beyond, and_(col == value, next_id))
    if filters.sort in _NULLABLE:
        return or_(and_(col.is_not(None), cond), col.is_(None))
    return cond


def _order(filters: Filters, col: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    desc = filters.order == "desc"
    first = col.desc() if desc else col.asc()
    if filters.sort in _NULLABLE:  # (created_at and title are never null: index order)
        first = first.nulls_last()
    return [first, Contract.id.desc() if desc else Contract.id.asc()]


def _where(principal: Principal, filters: Filters, query: Query,
           postgres: bool) -> list[ColumnElement[bool]]:
    org = principal.org_id
    conds: list[ColumnElement[bool]] = [Contract.org_id == org]
    if filters.type:
        conds.append(Contract.type.in_([t.value for t in filters.type]))
    if filters.status:
        conds.append(Contract.status.in_([s.value for s in filters.status]))
    if filters.owner:
        owners = [principal.user_id if o == "me" else o for o in filters.owner]
        conds.append(Contract.owner_id.in_(owners))
    if filters.customer is not None:
        conds.append(Contract.customer_account_id == filters.customer)
    if len(filters.tag) == 1:
        conds.append(Contract.id.in_(select(ContractTag.contract_id).where(
            ContractTag.org_id == org, ContractTag.tag == filters.tag[0])))
    elif filters.tag:  # all of them: one pass over the tags, not one join per tag
        conds.append(Contract.id.in_(
            select(ContractTag.contract_id)
            .where(ContractTag.org_id == org, ContractTag.tag.in_(filters.tag))
            .group_by(ContractTag.contract_id)
            .having(func.count() == len(filters.tag))))
    if filters.end_from is not None:
        conds.append(Contract.end_date >= filters.end_from)
    if filters.end_to is not None:
        conds.append(Contract.end_date <= filters.end_to)
    if filters.value_min is not None:
        conds.append(Contract.value >= filters.value_min)
    if filters.value_max is not None:
        conds.append(Contract.value <= filters.value_max)
    if filters.currency is not None:
        conds.append(Contract.currency == filters.currency)
    if not query.empty:
        conds.append(ContractSearch.org_id == org)
        conds.append(backends.condition(query, postgres))
    return conds


COLUMNS = (Contract.id, Contract.title, Contract.type, Contract.status, Contract.owner_id,
           Contract.customer_account_id, Contract.customer_name, Contract.effective_date,
           Contract.end_date, Contract.opt_out_date, Contract.auto_renew, Contract.value,
           Contract.currency, Contract.flagged, Contract.created_at)


def statement(principal: Principal, filters: Filters, query: Query, *, postgres: bool,
              after: tuple[Any, str] | None = None) -> Select[*tuple[Any, ...]]:
    """The search as one SELECT of ``COLUMNS`` (ordered; no limit)."""
    stmt: Select[*tuple[Any, ...]] = select(*COLUMNS)
    if not query.empty:
        stmt = stmt.join(ContractSearch, ContractSearch.contract_id == Contract.id)
    conds = _where(principal, filters, query, postgres)
    col = _sort_expr(filters, postgres)
    if after is not None:
        conds.append(_after(filters, col, *after))
    return stmt.where(*conds).order_by(*_order(filters, col))


def _rows(session: Session, raw: Sequence[Any]) -> list[ContractRow]:
    ids = [r.id for r in raw]
    tags: dict[str, list[str]] = {}
    if ids:
        for cid, tag in session.execute(select(ContractTag.contract_id, ContractTag.tag)
                                        .where(ContractTag.contract_id.in_(ids))
                                        .order_by(ContractTag.tag)):
            tags.setdefault(cid, []).append(tag)
    emails = user_emails(session, {r.owner_id for r in raw if r.owner_id})
    return [ContractRow(id=r.id, title=r.title, type=r.type, status=r.status,
                        owner_id=r.owner_id, owner_email=emails.get(r.owner_id or ""),
                        customer_account_id=r.customer_account_id,
                        customer_name=r.customer_name, effective_date=r.effective_date,
                        end_date=r.end_date, opt_out_date=r.opt_out_date,
                        auto_renew=bool(r.auto_renew),
                        value=None if r.value is None else f"{Decimal(r.value):.2f}",
                        currency=r.currency, tags=tags.get(r.id, []),
                        flagged=bool(r.flagged), created_at=r.created_at) for r in raw]


def search(rt: Runtime, principal: Principal, filters: Filters, *, limit: int = 50,
           cursor: str | None = None) -> ContractPage:
    """One page of the organisation's contracts that match, in the order asked."""
    principal.require(Permission.CONTRACT_READ)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit is 1-{MAX_PAGE}", code="invalid_limit")
    query = parse(filters.q)
    after = None
    if cursor:
        raw, last_id = decode_cursor(rt, principal.org_id, filters, cursor)
        after = (_sort_value(filters, raw), last_id)
    stmt = statement(principal, filters, query, postgres=rt.db.is_postgres, after=after)
    with rt.db.uow() as uow:
        found = uow.session.execute(stmt.limit(limit + 1)).all()
        more = len(found) > limit
        found = found[:limit]
        items = _rows(uow.session, found)
    nxt = (encode_cursor(rt, principal.org_id, filters, _cursor_value(filters, found[-1]),
                         found[-1].id) if more else None)
    return ContractPage(items=items, next_cursor=nxt, query=str(query))


def ids(rt: Runtime, principal: Principal, filters: Filters) -> list[str]:
    """Every matching id in order (tests, saved-search holds); at most MAX_EXPORT_ROWS."""
    principal.require(Permission.CONTRACT_READ)
    stmt = statement(principal, filters, parse(filters.q), postgres=rt.db.is_postgres)
    with rt.db.uow() as uow:
        return [r.id for r in uow.session.execute(stmt.limit(MAX_EXPORT_ROWS))]


EXPORT_HEADER = ["id", "title", "type", "status", "owner_email", "customer_account_id",
                 "customer_name", "effective_date", "end_date", "opt_out_date", "auto_renew",
                 "value", "currency", "tags", "flagged", "created_at"]


def export_csv(rt: Runtime, principal: Principal, filters: Filters) -> str:
    """Every matching contract as CSV (cells a spreadsheet would run as formulas are
    neutralised); more than MAX_EXPORT_ROWS is refused (422 ``export_too_large``)."""
    principal.require(Permission.CONTRACT_READ)
    stmt = statement(principal, filters, parse(filters.q), postgres=rt.db.is_postgres)
    with rt.db.uow() as uow:
        found = uow.session.execute(stmt.limit(MAX_EXPORT_ROWS + 1)).all()
        if len(found) > MAX_EXPORT_ROWS:
            raise InvalidInput(f"more than {MAX_EXPORT_ROWS:,} contracts match: narrow the "
                               "search to export it", code="export_too_large",
                               details={"max_rows": MAX_EXPORT_ROWS})
        rows = _rows(uow.session, found)

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "yes" if v else "no"
        return v.isoformat() if isinstance(v, date | datetime) else str(v)

    out = [[cell(getattr(r, k)) if k != "tags" else " ".join(r.tags) for k in EXPORT_HEADER]
           for r in rows]
    return results_csv(EXPORT_HEADER, out)
