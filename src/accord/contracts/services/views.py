"""Saved views: a named set of contract search filters, a user's own, shared with the
organisation when they choose. Anyone who may read contracts keeps views; only the owner
changes or deletes one."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accord.access import Permission, Principal
from accord.contracts.models import SavedView
from accord.contracts.services.search import Filters, filters_from
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound
from accord.runtime import Runtime

MAX_VIEWS = 100  # per user


class ViewOut(BaseModel):
    id: str
    name: str
    filters: Filters
    shared: bool
    mine: bool = Field(description="The caller owns it (and may change or delete it).")
    owner_id: str
    created_at: datetime
    updated_at: datetime


def _out(principal: Principal, v: SavedView) -> ViewOut:
    return ViewOut(id=v.id, name=v.name, filters=filters_from(v.filters), shared=v.shared,
                   mine=v.user_id == principal.user_id, owner_id=v.user_id,
                   created_at=v.created_at, updated_at=v.updated_at)


def _name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= 100:
        raise InvalidInput("a view's name is 1-100 characters", code="invalid_view_name")
    return name


def _visible(session: Session, principal: Principal, view_id: str) -> SavedView:
    v = session.get(SavedView, view_id)
    if v is None or v.org_id != principal.org_id or (
            v.user_id != principal.user_id and not v.shared):
        raise NotFound("no such saved view", code="not_found")
    return v


def _own(session: Session, principal: Principal, view_id: str) -> SavedView:
    v = _visible(session, principal, view_id)
    if v.user_id != principal.user_id:
        raise Forbidden("only the view's owner may change it", code="not_view_owner")
    return v


def list_views(rt: Runtime, principal: Principal) -> list[ViewOut]:
    """The caller's views and the ones shared in the organisation, by name."""
    principal.require(Permission.CONTRACT_READ)
    with rt.db.uow() as uow:
        found = uow.session.scalars(
            select(SavedView).where(SavedView.org_id == principal.org_id,
                                    or_(SavedView.user_id == principal.user_id,
                                        SavedView.shared.is_(True)))
            .order_by(SavedView.name, SavedView.id).limit(500)).all()
        return [_out(principal, v) for v in found]


def get_view(rt: Runtime, principal: Principal, view_id: str) -> ViewOut:
    principal.require(Permission.CONTRACT_READ)
    with rt.db.uow() as uow:
        return _out(principal, _visible(uow.session, principal, view_id))


def create_view(rt: Runtime, principal: Principal, *, name: str, filters: Filters,
                shared: bool = False) -> ViewOut:
    principal.require(Permission.CONTRACT_READ)
    clean = _name(name)
    now = rt.now()
    with rt.db.uow() as uow:
        count = uow.session.scalar(select(func.count()).select_from(SavedView).where(
            SavedView.org_id == principal.org_id, SavedView.user_id == principal.user_id))
        if (count or 0) >= MAX_VIEWS:
            raise Conflict(f"at most {MAX_VIEWS} saved views per user",
                           code="too_many_views")
        v = SavedView(org_id=principal.org_id, user_id=principal.user_id, name=clean,
                      filters=filters.model_dump(mode="json"), shared=shared,
                      created_at=now, updated_at=now)
        uow.session.add(v)
        _commit(uow.session, clean)
        return _out(principal, v)


def update_view(rt: Runtime, principal: Principal, view_id: str, *, name: str | None = None,
                filters: Filters | None = None, shared: bool | None = None) -> ViewOut:
    principal.require(Permission.CONTRACT_READ)
    with rt.db.uow() as uow:
        v = _own(uow.session, principal, view_id)
        if name is not None:
            v.name = _name(name)
        if filters is not None:
            v.filters = filters.model_dump(mode="json")
        if shared is not None:
            v.shared = shared
        v.updated_at = rt.now()
        _commit(uow.session, v.name)
        return _out(principal, v)


def delete_view(rt: Runtime, principal: Principal, view_id: str) -> None:
    principal.require(Permission.CONTRACT_READ)
    with rt.db.uow() as uow:
        uow.session.delete(_own(uow.session, principal, view_id))
        uow.session.commit()


def _commit(session: Session, name: str) -> None:
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"you already have a view named {name!r}",
                       code="view_name_taken") from exc
