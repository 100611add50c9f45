"""Tables of the shared web layer: stored answers to requests with an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, UTCDateTime, new_id


class IdempotentRequest(Base):
    """The first request made with one key by one credential, and its answer once there is
    one (``status`` 0 while the first request runs). The answer is sealed (AES-256-GCM
    under a key derived from the master key): it holds personal data."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("owner", "key", name="uq_idempotent_owner_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner: Mapped[str] = mapped_column(String(64))  # SHA-256 of the credential
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path, body
    status: Mapped[int] = mapped_column(Integer, default=0)
    response: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
