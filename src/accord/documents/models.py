"""Each organisation's sealing identity (root CA, signing and TSA certificates)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, UTCDateTime, utcnow


class SigningIdentity(Base):
    __tablename__ = "signing_identities"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    root_cert_pem: Mapped[str] = mapped_column(Text)
    signing_cert_pem: Mapped[str] = mapped_column(Text)
    tsa_cert_pem: Mapped[str] = mapped_column(Text)
    # PKCS#8 DER private keys, encrypted with the blob store's envelope encryption
    signing_key_blob: Mapped[str] = mapped_column(String(64))
    tsa_key_blob: Mapped[str] = mapped_column(String(64))
    root_key_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(20), default="generated")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
