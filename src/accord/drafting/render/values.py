"""Value types, parsing and formatting shared by variables and the render engine (pure)."""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "BOOLEAN_WORDS",
    "CURRENCY",
    "DATE_FORMATS",
    "Money",
    "check_scalar",
    "currency_places",
    "format_date",
    "format_money",
    "format_number",
    "parse_decimal",
    "parse_iso_date",
    "sample_text",
    "sample_value",
    "to_json",
]

#: ISO 4217 currencies whose minor unit is not 2 digits (the rest use cents).
_PLACES = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
                     "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
DATE_FORMATS = ("iso", "long", "us", "short")
BOOLEAN_WORDS = {"true": True, "yes": True, "on": True, "1": True,
                 "false": False, "no": False, "off": False, "0": False}
_DECIMAL = re.compile(r"[+-]?\d{1,30}(\.\d{1,12})?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d{1,12})?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CURRENCY = re.compile(r"[A-Z]{3}")


def currency_places(currency: str) -> int:
    return _PLACES.get(currency, 2)


@dataclass(frozen=True)
class Money:
    """An amount in one currency; ``str()`` gives e.g. ``USD 24,000.00``."""

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.currency} {self.amount:,.{currency_places(self.currency)}f}"


def parse_decimal(value: Any) -> Decimal | None:
    """A finite Decimal from an int, float, Decimal or plain numeric string, else None.
    Strings may group thousands with commas (``24,000.50``); booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value) if abs(value) < 10**30 else None
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        return value if value.is_finite() and abs(value) < Decimal(10) ** 30 else None
    if isinstance(value, str):
        text = value.strip()
        if _GROUPED.fullmatch(text):
            text = text.replace(",", "")
        if _DECIMAL.fullmatch(text):
            return Decimal(text)
    return None


def parse_iso_date(value: str) -> date | None:
    text = value.strip()
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# ---------------------------------------------------------------- checking one value

Checked = tuple[Any, str | None, str]   # (normalised value, problem code or None, message)


def check_scalar(vtype: str, value: Any, *, label: str, low: Any, high: Any,
                 regex: re.Pattern[str] | None, max_length: int, options: tuple[str, ...],
                 currency: str | None) -> Checked:
    """Normalise a given (not missing) value of a scalar variable type."""
    if vtype == "text":
        return _text(value, label, regex, max_length)
    if vtype == "money":
        return _money(value, label, low, high, currency)
    if vtype == "enum":
        if isinstance(value, str) and value in options:
            return value, None, ""
        return None, "variable_option", f"{label} must be one of {', '.join(options)}"
    parsed = _PARSERS[vtype](value)
    if parsed is None:
        return None, "variable_type", f"{label} must be {_EXPECTED[vtype]}"
    return _in_range(parsed, label, low, high)


def _as_date(value: Any) -> date | None:
    if type(value) is date:
        return value
    return parse_iso_date(value) if isinstance(value, str) else None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return BOOLEAN_WORDS.get(value.strip().lower()) if isinstance(value, str) else None


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "number": parse_decimal, "date": _as_date, "boolean": _as_bool}
_EXPECTED = {"number": "a number", "date": "a date (YYYY-MM-DD)", "boolean": "true or false"}


def _in_range(value: Any, label: str, low: Any, high: Any) -> Checked:
    if low is not None and value < low:
        return None, "variable_range", f"{label} must be at least {low}"
    if high is not None and value > high:
        return None, "variable_range", f"{label} must be at most {high}"
    return value, None, ""


def _text(value: Any, label: str, regex: re.Pattern[str] | None, max_length: int) -> Checked:
    if not isinstance(value, str):
        return None, "variable_type", f"{label} must be text"
    text = value.strip()
    if _CONTROL.search(text):
        return None, "variable_type", f"{label} contains control characters"
    if len(text) > max_length:
        return None, "variable_range", f"{label} is longer than {max_length} characters"
    if regex is not None and not regex.fullmatch(text):
        return None, "variable_pattern", f"{label} does not have the expected format"
    return text, None, ""


def _money(value: Any, label: str, low: Any, high: Any, fixed: str | None) -> Checked:
    """A Money, an {amount, currency} object or a bare amount (in the fixed currency)."""
    amount_raw, currency = value, fixed
    if isinstance(value, Money):
        amount_raw, currency = value.amount, value.currency
    elif isinstance(value, Mapping):
        if set(value) - {"amount", "currency"}:
            return None, "variable_type", f"{label} takes only amount and currency"
        amount_raw, currency = value.get("amount"), value.get("currency", fixed)
    amount = parse_decimal(amount_raw)
    problem = None
    if amount is None:
        problem = f"{label} must be an amount"
    elif not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        problem = f"{label} needs an ISO 4217 currency code"
    elif fixed is not None and currency != fixed:
        problem = f"{label} must be in {fixed}"
    elif amount != round(amount, currency_places(currency)):
        problem = f"{label} has more than {currency_places(currency)} decimal places"
    if problem is not None or amount is None or not isinstance(currency, str):
        return None, "variable_type", problem or ""
    step = Decimal(1).scaleb(-currency_places(currency))
    checked = _in_range(amount.quantize(step), label, low, high)
    return (Money(checked[0], currency) if checked[1] is None else None, *checked[1:])


# ---------------------------------------------------------------- template filters


def format_money(value: Any, currency: str | None = None) -> str:
    """``{{ fee|money }}`` -> ``USD 24,000.00``; a bare amount needs ``money("USD")``."""
    if isinstance(value, Money):
        return str(value)
    amount = parse_decimal(value)
    if amount is None:
        raise ValueError(f"money: {value!r} is not an amount")
    if currency is None:
        return f"{amount:,.2f}"
    return str(Money(amount, currency))


def format_date(value: Any, fmt: str = "iso") -> str:
    """``iso`` 2026-11-21, ``long`` 21 November 2026, ``us`` November 21, 2026,
    ``short`` 11/21/2026."""
    day: date | None
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        day = parse_iso_date(value) if isinstance(value, str) else None
    if day is None:
        raise ValueError(f"date: {value!r} is not a date")
    match fmt:
        case "iso":
            return day.isoformat()
        case "long":
            return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
        case "us":
            return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
        case "short":
            return f"{day.month:02d}/{day.day:02d}/{day.year}"
    raise ValueError(f"date: unknown format {fmt!r} (use one of {', '.join(DATE_FORMATS)})")


def format_number(value: Any, places: int | None = None) -> str:
    """``{{ 1234.5|number }}`` -> ``1,234.5``; ``number(2)`` -> ``1,234.50``."""
    number = value.amount if isinstance(value, Money) else parse_decimal(value)
    if number is None:
        raise ValueError(f"number: {value!r} is not a number")
    if places is None:
        return f"{number:,f}"
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 12:
        raise ValueError("number: places must be an integer from 0 to 12")
    return f"{number:,.{places}f}"


# ---------------------------------------------------------------- sample values

_parser: Any = importlib.import_module("re._parser")


def sample_text(label: str, regex: re.Pattern[str] | None, max_length: int | None) -> str:
    """A plausible text for a preview: matching ``regex`` when there is one."""
    limit = max_length or 200
    if regex is None:
        return f"Sample {label.lower()}"[:limit]
    candidates = [f"Sample {label.lower()}", "sample@example.com", "ABC-1234", "12345"]
    with contextlib.suppress(ValueError, TypeError, RecursionError, IndexError, KeyError,
                             StopIteration):
        candidates.insert(0, _generate(_parser.parse(regex.pattern, regex.flags)))
    for text in candidates:
        if len(text) <= limit and regex.fullmatch(text):
            return text
    return candidates[0][:limit]


def _generate(items: Any) -> str:
    """The shortest string for a parsed regex (re's own parser), for simple patterns."""
    out: list[str] = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(av))
        elif name == "NOT_LITERAL":
            out.append("a" if av != ord("a") else "b")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_generate_in(av))
        elif name == "BRANCH":
            out.append(_generate(av[1][0]))
        elif name == "SUBPATTERN":
            out.append(_generate(av[-1]))
        elif name == "ATOMIC_GROUP":
            out.append(_generate(av))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = av
            out.append(_generate(sub) * min(low, 100))
        elif name not in ("AT", "ASSERT", "ASSERT_NOT"):
            raise ValueError(name)
        if sum(map(len, out)) > 400:
            raise ValueError("too long")
    return "".join(out)


