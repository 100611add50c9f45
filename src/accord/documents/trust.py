"""Trust anchors for offline verification: the root certificates this instance knows."""

from __future__ import annotations

from sqlalchemy import create_engine, select
from sqlalchemy.exc import SQLAlchemyError

from accord.config import get_settings


def instance_roots() -> list[str]:
    """Root certificates of every organisation in the configured instance, read-only;
    empty when there is no instance here (nothing is created)."""
    from accord.documents.models import SigningIdentity

    s = get_settings()
    if s.is_sqlite and not (s.data_dir / "accord.db").exists():
        return []
    engine = create_engine(s.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(SigningIdentity.root_cert_pem)))
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()
