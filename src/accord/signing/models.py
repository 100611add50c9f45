"""Signer browser sessions: what a signing link is exchanged for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, UTCDateTime, utcnow


class SignerSession(Base):
    __tablename__ = "signer_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SignerChallenge(Base):
    """A one-time code sent to a recipient (email or SMS). Only the code's hash is kept."""

    __tablename__ = "signer_challenges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id"), index=True)
    envelope_id: Mapped[str] = mapped_column(ForeignKey("envelopes.id"))
    channel: Mapped[str] = mapped_column(String(10))  # email, sms
    code_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SignerFactor(Base):
    """A factor a signer session has passed (e.g. sms_otp), so each is asked once."""

    __tablename__ = "signer_factors"

    session_hash: Mapped[str] = mapped_column(ForeignKey("signer_sessions.token_hash"),
                                              primary_key=True)
    factor: Mapped[str] = mapped_column(String(20), primary_key=True)
    passed_at: Mapped[datetime] = mapped_column(UTCDateTime())
