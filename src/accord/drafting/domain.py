"""Rules of the template and clause lifecycle. Pure: no database, no web, no I/O.

Version:  draft -> in_review -> published -> retired
          in_review -> draft (rejected);  draft -> published only when the organisation
          does not require approval.

A published (or retired) version never changes its content; editing makes a new draft
version. Who may do what is ``TEMPLATE_PERMISSIONS`` (by role name).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from accord.validation import TextError, email_address, text_problem

# -- states and transitions ----------------------------------------------------------------


class VersionStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    RETIRED = "retired"


class LifecycleError(Exception):
    """A transition or change the rules do not allow."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class VersionState:
    """One version's place in the lifecycle."""

    status: VersionStatus

    def submit(self) -> None:
        if self.status is not VersionStatus.DRAFT:
            raise LifecycleError("version_not_draft",
                                 f"only a draft can be submitted for review (it is {self.status})")
        self.status = VersionStatus.IN_REVIEW

    def reject(self) -> None:
        if self.status is not VersionStatus.IN_REVIEW:
            raise LifecycleError("version_not_in_review",
                                 f"only a version in review can be rejected (it is {self.status})")
        self.status = VersionStatus.DRAFT

    def publish(self, *, approval_required: bool) -> None:
        if self.status is VersionStatus.DRAFT and approval_required:
            raise LifecycleError("review_required", "this organisation requires review: submit "
                                 "the draft for review before publishing it")
        if self.status not in (VersionStatus.DRAFT, VersionStatus.IN_REVIEW):
            raise LifecycleError("version_not_publishable",
                                 f"a {self.status} version cannot be published")
        self.status = VersionStatus.PUBLISHED

    def retire(self) -> None:
        if self.status is not VersionStatus.PUBLISHED:
            raise LifecycleError("version_not_published",
                                 f"only a published version can be retired (it is {self.status})")
        self.status = VersionStatus.RETIRED

    def take(self, step: Step, *, approval_required: bool = True) -> None:
        """Take ``step`` (``approval_required`` matters to publishing only)."""
        if step is Step.SUBMIT:
            self.submit()
        elif step is Step.REJECT:
            self.reject()
        elif step is Step.PUBLISH:
            self.publish(approval_required=approval_required)
        else:
            self.retire()


class Step(StrEnum):
    """What a reviewer or author does to a version."""

    SUBMIT = "submit"
    REJECT = "reject"
    PUBLISH = "publish"
    RETIRE = "retire"


def stamps(step: Step, *, user_id: str, now: datetime) -> dict[str, Any]:
    """The lifecycle columns a step writes besides the status."""
    if step is Step.SUBMIT:
        return {"submitted_at": now}
    if step is Step.PUBLISH:
        return {"published_by": user_id, "published_at": now}
    if step is Step.RETIRE:
        return {"retired_at": now}
    return {}


def edits_in_place(latest: VersionStatus) -> bool:
    """Editing changes the latest version itself only while it is a draft; otherwise the
    edit becomes a new draft version (published and in-review text never changes)."""
    return latest is VersionStatus.DRAFT


# Columns a version may never change once it has left the draft state (the lifecycle
# columns - status, submitted/published/retired stamps, row_version - may).
CONTENT_FIELDS = frozenset({
    "version", "body", "body_sha256", "source", "pdf_blob", "variables", "roles", "pdf_fields",
    "prefill", "sample_data", "pinned_clauses", "source_sha256", "fields_sha256", "created_by",
    "rules",
    "created_at", "template_id", "clause_id", "org_id", "published_by", "published_at"})
_FROZEN = frozenset({VersionStatus.PUBLISHED, VersionStatus.RETIRED})
# what publishing writes onto a version that was in review
PUBLISH_STAMPS = frozenset({"published_by", "published_at", "pinned_clauses", "fields_sha256",
                            "source_sha256"})


