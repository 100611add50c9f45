"""Checks every text input goes through, in one place: single-line and multi-line text and
email addresses, as plain functions (console forms, CLI, CSV rows, services) and as
Pydantic annotated types (every API request model).

- single-line text (names, subjects, titles, labels, file names, keys, one-line reasons):
  no control character at all: C0 (U+0000-U+001F, so also tab, CR and LF), DEL, C1
  (U+0080-U+009F) and the Unicode line and paragraph separators (U+2028, U+2029);
- multi-line text (messages, template bodies, descriptions): the same, except that tab,
  LF and CR are allowed;
- an email address: one address, no display name (``Ann <ann@x.com>`` is refused), a
  domain with a dot, checked by the ``email-validator`` library without DNS; normalised
  as the library does (domain lower-cased and IDNA-normalised, Unicode NFC).

A NUL character never reaches the database: :func:`install_nul_guard` refuses any flush
or statement that would carry one (PostgreSQL cannot store it in text), as a 422.
Infrastructure: imports nothing from the features.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from accord.errors import InvalidInput

_SINGLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MULTI = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_NAMES = {"\x00": "NUL", "\t": "tab", "\n": "line feed", "\r": "carriage return",
          "\x7f": "DEL", "\u2028": "line separator", "\u2029": "paragraph separator"}
MAX_EMAIL = 320


class TextError(ValueError):
    """A text input breaks one of the rules above; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _describe(char: str) -> str:
    return _NAMES.get(char, f"control character U+{ord(char):04X}")


def text_problem(value: str, *, multiline: bool = False) -> TextError | None:
    """What is wrong with ``value`` as (single- or multi-line) text, or None."""
    found = (_MULTI if multiline else _SINGLE).search(value)
    if found is None:
        return None
    char = found.group()
    if not multiline and char in "\r\n\u2028\u2029":
        return TextError("line_break_not_allowed",
                         f"must be a single line (contains a {_describe(char)})")
    return TextError("control_character",
                     f"contains a {_describe(char)}, which is not allowed")


def single_line(value: str) -> str:
    """``value`` unchanged, or :class:`TextError` when it holds a line break or a control
    character (tab included)."""
    problem = text_problem(value)
    if problem is not None:
        raise problem
    return value


def multi_line(value: str) -> str:
    """``value`` unchanged, or :class:`TextError` when it holds a control character other
    than tab, LF or CR."""
    problem = text_problem(value, multiline=True)
    if problem is not None:
        raise problem
    return value


def email_address(value: str) -> str:
    """One email address, normalised (surrounding spaces dropped, domain lower-cased), or
    :class:`TextError` ``invalid_email`` saying why not."""
    single_line(value)
    value = value.strip(" ")
    if len(value) > MAX_EMAIL:
        raise TextError("invalid_email", f"an email address has at most {MAX_EMAIL} "
                        "characters")
    try:
        checked = validate_email(value, check_deliverability=False,
                                 allow_display_name=False, allow_quoted_local=False,
                                 allow_domain_literal=False)
    except EmailNotValidError as exc:
        raise TextError("invalid_email", f"not a valid email address: {exc}") from exc
    return str(checked.normalized)


def email_or_blank(value: str) -> str:
    """:func:`email_address`, except that a blank value stays ``""`` (a role left to
    its default recipient)."""
    return "" if not value.strip(" ") else email_address(value)


def deep_text_problem(value: Any, path: str = "") -> tuple[str, TextError] | None:
    """The first key or string inside JSON-like ``value`` that holds a control character
    other than tab, LF or CR, as ``(dotted path, problem)``."""
    if isinstance(value, str):
        problem = text_problem(value, multiline=True)
        return (path, problem) if problem else None
    if isinstance(value, Mapping):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            problem = text_problem(str(k))
            if problem is not None:
                return sub, problem
            found = deep_text_problem(v, sub)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = deep_text_problem(v, f"{path}[{i}]")
            if found:
                return found
    return None


