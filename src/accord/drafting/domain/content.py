"""What authors give a template or clause, checked: keys, names, roles, PDF placements,
prefill, and the recipients a request names for the roles. Pure: no database, no web, no
I/O."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from accord.validation import TextError, email_address, text_problem

# -- validation of what authors upload ----------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """One problem with an upload or a request; ``field`` says where."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


TEMPLATE_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,79}$")
CLAUSE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
ROLE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RECORD_PATH = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+){0,15}$")
KINDS = frozenset({"html", "markdown", "pdf"})
ROLE_TYPES = frozenset({"signer", "approver", "cc"})
# a role's required signer authentication: "email_link", or factors joined by "+"
AUTH_FACTORS = frozenset({"email_otp", "sms_otp", "access_code", "kba"})


def role_factors(auth: str) -> tuple[str, ...]:
    """The factors a role's ``auth`` requires beyond the email link."""
    return tuple(f for f in auth.split("+") if f and f != "email_link")


def _auth_ok(auth: object) -> bool:
    if not isinstance(auth, str) or not auth:
        return False
    parts = auth.split("+")
    return (len(set(parts)) == len(parts)
            and all(p == "email_link" or p in AUTH_FACTORS for p in parts))
FIELD_KINDS = frozenset({"signature", "initials", "text", "date_signed", "checkbox"})
MAX_SOURCE_CHARS = 500_000
MAX_ROLES = 20
MAX_PDF_FIELDS = 500
MAX_NAME = 200


def check_key(key: str, *, clause: bool = False) -> Issue | None:
    pattern = CLAUSE_KEY if clause else TEMPLATE_KEY
    if pattern.fullmatch(key):
        return None
    what = "clause keys use a-z, 0-9 and _" if clause else "template keys use a-z, 0-9, _ and -"
    return Issue("key", "invalid_key", f"{key!r} is not a valid key: {what}, start with a "
                 "letter and have at most 80 characters")


def check_name(value: str, where: str) -> Issue | None:
    """1-MAX_NAME characters on one line (no line break or control character)."""
    if not value.strip() or len(value) > MAX_NAME:
        return Issue(where, "invalid_name", f"{where} must be 1-{MAX_NAME} characters")
    found = text_problem(value)
    return None if found is None else Issue(where, found.code, f"{where} {found.message}")


def _bad_person(name: object, email: object) -> bool:
    """Not a recipient's name (one line, 1-MAX_NAME characters) and email address."""
    if not isinstance(name, str) or not isinstance(email, str) or check_name(name, "name"):
        return True
    try:
        email_address(email)
    except TextError:
        return True
    return False


@dataclass(frozen=True)
class RoleSpec:
    key: str
    name: str
    type: str  # signer, approver, cc
    routing_order: int
    # who a routing rule adds for this role when the request names no one: (name, email)
    default_recipient: tuple[str, str] | None = field(default=None, kw_only=True)
    auth: str = "email_link"
    allow_delegation: bool = False  # the recipient may hand their part to someone else


def parse_roles(raw: Sequence[Any]) -> tuple[list[RoleSpec], list[Issue]]:
    """Roles as declared by a template version, and every problem with them."""
    roles: list[RoleSpec] = []
    issues: list[Issue] = []
    if not raw:
        issues.append(Issue("roles", "roles_missing", "a template declares at least one role"))
    if len(raw) > MAX_ROLES:
        issues.append(Issue("roles", "too_many_roles", f"at most {MAX_ROLES} roles"))
    for i, item in enumerate(raw):
        role, problems = _parse_role_and_default(f"roles[{i}]", item)
        if role is not None and any(r.key == role.key for r in roles):
            problems.append(Issue(f"roles[{i}].key", "role_duplicate",
                                  f"role {role.key!r} is declared twice"))
        issues.extend(problems)
        if role is not None and not problems:
            roles.append(role)
    if roles and all(r.type == "cc" for r in roles):
        issues.append(Issue("roles", "roles_no_signer", "at least one role must sign or "
                            "approve"))
    return roles, issues


