"""Engine, session, unit of work and the declarative Base.

SQLite (WAL, synchronous=FULL) is the embedded default; PostgreSQL is used when
``ACCORD_DATABASE_URL`` names one.

``Database.uow()`` is the unit of work of a use case that writes. ``Database.reader()`` is
one that only reads: on SQLite it begins with a plain (deferred) ``BEGIN``, so a reader
takes no write lock and never queues behind a writer (WAL gives it a snapshot); writing in
it raises.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, UOWTransaction, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


READ_ONLY = "accord_read_only"  # execution option of the readers' connections


class ReadOnlyError(RuntimeError):
    """A change was flushed in a unit of work opened with ``Database.reader()``."""


def _refuse_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyError("this unit of work is read-only (Database.reader)")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
            # Let SQLAlchemy issue BEGIN itself so that BEGIN IMMEDIATE works.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers queue up at BEGIN instead of failing on lock upgrade; readers
            # (Database.reader) take a snapshot and no lock.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY)
                                 else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        event.listen(self.read_sessionmaker, "before_flush", _refuse_flush)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def uow(self) -> Iterator[UnitOfWork]:
        with self._open(self.sessionmaker) as uow:
            yield uow

    @contextmanager
    def reader(self) -> Iterator[UnitOfWork]:
        """A unit of work that only reads (see the module's docstring)."""
        with self._open(self.read_sessionmaker) as uow:
            yield uow

    @staticmethod
    @contextmanager
    def _open(factory: sessionmaker[Session]) -> Iterator[UnitOfWork]:
        session = factory()
        uow = UnitOfWork(session)
        try:
            yield uow
        finally:
            if session.in_transaction():
                session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


class UnitOfWork:
    """A session whose changes count only when ``commit()`` is called."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
