"""The query AST as SQL on each database, every word quoted (user input never reaches
FTS5's or tsquery's syntax):

- SQLite: an FTS5 MATCH string, ``("a b" OR "c") AND "d" NOT ("e")``, matched against
  ``contract_search_fts`` (external content over ``contract_search``);
- PostgreSQL: ``websearch_to_tsquery('simple', '"a b"')`` per term (its input a quoted
  phrase of words that carry no syntax), combined with ``||`` / ``&&`` and matched against
  the GIN-indexed ``contract_search.doc_tsv``.

A query of exclusions only matches every contract that has none of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
)

from accord.contracts.models import ContractSearch
from accord.contracts.search.query import Query, Term


def fts5_term(term: Term) -> str:
    return '"' + " ".join(term.words).replace('"', '""') + '"'


def fts5_match(query: Query) -> tuple[str | None, str | None]:
    """(what must match, what must not), as FTS5 MATCH strings."""
    positive = " AND ".join("(" + " OR ".join(fts5_term(t) for t in g) + ")"
                            for g in query.groups) or None
    negative = " OR ".join(fts5_term(t) for t in query.excluded) or None
    if positive and negative:
        return f"{positive} NOT ({negative})", None
    return positive, negative


# the FTS5 table (made by migration 0016_search on SQLite); its hidden column of the same
# name is what MATCH is applied to
FTS = table("contract_search_fts", column("rowid", Integer),
            column("contract_search_fts", String))


def _fts_rowids(match: str) -> Select[tuple[int]]:
    return select(FTS.c.rowid).where(FTS.c.contract_search_fts.match(match))


def sqlite_condition(query: Query) -> ColumnElement[bool]:
    """A condition on ``contract_search`` (joined to the contracts)."""
    positive, negative = fts5_match(query)
    conds: list[ColumnElement[bool]] = []
    if positive:
        conds.append(ContractSearch.id.in_(
            _fts_rowids(positive)))
    if negative:
        conds.append(ContractSearch.id.not_in(
            _fts_rowids(negative)))
    return and_(*conds)


def websearch_input(term: Term) -> str:
    """websearch_to_tsquery's input for one term: its words as one quoted phrase (words
    are letters and digits only, so nothing in them is syntax)."""
    return '"' + " ".join(term.words) + '"'


def _term_query(term: Term) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(literal_column("'simple'::regconfig"),
                                     bindparam(None, websearch_input(term), unique=True))


def _any(terms: tuple[Term, ...]) -> ColumnElement[Any]:
    out = _term_query(terms[0])
    for t in terms[1:]:
        out = func.tsquery_or(out, _term_query(t))
    return out


TSV: ColumnElement[Any] = literal_column("contract_search.doc_tsv")


def tsquery(query: Query) -> ColumnElement[Any]:
    """One tsquery for the whole search, so that the GIN index answers it (``a & !b``
    included): ``tsquery_and`` / ``tsquery_or`` / ``tsquery_not`` are ``&&``, ``||``, ``!!``."""
    parts = [_any(g) for g in query.groups]
    if query.excluded:
        parts.append(func.tsquery_not(_any(query.excluded)))
    out = parts[0]
    for p in parts[1:]:
        out = func.tsquery_and(out, p)
    return out


def postgres_condition(query: Query) -> ColumnElement[bool]:
    return TSV.op("@@", is_comparison=True)(tsquery(query))


def condition(query: Query, postgres: bool) -> ColumnElement[bool]:
    return postgres_condition(query) if postgres else sqlite_condition(query)