def check_fields(**values: tuple[str | None, bool]) -> None:
    """Check several named texts at once (``name=(value, multiline)``); raises
    InvalidInput 422 ``invalid_text`` listing every problem (``details``: field, code,
    message). For console forms and the CLI."""
    problems = []
    for name, (value, multiline) in values.items():
        if value is None:
            continue
        problem = text_problem(value, multiline=multiline)
        if problem is not None:
            problems.append({"field": name, "code": problem.code,
                             "message": f"{name} {problem.message}"})
    if problems:
        raise InvalidInput("; ".join(p["message"] for p in problems), code="invalid_text",
                           details=problems)


def require_email(value: str, field: str = "email") -> str:
    """:func:`email_address`, as InvalidInput 422 ``invalid_email`` naming ``field``. For
    console forms and the CLI."""
    try:
        return email_address(value)
    except TextError as exc:
        raise InvalidInput(f"{field}: {exc.message}", code="invalid_email", details=[
            {"field": field, "code": exc.code, "message": exc.message}]) from exc


# -- Pydantic annotated types (API request models) --------------------------------------


def _pydantic(check: Any) -> Any:
    def run(value: Any) -> Any:
        try:
            return check(value)
        except TextError as exc:
            raise PydanticCustomError(exc.code, exc.message) from exc

    return AfterValidator(run)


def _deep(value: Any) -> Any:
    found = deep_text_problem(value)
    if found is not None:
        where, problem = found
        raise TextError(problem.code, f"{where}: {problem.message}" if where
                        else problem.message)
    return value


SingleLine = Annotated[str, _pydantic(single_line)]
"""A one-line text: no line break, tab or other control character."""
MultiLine = Annotated[str, _pydantic(multi_line)]
"""A text of lines: tab, LF and CR allowed, no other control character."""
EmailAddress = Annotated[str, _pydantic(email_address)]
"""One email address, normalised (see :func:`email_address`)."""
EmailOrBlank = Annotated[str, _pydantic(email_or_blank)]
"""An email address or nothing (``""``)."""
CleanJson = _pydantic(_deep)
"""For ``Annotated[dict[str, Any], CleanJson]``: no control character in any key or
string inside (tab, LF and CR allowed in values)."""


# -- the last line of defence ------------------------------------------------------------


def _nul_in(params: Any) -> bool:
    if isinstance(params, str):
        return "\x00" in params
    if isinstance(params, Mapping):
        return any(_nul_in(v) for v in params.values())
    if isinstance(params, list | tuple):
        return any(_nul_in(v) for v in params)
    return False


def _refuse_nul_on_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in [*session.new, *session.dirty]:
        table = getattr(obj, "__tablename__", type(obj).__name__)
        for key, value in vars(obj).items():
            if isinstance(value, str) and "\x00" in value:
                field = f"{table}.{key}"
                raise InvalidInput(f"{field} contains a NUL character, which is not allowed",
                                   code="invalid_text", details=[{
                                       "field": field, "code": "control_character",
                                       "message": "contains a NUL character"}])


def _refuse_nul_in_statement(_conn: Any, _cursor: Any, _statement: str, parameters: Any,
                             _context: Any, _executemany: bool) -> None:
    if _nul_in(parameters):
        raise InvalidInput("a value contains a NUL character, which is not allowed",
                           code="invalid_text")


def install_nul_guard(engine: Engine) -> None:
    """Refuse (422 ``invalid_text``) any ORM row holding a NUL, on every backend alike,
    and on PostgreSQL any statement parameter too: PostgreSQL cannot take one in text and
    would answer a bare error, where SQLite stores or compares it like any character.
    Request models refuse these first, naming the field; this catches the rest. (No
    statement hook on SQLite: any engine event sends every statement through event
    dispatch, which the embedded read path is measured without.)"""
    if not event.contains(Session, "before_flush", _refuse_nul_on_flush):
        event.listen(Session, "before_flush", _refuse_nul_on_flush)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "before_cursor_execute", _refuse_nul_in_statement)
