"""The send form of a published template: inputs generated from its variable declarations,
and the reading of what the browser posts back into the ``data`` the services take.

Pure (no I/O). Input names carry the structure, so a post is read without the
declarations: ``v.<variable>`` (text, number, money amount, date, enum),
``v.<list>[<row>].<column>`` for table cells, ``cur.<path>`` for the currency of a money
value without a fixed currency, ``bool.<path>`` for a ticked checkbox (with a hidden
``booleans=<path>`` so that an unticked box means "no" rather than "not given"), and
``r.<role>.name`` / ``r.<role>.email`` for recipients. The paths are the ones the
services name in their problems (``sla_table[2].response``), so each problem lands on its
input. Blank inputs are left out (the customer record's prefill, then the declared
default, fill them); blank table rows are ignored and the rest renumbered in order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.drafting.domain import RoleSpec, role_factors
from accord.drafting.render.values import currency_places
from accord.drafting.variables import VariableSpec, row_limits

ROWS_DEFAULT = 5  # empty table rows the form offers
ROWS_STEP = 5  # more rows per click on "more rows"
ROWS_MAX = 100  # rows the form offers at most (a list may accept more through the API)
MAX_RECORD_CHARS = 200_000
_PATH = re.compile(r"^(?P<var>[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)"
                   r"(?:\[(?P<row>\d{1,4})\]\.(?P<col>[a-z_][a-z0-9_]*))?$")
_ROLE = re.compile(r"^(?P<role>[a-z][a-z0-9_]*)\."
                   r"(?P<part>name|email|phone|access_code|kba_[qa][1-9])$")
KBA_PAIRS = 2  # question/answer pairs offered when a role requires knowledge questions
_ID = re.compile(r"[^a-z0-9_]+")


def input_id(path: str) -> str:
    """An element id for a variable path (``items[2].qty`` -> ``f-items-2--qty``)."""
    return "f-" + _ID.sub("-", path)


def _cell_path(var: str, row: int, col: str) -> str:
    return f"{var}[{row}].{col}"


# -- what the browser posted ---------------------------------------------------------------


@dataclass
class Posted:
    """What the user entered, kept to re-render the form (table rows already compacted)."""

    values: dict[str, str] = field(default_factory=dict)  # path -> text
    currencies: dict[str, str] = field(default_factory=dict)  # path -> currency code
    booleans: set[str] = field(default_factory=set)  # checkbox paths on the form
    checked: set[str] = field(default_factory=set)  # ... of which ticked
    row_counts: dict[str, int] = field(default_factory=dict)  # list -> non-blank rows
    recipients: dict[str, dict[str, str]] = field(default_factory=dict)
    subject: str = ""
    message: str = ""
    customer: str = ""
    rows: int = ROWS_DEFAULT

    def data(self) -> dict[str, Any]:
        """The entered values as the services' ``data`` (flat dotted keys, lists of rows)."""
        out: dict[str, Any] = {}
        lists: dict[str, list[dict[str, Any]]] = {
            var: [{} for _ in range(count)] for var, count in self.row_counts.items()}
        entries: list[tuple[str, Any]] = [
            (path, self._amount(path, text)) for path, text in self.values.items()
            if text.strip()]
        entries += [(path, "true" if path in self.checked else "false")
                    for path in sorted(self.booleans)]
        for path, value in entries:
            match = _PATH.match(path)
            if match is None:
                continue
            var, row = match["var"], match["row"]
            if row is None:
                out[var] = value
            elif var in lists and int(row) < len(lists[var]):
                lists[var][int(row)][match["col"]] = value
        out.update({var: rows for var, rows in lists.items() if rows})
        return out

    def _amount(self, path: str, text: str) -> Any:
        currency = self.currencies.get(path, "").strip().upper()
        return {"amount": text.strip(), "currency": currency} if currency else text

    def recipient_data(self) -> dict[str, dict[str, Any]]:
        """``{role: {"name", "email"}}`` plus what the role's signer authentication needs
        (phone, access code, questions) when those inputs were filled in."""
        out: dict[str, dict[str, Any]] = {}
        for role, given in self.recipients.items():
            person: dict[str, Any] = {"name": given.get("name", "").strip(),
                                      "email": given.get("email", "").strip()}
            for extra in ("phone", "access_code"):
                if given.get(extra, "").strip():
                    person[extra] = given[extra].strip()
            kba = [{"question": given.get(f"kba_q{i}", ""), "answer": given.get(f"kba_a{i}", "")}
                   for i in range(1, KBA_PAIRS + 1)]
            kba = [k for k in kba if k["question"].strip() or k["answer"].strip()]
            if kba:
                person["kba"] = kba
            out[role] = person
        return out


