"""Bulk send tables: one batch (a CSV sent with one template version) and its rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, UTCDateTime, new_id


class BulkBatch(Base):
    """A submitted CSV. ``idempotency_key`` (the client's ``Idempotency-Key``, else
    ``sha256:`` of organisation, template version, mapping and file) is unique per
    organisation, so the same batch submitted twice (or concurrently) is stored once. The
    sender is kept as it was at submission: the workers act as them."""

    __tablename__ = "bulk_batches"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key",
                                       name="uq_bulk_batches_org_id_idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    sender_role: Mapped[str] = mapped_column(String(20))
    sender_email: Mapped[str] = mapped_column(String(320))
    sender_name: Mapped[str] = mapped_column(String(200))
    sender_team: Mapped[str | None] = mapped_column(String(100), nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    content_sha256: Mapped[str] = mapped_column(String(64))
    template_version_id: Mapped[str] = mapped_column(String(36))
    template_label: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(String(300))
    header: Mapped[list[Any]] = mapped_column(JSON)
    targets: Mapped[list[Any]] = mapped_column(JSON)  # per column: [variable, role, attr]
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON)
    subject: Mapped[str | None] = mapped_column(String(300), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    expires_in_days: Mapped[int] = mapped_column(Integer)
    total_rows: Mapped[int] = mapped_column(Integer)
    invalid_rows: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # processing, finished
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class BulkRow(Base):
    """One CSV row: its cells as uploaded, its state (invalid, pending, done, failed), the
    problems found and the envelope it became. ``done`` is written in the same transaction
    as the envelope, so a row has at most one."""

    __tablename__ = "bulk_rows"
    __table_args__ = (
        UniqueConstraint("batch_id", "row_number", name="uq_bulk_rows_batch_id_row_number"),
        Index("ix_bulk_rows_batch_id_status", "batch_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(ForeignKey("bulk_batches.id"))
    row_number: Mapped[int] = mapped_column(Integer)
    cells: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))
    errors: Mapped[list[Any]] = mapped_column(JSON)
    envelope_id: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