def check_update(old: VersionStatus, new: VersionStatus, changed: set[str]) -> None:
    """Refuse any change that would alter a version in review, published or retired, or
    move a published one back.

    ``old`` is the stored status, ``new`` the status about to be written and ``changed`` the
    names of the columns that differ."""
    content = changed & CONTENT_FIELDS
    if old is VersionStatus.DRAFT:
        return
    if old is VersionStatus.IN_REVIEW:
        allowed = PUBLISH_STAMPS if new is VersionStatus.PUBLISHED else frozenset()
        if content - allowed:
            raise LifecycleError("version_immutable", "a version in review cannot be "
                                 "changed; edit the template to make a new draft")
        return
    if new is not old and not (old is VersionStatus.PUBLISHED and new is VersionStatus.RETIRED):
        raise LifecycleError("version_immutable", f"a {old} version cannot become {new}")
    if content:
        raise LifecycleError("version_immutable", f"a {old} version cannot be changed "
                             f"({', '.join(sorted(content))})")


# -- who may do what -----------------------------------------------------------------------


class Action(StrEnum):
    READ = "template:read"  # published templates and clauses
    READ_ALL = "template:read_all"  # drafts, versions in review, retired versions
    AUTHOR = "template:author"  # create, edit, submit for review
    PUBLISH = "template:publish"  # approve (publish), reject, retire
    USE = "template:use"  # preview and create envelopes from published templates
    CONFIGURE = "template:configure"  # the organisation's drafting settings


TEMPLATE_PERMISSIONS: Mapping[str, frozenset[Action]] = {
    "admin": frozenset(Action),
    "legal": frozenset({Action.READ, Action.READ_ALL, Action.AUTHOR, Action.PUBLISH,
                        Action.USE}),
    "manager": frozenset({Action.READ, Action.USE}),
    "agent": frozenset({Action.READ, Action.USE}),
    "compliance": frozenset({Action.READ, Action.READ_ALL}),
}


def may(role: str, action: Action) -> bool:
    return action in TEMPLATE_PERMISSIONS.get(role, frozenset())


def can_see(role: str, status: VersionStatus) -> bool:
    """Agents and managers see published versions only; legal, compliance, admin all."""
    return may(role, Action.READ_ALL) or (status is VersionStatus.PUBLISHED
                                          and may(role, Action.READ))


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


# -- diffs and fingerprints ----------------------------------------------------------------


@dataclass(frozen=True)
class VersionText:
    """The comparable content of a version (a clause uses ``source`` only)."""

    label: str
    source: str
    variables: list[Any] = field(default_factory=list)
    roles: list[Any] = field(default_factory=list)
    prefill: dict[str, Any] = field(default_factory=dict)
    pdf_fields: list[Any] = field(default_factory=list)
    rules: list[Any] = field(default_factory=list)


def _pretty(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def diff(a: VersionText, b: VersionText) -> list[str]:
    """A unified diff of the source, then of the pretty JSON of variables, roles, prefill
    and PDF placements. Empty when the two versions have the same content."""
    parts: list[tuple[str, list[str], list[str]]] = [
        ("source", a.source.splitlines(), b.source.splitlines()),
        ("variables", _pretty(a.variables), _pretty(b.variables)),
        ("roles", _pretty(a.roles), _pretty(b.roles)),
        ("prefill", _pretty(a.prefill), _pretty(b.prefill)),
    ]
    if a.pdf_fields or b.pdf_fields:
        parts.append(("pdf_fields", _pretty(a.pdf_fields), _pretty(b.pdf_fields)))
    if a.rules or b.rules:
        parts.append(("rules", _pretty(a.rules), _pretty(b.rules)))
    out: list[str] = []
    for name, old, new in parts:
        out.extend(difflib.unified_diff(old, new, fromfile=f"{a.label}/{name}",
                                        tofile=f"{b.label}/{name}", lineterm=""))
    return out


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_sha256(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value`` (sorted keys, no spaces)."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def label(key: str, version: int) -> str:
    return f"{key} v{version}"
