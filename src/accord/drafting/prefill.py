"""Prefill: template variables filled from a customer record (as a CRM exports it) through
the template's mapping, the explicit data winning. Pure: no database, no web, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accord.dotted import MISSING, lookup

__all__ = ["merge_prefill"]


def _given(data: Mapping[str, Any], var: str) -> bool:
    return var in data or lookup(data, var) is not MISSING


def _nested(data: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``data`` with dotted keys expanded (a dotted key that collides with a
    non-object value is kept as given, for validation to report)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        copy = _nested(value) if isinstance(value, Mapping) else value
        if "." not in key:
            if isinstance(out.get(key), dict) and isinstance(copy, dict):
                out[key] = {**copy, **out[key]}
            else:
                out[key] = copy
            continue
        if not _put(out, key.split("."), copy):
            out[key] = copy
    return out


def _put(target: dict[str, Any], parts: list[str], value: Any) -> bool:
    node = target
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            return False
        node = nxt
    node[parts[-1]] = value
    return True


def merge_prefill(record: Mapping[str, Any] | None, mapping: Mapping[str, str],
                  data: Mapping[str, Any]) -> dict[str, Any]:
    """The data to validate: values looked up in ``record`` by ``mapping``
    (``{variable: "dotted.path.in.record"}``), overridden by the explicit ``data``.

    The result is nested (``{"customer": {"legal_name": ...}}``). Paths read mapping keys
    and list indexes only, never attributes."""
    out = _nested(data)
    if not record:
        return out
    for var, path in mapping.items():
        if _given(data, var):
            continue
        value = lookup(record, path)
        if value is not MISSING and value is not None:
            _put(out, var.split("."), value)
    return out
