"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, and a Runtime over it.

Every test that takes ``rt`` runs twice, once per backend. Tables are emptied before each
test. Under CI=true an unreachable PostgreSQL fails the run instead of skipping it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import accord.models  # noqa: F401 - registers every table
from accord import registry
from accord.config import Settings
from accord.db import Base, Database
from accord.migrate import upgrade
from accord.runtime import Runtime, build_runtime

registry.install()  # every feature's task handlers and audit listeners, as in every command

PG_ADMIN_URL = os.environ.get("ACCORD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _worker(config: pytest.Config) -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


def postgres_or_skip() -> None:
    try:
        eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")


def make_pg_database(name: str) -> str:
    postgres_or_skip()
    eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return _pg_url(name)


class Clock:
    """A settable clock; tests move time with ``advance``."""

    def __init__(self) -> None:
        self.frozen: datetime | None = None
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return (self.frozen or datetime.now(UTC)) + self.offset

    def freeze(self, at: datetime) -> None:
        self.frozen = at

    def advance(self, **kw: float) -> None:
        self.offset += timedelta(**kw)


@pytest.fixture(scope="session")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("sqlite") / "accord.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def pg_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    name = f"accord_test_{_worker(request.config)}_{os.getpid()}"
    db = Database(make_pg_database(name))
    upgrade(db.engine)
    yield db
    db.dispose()
    eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


def empty_tables(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.is_postgres:
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Database:
    db: Database = request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")
    empty_tables(db)
    return db


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path, database: Database) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database.url,
                    base_url="http://testserver", run_worker=False, seed_demo=False,
                    master_key=None, smtp_host=None)


@pytest.fixture
def rt(settings: Settings, database: Database, clock: Clock) -> Runtime:
    runtime = build_runtime(settings, database=database)
    runtime.clock = clock
    return runtime
