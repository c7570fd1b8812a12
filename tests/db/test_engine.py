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
