"""Field tags (``[[signature:customer]]``) in template text: finding, encoding, boxes (pure).

Only *template data* (the literal text of a template or clause source) can hold a tag.
When a source is compiled, each tag in its data is replaced by a sentinel made of
private-use characters around the hex of the tag; merge values are stripped of those
characters before they reach the output, so a value can never produce a field. After
Jinja (and Markdown) the sentinels become invisible fixed-size inline boxes with ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "FIELD_ID_PREFIX",
    "FIELD_SIZES",
    "TAG_KINDS",
    "TagRef",
    "decode_field_sentinels",
    "encode_tags",
    "find_tags",
]

TAG_KINDS = ("signature", "initials", "date_signed", "text", "checkbox")
#: Box sizes in PDF points (width, height); the same defaults as envelope placement.
FIELD_SIZES: dict[str, tuple[float, float]] = {
    "signature": (160.0, 44.0),
    "initials": (60.0, 32.0),
    "date_signed": (120.0, 20.0),
    "text": (160.0, 20.0),
    "checkbox": (14.0, 14.0),
}
FIELD_ID_PREFIX = "accord-field-"

TAG_OPEN, TAG_CLOSE = "\ue000", "\ue001"
CLAUSE_OPEN, CLAUSE_CLOSE = "\ue002", "\ue003"
#: Characters reserved for the engine's sentinels: never allowed in sources or values.
SENTINELS = re.compile("[\ue000-\ue003]")

_IDENT = r"[a-z][a-z0-9_]*"
TAG = re.compile(
    rf"\[\[(?:(?P<k1>signature|initials|date_signed):(?P<r1>{_IDENT})"
    rf"|(?P<k2>text|checkbox):(?P<r2>{_IDENT}):(?P<n2>{_IDENT}))\]\]")
#: Anything that starts like a tag; used to report malformed ones.
TAG_LIKE = re.compile(r"\[\[\s*(?:signature|initials|date_signed|text|checkbox)\b[^\]\n]{0,80}"
                      r"(?:\]\]?)?", re.IGNORECASE)
_ENCODED = re.compile(f"{TAG_OPEN}([0-9a-f]+){TAG_CLOSE}")


@dataclass(frozen=True)
class TagRef:
    """A field tag found in a source: ``name`` only for text and checkbox fields."""

    kind: str
    role: str
    name: str | None
    line: int

    @property
    def text(self) -> str:
        tail = f":{self.name}" if self.name else ""
        return f"[[{self.kind}:{self.role}{tail}]]"


def _ref(match: re.Match[str], line: int) -> TagRef:
    if match["k1"]:
        return TagRef(match["k1"], match["r1"], None, line)
    return TagRef(match["k2"], match["r2"], match["n2"], line)


def find_tags(data: str, first_line: int) -> tuple[list[TagRef], list[tuple[int, str]]]:
    """The tags in a piece of template data starting at ``first_line``, and the
    malformed would-be tags as ``(line, text)``."""
    tags: list[TagRef] = []
    bad: list[tuple[int, str]] = []
    for match in TAG_LIKE.finditer(data):
        line = first_line + data.count("\n", 0, match.start())
        good = TAG.match(data, match.start())
        if good:
            tags.append(_ref(good, line))
        else:
            bad.append((line, match.group(0)))
    return tags, bad


def encode_tags(data: str) -> str:
    """Replace every well-formed tag in template data by its sentinel."""
    return TAG.sub(lambda m: f"{TAG_OPEN}{m.group(0).encode().hex()}{TAG_CLOSE}", data)


def _box(prefix: str, index: int, ref: TagRef) -> str:
    name = f' data-name="{ref.name}"' if ref.name else ""
    return (f'<span class="accord-field accord-field-{ref.kind.replace("_", "-")}" '
            f'id="{prefix}{index}" data-role="{ref.role}"{name}></span>')


def decode_field_sentinels(html: str, prefix: str = FIELD_ID_PREFIX) -> tuple[str, list[TagRef]]:
    """Turn sentinels into boxes numbered in document order (ids ``<prefix><index>``);
    the refs (line 0) by index."""
    refs: list[TagRef] = []

    def replace(match: re.Match[str]) -> str:
        text = bytes.fromhex(match.group(1)).decode()
        good = TAG.fullmatch(text)
        if good is None:  # cannot happen: only encode_tags writes sentinels
            return ""
        refs.append(_ref(good, 0))
        return _box(prefix, len(refs) - 1, refs[-1])

    return _ENCODED.sub(replace, html), refs
