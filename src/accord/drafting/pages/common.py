"""What the drafting console pages share: who may do what (to show only allowed actions;
the services enforce), problems from a 422 placed next to form fields, JSON textareas,
unified diffs as classed lines, and PDF responses. Pure helpers: no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import Response

from accord.access import Principal
from accord.drafting.domain import Action, may
from accord.errors import AccordError
from accord.web.console import Console

MAX_JSON_CHARS = 500_000  # a JSON textarea (the services cap what it holds)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


# -- who may do what -----------------------------------------------------------------------


@dataclass(frozen=True)
class Abilities:
    """The drafting actions the user's role grants (``domain.TEMPLATE_PERMISSIONS``)."""

    author: bool
    publish: bool
    use: bool
    read_all: bool

    @classmethod
    def of(cls, principal: Principal) -> Abilities:
        role = principal.role
        return cls(author=may(role, Action.AUTHOR), publish=may(role, Action.PUBLISH),
                   use=may(role, Action.USE), read_all=may(role, Action.READ_ALL))


def page_context(console: Console, nav: str = "templates") -> dict[str, Any]:
    """``base.html``'s variables plus ``drafting`` (what the user may do here)."""
    return {**console.context(nav), "drafting": Abilities.of(console.principal)}


# -- problems next to fields ---------------------------------------------------------------


@dataclass(frozen=True)
class FormProblem:
    """One problem, as the summary lists it: ``target`` is the id of the input it belongs
    to (None: the summary only)."""

    target: str | None
    text: str


@dataclass(frozen=True)
class Errors:
    """A 422 (or 409) shown on a form: a summary at the top, messages at the fields."""

    summary: str
    problems: tuple[FormProblem, ...]
    by_field: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def at(self, name: str) -> tuple[str, ...]:
        return self.by_field.get(name, ())


def details_of(exc: AccordError) -> list[tuple[str, str]]:
    """(where, message) for each problem a service reported (``details`` items name the
    place as ``field`` or ``variable``); the error's own message when it lists none."""
    out = []
    details = exc.details if isinstance(exc.details, list) else []
    for item in details:
        if isinstance(item, Mapping):
            where = item.get("field") or item.get("variable") or ""
            out.append((str(where), str(item.get("message") or item.get("code") or "")))
    return out or [("", _sentence(exc.message))]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def collect(problems: Iterable[tuple[str, str]], place: Callable[[str], str | None],
            ids: Mapping[str, str]) -> Errors:
    """Group ``(where, message)`` problems by the form field ``place`` maps them to;
    ``ids`` gives each field's input id for the summary's links."""
    listed: list[FormProblem] = []
    by_field: dict[str, list[str]] = {}
    for where, message in problems:
        name = place(where)
        text = _sentence(message)
        listed.append(FormProblem(ids.get(name) if name else None, text))
        if name:
            by_field.setdefault(name, []).append(text)
    count = len(listed)
    summary = (f"{count} problem{'s' if count != 1 else ''} to fix — nothing was saved."
               if count else "")
    return Errors(summary, tuple(listed), {k: tuple(v) for k, v in by_field.items()})


def problem_status(exc: AccordError) -> int:
    return exc.status if exc.status in (409, 413, 422) else 422


# -- JSON textareas ------------------------------------------------------------------------


def parse_json(text: str, name: str, label: str, expect: type[Any],
               *, blank: Any) -> tuple[Any, list[tuple[str, str]]]:
    """The JSON typed into a textarea: ``blank`` when empty, else a value of type ``expect``
    (a list or an object), or a problem naming the line and column."""
    if not text.strip():
        return blank, []
    if len(text) > MAX_JSON_CHARS:
        return blank, [(name, f"{label}: at most {MAX_JSON_CHARS:,} characters")]
    try:
        value = json.loads(text)
    except ValueError as exc:
        where = (f" (line {exc.lineno}, column {exc.colno})"
                 if isinstance(exc, json.JSONDecodeError) else "")
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return blank, [(name, f"{label} is not valid JSON: {reason}{where}")]
    if not isinstance(value, expect):
        what = "a list [ ... ]" if expect is list else "an object { ... }"
        return blank, [(name, f"{label} must be {what}")]
    return value, []


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def compact_list(items: Sequence[Any]) -> str:
    """A JSON list with one item per line: readable in a textarea, short enough to edit."""
    lines = ",\n  ".join(json.dumps(i, ensure_ascii=False) for i in items)
    return f"[\n  {lines}\n]" if items else "[]"


# -- diffs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffLine:
    kind: str  # file, hunk, add, del, ctx
    text: str


def diff_lines(lines: Sequence[str]) -> list[DiffLine]:
    """A unified diff's lines, classified by counting each hunk's lines (a removed line
    that itself starts with ``--`` is not mistaken for a file header)."""
    out = []
    old = new = 0
    for line in lines:
        if old <= 0 and new <= 0:
            match = _HUNK.match(line)
            if match:
                old = int(match.group(1) or 1)
                new = int(match.group(2) or 1)
                out.append(DiffLine("hunk", line))
            else:
                out.append(DiffLine("file" if line.startswith(("---", "+++")) else "ctx",
                                    line))
            continue
        if line.startswith("+"):
            new -= 1
            out.append(DiffLine("add", line))
        elif line.startswith("-"):
            old -= 1
            out.append(DiffLine("del", line))
        else:
            old, new = old - 1, new - 1
            out.append(DiffLine("ctx", line))
    return out


def version_pair(numbers: Sequence[int], from_: str, to: str) -> tuple[int | None, int | None]:
    """The two versions to compare: as chosen, else the last two."""
    def number(value: str) -> int | None:
        return int(value) if value.isdigit() and len(value) < 9 else None

    a, b = number(from_), number(to)
    if a is None and b is None and len(numbers) >= 2:
        return numbers[-2], numbers[-1]
    if a is None and b is None:
        return None, None
    return (a if a is not None else (numbers[0] if numbers else None),
            b if b is not None else (numbers[-1] if numbers else None))


# -- responses -----------------------------------------------------------------------------


def pdf_response(data: bytes, name: str) -> Response:
    """A PDF shown in the browser (a new tab), not downloaded."""
    safe = _SAFE_NAME.sub("_", name) or "preview.pdf"
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{safe}"',
                             "Cache-Control": "no-store"})