def _parse_role(where: str, item: Any) -> tuple[RoleSpec | None, list[Issue]]:
    if not isinstance(item, Mapping):
        return None, [Issue(where, "role_invalid", f"{where} must be an object")]
    issues = []
    unknown = set(item) - {"key", "name", "type", "routing_order", "auth", "allow_delegation"}
    if unknown:
        issues.append(Issue(where, "role_invalid", f"{where}: unknown properties "
                            f"{sorted(unknown)}"))
    key, name = item.get("key"), item.get("name", item.get("key"))
    rtype, order = item.get("type", "signer"), item.get("routing_order", 1)
    auth = item.get("auth", "email_link")
    if not isinstance(key, str) or not ROLE_KEY.fullmatch(key):
        issues.append(Issue(f"{where}.key", "role_invalid",
                            f"{where}.key must match [a-z][a-z0-9_]* (at most 40)"))
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        issues.append(Issue(f"{where}.name", "role_invalid",
                            f"{where}.name must be 1-{MAX_NAME} characters"))
    if rtype not in ROLE_TYPES:
        issues.append(Issue(f"{where}.type", "role_invalid",
                            f"{where}.type must be one of {sorted(ROLE_TYPES)}"))
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= 100:
        issues.append(Issue(f"{where}.routing_order", "role_invalid",
                            f"{where}.routing_order must be an integer 1-100"))
    if not _auth_ok(auth):
        issues.append(Issue(f"{where}.auth", "role_invalid",
                            f"{where}.auth must be 'email_link' or factors joined by '+' "
                            f"from {sorted(AUTH_FACTORS)} (e.g. 'email_link+sms_otp')"))
    delegation = item.get("allow_delegation", False)
    if not isinstance(delegation, bool) or (delegation and rtype == "cc"):
        issues.append(Issue(f"{where}.allow_delegation", "role_invalid",
                            f"{where}.allow_delegation must be true or false (and false for "
                            "cc roles)"))
    if issues:
        return None, issues
    return RoleSpec(str(key), str(name).strip(), str(rtype), int(order), str(auth),
                    delegation), []


def _parse_role_and_default(where: str, item: Any) -> tuple[RoleSpec | None, list[Issue]]:
    """A role with its optional ``default_recipient`` ({name, email}): the recipient a
    routing rule adds for the role when the request gives none."""
    if not isinstance(item, Mapping) or "default_recipient" not in item:
        return _parse_role(where, item)
    given = item["default_recipient"]
    role, issues = _parse_role(where, {k: v for k, v in item.items()
                                       if k != "default_recipient"})
    name = given.get("name") if isinstance(given, Mapping) else None
    email = given.get("email") if isinstance(given, Mapping) else None
    if (not isinstance(given, Mapping) or set(given) - {"name", "email"}
            or _bad_person(name, email)):
        issues.append(Issue(f"{where}.default_recipient", "role_invalid",
                            f"{where}.default_recipient is {{name, email}} with a name and a "
                            "valid email"))
    if role is None or issues:
        return None, issues
    return replace(role, default_recipient=(str(name).strip(), str(email).strip())), []


def check_tag(role: str, kind: str, roles: Sequence[RoleSpec], where: str) -> Issue | None:
    """A field (tag in the text or PDF placement) must belong to a declared, acting role."""
    by_key = {r.key: r for r in roles}
    if role not in by_key:
        return Issue(where, "tag_role_undeclared", f"{where}: the {kind} field is for role "
                     f"{role!r}, which the template does not declare "
                     f"(declared: {', '.join(sorted(by_key)) or 'none'})")
    if by_key[role].type == "cc":
        return Issue(where, "tag_role_cc", f"{where}: role {role!r} is cc and cannot fill "
                     "fields")
    return None


_PDF_FIELD_KEYS = frozenset({"role", "kind", "page", "x", "y", "width", "height", "anchor",
                             "anchor_x_offset", "anchor_y_offset", "required", "label"})


