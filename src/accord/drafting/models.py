"""Tables for the clause library and templates, each with immutable published versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, UTCDateTime, new_id, utcnow


class Clause(Base):
    __tablename__ = "clauses"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_clauses_org_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    key: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClauseVersion(Base):
    __tablename__ = "clause_versions"
    __table_args__ = (UniqueConstraint("clause_id", "version", name="uq_clause_versions_v"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    clause_id: Mapped[str] = mapped_column(ForeignKey("clauses.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # draft, in_review, published, retired
    body: Mapped[str] = mapped_column(Text)  # Markdown or HTML with merge fields
    body_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    published_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    row_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012 - SQLAlchemy's API


class Template(Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("org_id", "key", name="uq_templates_org_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    key: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # html, markdown, pdf
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TemplateVersion(Base):
    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version",
                                       name="uq_template_versions_v"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    template_id: Mapped[str] = mapped_column(ForeignKey("templates.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # draft, in_review, published, retired
    source: Mapped[str] = mapped_column(Text, default="")  # HTML/Markdown (empty for pdf)
    pdf_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)  # kind=pdf
    variables: Mapped[list[Any]] = mapped_column(JSON, default=list)
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    pdf_fields: Mapped[list[Any]] = mapped_column(JSON, default=list)  # kind=pdf placements
    prefill: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # var -> record path
    # routing rules (accord.envelopes.routing), pinned with the version like its roles
    rules: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    sample_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"type": contract type, "fields": {contract field: variable}} (drafting.contract)
    contract: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    pinned_clauses: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fields_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    published_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    row_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012 - SQLAlchemy's API


class TemplateContractValues(Base):
    """What an envelope made from a template with a ``contract`` section carries for its
    contract record: the section as published and the values of the variables it maps."""

    __tablename__ = "template_contract_values"

    envelope_id: Mapped[str] = mapped_column(ForeignKey("envelopes.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    template_version_id: Mapped[str] = mapped_column(ForeignKey("template_versions.id"))
    contract: Mapped[dict[str, Any]] = mapped_column(JSON)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
