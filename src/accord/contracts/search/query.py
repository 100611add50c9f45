"""The contract search language, parsed into a small AST (pure: no database).

    renewal "service level" -credit sla OR maintenance

Words and "quoted phrases" must all match (AND); ``OR`` (upper case, between two terms)
makes either do; ``-word`` / ``-"a phrase"`` excludes. Nothing else is syntax: every other
character separates words. Text is tokenised here, once, for the index and for queries
alike (NFKC, case-folded; a word is a run of ASCII letters and digits or of other
letters), so that both databases see the same words and give the same answers; the
backends then quote every word, so user input never reaches FTS5 or tsquery syntax.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from accord.errors import InvalidInput

MAX_QUERY_CHARS = 500
MAX_TERMS = 16  # terms (words or phrases), exclusions included
MAX_WORDS = 32  # words over every term
MAX_WORD_CHARS = 64  # longer words are cut here (index and query alike)
MAX_INDEX_WORDS = 16_000  # PostgreSQL's positions stop at 16,383
MAX_INDEX_CHARS = 200_000  # a tsvector holds at most 1 MiB

_RUN = re.compile(r"[^\W_]+")  # letters and digits of any script
# PostgreSQL's parser reads "1e5" as a number of its own, so "1e5abc" is two words
_SCIENTIFIC = re.compile(r"[0-9]+e[0-9]+(?=[^0-9])")


def words(text: str, limit: int | None = None) -> list[str]:
    """The words of ``text`` as the index and queries see them."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    for run in _RUN.findall(folded):
        parts = [run] if run.isascii() else _split(run)
        for whole in parts:
            sci = _SCIENTIFIC.match(whole) if whole[0].isdigit() else None
            for part in (whole[:sci.end()], whole[sci.end():]) if sci else (whole,):
                out.append(part[:MAX_WORD_CHARS])
                if limit is not None and len(out) >= limit:
                    return out
    return out


def _split(run: str) -> list[str]:
    """A run with non-ASCII characters: only letters (str.isalpha) and ASCII digits make
    words; other digits and numerals separate (PostgreSQL's parser does not read them as
    letters in every locale)."""
    out: list[str] = []
    word: list[str] = []
    for c in run:
        if c.isalpha() or "0" <= c <= "9":
            word.append(c)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out


def document(*parts: str) -> str:
    """The indexed text of a contract: its words, separated by single spaces, bounded."""
    out: list[str] = []
    size = 0
    for part in parts:
        for w in words(part, limit=MAX_INDEX_WORDS - len(out)):
            if size + len(w) + 1 > MAX_INDEX_CHARS:
                return " ".join(out)
            out.append(w)
            size += len(w) + 1
        if len(out) >= MAX_INDEX_WORDS:
            break
    return " ".join(out)


@dataclass(frozen=True)
class Term:
    """One word, or a phrase of consecutive words."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class Query:
    """All of ``groups`` must match (each group: any of its terms); none of ``excluded``
    may. An empty query matches everything."""

    groups: tuple[tuple[Term, ...], ...] = ()
    excluded: tuple[Term, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.groups and not self.excluded

    def __str__(self) -> str:
        def show(t: Term) -> str:
            return t.words[0] if len(t.words) == 1 else '"' + " ".join(t.words) + '"'

        parts = [" OR ".join(show(t) for t in g) for g in self.groups]
        parts += ["-" + show(t) for t in self.excluded]
        return " ".join(parts)


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def parse(text: str) -> Query:
    """The query ``text`` means; InvalidInput (422) past the length and term limits."""
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(f"the search is longer than {MAX_QUERY_CHARS} characters",
                           code="query_too_long", details={"max_chars": MAX_QUERY_CHARS})
    # (negated, term) or "OR"
    items: list[tuple[bool, Term] | str] = []
    for m in _TOKEN.finditer(text):
        if m.group(3) is not None:
            raw = m.group(3)
            if raw == "OR":
                items.append("OR")
                continue
            negated = raw.startswith("-") and len(raw) > 1
            # "-foo-bar" excludes foo and bar; "foo-bar" is two words
            items.extend((negated, Term((w,))) for w in words(raw[1:] if negated else raw))
            continue
        ws = tuple(words(m.group(2)))
        if ws:
            items.append((m.group(1) == "-", Term(ws)))
    return _build(items)


def _build(items: list[tuple[bool, Term] | str]) -> Query:
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    joining = False  # the previous item was an OR that follows a positive term
    for i, item in enumerate(items):
        if item == "OR":
            nxt = items[i + 1] if i + 1 < len(items) else None
            prev = items[i - 1] if i > 0 else None
            if (isinstance(prev, tuple) and not prev[0] and groups and not joining
                    and isinstance(nxt, tuple) and not nxt[0]):
                joining = True
            else:  # no term on one side: the word "or"
                groups.append([Term(("or",))])
                joining = False
            continue
        assert isinstance(item, tuple)
        negated, term = item
        if negated:
            excluded.append(term)
        elif joining:
            groups[-1].append(term)
        else:
            groups.append([term])
        joining = False
    query = Query(tuple(tuple(dict.fromkeys(g)) for g in groups),
                  tuple(dict.fromkeys(excluded)))
    terms = sum(len(g) for g in query.groups) + len(query.excluded)
    count = sum(len(t.words) for g in query.groups for t in g) + sum(
        len(t.words) for t in query.excluded)
    if terms > MAX_TERMS or count > MAX_WORDS:
        raise InvalidInput(f"the search has more than {MAX_TERMS} terms or {MAX_WORDS} words",
                           code="query_too_complex",
                           details={"max_terms": MAX_TERMS, "max_words": MAX_WORDS})
    return query