_CATEGORY = {"CATEGORY_DIGIT": "0", "CATEGORY_WORD": "a", "CATEGORY_SPACE": " ",
             "CATEGORY_NOT_DIGIT": "a", "CATEGORY_NOT_WORD": "-", "CATEGORY_NOT_SPACE": "a"}
_IN_CATEGORY: dict[str, Callable[[str], bool]] = {
    "CATEGORY_DIGIT": str.isdigit, "CATEGORY_SPACE": str.isspace,
    "CATEGORY_WORD": lambda c: c.isalnum() or c == "_"}


def _in_set(char: str, items: Any) -> bool:
    for op, av in items:
        name = str(op)
        if name == "LITERAL" and char == chr(av):
            return True
        if name == "RANGE" and av[0] <= ord(char) <= av[1]:
            return True
        if name == "CATEGORY":
            category = str(av)
            test = _IN_CATEGORY[category.replace("_NOT", "")]
            if test(char) != ("_NOT_" in category):
                return True
    return False


def _generate_in(items: Any) -> str:
    op, av = items[0]
    name = str(op)
    if name == "NEGATE":
        return next(c for c in "aA0x-_.Z9 " if not _in_set(c, items[1:]))
    if name == "LITERAL":
        return chr(av)
    if name == "RANGE":
        return chr(av[0])
    if name == "CATEGORY":
        return _CATEGORY[str(av)]
    raise ValueError(name)

SAMPLE_DATE = date(2026, 1, 1)


def _clamp(value: Any, low: Any, high: Any) -> Any:
    if high is not None and value > high:
        value = high
    if low is not None and value < low:
        value = low
    return value


def sample_value(vtype: str, *, label: str, regex: re.Pattern[str] | None,
                 max_length: int | None, low: Any, high: Any, options: tuple[str, ...],
                 currency: str | None) -> Any:
    """A plausible normalised value of a scalar type, inside its bounds (previews)."""
    if vtype == "text":
        return sample_text(label, regex, max_length)
    if vtype == "number":
        return _clamp(Decimal(1), low, high)
    if vtype == "money":
        code = currency or "USD"
        step = Decimal(1).scaleb(-currency_places(code))
        amount = _clamp(Decimal(1000), low, high).quantize(step, rounding="ROUND_CEILING")
        if high is not None and amount > high:
            amount = amount - step
        return Money(amount, code)
    if vtype == "date":
        return _clamp(SAMPLE_DATE, low, high)
    if vtype == "enum":
        return options[0]
    return False


def to_json(value: Any) -> Any:
    """A normalised value (or context) as JSON data that ``validate`` accepts back."""
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency}
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value
