"""Rules of the template and clause lifecycle. Pure: no database, no web, no I/O.

Version:  draft -> in_review -> published -> retired
          in_review -> draft (rejected);  draft -> published only when the organisation
          does not require approval.

A published (or retired) version never changes its content; editing makes a new draft
version. Who may do what is ``TEMPLATE_PERMISSIONS`` (by role name). The checks of what
authors upload (keys, roles, PDF placements, prefill) and of the recipients a request names
are ``domain.content``, re-exported here.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from accord.drafting.domain.content import (
    AUTH_FACTORS,
    CLAUSE_KEY,
    FIELD_KINDS,
    KINDS,
    MAX_NAME,
    MAX_PDF_FIELDS,
    MAX_ROLES,
    MAX_SOURCE_CHARS,
    RECORD_PATH,
    ROLE_KEY,
    ROLE_TYPES,
    TEMPLATE_KEY,
    Issue,
    RecipientIssue,
    RoleSpec,
    check_key,
    check_name,
    check_pdf_field,
    check_pdf_fields,
    check_prefill,
    check_tag,
    match_recipients,
    parse_roles,
    role_factors,
)

# -- states and transitions ----------------------------------------------------------------


class VersionStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    RETIRED = "retired"


class Step(StrEnum):
    """What a reviewer or author does to a version."""

    SUBMIT = "submit"
    REJECT = "reject"
    PUBLISH = "publish"
    RETIRE = "retire"


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


__all__ = [
    "AUTH_FACTORS", "CLAUSE_KEY", "CONTENT_FIELDS", "FIELD_KINDS", "KINDS", "MAX_NAME",
    "MAX_PDF_FIELDS", "MAX_ROLES", "MAX_SOURCE_CHARS", "PUBLISH_STAMPS", "RECORD_PATH",
    "ROLE_KEY", "ROLE_TYPES", "TEMPLATE_KEY", "TEMPLATE_PERMISSIONS", "Action", "Issue",
    "LifecycleError", "RecipientIssue", "RoleSpec", "Step", "VersionState", "VersionStatus",
    "VersionText", "can_see", "canonical_sha256", "check_key", "check_name", "check_pdf_field",
    "check_pdf_fields", "check_prefill", "check_tag", "check_update", "diff", "edits_in_place",
    "label", "match_recipients", "may", "parse_roles", "role_factors", "sha256_text", "stamps",
]
