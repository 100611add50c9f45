"""The search language: parsing into the AST, the words, the limits and what each backend
is given (every word quoted). Pure: no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.contracts.search.backends import fts5_match, websearch_input
from accord.contracts.search.query import (
    MAX_INDEX_WORDS,
    MAX_TERMS,
    Query,
    Term,
    document,
    parse,
    words,
)
from accord.errors import InvalidInput


def t(*ws: str) -> Term:
    return Term(tuple(ws))


def test_words_fold_case_and_split_on_everything_else() -> None:
    assert words("Service-Level  AGREEMENT, v1.2 (ACME_Corp)") == [
        "service", "level", "agreement", "v1", "2", "acme", "corp"]
    assert words("Straße Müller Ｆｕｌｌ ﬁle ²") == ["strasse", "müller", "full", "file", "2"]
    assert words('"; DROP TABLE contracts; --') == ["drop", "table", "contracts"]
    assert words("x" * 100) == ["x" * 64]
    # PostgreSQL's parser reads a number in scientific notation as a word of its own
    assert words("1e5near 1E5 24x7 1e5e5 e5a") == ["1e5", "near", "1e5", "24x7", "1e5",
                                                   "e5", "e5a"]


def test_document_is_bounded() -> None:
    assert document("a b", "", "C") == "a b c"
    assert len(document("w " * (MAX_INDEX_WORDS + 10)).split()) == MAX_INDEX_WORDS


@pytest.mark.parametrize(("text", "expected"), [
    ("", Query()),
    ("   ", Query()),
    ("!!! ::: ***", Query()),
    ("renewal", Query(((t("renewal"),),))),
    ("renewal Credit", Query(((t("renewal"),), (t("credit"),)))),
    ('"service level" credit', Query(((t("service", "level"),), (t("credit"),)))),
    ("sla OR maintenance nda", Query(((t("sla"), t("maintenance")), (t("nda"),)))),
    ("a OR b OR c", Query(((t("a"), t("b"), t("c")),))),
    ("-draft gold", Query(((t("gold"),),), (t("draft"),))),
    ('-"auto renew"', Query((), (t("auto", "renew"),))),
    ("OR", Query(((t("or"),),))),
    ("a OR", Query(((t("a"),), (t("or"),)))),
    ("a or b", Query(((t("a"),), (t("or"),), (t("b"),)))),
    ("a OR -b", Query(((t("a"),), (t("or"),)), (t("b"),))),
    ('"unterminated phrase', Query(((t("unterminated", "phrase"),),))),
    ('""', Query()),
    ("-", Query()),
    ("foo-bar", Query(((t("foo"),), (t("bar"),)))),
    ("a a", Query(((t("a"),), (t("a"),)))),
])
def test_parse(text: str, expected: Query) -> None:
    assert parse(text) == expected


def test_limits() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse("a" * 501)
    assert exc.value.code == "query_too_long"
    with pytest.raises(InvalidInput) as exc:
        parse(" ".join(f"w{i}" for i in range(MAX_TERMS + 1)))
    assert exc.value.code == "query_too_complex"
    with pytest.raises(InvalidInput) as exc:
        parse('"' + " ".join(f"w{i}" for i in range(40)) + '"')
    assert exc.value.code == "query_too_complex"
    parse(" ".join(f"w{i}" for i in range(MAX_TERMS)))  # at the limit


def test_backends_quote_every_word() -> None:
    q = parse('"service level" OR credit -"auto renew" near')
    assert fts5_match(q) == ('("service level" OR "credit") AND ("near") NOT ("auto renew")',
                             None)
    assert fts5_match(parse("-draft")) == (None, '"draft"')
    assert fts5_match(parse('NEAR(a b) "x" AND NOT *')) == (
        '("near") AND ("a") AND ("b") AND ("x") AND ("and") AND ("not")', None)
    assert websearch_input(t("or", "and")) == '"or and"'


@given(st.text(max_size=500))
def test_any_text_parses_or_is_refused(text: str) -> None:
    code = None
    try:
        q = parse(text)
    except InvalidInput as exc:
        code = exc.code
    if code is not None:
        assert code in ("query_too_long", "query_too_complex")
        return
    for term in [*(x for g in q.groups for x in g), *q.excluded]:
        assert term.words
        for w in term.words:  # nothing but letters and digits reaches a backend
            assert w and all(c.isalnum() for c in w)
            assert '"' not in w and "'" not in w
    assert str(parse(str(q))) == str(q)  # the normal form reads back the same