@dataclass
class _Rows:
    """Table cells as posted, by list variable, then posted row index."""

    cells: dict[str, dict[int, dict[str, str]]] = field(default_factory=dict)
    currencies: dict[str, dict[int, dict[str, str]]] = field(default_factory=dict)
    booleans: dict[str, dict[int, set[str]]] = field(default_factory=dict)
    checked: dict[str, dict[int, set[str]]] = field(default_factory=dict)

    def compact(self, posted: Posted) -> None:
        """Drop rows whose text inputs are all blank; number the rest 0, 1, 2, ..."""
        for var in sorted(set(self.cells) | set(self.booleans)):
            rows = self.cells.get(var, {})
            kept = sorted(i for i, cells in rows.items() if any(v.strip() for v in cells.values()))
            posted.row_counts[var] = len(kept)
            for new, old in enumerate(kept):
                for col, text in rows[old].items():
                    posted.values[_cell_path(var, new, col)] = text
                for col, cur in self.currencies.get(var, {}).get(old, {}).items():
                    posted.currencies[_cell_path(var, new, col)] = cur
                for col in self.booleans.get(var, {}).get(old, set()):
                    posted.booleans.add(_cell_path(var, new, col))
                for col in self.checked.get(var, {}).get(old, set()):
                    posted.checked.add(_cell_path(var, new, col))


def read_form(items: Iterable[tuple[str, Any]]) -> Posted:
    """Read the posted form (``request.form().multi_items()``); unknown names are ignored."""
    posted = Posted()
    rows = _Rows()
    ticked: set[str] = set()
    for name, raw in items:
        if not isinstance(raw, str):
            continue
        prefix, _, rest = name.partition(".")
        if prefix == "r" and (role := _ROLE.match(rest)):
            posted.recipients.setdefault(role["role"], {})[role["part"]] = raw
        elif name in ("subject", "message", "customer"):
            setattr(posted, name, raw)
        elif name == "rows":
            posted.rows = _rows(raw)
        elif name == "booleans" and (match := _PATH.match(raw)):
            _add(posted.booleans, rows.booleans, match, raw)
        elif prefix in ("v", "cur", "bool") and (match := _PATH.match(rest)):
            if prefix == "bool":
                ticked.add(rest)
            elif match["row"] is None:
                (posted.values if prefix == "v" else posted.currencies)[rest] = raw
            else:
                table = rows.cells if prefix == "v" else rows.currencies
                table.setdefault(match["var"], {}).setdefault(
                    int(match["row"]), {})[match["col"]] = raw
    for path in ticked:
        match = _PATH.match(path)
        if match is not None:
            _add(posted.checked, rows.checked, match, path)
    rows.compact(posted)
    return posted


def _add(scalars: set[str], cells: dict[str, dict[int, set[str]]], match: re.Match[str],
         path: str) -> None:
    if match["row"] is None:
        scalars.add(path)
    else:
        cells.setdefault(match["var"], {}).setdefault(int(match["row"]), set()).add(
            match["col"])


def _rows(text: str) -> int:
    return min(ROWS_MAX, int(text)) if text.isdigit() and len(text) < 6 else ROWS_DEFAULT


def rows_param(text: str) -> int:
    """The ``?rows=`` of the form's address: empty table rows to offer."""
    return max(1, _rows(text))


