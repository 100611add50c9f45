"""Helpers for bulk send tests: a tiny published template and CSV files."""

from __future__ import annotations

from typing import Any

from accord.access import Principal
from accord.drafting import services as drafting
from accord.runtime import Runtime

KEY = "notice"
SOURCE = """# Service notice

For **{{ customer.legal_name }}**{% if note %}: {{ note }}{% endif %}.

Customer signature: [[signature:customer]]
"""
VARIABLES: list[dict[str, Any]] = [
    {"name": "customer.legal_name", "type": "text", "max_length": 100},
    {"name": "note", "type": "text", "required": False, "max_length": 100},
    {"name": "fee", "type": "number", "min": 0, "default": 10},
]
ROLES: list[dict[str, Any]] = [
    {"key": "customer", "name": "Customer", "type": "signer", "routing_order": 1},
    {"key": "copy", "name": "Account manager", "type": "cc", "routing_order": 2},
]
HEADER = "customer.legal_name,note,recipient.customer.name,recipient.customer.email," \
         "recipient.copy.name,recipient.copy.email"


def publish_notice(rt: Runtime, p: Principal, key: str = KEY) -> None:
    """A published markdown template with one signer and a cc (publisher: an admin or
    legal principal)."""
    drafting.create_template(rt, p, key=key, name="Service Notice", kind="markdown",
                             source=SOURCE, variables=VARIABLES, roles=ROLES)
    drafting.submit_template(rt, p, key)
    drafting.publish_template(rt, p, key)


def csv_rows(n: int, *, note: str = "", distinct: bool = True, start: int = 0) -> bytes:
    """``n`` valid rows; with ``distinct`` false every row renders the same document."""
    lines = [HEADER]
    for i in range(start, start + n):
        name = f"Customer {i}" if distinct else "Same Customer"
        lines.append(f"{name},{note},Signer {i},signer{i}@customer.example,"
                     f"Copy {i},copy{i}@provider.example")
    return ("\n".join(lines) + "\n").encode()


def matrix_batch(rt: Runtime, p: Principal) -> str:
    """A one-row batch of a template published for it (by ``p``, an admin)."""
    from accord.bulk import services

    publish_notice(rt, p, key="matrix-notice")
    return services.submit(rt, p, template_key="matrix-notice", data=csv_rows(1)).batch.id
