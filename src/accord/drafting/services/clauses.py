"""Use cases for the clause library: author, review, publish, retire, read, compare.

The lifecycle is ``services.versions``; what is a clause's own is here: its key, title and
body, and that only a body without problems is published."""

from __future__ import annotations

from datetime import datetime

from accord.access import Principal
from accord.drafting.domain import (
    Action,
    Issue,
    Step,
    VersionStatus,
    VersionText,
    check_key,
    check_name,
    label,
    sha256_text,
)
from accord.drafting.models import Clause, ClauseVersion
from accord.drafting.services import versions
from accord.drafting.services.checks import check_clause_body
from accord.drafting.services.common import (
    ClauseSummary,
    ClauseView,
    Diff,
    clause_view,
    commit_or_conflict,
    invalid,
    require,
)
from accord.drafting.services.versions import CLAUSES
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


def _draft(principal: Principal, clause_id: str, version: int, body: str,
           now: datetime) -> ClauseVersion:
    return ClauseVersion(org_id=principal.org_id, clause_id=clause_id, version=version,
                         status=VersionStatus.DRAFT.value, body=body,
                         body_sha256=sha256_text(body), created_by=principal.user_id,
                         created_at=now)


def create_clause(rt: Runtime, principal: Principal, *, key: str, title: str,
                  body: str) -> ClauseView:
    """A new clause with a draft version 1."""
    require(principal, Action.AUTHOR)
    _checked(key, title, body)
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        CLAUSES.ensure_new(s, principal.org_id, key)
        clause = Clause(org_id=principal.org_id, key=key, title=title.strip(),
                        created_at=now)
        CLAUSES.insert(s, clause)
        s.add(_draft(principal, clause.id, 1, body, now))
        commit_or_conflict(s, "clause")
        return clause_view(principal, clause, CLAUSES.versions(s, clause.id))


def edit_clause(rt: Runtime, principal: Principal, key: str, *, title: str | None = None,
                body: str | None = None) -> ClauseView:
    """Change the title, and the body: a draft in place, otherwise as a new draft version."""
    require(principal, Action.AUTHOR)
    _checked(None, title, body)
    with rt.db.uow() as uow:
        s = uow.session
        clause = CLAUSES.load(s, principal.org_id, key)
        if title is not None:
            clause.title = title.strip()
        latest = CLAUSES.versions(s, clause.id)[-1]
        if body is not None and body != latest.body:
            row = _draft(principal, clause.id, latest.version + 1, body, rt.now())
            versions.revise(s, latest, row, ("body", "body_sha256", "created_by"))
        commit_or_conflict(s, "clause")
        return clause_view(principal, clause, CLAUSES.versions(s, clause.id))


def _publishable(row: ClauseVersion) -> None:
    problems = check_clause_body(row.body)
    if problems:
        raise invalid(problems, noun="clause")


def submit_clause(rt: Runtime, principal: Principal, key: str,
                  version: int | None = None) -> ClauseView:
    """Send a draft (default: the latest version) for review."""
    require(principal, Action.AUTHOR)
    return versions.transition(rt, principal, CLAUSES, key, version, Step.SUBMIT, clause_view)


def reject_clause(rt: Runtime, principal: Principal, key: str,
                  version: int | None = None) -> ClauseView:
    """Send a version in review back to draft."""
    require(principal, Action.PUBLISH)
    return versions.transition(rt, principal, CLAUSES, key, version, Step.REJECT, clause_view)


def publish_clause(rt: Runtime, principal: Principal, key: str,
                   version: int | None = None) -> ClauseView:
    """Approve and publish a version (default: the latest). Templates published from now on
    pin it; templates already published keep the version they pinned."""
    require(principal, Action.PUBLISH)
    return versions.transition(rt, principal, CLAUSES, key, version, Step.PUBLISH,
                               clause_view, check=_publishable)


def retire_clause(rt: Runtime, principal: Principal, key: str,
                  version: int | None = None) -> ClauseView:
    """Retire one published version, or (``version`` None) every published version. Pinned
    copies in published templates are unaffected; new templates cannot pin it."""
    require(principal, Action.PUBLISH)
    return versions.retire(rt, principal, CLAUSES, key, version, clause_view)


def _summary(clause: Clause, seen: list[ClauseVersion],
             pub: ClauseVersion | None) -> ClauseSummary:
    return ClauseSummary(key=clause.key, title=clause.title, latest_version=seen[-1].version,
                         latest_status=seen[-1].status,
                         published_version=pub.version if pub else None)


def list_clauses(rt: Runtime, principal: Principal) -> list[ClauseSummary]:
    """The organisation's clauses (agents and managers: those with a published version)."""
    require(principal, Action.READ)
    return versions.summaries(rt, principal, CLAUSES, _summary)


def get_clause(rt: Runtime, principal: Principal, key: str) -> ClauseView:
    """A clause with the versions the caller may see."""
    require(principal, Action.READ)
    return versions.get(rt, principal, CLAUSES, key, clause_view)


def _text(key: str, v: ClauseVersion) -> VersionText:
    return VersionText(label(key, v.version), v.body)


def diff_clause(rt: Runtime, principal: Principal, key: str, from_version: int,
                to_version: int) -> Diff:
    """A unified diff of two versions' bodies."""
    require(principal, Action.READ)
    return versions.compare(rt, principal, CLAUSES, key, from_version, to_version, _text)
