"""The versioned lifecycle clauses and templates share, written once.

A clause or template (the *parent*) has numbered versions that go draft -> in_review ->
published -> retired (``domain.VersionState``). What differs between the two - the content
of a version, how it is checked, what publishing a template pins - stays in
``services.clauses`` and ``services.templates``; loading, picking a version, the review
steps, retiring, edits in place, listing, reading and diffs are here, generic over the
version model. Every function that opens a transaction takes the ``view`` to answer with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accord.access import Principal
from accord.drafting.domain import (
    LifecycleError,
    Step,
    VersionState,
    VersionStatus,
    VersionText,
    diff,
    edits_in_place,
    stamps,
)
from accord.drafting.models import Clause, ClauseVersion, Template, TemplateVersion
from accord.drafting.services.common import (
    Diff,
    approval_required,
    commit_or_conflict,
    latest_published,
    lifecycle_error,
    pick,
    visible,
)
from accord.errors import Conflict, NotFound
from accord.runtime import Runtime

P = TypeVar("P", Clause, Template)
V = TypeVar("V", ClauseVersion, TemplateVersion)
W = TypeVar("W")  # the view a use case answers with
S = TypeVar("S")  # a list entry


@dataclass(frozen=True)
class Kind(Generic[P, V]):
    """Where one kind of versioned thing is stored."""

    noun: str  # "clause", "template": in error codes and messages
    parent: type[P]
    model: type[V]
    parent_column: str  # the version's column naming its parent

    def load(self, session: Session, org_id: str, key: str) -> P:
        """The parent with this key in this organisation; NotFound otherwise."""
        row = session.scalar(select(self.parent).where(self.parent.org_id == org_id,
                                                       self.parent.key == key))
        if row is None:
            raise NotFound(f"no {self.noun} {key!r}", code=f"{self.noun}_not_found")
        return row

    def versions(self, session: Session, parent_id: str) -> list[V]:
        """Every version of the parent, oldest first."""
        column = getattr(self.model, self.parent_column)
        return list(session.scalars(select(self.model).where(column == parent_id)
                                    .order_by(self.model.version)))

    def ensure_new(self, session: Session, org_id: str, key: str) -> None:
        if session.scalar(select(self.parent.id).where(self.parent.org_id == org_id,
                                                       self.parent.key == key)):
            raise self._exists(key)

    def insert(self, session: Session, parent: P) -> None:
        """Add a new parent (its key checked with ``ensure_new`` first)."""
        session.add(parent)
        try:
            session.flush()
        except IntegrityError as exc:  # created concurrently
            raise self._exists(parent.key) from exc

    def _exists(self, key: str) -> Conflict:
        return Conflict(f"a {self.noun} {key!r} exists", code=f"{self.noun}_exists")


CLAUSES: Kind[Clause, ClauseVersion] = Kind("clause", Clause, ClauseVersion, "clause_id")
TEMPLATES: Kind[Template, TemplateVersion] = Kind("template", Template, TemplateVersion,
                                                  "template_id")

View = Callable[[Principal, P, Sequence[V]], W]


# -- the steps -----------------------------------------------------------------------------


def state_after(row: ClauseVersion | TemplateVersion, step: Step, *,
                approval: bool = True) -> VersionStatus:
    """The status ``step`` leads to from ``row``'s; Conflict when the rules refuse it."""
    state = VersionState(VersionStatus(row.status))
    try:
        state.take(step, approval_required=approval)
    except LifecycleError as exc:
        raise lifecycle_error(exc) from exc
    return state.status


def advance(row: ClauseVersion | TemplateVersion, step: Step, principal: Principal,
            now: datetime, *, approval: bool = True) -> None:
    """Take ``step`` on ``row``: its new status and the stamps the step writes."""
    row.status = state_after(row, step, approval=approval).value
    for name, value in stamps(step, user_id=principal.user_id, now=now).items():
        setattr(row, name, value)