def check_pdf_fields(raw: Sequence[Any], roles: Sequence[RoleSpec]) -> list[Issue]:
    """The shape of PDF placements (whether they fit the pages is checked against the PDF)."""
    issues: list[Issue] = []
    if len(raw) > MAX_PDF_FIELDS:
        issues.append(Issue("pdf_fields", "too_many_fields", f"at most {MAX_PDF_FIELDS}"))
    for i, item in enumerate(raw):
        issues.extend(check_pdf_field(f"pdf_fields[{i}]", item, roles))
    return issues


def check_pdf_field(where: str, item: Any, roles: Sequence[RoleSpec]) -> list[Issue]:
    """One PDF placement: its role, kind, numbers and texts."""
    if not isinstance(item, Mapping):
        return [Issue(where, "pdf_field_invalid", f"{where} must be an object")]
    issues = []
    unknown = set(item) - _PDF_FIELD_KEYS
    if unknown:
        issues.append(Issue(where, "pdf_field_invalid",
                            f"{where}: unknown properties {sorted(unknown)}"))
    kind = item.get("kind")
    if kind not in FIELD_KINDS:
        issues.append(Issue(f"{where}.kind", "pdf_field_invalid",
                            f"{where}.kind must be one of {sorted(FIELD_KINDS)}"))
    role = item.get("role")
    problem = (check_tag(role, str(kind), roles, where) if isinstance(role, str) else
               Issue(f"{where}.role", "pdf_field_invalid", f"{where}.role is required"))
    if problem:
        issues.append(problem)
    for name in ("page", "x", "y", "width", "height", "anchor_x_offset", "anchor_y_offset"):
        value = item.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            issues.append(Issue(f"{where}.{name}", "pdf_field_invalid",
                                f"{where}.{name} must be a number"))
    for name in ("anchor", "label"):
        value = item.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_NAME):
            issues.append(Issue(f"{where}.{name}", "pdf_field_invalid",
                                f"{where}.{name} must be text of at most {MAX_NAME}"))
    if not isinstance(item.get("required", True), bool):
        issues.append(Issue(f"{where}.required", "pdf_field_invalid",
                            f"{where}.required must be true or false"))
    return issues


def check_prefill(mapping: Mapping[str, Any], declared: set[str]) -> list[Issue]:
    """``{variable: "dotted.path.in.record"}``: declared variables, plain dotted paths."""
    issues = []
    for var, path in mapping.items():
        if var not in declared:
            issues.append(Issue(f"prefill[{var}]", "prefill_undeclared",
                                f"prefill names {var!r}, which is not a declared variable"))
        if not isinstance(path, str) or not RECORD_PATH.fullmatch(path):
            issues.append(Issue(f"prefill[{var}]", "prefill_path_invalid",
                                f"prefill[{var}] must be a dotted path like 'account.name'"))
    return issues


# -- recipients for the roles of a template -----------------------------------------------


@dataclass(frozen=True)
class RecipientIssue:
    role: str
    code: str
    message: str


def match_recipients(roles: Sequence[RoleSpec], recipients: Mapping[str, Mapping[str, Any]],
                     optional: Collection[str] = frozenset()) -> list[RecipientIssue]:
    """Every declared role needs exactly one recipient (``optional`` roles -- those routing
    rules add -- may have none); no recipient for undeclared roles."""
    issues = []
    declared = {r.key for r in roles}
    for r in roles:
        given = recipients.get(r.key)
        if given is None and r.key in optional:
            continue
        if given is None:
            issues.append(RecipientIssue(r.key, "role_recipient_missing",
                                         f"role {r.key!r} ({r.name}) needs a recipient"))
            continue
        name, email = given.get("name"), given.get("email")
        if _bad_person(name, email):
            issues.append(RecipientIssue(r.key, "recipient_invalid", f"the recipient for "
                                         f"{r.key!r} needs a name and a valid email"))
    for key in recipients:
        if key not in declared:
            issues.append(RecipientIssue(key, "recipient_role_undeclared",
                                         f"the template has no role {key!r} "
                                         f"(roles: {', '.join(sorted(declared))})"))
    return issues
