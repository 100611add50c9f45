"""Bulk send rules (pure): reading the CSV, mapping its columns to template variables and
role recipients, the checks every row gets before anything is rendered, and making result
cells safe to open in a spreadsheet.

A column's *target* is ``customer.legal_name`` (any declared variable, dotted as declared)
or ``recipient.<role>.name|email|phone``. By default a column's header is its target; a
mapping ``{header: target}`` renames columns (and ``{header: ""}`` ignores one).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.validation import TextError, email_address, text_problem

RECIPIENT_ATTRS = ("name", "email", "phone")
MAX_COLUMNS = 300
MAX_CELL = 20_000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Problem:
    """One thing wrong; ``row`` is 1-based (the first line after the header), ``column``
    the CSV header it concerns; ``code`` is stable."""

    code: str
    message: str
    row: int | None = None
    column: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code,
                "message": self.message}


class CsvError(Exception):
    """The file as a whole cannot be used (nothing is checked row by row)."""

    def __init__(self, code: str, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = list(problems)


@dataclass(frozen=True)
class Target:
    """Where one column's cells go: a variable, or one attribute of a role's recipient."""

    variable: str | None = None
    role: str | None = None
    attr: str | None = None

    @property
    def name(self) -> str:
        return self.variable or f"recipient.{self.role}.{self.attr}"

    def as_list(self) -> list[str | None]:
        return [self.variable, self.role, self.attr]

    @classmethod
    def from_list(cls, raw: Sequence[str | None]) -> Target:
        return cls(raw[0], raw[1], raw[2])


@dataclass(frozen=True)
class Shape:
    """What a template version accepts: its variables (and which are lists, given as a
    JSON array in the cell) and its roles (and which need a phone)."""

    variables: frozenset[str]
    list_variables: frozenset[str]
    roles: tuple[str, ...]
    phone_roles: frozenset[str] = frozenset()
    optional_roles: frozenset[str] = frozenset()  # added by routing rules: may be blank


@dataclass
class Table:
    """The parsed file: header, each column's target (None: ignored) and the data rows."""

    header: list[str]
    targets: list[Target | None]
    rows: list[list[str]] = field(default_factory=list)


def decode(data: bytes) -> str:
    """UTF-8 (a leading byte-order mark is dropped), else ``csv_not_utf8``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CsvError("csv_not_utf8", f"the file is not UTF-8 text (line {line}, byte "
                       f"{exc.start}): save it as 'CSV UTF-8'") from exc
    return text.removeprefix("\ufeff")


def resolve(column: str, shape: Shape) -> Target | None:
    """The target a column name means, or None when the template has no such thing."""
    if column in shape.variables:
        return Target(variable=column)
    parts = column.split(".")
    if len(parts) == 3 and parts[0] == "recipient" and parts[1] in shape.roles and \
            parts[2] in RECIPIENT_ATTRS:
        return Target(role=parts[1], attr=parts[2])
    return None


def _header(reader: Iterable[list[str]]) -> list[str]:
    for cells in reader:
        if any(c.strip() for c in cells):
            return [c.strip() for c in cells]
    raise CsvError("csv_no_header", "the file is empty: the first line must name the "
                   "columns (e.g. customer.legal_name, recipient.customer.email)")


def _targets(header: Sequence[str], shape: Shape,
             mapping: Mapping[str, str]) -> list[Target | None]:
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for name in header:
        if not name:
            problems.append(Problem("csv_blank_column", "a column has no name"))
        elif name in seen:
            problems.append(Problem("csv_duplicate_column", f"column {name!r} appears twice",
                                    column=name))
        seen.setdefault(name, name)
    problems += [Problem("mapping_unknown_column", f"the mapping names column {k!r}, which "
                         "the file does not have", column=k)
                 for k in mapping if k not in seen]
    targets: list[Target | None] = []
    used: dict[str, str] = {}
    for name in header:
        wanted = mapping.get(name, name).strip()
        if not wanted:
            targets.append(None)
            continue
        target = resolve(wanted, shape)
        if target is None:
            problems.append(Problem("csv_unknown_column", f"column {name!r}: the template has "
                                    f"no variable or recipient {wanted!r}", column=name))
        elif target.name in used and used[target.name] != name:
            problems.append(Problem("csv_duplicate_column", f"columns {used[target.name]!r} "
                                    f"and {name!r} both fill {target.name}", column=name))
        elif target is not None:
            used[target.name] = name
        targets.append(target)
    problems += [Problem("csv_missing_column", f"no column gives the {attr} of role "
                         f"{role!r} (recipient.{role}.{attr})",
                         column=f"recipient.{role}.{attr}")
                 for role in shape.roles for attr in ("name", "email")
                 if f"recipient.{role}.{attr}" not in used
                 and role not in shape.optional_roles]
    if problems:
        codes = {p.code for p in problems}
        code = codes.pop() if len(codes) == 1 else "csv_invalid"
        raise CsvError(code, "; ".join(p.message for p in problems[:3]) + (
            f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""), problems)
    return targets


def parse(data: bytes, shape: Shape, mapping: Mapping[str, str] | None = None, *,
          max_rows: int = 50_000) -> Table:
    """The file's header, targets and data rows (blank lines skipped). File-level problems
    raise ``CsvError``; more than ``max_rows`` rows is ``csv_too_large``; row problems are
    left to ``row_input``."""
    decode(data)  # every byte is UTF-8, or csv_not_utf8 with the line (the text is dropped)
    # read through a text wrapper: a StringIO of the whole text would hold it as 4 bytes
    # per character (88 MB for a 20 MiB file)
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(stream, strict=True)
    try:
        header = _header(reader)
        if len(header) > MAX_COLUMNS:
            raise CsvError("csv_too_many_columns", f"at most {MAX_COLUMNS} columns")
        table = Table(header, _targets(header, shape, mapping or {}))
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(table.rows) >= max_rows:
                raise CsvError("csv_too_large", f"the file has more than {max_rows:,} "
                               "rows; send it as several batches", [Problem(
                                   "csv_too_many_rows", f"at most {max_rows:,} rows per "
                                   "batch", row=max_rows + 1)])
            table.rows.append(cells)
    except csv.Error as exc:
        raise CsvError("csv_malformed", f"the file is not valid CSV (line "
                       f"{reader.line_num}): {exc}") from exc
    if not table.rows:
        raise CsvError("csv_no_rows", "the file has a header but no rows")
    return table


@dataclass
class RowInput:
    """One row as the template sees it: variable data and recipients by role."""

    data: dict[str, Any] = field(default_factory=dict)
    recipients: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def row_input(number: int, cells: Sequence[str], header: Sequence[str],
              targets: Sequence[Target | None], shape: Shape) -> RowInput:
    """Spread one row's cells over its targets; cell-level problems (length, list JSON)."""
    out = RowInput()
    if len(cells) != len(header):
        out.problems.append(Problem("csv_row_length", f"the row has {len(cells)} cells; the "
                                    f"header has {len(header)}", row=number))
    for name, target, cell in zip(header, targets, cells, strict=False):
        if target is None:
            continue
        value = cell.strip()
        if len(value) > MAX_CELL:
            out.problems.append(Problem("csv_cell_too_long", f"longer than {MAX_CELL} "
                                        "characters", row=number, column=name))
            continue
        if target.variable is not None:
            if not value:
                continue
            if target.variable in shape.list_variables:
                try:
                    out.data[target.variable] = json.loads(value)
                except ValueError:
                    out.problems.append(Problem("variable_type", "a list is given as a JSON "
                                                "array of objects", row=number, column=name))
                continue
            out.data[target.variable] = value
        elif target.role is not None and target.attr is not None and value:
            out.recipients.setdefault(target.role, {})[target.attr] = value
    return out