def transition(rt: Runtime, principal: Principal, kind: Kind[P, V], key: str,
               version: int | None, step: Step, view: View[P, V, W], *,
               check: Callable[[V], None] | None = None) -> W:
    """Submit, reject or publish one version (default: the latest the caller may see).
    ``check`` (when publishing) refuses content that may not be published."""
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        parent = kind.load(s, principal.org_id, key)
        row = pick(kind.versions(s, parent.id), version, principal, noun=kind.noun)
        if check is not None:
            check(row)
        approval = step is not Step.PUBLISH or approval_required(s, principal.org_id)
        advance(row, step, principal, now, approval=approval)
        commit_or_conflict(s, kind.noun)
        return view(principal, parent, kind.versions(s, parent.id))


def retire(rt: Runtime, principal: Principal, kind: Kind[P, V], key: str,
           version: int | None, view: View[P, V, W]) -> W:
    """Retire one published version, or (``version`` None) every published version."""
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        parent = kind.load(s, principal.org_id, key)
        versions = kind.versions(s, parent.id)
        targets = ([pick(versions, version, principal, noun=kind.noun)]
                   if version is not None
                   else [v for v in versions if v.status == VersionStatus.PUBLISHED])
        if not targets:
            raise Conflict(f"{kind.noun} {key!r} has no published version",
                           code="version_not_published")
        for row in targets:
            advance(row, Step.RETIRE, principal, now)
        commit_or_conflict(s, kind.noun)
        return view(principal, parent, kind.versions(s, parent.id))


def revise(session: Session, latest: V, row: V, fields: Iterable[str]) -> None:
    """An edit: a draft ``latest`` takes ``fields`` from ``row`` in place; a version in
    review, published or retired is left untouched and ``row`` becomes the new draft."""
    if edits_in_place(VersionStatus(latest.status)):
        for name in fields:
            setattr(latest, name, getattr(row, name))
    else:
        session.add(row)


# -- reading -------------------------------------------------------------------------------


def summaries(rt: Runtime, principal: Principal, kind: Kind[P, V],
              summary: Callable[[P, list[V], V | None], S]) -> list[S]:
    """One ``summary(parent, visible versions, latest published)`` per parent with a
    version the caller may see (agents and managers: a published one), by key."""
    with rt.db.uow() as uow:
        s = uow.session
        out = []
        for parent in s.scalars(select(kind.parent).where(kind.parent.org_id == principal.org_id)
                                .order_by(kind.parent.key)):
            versions = [v for v in kind.versions(s, parent.id) if visible(principal, v.status)]
            if versions:
                out.append(summary(parent, versions, latest_published(versions)))
        return out


def get(rt: Runtime, principal: Principal, kind: Kind[P, V], key: str,
        view: View[P, V, W]) -> W:
    """The parent with the versions the caller may see; NotFound when there is none."""
    with rt.db.uow() as uow:
        parent = kind.load(uow.session, principal.org_id, key)
        versions = kind.versions(uow.session, parent.id)
        if not any(visible(principal, v.status) for v in versions):
            raise NotFound(f"no {kind.noun} {key!r}", code=f"{kind.noun}_not_found")
        return view(principal, parent, versions)


def get_version(rt: Runtime, principal: Principal, kind: Kind[P, V], key: str,
                version: int | None, view: Callable[[P, V], W]) -> W:
    """One version (default: the latest the caller may see)."""
    with rt.db.uow() as uow:
        parent = kind.load(uow.session, principal.org_id, key)
        row = pick(kind.versions(uow.session, parent.id), version, principal, noun=kind.noun)
        return view(parent, row)


def compare(rt: Runtime, principal: Principal, kind: Kind[P, V], key: str,
            from_version: int, to_version: int, text: Callable[[str, V], VersionText]) -> Diff:
    """A unified diff of two versions' ``text``."""
    with rt.db.uow() as uow:
        parent = kind.load(uow.session, principal.org_id, key)
        versions = kind.versions(uow.session, parent.id)
        a = pick(versions, from_version, principal, noun=kind.noun)
        b = pick(versions, to_version, principal, noun=kind.noun)
        return Diff(key=key, from_version=a.version, to_version=b.version,
                    lines=diff(text(key, a), text(key, b)))

