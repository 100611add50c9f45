"""Tables for envelopes, their documents, recipients and fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, UTCDateTime, new_id, utcnow


class Envelope(Base):
    __tablename__ = "envelopes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    team: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    subject: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sealed_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sealed_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # set when the envelope was generated from a published template version
    template_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("template_versions.id"), nullable=True)
    template_label: Mapped[str | None] = mapped_column(String(300), nullable=True)
    template_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    template_clauses: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # routing rules and what they read: {"rules": [...], "data": {path: value},
    # "base": [declared slots]} (accord.envelopes.routing); None without rules
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # recipient lifecycle (envelopes.lifecycle): own reminder interval (None = the
    # organisation's, 0 = off) and when the one expiry warning went out
    reminder_interval_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expiry_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's API


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    envelope_id: Mapped[str] = mapped_column(ForeignKey("envelopes.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    blob: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    page_count: Mapped[int] = mapped_column(Integer)
    page_sizes: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Recipient(Base):
    __tablename__ = "recipients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    envelope_id: Mapped[str] = mapped_column(ForeignKey("envelopes.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    routing_order: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    # the template role (or API recipient key) routing rules name it by
    role_key: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # "email_link", or "+"-joined factors: email_otp, sms_otp, access_code, kba
    auth_method: Mapped[str] = mapped_column(String(80), default="email_link")
    # hashed secrets for the factors: {"access_code": hash, "kba": [{question, answer_hash}]}
    auth_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The signing link token is HMAC(link key, id:link_nonce); only its SHA-256 is stored.
    link_nonce: Mapped[str | None] = mapped_column(String(32), nullable=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    consent_version: Mapped[str | None] = mapped_column(String(20), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(500), nullable=True)
    signature_kind: Mapped[str | None] = mapped_column(String(10), nullable=True)
    signature_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # recipient lifecycle: reminders sent (the count guards two sweeps racing) and whether
    # the recipient may hand their part to someone else (template role / envelope flag)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reminder_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    may_delegate: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # why the last signing request could not be delivered (status "delivery_failed")
    delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivery_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Field(Base):
    __tablename__ = "fields"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    envelope_id: Mapped[str] = mapped_column(ForeignKey("envelopes.id"), index=True)
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), index=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"))
    kind: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200), default="")
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    page: Mapped[int] = mapped_column(Integer)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    width: Mapped[float] = mapped_column(Float)
    height: Mapped[float] = mapped_column(Float)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)