def read_record(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The customer record typed into the form: (record, None), (None, None) when blank,
    or (None, the problem)."""
    if not text.strip():
        return None, None
    if len(text) > MAX_RECORD_CHARS:
        return None, f"The customer record is longer than {MAX_RECORD_CHARS:,} characters"
    try:
        record = json.loads(text)
    except ValueError as exc:
        where = (f" (line {exc.lineno}, column {exc.colno})"
                 if isinstance(exc, json.JSONDecodeError) else "")
        return None, f"The customer record is not valid JSON{where}"
    if not isinstance(record, dict):
        return None, "The customer record must be a JSON object { ... }"
    return record, None


# -- the form to show ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One input: a scalar variable or a table cell."""

    path: str
    spec: VariableSpec
    value: str = ""
    currency: str = ""
    checked: bool = False
    errors: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return input_id(self.path)

    @property
    def step(self) -> str:
        """The number input's step: the money currency's minor unit, else any."""
        if self.spec.type == "money" and self.spec.currency:
            places = currency_places(self.spec.currency)
            return "1" if places == 0 else "0." + "0" * (places - 1) + "1"
        return "any"

    @property
    def low(self) -> str:
        return _shown(self.spec.min)

    @property
    def high(self) -> str:
        return _shown(self.spec.max)

    @property
    def default(self) -> str:
        return _shown(self.spec.default)


def _shown(value: Any) -> str:
    """A declared default or bound as the form shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    amount = getattr(value, "amount", None)
    if amount is not None:
        return str(amount)
    return str(value)


@dataclass(frozen=True)
class Table:
    """A list variable: a table of inputs, one row per item."""

    path: str
    spec: VariableSpec
    rows: tuple[tuple[Cell, ...], ...]
    errors: tuple[str, ...] = ()
    fewest: int = 0
    most: int = 0
    more: int | None = None  # the ?rows= of the "more rows" link

    @property
    def id(self) -> str:
        return input_id(self.path)


@dataclass(frozen=True)
class Recipient:
    """The recipient the sender names for one of the template's roles."""

    role: RoleSpec
    given: Mapping[str, str] = field(default_factory=dict)  # name, email, phone, ...
    errors: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return "r-" + self.role.key

    @property
    def factors(self) -> tuple[str, ...]:
        """The signer authentication the role requires beyond the emailed link."""
        return role_factors(self.role.auth)

    @property
    def kba(self) -> list[tuple[int, str, str]]:
        return [(i, self.given.get(f"kba_q{i}", ""), self.given.get(f"kba_a{i}", ""))
                for i in range(1, KBA_PAIRS + 1)]


def _cell(spec: VariableSpec, path: str, posted: Posted | None,
          problems: Mapping[str, list[str]]) -> Cell:
    if posted is None:
        checked = spec.type == "boolean" and spec.default is True
        return Cell(path, spec, checked=checked, errors=tuple(problems.get(path, ())))
    return Cell(path, spec, value=posted.values.get(path, ""),
                currency=posted.currencies.get(path, ""), checked=path in posted.checked,
                errors=tuple(problems.get(path, ())))


def _table(spec: VariableSpec, posted: Posted | None, problems: Mapping[str, list[str]],
           rows: int) -> Table:
    fewest, most = row_limits(spec)
    entered = posted.row_counts.get(spec.name, 0) if posted else 0
    want = max(rows, entered + 1) if entered else rows
    count = max(1, min(want, most, ROWS_MAX), min(entered, ROWS_MAX))  # entered rows stay
    out = []
    for index in range(count):
        filled = index < entered
        out.append(tuple(
            _cell(col, _cell_path(spec.name, index, col.name), posted if filled else None,
                  problems) for col in spec.columns))
    more = min(count + ROWS_STEP, most, ROWS_MAX) if count < min(most, ROWS_MAX) else None
    return Table(spec.name, spec, tuple(out), tuple(problems.get(spec.name, ())), fewest,
                 most, more)


def build_form(specs: Sequence[VariableSpec], roles: Sequence[RoleSpec], posted: Posted | None,
               problems: Mapping[str, list[str]], rows: int) -> tuple[list[Cell | Table],
                                                                      list[Recipient]]:
    """The inputs for ``specs`` in declaration order and one recipient per role, filled
    with what was posted, each with its problems."""
    items: list[Cell | Table] = [
        _table(spec, posted, problems, rows) if spec.type == "list"
        else _cell(spec, spec.name, posted, problems) for spec in specs]
    people = []
    for role in roles:
        given = posted.recipients.get(role.key, {}) if posted else {}
        people.append(Recipient(role, dict(given),
                                tuple(problems.get(f"recipients.{role.key}", ()))))
    return items, people


def targets(items: Sequence[Cell | Table], people: Sequence[Recipient]) -> dict[str, str]:
    """Problem path -> the id of its input (for the summary's links)."""
    out: dict[str, str] = {}
    for item in items:
        out[item.path] = item.id
        if isinstance(item, Table):
            for row in item.rows:
                out.update({cell.path: cell.id for cell in row})
    out.update({f"recipients.{p.role.key}": p.id + "-name" for p in people})
    return out
