"""Typed template variables: declarations, validation and the render context (pure).

A template version declares its variables as a JSON list (see docs/drafting-spec.md).
``parse_specs`` turns that list into frozen ``VariableSpec`` objects or raises ``SpecError``
with every problem; ``validate`` checks the data an agent (or a prefill) supplies against
them and returns the nested render context with normalised values (``Decimal`` numbers,
``datetime.date`` dates, ``Money``) together with every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from accord.drafting.render.values import (
    CURRENCY,
    Money,
    check_scalar,
    parse_decimal,
    parse_iso_date,
    sample_value,
    to_json,
)
from accord.errors import InvalidInput

__all__ = [
    "RESERVED_NAMES",
    "VARIABLE_TYPES",
    "Money",
    "Problem",
    "SpecError",
    "VariableSpec",
    "apply_prefill",
    "parse_specs",
    "row_limits",
    "sample_data",
    "validate",
]

VARIABLE_TYPES = ("text", "number", "money", "date", "enum", "boolean", "list")
#: Top-level names a variable may not take: they are the engine's own globals or
#: Jinja's special names, and a context value would shadow them.
RESERVED_NAMES = frozenset({
    "clause", "range", "loop", "self", "super", "caller", "varargs", "kwargs", "cycler",
    "joiner", "lipsum", "namespace", "dict", "environment",
    "true", "false", "none", "True", "False", "None",
})
NAME_PART = re.compile(r"[a-z_][a-z0-9_]*")
MAX_TEXT_LENGTH = 20_000   # a hard ceiling when a text declares no max_length
MAX_LIST_ROWS = 500        # likewise for lists without max / max_rows

_COMMON_KEYS = frozenset({"name", "type", "label", "help", "required", "default"})
_TYPE_KEYS: dict[str, frozenset[str]] = {
    "text": frozenset({"pattern", "max_length"}),
    "number": frozenset({"min", "max"}),
    "money": frozenset({"min", "max", "currency"}),
    "date": frozenset({"min", "max"}),
    "enum": frozenset({"options"}),
    "boolean": frozenset(),
    "list": frozenset({"columns", "min", "max", "max_rows"}),
}

Bound = Decimal | date | int


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a declaration or a value. ``code`` is stable."""

    variable: str
    code: str
    message: str


class SpecError(InvalidInput):
    """The variable declarations themselves are invalid; ``problems`` lists every one."""

    code = "variable_spec"

    def __init__(self, problems: list[Problem]) -> None:
        summary = "; ".join(f"{p.variable}: {p.message}" for p in problems[:5])
        super().__init__(f"invalid variable declarations: {summary}",
                         details=[p.__dict__ for p in problems])
        self.problems = problems


@dataclass(frozen=True)
class VariableSpec:
    """One declared variable (or one column of a ``list`` variable)."""

    name: str
    type: str
    label: str
    help: str = ""
    required: bool = True
    default: Any = None           # normalised, like a validated value
    min: Bound | None = None      # Decimal (number, money amount), date, int (list rows)
    max: Bound | None = None
    pattern: str | None = None
    options: tuple[str, ...] = ()
    currency: str | None = None
    columns: tuple[VariableSpec, ...] = ()
    max_rows: int | None = None
    max_length: int | None = None
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.name.split("."))


# ---------------------------------------------------------------- declarations


def parse_specs(raw: Sequence[Mapping[str, Any]]) -> list[VariableSpec]:
    """Parse the JSON declarations; raise ``SpecError`` listing every problem."""
    problems: list[Problem] = []
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise SpecError([Problem("variables", "spec_invalid", "must be a list")])
    specs: list[VariableSpec] = []
    for index, item in enumerate(raw):
        spec = _parse_one(item, f"variables[{index}]", problems)
        if spec is not None:
            specs.append(spec)
    _check_names(specs, problems)
    if problems:
        raise SpecError(problems)
    return specs