def _is_email(value: str) -> bool:
    """One address, no display name, a real domain (``accord.validation``)."""
    try:
        email_address(value)
    except TextError:
        return False
    return True


def recipient_problems(number: int, recipients: Mapping[str, Mapping[str, str]],
                       shape: Shape, columns: Mapping[str, str]) -> list[Problem]:
    """Every role needs a name and a real-looking email (and a phone when its sign-in asks
    for an SMS code); a role that routing rules add may be left blank altogether."""
    problems = []
    for role in shape.roles:
        given = recipients.get(role, {})
        if role in shape.optional_roles and not given:
            continue  # the role's default recipient, or routing rules leave it out
        wanted = ("name", "email", "phone") if role in shape.phone_roles else ("name", "email")
        for attr in wanted:
            column = columns.get(f"recipient.{role}.{attr}")
            value = given.get(attr, "")
            if not value:
                problems.append(Problem("recipient_missing", f"role {role!r} needs a "
                                        f"recipient {attr}", row=number, column=column))
            elif attr == "email" and not _is_email(value):
                problems.append(Problem("invalid_email", f"{value[:80]!r} is not an email "
                                        "address", row=number, column=column))
            elif (found := text_problem(value)) is not None:
                problems.append(Problem(found.code, f"the recipient {attr} {found.message}",
                                        row=number, column=column))
            elif attr == "name" and len(value) > 200:
                problems.append(Problem("recipient_invalid", "a name has at most 200 "
                                        "characters", row=number, column=column))
    return problems


def _same(target: Target, cell: str) -> str:
    value = cell.strip()
    return value.casefold() if target.attr == "email" else value


class Duplicates:
    """Finds rows that would send the same envelope again: every column that fills
    something (ignored columns aside) equal to an earlier row's, cells trimmed and emails
    compared case-insensitively."""

    def __init__(self, targets: Sequence[Target | None]) -> None:
        self._used = [(i, t) for i, t in enumerate(targets) if t is not None]
        self._seen: dict[tuple[str, ...], int] = {}

    def check(self, number: int, cells: Sequence[str]) -> Problem | None:
        key = tuple(_same(t, cells[i]) if i < len(cells) else "" for i, t in self._used)
        first = self._seen.setdefault(key, number)
        if first == number:
            return None
        return Problem("duplicate_row", f"the same recipients and values as row {first}; "
                       "remove it, or allow duplicate rows", row=number)


def neutralise(cell: str) -> str:
    """A cell that a spreadsheet would run as a formula (``= + - @``, tab, CR) is prefixed
    with ``'`` so that it is shown as text (OWASP CSV injection)."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def results_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """CSV text (with the header), every cell neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([neutralise(c) for c in header])
    for row in rows:
        writer.writerow([neutralise(c) for c in row])
    return buf.getvalue()
