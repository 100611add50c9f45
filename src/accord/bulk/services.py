"""Bulk send use cases: check a CSV (dry run), submit it, follow a batch, get its results.

Submitting validates every row in one pass (no rendering), stores the batch and all its
rows with one bulk INSERT and queues the work in chunks (``chunk_size``; outbox rows of
kind ``bulk:rows``), all in one transaction. A batch is identified by the client's
``Idempotency-Key`` or else by the SHA-256 of organisation, template version, mapping and
file; a unique constraint makes a resubmission, a retry or a concurrent submission return
the batch already stored. Batches belong to their organisation; a sender sees their own,
admins every batch of the organisation, anyone else gets the same 404 as an unknown id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accord.access import Permission, Principal, Role
from accord.bulk import domain
from accord.bulk.domain import CsvError, Problem, Shape
from accord.bulk.models import BulkBatch, BulkRow
from accord.db import new_id
from accord.delivery.services import enqueue
from accord.drafting.services.bulk import Prepared, check, published_version
from accord.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from accord.runtime import Runtime

TASK = "bulk:rows"
# Rows per outbox row. A worker claims up to 20 outbox rows at a time, so a claim holds
# 20 chunks: chunks are sized so that a batch makes ~400 or more of them (at least 20
# claims), which keeps every worker busy until the end, and at most 25 rows (10,000 rows
# are queued as 400 outbox rows).
MIN_CHUNKS, MAX_CHUNK = 400, 25


def chunk_size(valid_rows: int) -> int:
    return max(1, min(MAX_CHUNK, valid_rows // MIN_CHUNKS))


PENDING, DONE, FAILED, INVALID = "pending", "done", "failed", "invalid"
PROCESSING, FINISHED = "processing", "finished"


@dataclass(frozen=True)
class RowProblem:
    row: int | None
    column: str | None
    code: str
    message: str


@dataclass(frozen=True)
class DryRun:
    """What sending would do: rows that would become envelopes, and every problem."""

    template: str
    total_rows: int
    valid_rows: int
    invalid_rows: int
    problems: list[RowProblem]


@dataclass(frozen=True)
class BatchView:
    id: str
    status: str  # processing, finished
    template: str
    file_name: str
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    total_rows: int
    invalid_rows: int
    pending_rows: int
    done_rows: int
    failed_rows: int
    percent: float


@dataclass(frozen=True)
class Submitted:
    batch: BatchView
    created: bool  # False: the same batch was submitted before


@dataclass
class _Checked:
    table: domain.Table
    rows: list[dict[str, Any]]  # for the bulk INSERT
    problems: list[Problem]
    invalid: int


def _shape(p: Prepared) -> Shape:
    return Shape(variables=p.variable_names, list_variables=p.list_variables,
                 roles=tuple(r.key for r in p.roles), phone_roles=p.phone_roles,
                 optional_roles=p.optional_roles)


def _csv_error(exc: CsvError) -> InvalidInput | PayloadTooLarge:
    cls = PayloadTooLarge if exc.code == "csv_too_large" else InvalidInput
    return cls(exc.message, code=exc.code,
               details=[p.as_dict() for p in exc.problems] or None)


def too_large(max_bytes: int) -> PayloadTooLarge:
    """The answer to a CSV file over ``max_bytes`` (ACCORD_BULK_MAX_CSV_BYTES)."""
    shown = f"{max_bytes / (1024 * 1024):.1f}".removesuffix(".0")
    return PayloadTooLarge(f"the file is larger than {shown} MiB; send it as several "
                           "batches", code="csv_too_large", details={"max_bytes": max_bytes})


def _check_file(rt: Runtime, p: Prepared, data: bytes, mapping: Mapping[str, str],
                batch_id: str, *, allow_duplicates: bool = False) -> _Checked:
    """Parse and check every row in one pass; rows ready for the bulk INSERT. A row that
    repeats an earlier one is invalid (``duplicate_row``) unless ``allow_duplicates``."""
    if len(data) > rt.settings.bulk_max_csv_bytes:
        raise too_large(rt.settings.bulk_max_csv_bytes)
    if p.unsupported_roles:
        raise InvalidInput(f"roles {p.unsupported_roles} sign in with an access code or "
                           "questions, which bulk send cannot give", code="role_auth_unsupported")
    shape = _shape(p)
    try:
        table = domain.parse(data, shape, mapping, max_rows=rt.settings.bulk_max_rows)
    except CsvError as exc:
        raise _csv_error(exc) from exc
    columns = {t.name: h for h, t in zip(table.header, table.targets, strict=True) if t}
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    invalid = 0
    duplicates = None if allow_duplicates else domain.Duplicates(table.targets)
    for number, cells in enumerate(table.rows, start=1):
        given = domain.row_input(number, cells, table.header, table.targets, shape)
        found = given.problems
        _context, var_problems = check(p, given.data)
        found += [Problem(v.code, v.message, row=number,
                          column=columns.get(v.variable.split("[")[0], v.variable))
                  for v in var_problems]
        found += domain.recipient_problems(number, given.recipients, shape, columns)
        repeated = duplicates.check(number, cells) if duplicates else None
        if repeated is not None:
            found.append(repeated)
        if found:
            invalid += 1
            problems += found
        rows.append({"id": new_id(), "batch_id": batch_id, "row_number": number,
                     "cells": cells, "status": INVALID if found else PENDING,
                     "errors": [f.as_dict() for f in found], "envelope_id": None,
                     "done_at": None})
    return _Checked(table, rows, problems, invalid)


def _view_problem(p: Problem) -> RowProblem:
    return RowProblem(row=p.row, column=p.column, code=p.code, message=p.message)


def dry_run(rt: Runtime, principal: Principal, *, template_key: str,
            version: int | None = None, data: bytes,
            mapping: Mapping[str, str] | None = None,
            allow_duplicates: bool = False) -> DryRun:
    """Check every row as sending would, and store nothing. File-level problems (not
    UTF-8, no header, unknown or duplicate columns) raise InvalidInput (422); a file over
    the size or row limit raises PayloadTooLarge (413 ``csv_too_large``)."""
    principal.require(Permission.TEMPLATE_USE)
    p = published_version(rt, principal, template_key, version)
    checked = _check_file(rt, p, data, mapping or {}, "dry-run",
                          allow_duplicates=allow_duplicates)
    total = len(checked.rows)
    return DryRun(template=p.label, total_rows=total, valid_rows=total - checked.invalid,
                  invalid_rows=checked.invalid,
                  problems=[_view_problem(x) for x in checked.problems])


def _identity(principal: Principal, p: Prepared, mapping: Mapping[str, str], data: bytes,
              idempotency_key: str | None, *, allow_duplicates: bool) -> tuple[str, str]:
    """(idempotency key, content hash)."""
    content = hashlib.sha256()
    for part in (principal.org_id, p.version_id,
                 json.dumps(dict(mapping), sort_keys=True, separators=(",", ":"))):
        content.update(part.encode() + b"\x00")
    if allow_duplicates:  # another outcome for the same file (absent: hashes as before)
        content.update(b"allow_duplicates\x00")
    content.update(data)
    digest = content.hexdigest()
    if idempotency_key is not None:
        key = idempotency_key.strip()
        if not key or len(key) > 200 or not key.isprintable():
            raise InvalidInput("Idempotency-Key must be 1-200 printable characters",
                               code="invalid_idempotency_key")
        return f"key:{key}", digest
    return f"sha256:{digest}", digest


def _existing(s: Session, org_id: str, key: str, digest: str) -> BulkBatch | None:
    found = s.scalar(select(BulkBatch).where(BulkBatch.org_id == org_id,
                                             BulkBatch.idempotency_key == key))
    if found is not None and found.content_sha256 != digest:
        raise Conflict("this Idempotency-Key was used for a different batch",
                       code="idempotency_key_reused")
    return found


def _chunks(rows: Sequence[Mapping[str, Any]]) -> Iterator[tuple[int, int]]:
    pending = [r["row_number"] for r in rows if r["status"] == PENDING]
    size = chunk_size(len(pending))
    for i in range(0, len(pending), size):
        part = pending[i:i + size]
        yield part[0], part[-1]


def submit(rt: Runtime, principal: Principal, *, template_key: str,
           version: int | None = None, data: bytes, file_name: str = "batch.csv",
           mapping: Mapping[str, str] | None = None, subject: str | None = None,
           message: str = "", expires_in_days: int = 120,
           idempotency_key: str | None = None, allow_duplicates: bool = False) -> Submitted:
    """Store the batch and queue one envelope per valid row; invalid rows (duplicate rows
    too, unless ``allow_duplicates``) are kept with their problems (they appear in the
    results). The same batch again: the stored one, ``created`` False. A batch with no
    valid row is refused (422 ``no_valid_rows``)."""
    principal.require(Permission.TEMPLATE_USE)
    mapping = dict(mapping or {})
    p = published_version(rt, principal, template_key, version)
    if len(data) > rt.settings.bulk_max_csv_bytes:  # before hashing it
        raise too_large(rt.settings.bulk_max_csv_bytes)
    key, digest = _identity(principal, p, mapping, data, idempotency_key,
                            allow_duplicates=allow_duplicates)
    with rt.db.uow() as uow:  # the common retry: answer before checking 10,000 rows
        found = _existing(uow.session, principal.org_id, key, digest)
        if found is not None:
            return Submitted(_view(uow.session, found), created=False)
    batch_id = new_id()
    checked = _check_file(rt, p, data, mapping, batch_id, allow_duplicates=allow_duplicates)
    if checked.invalid == len(checked.rows):
        raise InvalidInput(f"none of the {len(checked.rows)} rows can be sent",
                           code="no_valid_rows",
                           details=[x.as_dict() for x in checked.problems[:1000]])
    now = rt.now()
    with rt.db.uow() as uow:
        s = uow.session
        found = _existing(s, principal.org_id, key, digest)
        if found is not None:
            return Submitted(_view(s, found), created=False)
        batch = BulkBatch(
            id=batch_id, org_id=principal.org_id, created_by=principal.user_id,
            sender_role=principal.role, sender_email=principal.email,
            sender_name=principal.name, sender_team=principal.team, idempotency_key=key,
            content_sha256=digest, template_version_id=p.version_id, template_label=p.label,
            file_name=(file_name or "batch.csv")[:300], header=checked.table.header,
            targets=[t.as_list() if t else None for t in checked.table.targets],
            mapping=mapping, subject=subject, message=message,
            expires_in_days=expires_in_days, total_rows=len(checked.rows),
            invalid_rows=checked.invalid, status=PROCESSING, created_at=now)
        s.add(batch)
        try:
            s.flush()
        except IntegrityError:  # a concurrent submission of the same batch won
            s.rollback()
            found = _existing(s, principal.org_id, key, digest)
            if found is None:
                raise
            return Submitted(_view(s, found), created=False)
        s.execute(insert(BulkRow), checked.rows)  # one executemany (pipelined)
        for first, last in _chunks(checked.rows):
            enqueue(s, kind=TASK, payload={"batch_id": batch_id, "first": first,
                                           "last": last}, now=now, org_id=principal.org_id)
        try:
            uow.commit()
        except IntegrityError:
            s.rollback()
            found = _existing(s, principal.org_id, key, digest)
            if found is None:
                raise
            return Submitted(_view(s, found), created=False)
        return Submitted(_view(s, batch), created=True)


# -- reading -------------------------------------------------------------------------------


def counts(s: Session, batch_id: str) -> dict[str, int]:
    out = dict.fromkeys((PENDING, DONE, FAILED, INVALID), 0)
    for status, n in s.execute(select(BulkRow.status, func.count()).where(
            BulkRow.batch_id == batch_id).group_by(BulkRow.status)):
        out[status] = n
    return out


def _view(s: Session, b: BulkBatch) -> BatchView:
    c = counts(s, b.id)
    valid = b.total_rows - b.invalid_rows
    settled = c[DONE] + c[FAILED]
    return BatchView(
        id=b.id, status=b.status, template=b.template_label, file_name=b.file_name,
        created_by=b.sender_email, created_at=b.created_at, finished_at=b.finished_at,
        total_rows=b.total_rows, invalid_rows=b.invalid_rows, pending_rows=c[PENDING],
        done_rows=c[DONE], failed_rows=c[FAILED],
        percent=round(100.0 * settled / valid, 1) if valid else 100.0)


def _load(s: Session, principal: Principal, batch_id: str) -> BulkBatch:
    b = s.scalar(select(BulkBatch).where(BulkBatch.id == batch_id,
                                         BulkBatch.org_id == principal.org_id))
    if b is None or (principal.role != Role.ADMIN and b.created_by != principal.user_id):
        raise NotFound("no such bulk batch", code="bulk_batch_not_found")
    return b


def get(rt: Runtime, principal: Principal, batch_id: str) -> BatchView:
    """The batch with its progress."""
    principal.require(Permission.TEMPLATE_USE)
    with rt.db.uow() as uow:
        return _view(uow.session, _load(uow.session, principal, batch_id))


def list_batches(rt: Runtime, principal: Principal, *, limit: int = 50,
                 offset: int = 0) -> list[BatchView]:
    """The caller's batches (an admin's: the organisation's), newest first."""
    principal.require(Permission.TEMPLATE_USE)
    stmt = select(BulkBatch).where(BulkBatch.org_id == principal.org_id)
    if principal.role != Role.ADMIN:
        stmt = stmt.where(BulkBatch.created_by == principal.user_id)
    stmt = stmt.order_by(BulkBatch.created_at.desc(), BulkBatch.id.desc()).limit(
        max(1, min(limit, 200))).offset(max(0, offset))
    with rt.db.uow() as uow:
        return [_view(uow.session, b) for b in uow.session.scalars(stmt).all()]


RESULT_COLUMNS = ["row", "status", "envelope_id", "error_code", "error_message"]


def results_csv(rt: Runtime, principal: Principal, batch_id: str) -> tuple[str, str]:
    """(file name, CSV text): each row's cells as uploaded, then its row number, status,
    envelope id and first problem. Cells a spreadsheet would run as formulas are
    neutralised."""
    principal.require(Permission.TEMPLATE_USE)
    with rt.db.uow() as uow:
        b = _load(uow.session, principal, batch_id)
        header = [*b.header, *RESULT_COLUMNS]
        rows = uow.session.execute(
            select(BulkRow.row_number, BulkRow.cells, BulkRow.status, BulkRow.envelope_id,
                   BulkRow.errors).where(BulkRow.batch_id == b.id)
            .order_by(BulkRow.row_number)).all()
        width = len(b.header)
        out = []
        for number, cells, status, env_id, errors in rows:
            first = errors[0] if errors else {}
            padded = [str(c) for c in cells][:width] + [""] * (width - len(cells))
            out.append([*padded, str(number), status, env_id or "",
                        str(first.get("code") or ""), str(first.get("message") or "")])
        name = f"bulk-{b.id[:8]}-results.csv"
    return name, domain.results_csv(header, out)
