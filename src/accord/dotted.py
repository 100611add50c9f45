"""Values at dotted paths (``customer.legal_name``, ``covered_products.0.seats``) in
JSON-like data: mapping keys and list indexes only, never attributes. Pure; shared by the
template prefill (drafting) and routing rules (envelopes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MISSING: Any = object()  # "no value there", distinct from None


def lookup(node: Any, path: str) -> Any:
    """The value at ``path`` through nested objects and list indexes, else ``MISSING``."""
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node
