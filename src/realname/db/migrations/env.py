"""Alembic environment: uses the engine handed over by realname.db.migrate (or Settings)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from realname.config import get_settings
from realname.db import models  # noqa: F401  (registers every table on Base.metadata)
from realname.db.base import Base
from realname.db.engine import create_engine_from_settings

config = context.config
engine: Engine = config.attributes.get("engine") or create_engine_from_settings(get_settings())

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
