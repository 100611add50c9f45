"""A template's ``contract`` section: which contract record its envelopes file, and which of
its variables fill which contract field. Pure rules, checked at authoring time.

    "contract": {"type": "support_services",
                 "fields": {"customer_name": "customer.legal_name",
                            "effective_date": "effective_date", "value": "annual_fee", ...}}

Drafting sits below ``contracts``: the contract types and fields are named here (the
contract record's own lists in ``contracts.domain`` are tested to be the same)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from accord.drafting.domain.content import Issue

CONTRACT_TYPES = ("support_services", "sla_amendment", "maintenance", "nda", "consent",
                  "renewal_addendum")
CONTRACT_FIELDS = ("customer_account_id", "customer_name", "type", "effective_date",
                   "end_date", "term_months", "auto_renew", "notice_days", "value",
                   "currency", "tags", "sla")
# the retention policies a template may name (contracts.retention's, tested to be the same)
RETENTION_POLICIES = ("standard", "hipaa", "transactional", "audit_log")
# which variable types may fill which field (None: any type)
_FIELD_TYPES: dict[str, frozenset[str] | None] = {
    "customer_account_id": frozenset({"text", "enum", "number"}),
    "customer_name": frozenset({"text", "enum"}),
    "type": frozenset({"enum", "text"}),
    "effective_date": frozenset({"date"}),
    "end_date": frozenset({"date"}),
    "term_months": frozenset({"number"}),
    "auto_renew": frozenset({"boolean"}),
    "notice_days": frozenset({"number"}),
    "value": frozenset({"money", "number"}),
    "currency": frozenset({"text", "enum"}),
    "tags": frozenset({"text", "enum", "list"}),
    "sla": frozenset({"list"}),
}


def check_contract(raw: Any, variable_types: Mapping[str, str]) -> list[Issue]:
    """Every problem with a ``contract`` section (None: the template files no contract).
    ``variable_types`` are the template's declared variables and their types."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [Issue("contract", "contract_section_invalid",
                      'contract must be an object {"type": ..., "fields": {...}}')]
    issues: list[Issue] = []
    extra = sorted(set(raw) - {"type", "fields", "retention"})
    if extra:
        issues.append(Issue("contract", "contract_section_invalid",
                            f"contract has unknown keys: {', '.join(map(str, extra))}"))
    kind = raw.get("type", "support_services")
    if kind not in CONTRACT_TYPES:
        issues.append(Issue("contract.type", "contract_type_invalid",
                            f"contract.type must be one of {', '.join(CONTRACT_TYPES)}"))
    if "retention" in raw and raw["retention"] not in RETENTION_POLICIES:
        issues.append(Issue("contract.retention", "retention_policy_unknown",
                            f"contract.retention names {str(raw['retention'])[:40]!r}, which "
                            f"is not a retention policy; known: {', '.join(RETENTION_POLICIES)}"))
    fields = raw.get("fields", {})
    if not isinstance(fields, Mapping):
        return [*issues, Issue("contract.fields", "contract_section_invalid",
                               "contract.fields maps contract fields to variable names")]
    for name, variable in fields.items():
        where = f"contract.fields.{name}"
        if name not in CONTRACT_FIELDS:
            issues.append(Issue(where, "contract_field_unknown",
                                f"{name!r} is not a contract field; known: "
                                f"{', '.join(CONTRACT_FIELDS)}"))
            continue
        if not isinstance(variable, str) or variable not in variable_types:
            issues.append(Issue(where, "contract_variable_unknown",
                                f"{where} names {variable!r}, which is not a variable of "
                                "the template"))
            continue
        allowed = _FIELD_TYPES[name]
        if allowed is not None and variable_types[variable] not in allowed:
            issues.append(Issue(where, "contract_variable_type",
                                f"{where}: variable {variable!r} is a "
                                f"{variable_types[variable]}; {name} takes "
                                f"{' or '.join(sorted(allowed))}"))
    return issues


def normalised(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The section as stored (checked before): type defaulted, fields sorted."""
    if raw is None:
        return None
    fields = raw.get("fields") or {}
    out: dict[str, Any] = {"type": str(raw.get("type", "support_services")),
                           "fields": {str(k): str(fields[k]) for k in sorted(fields)}}
    if raw.get("retention"):
        out["retention"] = str(raw["retention"])
    return out


def mapped_variables(section: Mapping[str, Any] | None) -> Sequence[str]:
    if not section:
        return ()
    return tuple(sorted(set((section.get("fields") or {}).values())))
