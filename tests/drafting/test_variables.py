"""Variable declarations, validation and the render context (pure, no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.drafting.render.sandbox import environment
from accord.drafting.variables import (
    RESERVED_NAMES,
    Money,
    Problem,
    SpecError,
    apply_prefill,
    parse_specs,
    sample_data,
    validate,
)

PROPERTY = settings(database=None, deadline=None, max_examples=60,
                    suppress_health_check=[HealthCheck.too_slow])

SPECS: list[dict[str, Any]] = [
    {"name": "customer.legal_name", "type": "text", "max_length": 40},
    {"name": "customer.po_number", "type": "text", "pattern": "PO-[0-9]{4}", "required": False},
    {"name": "seats", "type": "number", "min": 1, "max": 500},
    {"name": "annual_fee", "type": "money", "currency": "USD", "min": 0, "max": 100000},
    {"name": "start", "type": "date", "min": "2026-01-01", "max": "2030-12-31"},
    {"name": "tier", "type": "enum", "options": ["standard", "premium", "enterprise"]},
    {"name": "hipaa", "type": "boolean", "required": False},
    {"name": "sla_table", "type": "list", "min": 1, "max": 4, "columns": [
        {"name": "severity", "type": "enum", "options": ["1", "2", "3", "4"]},
        {"name": "response", "type": "text", "max_length": 20},
        {"name": "hours", "type": "number", "min": 0, "required": False},
    ]},
]

GOOD: dict[str, Any] = {
    "customer": {"legal_name": "  Acme Corp  "},
    "seats": "25",
    "annual_fee": "24,000",
    "start": "2026-11-21",
    "tier": "premium",
    "hipaa": "yes",
    "sla_table": [{"severity": "1", "response": "1 hour", "hours": 1},
                  {"severity": "2", "response": "4 hours"}],
}


def codes(problems: list[Problem]) -> dict[str, str]:
    return {p.variable: p.code for p in problems}


@pytest.fixture(scope="module")
def specs() -> Any:
    return parse_specs(SPECS)


def test_validate_normalises_every_type_into_a_nested_context(specs: Any) -> None:
    context, problems = validate(specs, GOOD)
    assert problems == []
    assert context == {
        "customer": {"legal_name": "Acme Corp", "po_number": None},
        "seats": Decimal(25),
        "annual_fee": Money(Decimal("24000.00"), "USD"),
        "start": date(2026, 11, 21),
        "tier": "premium",
        "hipaa": True,
        "sla_table": [{"severity": "1", "response": "1 hour", "hours": Decimal(1)},
                      {"severity": "2", "response": "4 hours", "hours": None}],
    }
    assert str(context["annual_fee"]) == "USD 24,000.00"


def test_flat_dotted_keys_and_nested_objects_give_the_same_context(specs: Any) -> None:
    flat = {k: v for k, v in GOOD.items() if k != "customer"} | {
        "customer.legal_name": "Acme Corp"}
    assert validate(specs, flat) == validate(specs, GOOD)


def test_every_problem_is_reported_at_once_with_stable_codes(specs: Any) -> None:
    data = {
        "customer": {"legal_name": "x" * 41, "po_number": "PO-12", "nickname": "Ace"},
        "customer.legal_name": "again",
        "seats": 0,
        "annual_fee": {"amount": "10.001", "currency": "USD"},
        "start": "21/11/2026",
        "tier": "gold",
        "hipaa": "maybe",
        "sla_table": [{"severity": "1", "response": "1 hour"},
                      {"severity": "5", "response": "x" * 21},
                      {"severity": "2", "hours": -1, "extra": True}],
        "unknown": 1,
    }
    _context, problems = validate(specs, data)
    assert codes(problems) == {
        "customer.legal_name": "variable_duplicate",
        "customer.po_number": "variable_pattern",
        "seats": "variable_range",
        "annual_fee": "variable_type",
        "start": "variable_type",
        "tier": "variable_option",
        "hipaa": "variable_type",
        "sla_table[1].severity": "variable_option",
        "sla_table[1].response": "variable_range",
        "sla_table[2].response": "variable_required",
        "sla_table[2].hours": "variable_range",
        "sla_table[2].extra": "variable_undeclared",
        "customer.nickname": "variable_undeclared",
        "unknown": "variable_undeclared",
    }
    # declared variables first, in declaration order; undeclared keys after them
    assert [p.variable for p in problems][:2] == ["customer.po_number", "seats"]
    assert all(p.message for p in problems)


def test_too_long_text_is_out_of_range_and_required_values_are_required(specs: Any) -> None:
    _context, problems = validate(specs, {"customer": {"legal_name": "x" * 41}})
    found = codes(problems)
    assert found["customer.legal_name"] == "variable_range"
    for name in ("seats", "annual_fee", "start", "tier", "sla_table"):
        assert found[name] == "variable_required"
    assert "hipaa" not in found and "customer.po_number" not in found


@pytest.mark.parametrize(("value", "code"), [
    (True, "variable_type"), ("12abc", "variable_type"), (float("nan"), "variable_type"),
    ("1e5", "variable_type"), (501, "variable_range"), (Decimal("0.5"), "variable_range"),
])
def test_numbers(specs: Any, value: Any, code: str) -> None:
    _context, problems = validate(specs, {**GOOD, "seats": value})
    assert codes(problems) == {"seats": code}


@pytest.mark.parametrize(("value", "expected"), [
    (24000, "USD 24,000.00"), ("1234.5", "USD 1,234.50"), (12.25, "USD 12.25"),
    ({"amount": "99", "currency": "USD"}, "USD 99.00"),
    (Money(Decimal("5"), "USD"), "USD 5.00"),
])
def test_money_values(specs: Any, value: Any, expected: str) -> None:
    context, problems = validate(specs, {**GOOD, "annual_fee": value})
    assert problems == []
    assert str(context["annual_fee"]) == expected
    assert isinstance(context["annual_fee"].amount, Decimal)


@pytest.mark.parametrize(("value", "code"), [
    ({"amount": "10", "currency": "EUR"}, "variable_type"),
    ({"amount": "10", "currency": "usd"}, "variable_type"),
    ({"amount": "10", "note": "x"}, "variable_type"),
    ("10.005", "variable_type"), ("-1", "variable_range"), (100001, "variable_range"),
])
def test_money_problems(specs: Any, value: Any, code: str) -> None:
    _context, problems = validate(specs, {**GOOD, "annual_fee": value})
    assert codes(problems) == {"annual_fee": code}


def test_money_uses_the_currency_minor_units() -> None:
    specs = parse_specs([{"name": "fee", "type": "money"}])
    context, problems = validate(specs, {"fee": {"amount": 150000, "currency": "JPY"}})
    assert problems == [] and str(context["fee"]) == "JPY 150,000"
    _context, problems = validate(specs, {"fee": {"amount": "1.5", "currency": "JPY"}})
    assert codes(problems) == {"fee": "variable_type"}
    _context, problems = validate(specs, {"fee": "10"})  # no currency anywhere
    assert codes(problems) == {"fee": "variable_type"}


@pytest.mark.parametrize(("value", "code"), [
    ("2025-12-31", "variable_range"), ("2031-01-01", "variable_range"),
    ("2026-02-30", "variable_type"), (20261121, "variable_type"),
])
def test_dates(specs: Any, value: Any, code: str) -> None:
    _context, problems = validate(specs, {**GOOD, "start": value})
    assert codes(problems) == {"start": code}


def test_date_objects_are_accepted(specs: Any) -> None:
    context, problems = validate(specs, {**GOOD, "start": date(2027, 1, 2)})
    assert problems == [] and context["start"] == date(2027, 1, 2)


def test_list_row_counts(specs: Any) -> None:
    _context, problems = validate(specs, {**GOOD, "sla_table": []})
    assert codes(problems) == {"sla_table": "variable_required"}
    rows = [{"severity": "1", "response": "x"}] * 5
    _context, problems = validate(specs, {**GOOD, "sla_table": rows})
    assert codes(problems) == {"sla_table": "variable_range"}
    _context, problems = validate(specs, {**GOOD, "sla_table": "1 hour"})
    assert codes(problems) == {"sla_table": "variable_type"}


def test_text_rejects_control_characters_and_non_strings(specs: Any) -> None:
    for value in ("Acme\x00Corp", 42):
        _context, problems = validate(specs, {**GOOD, "customer": {"legal_name": value}})
        assert codes(problems) == {"customer.legal_name": "variable_type"}


def test_optional_values_default_or_are_empty() -> None:
    specs = parse_specs([
        {"name": "a", "type": "text", "required": False},
        {"name": "b", "type": "boolean", "required": False},
        {"name": "c", "type": "list", "required": False,
         "columns": [{"name": "x", "type": "text"}]},
        {"name": "d", "type": "number", "default": 30},
        {"name": "e", "type": "enum", "options": ["x", "y"], "default": "y"},
    ])
    context, problems = validate(specs, {"a": "   "})
    assert problems == []
    assert context == {"a": None, "b": False, "c": [], "d": Decimal(30), "e": "y"}


def test_data_must_be_an_object() -> None:
    _context, problems = validate(parse_specs([]), ["not", "an", "object"])  # type: ignore[arg-type]
    assert codes(problems) == {"data": "variable_type"}


# ---------------------------------------------------------------- declarations


def test_every_declaration_problem_is_reported_at_once() -> None:
    raw: list[Any] = [
        "not an object",
        {"name": "Bad-Name", "type": "text"},
        {"name": "a", "type": "uuid"},
        {"name": "b", "type": "text", "pattern": "([unclosed"},
        {"name": "c", "type": "enum", "options": []},
        {"name": "d", "type": "money", "currency": "dollars"},
        {"name": "e", "type": "list"},
        {"name": "f", "type": "number", "min": 10, "max": 1},
        {"name": "g", "type": "number", "max": "lots"},
        {"name": "h", "type": "date", "default": "tomorrow"},
        {"name": "i", "type": "boolean", "pattern": "x"},
        {"name": "j", "type": "text", "label": 3},
        {"name": "k", "type": "text"}, {"name": "k", "type": "text"},
        {"name": "m", "type": "text"}, {"name": "m.n", "type": "text"},
        {"name": "clause", "type": "text"},
        {"name": "o", "type": "list", "columns": [{"name": "x", "type": "list"},
                                                   {"name": "y.z", "type": "text"}]},
        {"name": "p", "type": "list", "columns": [{"name": "x", "type": "text"},
                                                   {"name": "x", "type": "text"}]},
        {"name": "q", "type": "text", "max_length": 0},
    ]
    with pytest.raises(SpecError) as caught:
        parse_specs(raw)
    found = [(p.variable, p.code) for p in caught.value.problems]
    assert found == [
        ("variables[0]", "spec_invalid"),
        ("variables[1]", "spec_name"),
        ("a", "spec_type"),
        ("b", "spec_pattern"),
        ("c", "spec_options"),
        ("d", "spec_currency"),
        ("e", "spec_columns"),
        ("f", "spec_range"),
        ("g", "spec_range"),
        ("h", "spec_default"),
        ("i", "spec_invalid"),
        ("j", "spec_invalid"),
        ("o.x", "spec_type"),
        ("o.columns[1]", "spec_name"),
        ("p", "spec_columns"),
        ("q", "spec_range"),
        ("k", "spec_duplicate"),
        ("clause", "spec_reserved"),
        ("m", "spec_duplicate"),
    ]
    assert caught.value.code == "variable_spec"
    assert caught.value.details[0]["code"] == "spec_invalid"


def test_declarations_must_be_a_list() -> None:
    with pytest.raises(SpecError):
        parse_specs("text")  # type: ignore[arg-type]


def test_reserved_names_cover_the_engine_globals_and_forbidden_names() -> None:
    env = environment("markdown")
    assert set(env.globals) <= RESERVED_NAMES
    assert {"self", "cycler", "lipsum", "namespace", "joiner", "loop"} <= RESERVED_NAMES


def test_dict_method_names_are_fine_as_variable_parts() -> None:
    specs = parse_specs([{"name": "order.items", "type": "number"}])
    context, problems = validate(specs, {"order": {"items": 3}})
    assert problems == [] and context == {"order": {"items": Decimal(3)}}


def test_apply_prefill_reads_record_paths() -> None:
    record = {"account": {"name": "Acme", "billing_address": None,
                          "owner": {"email": "o@example.com"}}}
    prefill = {"customer.legal_name": "account.name",
               "customer.address": "account.billing_address",
               "customer.owner": "account.owner.email", "x": "account.missing.deep"}
    assert apply_prefill(prefill, record) == {"customer.legal_name": "Acme",
                                              "customer.owner": "o@example.com"}


# ---------------------------------------------------------------- sample data / properties


def test_sample_data_validates_and_is_plain_json(specs: Any) -> None:
    data = sample_data(specs)
    _context, problems = validate(specs, data)
    assert problems == []
    assert data["customer"]["po_number"] == "PO-0000"
    assert data["annual_fee"] == {"amount": "1000.00", "currency": "USD"}
    assert data["start"] == "2026-01-01"
    assert len(data["sla_table"]) == 1


_IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s not in RESERVED_NAMES)
_PATTERNS = st.sampled_from([None, r"[A-Z]{2}-\d{4}", r"PO-\d+", r"(?:yes|no)",
                             r"[^@\s]+@[^@\s]+\.[a-z]{2,}", r"\d{5}(-\d{4})?"])


@st.composite
def declaration(draw: st.DrawFn, name: str, column: bool = False) -> dict[str, Any]:
    types = ["text", "number", "money", "date", "enum", "boolean"] + ([] if column else ["list"])
    kind = draw(st.sampled_from(types))
    decl: dict[str, Any] = {"name": name, "type": kind, "required": draw(st.booleans())}
    if kind == "text":
        decl["pattern"] = draw(_PATTERNS)
        decl["max_length"] = draw(st.integers(15, 60))
    elif kind in ("number", "money"):
        low = draw(st.integers(-1000, 1000))
        decl.update(min=low, max=low + draw(st.integers(0, 5000)))
        if kind == "money":
            decl["currency"] = draw(st.sampled_from(["USD", "EUR", "JPY", "KWD"]))
    elif kind == "date":
        decl.update(min="2020-01-01", max=draw(st.sampled_from(["2020-01-01", "2040-06-30"])))
    elif kind == "enum":
        decl["options"] = draw(st.lists(_IDENT, min_size=1, max_size=4, unique=True))
    elif kind == "list":
        names = draw(st.lists(_IDENT, min_size=1, max_size=3, unique=True))
        decl["columns"] = [draw(declaration(n, column=True)) for n in names]
        decl["min"] = draw(st.integers(0, 2))
        decl["max_rows"] = draw(st.integers(2, 5))
    return {k: v for k, v in decl.items() if v is not None}


@st.composite
def declarations(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(_IDENT, min_size=1, max_size=6, unique=True))
    return [draw(declaration(n)) for n in names]


@PROPERTY
@given(declarations())
def test_sample_data_of_any_declarations_validates(raw: list[dict[str, Any]]) -> None:
    specs = parse_specs(raw)
    _context, problems = validate(specs, sample_data(specs))
    assert problems == []


@PROPERTY
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=40))
def test_any_text_without_controls_validates_and_is_stripped(text: str) -> None:
    specs = parse_specs([{"name": "t", "type": "text", "required": False}])
    context, problems = validate(specs, {"t": text})
    assert problems == []
    assert context["t"] == (text.strip() or None)


@PROPERTY
@given(st.decimals(min_value=-10**9, max_value=10**9, places=2))
def test_money_amounts_round_trip(amount: Decimal) -> None:
    specs = parse_specs([{"name": "fee", "type": "money", "currency": "USD"}])
    context, problems = validate(specs, {"fee": str(amount)})
    assert problems == []
    assert context["fee"].amount == amount
    assert str(context["fee"]) == f"USD {amount:,.2f}"


@PROPERTY
@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}(\.[a-z]{1,6})?", fullmatch=True),
                       st.integers(), max_size=5))
def test_undeclared_keys_are_always_reported(data: dict[str, int]) -> None:
    specs = parse_specs([{"name": "zzzzzzz", "type": "number", "required": False}])
    _context, problems = validate(specs, data)
    assert {p.variable for p in problems} == set(data)
    assert {p.code for p in problems} <= {"variable_undeclared"}
