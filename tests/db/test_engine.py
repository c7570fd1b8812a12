"""The PostgreSQL pool without pre-ping (the default): a connection the server dropped fails
the one use that finds it, as a disconnect the HTTP layer answers 503, and the pool renews
itself so the next use works."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from realname.config import Settings
from realname.db.engine import create_engine_from_settings

pytestmark = pytest.mark.postgres


def test_a_dropped_connection_fails_one_use_and_the_pool_renews(postgres_database: str) -> None:
    settings = Settings(database_url=postgres_database)
    assert settings.database_pool_pre_ping is False  # the round trip per checkout is saved
    engine = create_engine_from_settings(settings, pool_size=2)
    admin = create_engine(postgres_database)
    try:
        with engine.connect() as connection:
            backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with admin.connect() as other:  # the server drops the pooled connection
            other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend})
        with pytest.raises(OperationalError) as failure, engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert failure.value.connection_invalidated
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
        admin.dispose()


def test_a_read_only_unit_reads_one_snapshot_on_postgresql(postgres_database: str) -> None:
    """`realname check` and the reports read in one snapshot: under READ COMMITTED a check
    racing the audit sequencer read chain entries before its commit and heads after it, and
    reported a broken chain that was not."""
    from realname.db.engine import create_session_factory
    from realname.db.uow import UnitOfWork

    engine = create_engine_from_settings(Settings(database_url=postgres_database))
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE snap (n int)"))
        uow = UnitOfWork(create_session_factory(engine))
        with uow.transaction(readonly=True) as session:
            level = session.execute(text("SHOW transaction_isolation")).scalar_one()
            assert level == "repeatable read"
            assert session.execute(text("SELECT count(*) FROM snap")).scalar_one() == 0
            with engine.begin() as other:  # the sequencer commits meanwhile
                other.execute(text("INSERT INTO snap VALUES (1)"))
            assert session.execute(text("SELECT count(*) FROM snap")).scalar_one() == 0
        with uow.transaction() as session:  # a writing unit is unchanged: READ COMMITTED
            level = session.execute(text("SHOW transaction_isolation")).scalar_one()
            assert level == "read committed"
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS snap"))
        engine.dispose()
