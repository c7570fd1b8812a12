"""Databases for the tests: every schema is built by Alembic, on SQLite and on PostgreSQL.

`migrated_engine` is parametrised over both engines, so any test that asks for it (or for
`db_session`) runs twice. PostgreSQL comes from REALNAME_TEST_POSTGRES_URL (default: the local
trust-auth server); each test run gets a database of its own, dropped afterwards. Locally
without a server those tests skip and say why; with CI=true they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings
from realname.db.scratch import scratch_postgres

POSTGRES_URL = os.environ.get(
    "REALNAME_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _postgres_or_skip() -> None:
    try:
        probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with probe.connect():
            pass
        probe.dispose()
    except OperationalError as error:
        reason = f"PostgreSQL not reachable at {make_url(POSTGRES_URL).render_as_string()}: "
        reason += str(error.orig).splitlines()[0] if error.orig else str(error)
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server for this test session."""
    yield from _postgres_database()


def _postgres_database() -> Iterator[str]:
    _postgres_or_skip()
    with scratch_postgres(POSTGRES_URL, prefix="realname_test") as url:
        yield url


def _engine_for(url: str) -> Engine:
    return create_engine_from_settings(Settings(database_url=url))


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def migrated_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An engine whose database was built by `alembic upgrade head`."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'realname.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    engine = _engine_for(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(migrated_engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = migrated_engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of this test's own, for tests that must commit (concurrency)."""
    if request.param == "sqlite":
        engine = _engine_for(f"sqlite:///{tmp_path / 'fresh.db'}")
        migrate.upgrade(engine)
        yield engine
        engine.dispose()
        return
    for url in _postgres_database():
        engine = _engine_for(url)
        migrate.upgrade(engine)
        yield engine
        engine.dispose()
