"""What the drafting use cases share: access checks, the organisation's drafting setting
(read through accounts' services), picking a version, read views, error mapping, and the
guard that keeps published versions immutable. Loading clauses and templates by key is
``services.versions``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.exc import StaleDataError

from accord.access import Permission, Principal
from accord.accounts import services as accounts
from accord.drafting.domain import (
    Action,
    Issue,
    LifecycleError,
    VersionStatus,
    can_see,
    check_update,
    label,
    may,
)
from accord.drafting.models import Clause, ClauseVersion, Template, TemplateVersion
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound

APPROVAL_SETTING = "template_approval_required"
V = TypeVar("V", ClauseVersion, TemplateVersion)


# -- access --------------------------------------------------------------------------------


# the permission (accord.access.MATRIX, and API-key scopes) each drafting action needs
PERMISSION_OF: dict[Action, Permission] = {
    Action.READ: Permission.TEMPLATE_READ,
    Action.READ_ALL: Permission.TEMPLATE_READ,
    Action.AUTHOR: Permission.TEMPLATE_AUTHOR,
    Action.PUBLISH: Permission.TEMPLATE_PUBLISH,
    Action.USE: Permission.TEMPLATE_USE,
    Action.CONFIGURE: Permission.SETTINGS_MANAGE,
}


def require(principal: Principal, action: Action) -> None:
    """The role must grant the action (the matrix, and an API key's scopes); drafting's own
    rule (``domain.TEMPLATE_PERMISSIONS``, kept in step with the matrix by a test) too."""
    principal.require(PERMISSION_OF[action])
    if not may(principal.role, action):
        raise Forbidden(f"the {principal.role} role may not do this ({action})",
                        code="forbidden")


def visible(principal: Principal, status: str) -> bool:
    return can_see(principal.role, VersionStatus(status))


# -- errors --------------------------------------------------------------------------------


def lifecycle_error(exc: LifecycleError) -> Conflict:
    return Conflict(exc.message, code=exc.code)


def invalid(issues: Sequence[Issue], *, code: str | None = None,
            noun: str = "template") -> InvalidInput:
    """One 422 listing every problem; its code is ``code``, else the only problem's code,
    else ``<noun>_invalid``."""
    if code is None:
        codes = {i.code for i in issues}
        code = codes.pop() if len(codes) == 1 else f"{noun}_invalid"
    head = "; ".join(i.message for i in issues[:3])
    more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
    return InvalidInput(f"the {noun} has {len(issues)} problem(s): {head}{more}", code=code,
                        details=[i.as_dict() for i in issues])


def commit_or_conflict(session: Session, noun: str = "template") -> None:
    try:
        session.commit()
    except (StaleDataError, IntegrityError) as exc:
        session.rollback()
        raise Conflict(f"the {noun} was changed by someone else; try again",
                       code="concurrent_update") from exc


# -- published versions never change -------------------------------------------------------


def _guard(_mapper: Mapper[Any], _conn: Connection, target: ClauseVersion | TemplateVersion,
           ) -> None:
    state = instance_state(target)
    changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
    status_hist = state.attrs.status.history
    old = status_hist.deleted[0] if status_hist.deleted else target.status
    try:
        check_update(VersionStatus(old), VersionStatus(target.status), changed)
    except LifecycleError as exc:
        raise lifecycle_error(exc) from exc


for _model in (ClauseVersion, TemplateVersion):
    event.listen(_model, "before_update", _guard)


# -- organisation settings -----------------------------------------------------------------


def approval_required(session: Session, org_id: str) -> bool:
    """``template_approval_required`` (default true): publishing needs a review first."""
    settings = accounts.org_settings(session, {org_id})
    if org_id not in settings:
        raise NotFound("no such organisation", code="organisation_not_found")
    return bool(settings[org_id].get(APPROVAL_SETTING, True))


# -- loading, always scoped to one organisation --------------------------------------------


def pick(versions: Sequence[V], version: int | None, principal: Principal, *,
         noun: str) -> V:
    """One version the principal may see: ``version``, else the latest visible one
    (for agents and managers: the latest published one). Others answer NotFound."""
    seen = [v for v in versions if visible(principal, v.status)]
    if version is not None:
        seen = [v for v in seen if v.version == version]
    if not seen:
        which = f"version {version}" if version is not None else "version you may see"
        raise NotFound(f"the {noun} has no {which}", code=f"{noun}_version_not_found")
    return seen[-1]


def latest_published(versions: Iterable[V]) -> V | None:
    published = [v for v in versions if v.status == VersionStatus.PUBLISHED]
    return max(published, key=lambda v: v.version) if published else None


def load_template_version_by_id(session: Session, org_id: str,
                                version_id: str) -> tuple[Template, TemplateVersion]:
    row = session.scalar(select(TemplateVersion).where(TemplateVersion.id == version_id,
                                                       TemplateVersion.org_id == org_id))
    tpl = session.get(Template, row.template_id) if row is not None else None
    if row is None or tpl is None:
        raise NotFound("no such template version", code="template_version_not_found")
    return tpl, row


def clauses_by_key(session: Session, org_id: str, keys: Iterable[str]) -> dict[str, Clause]:
    keys = set(keys)
    if not keys:
        return {}
    rows = session.scalars(select(Clause).where(Clause.org_id == org_id, Clause.key.in_(keys)))
    return {c.key: c for c in rows}


# -- views ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClauseVersionView:
    id: str
    version: int
    status: str
    body: str
    body_sha256: str
    created_by: str | None
    created_at: datetime
    submitted_at: datetime | None
    published_by: str | None
    published_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True)
class ClauseView:
    id: str
    key: str
    title: str
    created_at: datetime
    published_version: int | None
    versions: list[ClauseVersionView]


@dataclass(frozen=True)
class ClauseSummary:
    key: str
    title: str
    latest_version: int
    latest_status: str
    published_version: int | None


@dataclass(frozen=True)
class TemplateVersionSummary:
    id: str
    version: int
    status: str
    label: str
    source_sha256: str | None
    created_at: datetime
    published_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True)
class TemplateVersionView:
    id: str
    key: str
    version: int
    status: str
    label: str
    kind: str
    source: str
    pdf_sha256: str | None
    variables: list[Any]
    roles: list[Any]
    pdf_fields: list[Any]
    prefill: dict[str, Any]
    sample_data: dict[str, Any]
    pinned_clauses: dict[str, Any]
    rules: list[Any]  # routing rules, pinned with the version
    contract: dict[str, Any] | None  # the contract section (drafting.contract)
    source_sha256: str | None
    fields_sha256: str | None
    created_by: str | None
    created_at: datetime
    submitted_at: datetime | None
    published_by: str | None
    published_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True)
class TemplateView:
    id: str
    key: str
    name: str
    kind: str
    created_at: datetime
    published_version: int | None
    versions: list[TemplateVersionSummary]


@dataclass(frozen=True)
class TemplateSummary:
    key: str
    name: str
    kind: str
    latest_version: int
    latest_status: str
    published_version: int | None


@dataclass(frozen=True)
class Diff:
    key: str
    from_version: int
    to_version: int
    lines: list[str]


def clause_version_view(v: ClauseVersion) -> ClauseVersionView:
    return ClauseVersionView(
        id=v.id, version=v.version, status=v.status, body=v.body, body_sha256=v.body_sha256,
        created_by=v.created_by, created_at=v.created_at, submitted_at=v.submitted_at,
        published_by=v.published_by, published_at=v.published_at, retired_at=v.retired_at)


def clause_view(principal: Principal, clause: Clause,
                versions: Sequence[ClauseVersion]) -> ClauseView:
    pub = latest_published(versions)
    return ClauseView(id=clause.id, key=clause.key, title=clause.title,
                      created_at=clause.created_at,
                      published_version=pub.version if pub else None,
                      versions=[clause_version_view(v) for v in versions
                                if visible(principal, v.status)])


def template_version_view(tpl: Template, v: TemplateVersion) -> TemplateVersionView:
    return TemplateVersionView(
        id=v.id, key=tpl.key, version=v.version, status=v.status,
        label=label(tpl.key, v.version), kind=tpl.kind, source=v.source, pdf_sha256=v.pdf_blob,
        variables=list(v.variables), roles=list(v.roles), pdf_fields=list(v.pdf_fields),
        prefill=dict(v.prefill), sample_data=dict(v.sample_data),
        pinned_clauses=dict(v.pinned_clauses), rules=list(v.rules or []),
        contract=v.contract,
        source_sha256=v.source_sha256,
        fields_sha256=v.fields_sha256, created_by=v.created_by, created_at=v.created_at,
        submitted_at=v.submitted_at, published_by=v.published_by,
        published_at=v.published_at, retired_at=v.retired_at)


def template_view(principal: Principal, tpl: Template,
                  versions: Sequence[TemplateVersion]) -> TemplateView:
    pub = latest_published(versions)
    return TemplateView(
        id=tpl.id, key=tpl.key, name=tpl.name, kind=tpl.kind, created_at=tpl.created_at,
        published_version=pub.version if pub else None,
        versions=[TemplateVersionSummary(
            id=v.id, version=v.version, status=v.status, label=label(tpl.key, v.version),
            source_sha256=v.source_sha256, created_at=v.created_at,
            published_at=v.published_at, retired_at=v.retired_at)
            for v in versions if visible(principal, v.status)])
