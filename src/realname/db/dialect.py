"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_conflicts(
    session: Session, table: Table, values: Mapping[str, Any], conflict_columns: Sequence[str]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING: create-if-missing that two writers can race safely."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).values(**values)
    session.execute(statement.on_conflict_do_nothing(index_elements=list(conflict_columns)))
