"""Getting a template version ready to render: which clause bodies it uses (pinned ones for
a published version, the latest ones for a draft), and calling the render engine. Rendering
happens outside any database transaction (it takes a while; SQLite would hold its write lock
meanwhile)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from accord.drafting import render
from accord.drafting.domain import Issue, RoleSpec, VersionStatus
from accord.drafting.models import ClauseVersion, Template, TemplateVersion
from accord.drafting.services.checks import clause_tag_issues, source_issue
from accord.drafting.services.common import (
    clauses_by_key,
    invalid,
    latest_published,
)
from accord.drafting.services.versions import CLAUSES
from accord.errors import Conflict, InvalidInput


@dataclass(frozen=True)
class RenderPlan:
    """What one render of a template version needs, read from the database."""

    title: str
    kind: str
    source: str
    clauses: dict[str, str]  # key -> body
    pins: dict[str, Any]  # key -> {"version": n, "sha256": h}


def latest_pins(session: Session, org_id: str, keys: Sequence[str], roles: Sequence[RoleSpec],
                ) -> tuple[dict[str, str], dict[str, Any], list[Issue]]:
    """The latest published version of each clause, as publishing pins them:
    (bodies, pins, problems)."""
    bodies: dict[str, str] = {}
    pins: dict[str, Any] = {}
    issues: list[Issue] = []
    known = clauses_by_key(session, org_id, keys)
    for key in keys:
        clause = known.get(key)
        pub = latest_published(CLAUSES.versions(session, clause.id)) if clause else None
        if pub is None:
            issues.append(Issue(f"clause[{key}]", "clause_not_published", f"clause {key!r} "
                                "has no published version to pin; publish it first"))
            continue
        issues.extend(clause_tag_issues(key, pub.body, roles))
        bodies[key] = pub.body
        pins[key] = {"version": pub.version, "sha256": pub.body_sha256}
    return bodies, pins, issues


def _draft_bodies(session: Session, org_id: str, keys: Sequence[str]) -> dict[str, str]:
    """For previews of unpublished versions: the latest published body of each clause, else
    its latest body of any state."""
    bodies = {}
    for key, clause in clauses_by_key(session, org_id, keys).items():
        versions = CLAUSES.versions(session, clause.id)
        chosen = latest_published(versions) or (versions[-1] if versions else None)
        if chosen is not None:
            bodies[key] = chosen.body
    return bodies


def pinned_bodies(session: Session, org_id: str, pins: Mapping[str, Any]) -> dict[str, str]:
    """The bodies a published version pinned, checked against their recorded hashes."""
    bodies = {}
    known = clauses_by_key(session, org_id, pins)
    for key, pin in pins.items():
        clause = known.get(key)
        row: ClauseVersion | None = None
        if clause is not None:
            row = next((v for v in CLAUSES.versions(session, clause.id)
                        if v.version == pin["version"]), None)
        if row is None or row.body_sha256 != pin["sha256"]:
            raise Conflict(f"the pinned version {pin['version']} of clause {key!r} is missing "
                           "or altered", code="clause_pin_broken")
        bodies[key] = row.body
    return bodies


def plan_for(session: Session, tpl: Template, v: TemplateVersion) -> RenderPlan:
    """A published or retired version renders its pinned clauses; others the latest ones."""
    if VersionStatus(v.status) in (VersionStatus.PUBLISHED, VersionStatus.RETIRED):
        bodies = pinned_bodies(session, tpl.org_id, v.pinned_clauses)
    else:
        try:
            keys = render.check_source(v.source, tpl.kind).clause_keys
        except render.TemplateError as exc:
            raise invalid([source_issue(exc, "source")], code=exc.code) from exc
        bodies = _draft_bodies(session, tpl.org_id, keys)
    return RenderPlan(title=tpl.name, kind=tpl.kind, source=v.source, clauses=bodies,
                      pins=dict(v.pinned_clauses))


def run(plan: RenderPlan, context: Mapping[str, Any], *,
        envelope_id: str | None = None, footer: str | None = None) -> render.Rendered:
    try:
        return render.render(plan.source, plan.kind, context, plan.clauses, title=plan.title,
                             envelope_id=envelope_id, footer=footer)
    except render.TemplateError as exc:
        raise InvalidInput(f"the template could not be rendered: {exc.message}",
                           code=exc.code, details=exc.details) from exc

