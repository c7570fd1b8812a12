"""Alembic environment: uses the engine handed over by realname.db.migrate (or Settings)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import realname.tables  # noqa: F401  (registers every table on Base.metadata)
from realname.config import get_settings
from realname.db.base import Base
from realname.db.engine import create_engine_from_settings

config = context.config
engine: Engine = config.attributes.get("engine") or create_engine_from_settings(get_settings())

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    # SQLite changes a constraint by rebuilding the table (batch mode); with foreign keys on,
    # dropping the old `line` would orphan every row pointing at it. The pragma only takes
    # effect outside a transaction, hence the raw connection; every key is checked before the
    # commit instead, and the connection goes back to the pool with foreign keys on.
    raw = connection.connection.dbapi_connection if sqlite else None
    if raw is not None:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            context.run_migrations()
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise RuntimeError("a migration left rows whose foreign key points nowhere")
    finally:
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")
