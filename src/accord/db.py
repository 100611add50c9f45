"""Engine, session, unit of work and the declarative Base.

SQLite (WAL, synchronous=FULL) is the embedded default; PostgreSQL is used when
``ACCORD_DATABASE_URL`` names one.

``Database.uow()`` is the unit of work of a use case (an ORM session). ``Database.read()``
is a lighter one for a read that needs no ORM objects: one connection in one transaction,
for prebuilt Core statements. On SQLite it begins with a plain (deferred) ``BEGIN``, so a
read takes no write lock and never queues behind a writer (WAL gives it a snapshot).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


log = logging.getLogger(__name__)
_OPEN_UOWS: ContextVar[int] = ContextVar("accord_open_uows", default=0)


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


READ_ONLY = "accord_read_only"  # set in the pool's info of Database.read()'s connections


def _sqlite_begin(dbapi_conn: PoolProxiedConnection) -> None:
    """The SQLite dialect's BEGIN. Writers queue up at BEGIN IMMEDIATE instead of failing
    on lock upgrade; reads (``Database.read``) take a snapshot and no lock. (In the
    dialect, not an engine "begin" event: any engine event sends every statement of every
    connection through event dispatch.)"""
    cur = dbapi_conn.cursor()
    cur.execute("BEGIN" if dbapi_conn.info.get(READ_ONLY) else "BEGIN IMMEDIATE")
    cur.close()


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

        # this engine's own dialect instance: a plain function in place of the method
        engine.dialect.do_begin = _sqlite_begin  # type: ignore[method-assign,assignment]
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        from accord.validation import install_nul_guard

        install_nul_guard(self.engine)  # 422, never a bare database error, for a NUL
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def uow(self) -> Iterator[UnitOfWork]:
        """A unit of work. If an error with ``after_rollback`` work (see
        ``accord.errors.AccordError``) leaves the outermost one, that work runs after the
        rollback, each in its own unit of work; a failure there is logged, never masks
        the error."""
        session = self.sessionmaker()
        uow = UnitOfWork(session)
        outermost = _OPEN_UOWS.get() == 0
        token = _OPEN_UOWS.set(_OPEN_UOWS.get() + 1)
        failed: BaseException | None = None
        try:
            yield uow
        except BaseException as exc:
            failed = exc
            raise
        finally:
            _OPEN_UOWS.reset(token)
            if session.in_transaction():
                session.rollback()
            session.close()
            if failed is not None and outermost:
                self._after_rollback(failed)

    def _after_rollback(self, exc: BaseException) -> None:
        actions = getattr(exc, "after_rollback", None)
        while actions:
            action = actions.pop(0)
            try:
                action(self)
            except Exception:
                log.exception("the work after a refused change failed")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading only, in one transaction rolled back at the end (see
        the module's docstring). Nothing is written through it."""
        with self.engine.connect() as conn:
            info = conn.connection.info  # the pooled connection's: taken off before return
            info[READ_ONLY] = True
            try:
                yield conn
            finally:
                info.pop(READ_ONLY, None)

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


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """Alembic's filter: leave alone the schema objects a migration makes on one backend
    only (a full-text index, say), which models list in ``Base.metadata.info["unmodelled"]``
    as ``{"table": (name prefix, ...), "column": ("table.column", ...), "index": (...)}``."""
    for spec in Base.metadata.info.get("unmodelled", ()):
        if type_ == "table" and name and any(name == t or name.startswith(t + "_")
                                             for t in spec.get("table", ())):
            return False
        if type_ == "column" and f"{obj.table.name}.{name}" in spec.get("column", ()):
            return False
        if type_ == "index" and name in spec.get("index", ()):
            return False
    return True
