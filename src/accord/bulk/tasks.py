"""The workers' part of bulk send: one outbox row (kind ``bulk:rows``) per chunk of rows.

For each pending row of the chunk: render its document outside any transaction (cached,
see ``drafting.services_bulk``), then in ONE transaction lock the row, check it is still
pending, create and send its envelope (which writes the signing-request outbox rows) and
mark the row done. A worker killed anywhere rolls back to "pending" and the chunk is run
again when its lease passes; a row already done is skipped. So every valid row gets
exactly one envelope and each recipient one signing request, however often the chunk
runs, and with any number of workers.

When no row of the batch is pending any more, the batch is marked finished (once: the
update is guarded) and the ``BATCH_FINISHED`` event fires in that transaction (webhooks
subscribe to it in their wiring and queue ``bulk_batch.finished``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from accord.access import Principal
from accord.bulk import domain
from accord.bulk.models import BulkBatch, BulkRow
from accord.bulk.services import DONE, FAILED, FINISHED, PENDING, counts
from accord.db import new_id
from accord.delivery.errors import PermanentFailure
from accord.delivery.mail import Email
from accord.drafting.services import bulk as services_bulk
from accord.envelopes.services import Actor
from accord.errors import AccordError
from accord.runtime import Runtime
from accord.wiring import Event

log = logging.getLogger("accord.bulk")
FINISHED_EVENT = "bulk_batch.finished"
# fired as BATCH_FINISHED.fire(session, org_id, data, now), in the finishing transaction
BATCH_FINISHED = Event(FINISHED_EVENT, "a bulk send batch finished (every row done or failed)")


@dataclass(frozen=True)
class _Batch:
    """What the rows of a batch need, read once per chunk."""

    id: str
    org_id: str
    version_id: str
    header: list[str]
    targets: list[domain.Target | None]
    subject: str | None
    message: str
    expires_in_days: int
    principal: Principal

    @classmethod
    def of(cls, b: BulkBatch) -> _Batch:
        return cls(id=b.id, org_id=b.org_id, version_id=b.template_version_id,
                   header=list(b.header),
                   targets=[domain.Target.from_list(t) if t else None for t in b.targets],
                   subject=b.subject, message=b.message, expires_in_days=b.expires_in_days,
                   principal=Principal(org_id=b.org_id, user_id=b.created_by,
                                       role=b.sender_role, email=b.sender_email,
                                       name=b.sender_name, team=b.sender_team))


def _lock_row(s: Session, row_id: str) -> BulkRow | None:
    return s.scalar(select(BulkRow).where(BulkRow.id == row_id).with_for_update())


def _fail(rt: Runtime, row_id: str, exc: AccordError) -> None:
    """The row cannot become an envelope (e.g. the document failed to render)."""
    with rt.db.uow() as uow:
        row = _lock_row(uow.session, row_id)
        if row is None or row.status != PENDING:
            return
        row.status = FAILED
        row.errors = [{"row": row.row_number, "column": None, "code": exc.code,
                       "message": exc.message}]
        row.done_at = rt.now()
        uow.commit()


def _one(rt: Runtime, b: _Batch, p: services_bulk.Prepared, shape: domain.Shape,
         row_id: str, number: int, cells: list[str]) -> None:
    given = domain.row_input(number, cells, b.header, b.targets, shape)
    principal = b.principal
    try:
        context, problems = services_bulk.check(p, given.data)
        if problems:  # checked at submission; a changed engine might disagree
            raise AccordError(problems[0].message, code=problems[0].code)
        document, boxes = services_bulk.render_row(rt, p, context)
    except AccordError as exc:
        _fail(rt, row_id, exc)
        return
    with rt.db.uow() as uow:
        s = uow.session
        row = _lock_row(s, row_id)
        if row is None or row.status != PENDING:
            return  # done by an earlier run of this chunk (or another worker)
        env_id = new_id()
        try:
            services_bulk.create_in(
                rt, principal, s, p, envelope_id=env_id, context=context, document=document,
                rendered_fields=boxes, recipients=given.recipients, subject=b.subject,
                message=b.message, expires_in_days=b.expires_in_days,
                actor=Actor(f"user:{principal.email}", None, f"bulk batch {b.id}"))
        except AccordError as exc:
            uow.rollback()
            _fail(rt, row_id, exc)
            return
        row.status, row.envelope_id, row.done_at = DONE, env_id, rt.now()
        uow.commit()


def _emit(s: Session, b: BulkBatch, data: dict[str, Any], now: datetime) -> None:
    """Tell whoever subscribed (webhooks) that the batch finished."""
    BATCH_FINISHED.fire(s, b.org_id, data, now)


def finish_if_done(rt: Runtime, batch_id: str) -> bool:
    """Mark the batch finished when no row is pending; True if this call did it."""
    with rt.db.uow() as uow:
        s = uow.session
        if s.scalar(select(exists().where(BulkRow.batch_id == batch_id,
                                          BulkRow.status == PENDING))):
            return False
        now = rt.now()
        result = s.execute(update(BulkBatch).where(
            BulkBatch.id == batch_id, BulkBatch.finished_at.is_(None)).values(
            status=FINISHED, finished_at=now))
        if getattr(result, "rowcount", 0) != 1:
            return False
        b = s.get(BulkBatch, batch_id)
        if b is None:
            return False
        c = counts(s, batch_id)
        _emit(s, b, {"batch_id": b.id, "template": b.template_label,
                     "total_rows": b.total_rows, "invalid_rows": b.invalid_rows,
                     "done_rows": c[DONE], "failed_rows": c[FAILED],
                     "finished_at": now.isoformat()}, now)
        uow.commit()
    log.info("bulk batch %s finished", batch_id)
    return True


def process_rows(rt: Runtime, payload: dict[str, Any]) -> Email | None:
    """The handler of ``bulk:rows``: payload ``{"batch_id", "first", "last"}`` (row
    numbers). Safe to run twice and concurrently."""
    batch_id = str(payload.get("batch_id"))
    with rt.db.uow() as uow:
        found = uow.session.get(BulkBatch, batch_id)
        if found is None:
            raise PermanentFailure(f"no bulk batch {batch_id}")
        b = _Batch.of(found)
        rows = uow.session.execute(
            select(BulkRow.id, BulkRow.row_number, BulkRow.cells).where(
                BulkRow.batch_id == batch_id, BulkRow.status == PENDING,
                BulkRow.row_number.between(int(payload["first"]), int(payload["last"])))
            .order_by(BulkRow.row_number)).all()
    if rows:
        try:
            p = services_bulk.prepared(rt, b.org_id, b.version_id)
        except AccordError as exc:  # the version is gone or no longer published
            for row_id, _number, _cells in rows:
                _fail(rt, row_id, exc)
            p = None
        if p is not None:
            shape = domain.Shape(variables=p.variable_names, list_variables=p.list_variables,
                                 roles=tuple(r.key for r in p.roles),
                                 phone_roles=p.phone_roles,
                                 optional_roles=p.optional_roles)
            for row_id, number, cells in rows:
                _one(rt, b, p, shape, row_id, number, list(cells))
    finish_if_done(rt, batch_id)
    return None