def _check_names(specs: list[VariableSpec], problems: list[Problem]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            problems.append(Problem(spec.name, "spec_duplicate", "declared twice"))
        seen.add(spec.name)
        if spec.path[0] in RESERVED_NAMES:
            problems.append(Problem(spec.name, "spec_reserved",
                                    f"'{spec.path[0]}' is reserved by the template engine"))
    for spec in specs:
        for other in seen:
            if other.startswith(spec.name + "."):
                problems.append(Problem(spec.name, "spec_duplicate",
                                        f"conflicts with '{other}' (a value cannot also be "
                                        "a group)"))
                break


def _parse_one(item: Any, where: str, problems: list[Problem], *,
               owner: str | None = None) -> VariableSpec | None:
    """One declaration; ``owner`` is the list variable when it is a column."""
    spec = _parse_head(item, where, problems, owner=owner)
    if spec is None:
        return None
    name = f"{owner}.{spec.name}" if owner else spec.name
    before = len(problems)
    for key in item:
        if key not in _COMMON_KEYS | _TYPE_KEYS[spec.type]:
            problems.append(Problem(name, "spec_invalid",
                                    f"'{key}' is not allowed for a {spec.type} variable"))
    changes = _TYPE_PARSERS[spec.type](item, name, problems)
    if spec.type in ("number", "money", "date", "list"):
        low, high = (_bound(spec.type, item, k, name, problems) for k in ("min", "max"))
        if low is not None and high is not None and _greater(low, high):
            problems.append(Problem(name, "spec_range", "min is greater than max"))
        changes.update(min=low, max=high)
    spec = _replace(spec, **changes)
    if len(problems) > before:
        return None
    if item.get("default") is None:
        return spec
    value, errs = _check(spec, item["default"], name)
    problems.extend(Problem(name, "spec_default", f"default is invalid: {e.message}")
                    for e in errs)
    return None if errs else _replace(spec, default=value)


def _parse_head(item: Any, where: str, problems: list[Problem], *,
                owner: str | None) -> VariableSpec | None:
    """Name, type, label, help and required -- or None (with a problem)."""
    if not isinstance(item, Mapping):
        problems.append(Problem(where, "spec_invalid", "each declaration must be an object"))
        return None
    column = owner is not None
    name = item.get("name")
    parts = name.split(".") if isinstance(name, str) else []
    if not parts or not all(NAME_PART.fullmatch(p) for p in parts) or (column and len(parts) > 1):
        what = "a column name" if column else "a dotted name"
        problems.append(Problem(where, "spec_name",
                                f"name must be {what} of parts matching [a-z_][a-z0-9_]*"))
        return None
    vtype = item.get("type")
    allowed = [t for t in VARIABLE_TYPES if not (column and t == "list")]
    label = item.get("label", parts[-1].replace("_", " ").capitalize())
    help_text = item.get("help", "")
    required = item.get("required", True)
    shown = f"{owner}.{name}" if owner else ".".join(parts)
    if vtype not in allowed:
        problem = Problem(shown, "spec_type", f"type must be one of {', '.join(allowed)}")
    elif not (isinstance(label, str) and isinstance(help_text, str)
              and isinstance(required, bool)):
        problem = Problem(shown, "spec_invalid",
                          "label and help must be strings, required a boolean")
    else:
        return VariableSpec(name=".".join(parts), type=vtype, label=label, help=help_text,
                            required=required)
    problems.append(problem)
    return None


def _greater(low: Any, high: Any) -> bool:
    return bool(low > high)


def _text_keys(item: Mapping[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    changes: dict[str, Any] = {"max_length": _positive_int(item, "max_length", where, problems)}
    pattern = item.get("pattern")
    if pattern is None:
        return changes
    try:
        if not isinstance(pattern, str):
            raise TypeError("not a string")
        changes.update(regex=re.compile(pattern), pattern=pattern)
    except (re.error, TypeError, RecursionError, OverflowError) as exc:
        problems.append(Problem(where, "spec_pattern", f"pattern does not compile: {exc}"))
    return changes


def _money_keys(item: Mapping[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    currency = item.get("currency")
    if currency is None or (isinstance(currency, str) and CURRENCY.fullmatch(currency)):
        return {"currency": currency}
    problems.append(Problem(where, "spec_currency",
                            "currency must be an ISO 4217 code such as USD"))
    return {}


def _enum_keys(item: Mapping[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    options = item.get("options")
    if (isinstance(options, list) and options and all(isinstance(o, str) and o for o in options)
            and len(set(options)) == len(options)):
        return {"options": tuple(options)}
    problems.append(Problem(where, "spec_options",
                            "options must be a non-empty list of distinct strings"))
    return {}


def _list_keys(item: Mapping[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    return {"columns": _parse_columns(item.get("columns"), where, problems),
            "max_rows": _positive_int(item, "max_rows", where, problems)}


def _no_keys(item: Mapping[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    return {}


_TYPE_PARSERS = {"text": _text_keys, "number": _no_keys, "money": _money_keys,
                 "date": _no_keys, "enum": _enum_keys, "boolean": _no_keys, "list": _list_keys}


def _parse_columns(raw: Any, where: str, problems: list[Problem]) -> tuple[VariableSpec, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(Problem(where, "spec_columns",
                                "a list variable needs a non-empty list of columns"))
        return ()
    columns: list[VariableSpec] = []
    for index, item in enumerate(raw):
        col = _parse_one(item, f"{where}.columns[{index}]", problems, owner=where)
        if col is not None:
            columns.append(col)
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        problems.append(Problem(where, "spec_columns", "column names must be distinct"))
    return tuple(columns)


def _positive_int(item: Mapping[str, Any], key: str, where: str,
                  problems: list[Problem]) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(Problem(where, "spec_range", f"{key} must be a positive integer"))
        return None
    return value


def _bound(vtype: str, item: Mapping[str, Any], key: str, where: str,
           problems: list[Problem]) -> Bound | None:
    value = item.get(key)
    if value is None:
        return None
    result: Bound | None
    if vtype == "date":
        result = parse_iso_date(value) if isinstance(value, str) else None
    elif vtype == "list":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        result = value if ok else None
    else:
        result = parse_decimal(value)
    if result is None:
        expected = {"date": "an ISO date (YYYY-MM-DD)", "list": "a row count"}
        problems.append(Problem(where, "spec_range",
                                f"{key} must be {expected.get(vtype, 'a number')}"))
    return result


def _replace(spec: VariableSpec, **changes: Any) -> VariableSpec:
    values = {f: getattr(spec, f) for f in spec.__dataclass_fields__}
    values.update(changes)
    return VariableSpec(**values)


# ---------------------------------------------------------------- validation


def validate(specs: Sequence[VariableSpec],
             data: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Check ``data`` (nested or flat dotted keys) against ``specs``.

    Returns the nested render context (every declared variable present, ``None`` -- or
    ``False`` for booleans and ``[]`` for lists -- when optional and absent) and every
    problem at once: declared variables in declaration order, then undeclared keys.
    """
    by_name = {s.name: s for s in specs}
    prefixes = {".".join(s.path[:i]) for s in specs for i in range(1, len(s.path))}
    flat: dict[str, Any] = {}
    extra: list[Problem] = []
    _flatten(data, "", by_name, prefixes, flat, extra)
    context: dict[str, Any] = {}
    problems: list[Problem] = []
    for spec in specs:
        value, errs = _check(spec, flat.get(spec.name), spec.name)
        problems.extend(errs)
        _put(context, spec.path, value)
    return context, problems + extra


def _flatten(data: Any, prefix: str, by_name: Mapping[str, VariableSpec],
             prefixes: set[str], out: dict[str, Any], problems: list[Problem]) -> None:
    if not isinstance(data, Mapping):
        problems.append(Problem(prefix or "data", "variable_type", "must be an object"))
        return
    for key, value in data.items():
        full = f"{prefix}{key}" if isinstance(key, str) else f"{prefix}{key!r}"
        if full in by_name:
            if full in out:
                problems.append(Problem(full, "variable_duplicate",
                                        "given both as a dotted key and nested"))
            out[full] = value
        elif full in prefixes and isinstance(value, Mapping):
            _flatten(value, full + ".", by_name, prefixes, out, problems)
        else:
            problems.append(Problem(full, "variable_undeclared",
                                    "this template declares no such variable"))


def _put(context: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = context
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _absent(spec: VariableSpec) -> Any:
    if spec.type == "list":
        return []
    if spec.type == "boolean":
        return False
    return None


def _is_missing(value: Any) -> bool:
    """None, blank text and an empty list count as not given."""
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, list | tuple) and not value)


def _check(spec: VariableSpec, value: Any, where: str) -> tuple[Any, list[Problem]]:
    """Normalise one value; ``where`` names it in problems (``sla_table[2].response``)."""
    if _is_missing(value):
        if spec.default is not None:
            return spec.default, []
        if spec.required:
            return _absent(spec), [Problem(where, "variable_required",
                                           f"{spec.label} is required")]
        return _absent(spec), []
    if spec.type == "list":
        return _list(spec, value, where)
    return _scalar(spec, value, where)


def _scalar(spec: VariableSpec, value: Any, where: str) -> tuple[Any, list[Problem]]:
    normalised, code, message = check_scalar(
        spec.type, value, label=spec.label, low=spec.min, high=spec.max, regex=spec.regex,
        max_length=spec.max_length or MAX_TEXT_LENGTH, options=spec.options,
        currency=spec.currency)
    return normalised, ([Problem(where, code, message)] if code else [])


def row_limits(spec: VariableSpec) -> tuple[int, int]:
    """(fewest, most) rows a list variable accepts."""
    most = min(int(x) for x in (spec.max, spec.max_rows, MAX_LIST_ROWS)
               if isinstance(x, int | Decimal))
    return (int(spec.min) if isinstance(spec.min, int | Decimal) else 0), most


def _list(spec: VariableSpec, value: Any, where: str) -> tuple[Any, list[Problem]]:
    if not isinstance(value, list | tuple) or not all(isinstance(r, Mapping) for r in value):
        return [], [Problem(where, "variable_type", f"{spec.label} must be a list of rows")]
    fewest, most = row_limits(spec)
    if len(value) > most:
        return [], [Problem(where, "variable_range", f"{spec.label} has more than {most} rows")]
    problems: list[Problem] = []
    if len(value) < fewest:
        problems.append(Problem(where, "variable_range",
                                f"{spec.label} needs at least {fewest} rows"))
    names = {c.name for c in spec.columns}
    rows: list[dict[str, Any]] = []
    for index, raw in enumerate(value):
        row: dict[str, Any] = {}
        for column in spec.columns:
            cell, errs = _check(column, raw.get(column.name), f"{where}[{index}].{column.name}")
            problems.extend(errs)
            row[column.name] = cell
        problems.extend(Problem(f"{where}[{index}].{key}", "variable_undeclared",
                                "no such column") for key in raw if key not in names)
        rows.append(row)
    return rows, problems




# ---------------------------------------------------------------- preview and prefill


def sample_data(specs: Sequence[VariableSpec]) -> dict[str, Any]:
    """JSON-ready nested data for a preview: each default, else a plausible value that
    ``validate`` accepts (given a text pattern, a short string that matches it)."""
    data: dict[str, Any] = {}
    for spec in specs:
        _put(data, spec.path, to_json(_sample(spec)))
    return data


def _sample(spec: VariableSpec) -> Any:
    if spec.default is not None:
        return spec.default
    if spec.type == "list":
        fewest, most = row_limits(spec)
        return [{c.name: _sample(c) for c in spec.columns}
                for _ in range(min(max(1, fewest), most))]
    return sample_value(spec.type, label=spec.label, regex=spec.regex,
                        max_length=spec.max_length, low=spec.min, high=spec.max,
                        options=spec.options, currency=spec.currency)


def apply_prefill(prefill: Mapping[str, str], record: Mapping[str, Any]) -> dict[str, Any]:
    """Flat data for ``validate`` from a CRM-like ``record``: for each
    ``variable -> "dotted.record.path"`` whose path exists (and is not None)."""
    data: dict[str, Any] = {}
    for variable, path in prefill.items():
        node: Any = record
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None:
            data[variable] = node
    return data
