"""Use cases for the clause library: author, review, publish, retire, read, compare."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accord.access import Principal
from accord.drafting.domain import (
    Action,
    Issue,
    LifecycleError,
    VersionState,
    VersionStatus,
    VersionText,
    check_key,
    check_name,
    diff,
    edits_in_place,
    label,
    sha256_text,
)
from accord.drafting.models import Clause, ClauseVersion
from accord.drafting.services.checks import check_clause_body
from accord.drafting.services.common import (
    ClauseSummary,
    ClauseView,
    Diff,
    approval_required,
    clause_versions,
    clause_view,
    commit_or_conflict,
    invalid,
    latest_published,
    lifecycle_error,
    load_clause,
    pick,
    require,
    visible,
)
from accord.errors import Conflict, NotFound
from accord.runtime import Runtime


def _checked(key: str | None, title: str | None, body: str | None) -> None:
    issues: list[Issue] = []
    if key is not None and (problem := check_key(key, clause=True)):
        issues.append(problem)
    if title is not None and (problem := check_name(title, "title")):
        issues.append(problem)
    if body is not None:
        issues.extend(check_clause_body(body))
    if issues:
        raise invalid(issues, noun="clause")


def create_clause(rt: Runtime, principal: Principal, *, key: str, title: str,
                  body: str) -> ClauseView:
    """A new clause with a draft version 1."""
    require(principal, Action.AUTHOR)
    _checked(key, title, body)
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        if s.scalar(select(Clause.id).where(Clause.org_id == principal.org_id,
                                            Clause.key == key)):
            raise Conflict(f"a clause {key!r} exists", code="clause_exists")
        clause = Clause(org_id=principal.org_id, key=key, title=title.strip(), created_at=now)
        s.add(clause)
        try:
            s.flush()
        except IntegrityError as exc:  # created concurrently
            raise Conflict(f"a clause {key!r} exists", code="clause_exists") from exc
        s.add(ClauseVersion(org_id=principal.org_id, clause_id=clause.id, version=1,
                            status=VersionStatus.DRAFT.value, body=body,
                            body_sha256=sha256_text(body), created_by=principal.user_id,
                            created_at=now))
        commit_or_conflict(s, "clause")
        return clause_view(principal, clause, clause_versions(s, clause.id))


def edit_clause(rt: Runtime, principal: Principal, key: str, *, title: str | None = None,
                body: str | None = None) -> ClauseView:
    """Change the title, and the body: a draft in place, otherwise as a new draft version."""
    require(principal, Action.AUTHOR)
    _checked(None, title, body)
    with rt.db.uow() as uow:
        s = uow.session
        clause = load_clause(s, principal.org_id, key)
        if title is not None:
            clause.title = title.strip()
        versions = clause_versions(s, clause.id)
        latest = versions[-1]
        if body is not None and body != latest.body:
            if edits_in_place(VersionStatus(latest.status)):
                latest.body, latest.body_sha256 = body, sha256_text(body)
                latest.created_by = principal.user_id
            else:
                s.add(ClauseVersion(
                    org_id=principal.org_id, clause_id=clause.id, version=latest.version + 1,
                    status=VersionStatus.DRAFT.value, body=body, body_sha256=sha256_text(body),
                    created_by=principal.user_id, created_at=rt.now()))
        commit_or_conflict(s, "clause")
        return clause_view(principal, clause, clause_versions(s, clause.id))


def _transition(rt: Runtime, principal: Principal, key: str, version: int | None,
                step: str) -> ClauseView:
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        clause = load_clause(s, principal.org_id, key)
        versions = clause_versions(s, clause.id)
        row = pick(versions, version, principal, noun="clause")
        state = VersionState(VersionStatus(row.status))
        try:
            if step == "submit":
                state.submit()
                row.submitted_at = now
            elif step == "reject":
                state.reject()
            else:
                problems = check_clause_body(row.body)
                if problems:
                    raise invalid(problems, noun="clause")
                state.publish(approval_required=approval_required(s, principal.org_id))
                row.published_by, row.published_at = principal.user_id, now
        except LifecycleError as exc:
            raise lifecycle_error(exc) from exc
        row.status = state.status.value
        commit_or_conflict(s, "clause")
        return clause_view(principal, clause, clause_versions(s, clause.id))


def submit_clause(rt: Runtime, principal: Principal, key: str,
                  version: int | None = None) -> ClauseView:
    """Send a draft (default: the latest version) for review."""
    require(principal, Action.AUTHOR)
    return _transition(rt, principal, key, version, "submit")


def reject_clause(rt: Runtime, principal: Principal, key: str,
                  version: int | None = None) -> ClauseView:
    """Send a version in review back to draft."""
    require(principal, Action.PUBLISH)
    return _transition(rt, principal, key, version, "reject")


def publish_clause(rt: Runtime, principal: Principal, key: str,
                   version: int | None = None) -> ClauseView:
    """Approve and publish a version (default: the latest). Templates published from now on
    pin it; templates already published keep the version they pinned."""
    require(principal, Action.PUBLISH)
    return _transition(rt, principal, key, version, "publish")


def retire_clause(rt: Runtime, principal: Principal, key: str,
                  version: int | None = None) -> ClauseView:
    """Retire one published version, or (``version`` None) every published version. Pinned
    copies in published templates are unaffected; new templates cannot pin it."""
    require(principal, Action.PUBLISH)
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        clause = load_clause(s, principal.org_id, key)
        versions = clause_versions(s, clause.id)
        targets = ([pick(versions, version, principal, noun="clause")] if version is not None
                   else [v for v in versions if v.status == VersionStatus.PUBLISHED])
        if not targets:
            raise Conflict(f"clause {key!r} has no published version",
                           code="version_not_published")
        for row in targets:
            state = VersionState(VersionStatus(row.status))
            try:
                state.retire()
            except LifecycleError as exc:
                raise lifecycle_error(exc) from exc
            row.status, row.retired_at = state.status.value, now
        commit_or_conflict(s, "clause")
        return clause_view(principal, clause, clause_versions(s, clause.id))


def list_clauses(rt: Runtime, principal: Principal) -> list[ClauseSummary]:
    """The organisation's clauses (agents and managers: those with a published version)."""
    require(principal, Action.READ)
    with rt.db.uow() as uow:
        s = uow.session
        out = []
        for clause in s.scalars(select(Clause).where(Clause.org_id == principal.org_id)
                                .order_by(Clause.key)):
            versions = [v for v in clause_versions(s, clause.id)
                        if visible(principal, v.status)]
            if not versions:
                continue
            pub = latest_published(versions)
            out.append(ClauseSummary(key=clause.key, title=clause.title,
                                     latest_version=versions[-1].version,
                                     latest_status=versions[-1].status,
                                     published_version=pub.version if pub else None))
        return out


def get_clause(rt: Runtime, principal: Principal, key: str) -> ClauseView:
    """A clause with the versions the caller may see."""
    require(principal, Action.READ)
    with rt.db.uow() as uow:
        clause = load_clause(uow.session, principal.org_id, key)
        view = clause_view(principal, clause, clause_versions(uow.session, clause.id))
        if not view.versions:
            raise NotFound(f"no clause {key!r}", code="clause_not_found")
        return view


def diff_clause(rt: Runtime, principal: Principal, key: str, from_version: int,
                to_version: int) -> Diff:
    """A unified diff of two versions' bodies."""
    require(principal, Action.READ)
    with rt.db.uow() as uow:
        clause = load_clause(uow.session, principal.org_id, key)
        versions = clause_versions(uow.session, clause.id)
        a = pick(versions, from_version, principal, noun="clause")
        b = pick(versions, to_version, principal, noun="clause")
        lines = diff(VersionText(label(key, a.version), a.body),
                     VersionText(label(key, b.version), b.body))
        return Diff(key=key, from_version=a.version, to_version=b.version, lines=lines)
