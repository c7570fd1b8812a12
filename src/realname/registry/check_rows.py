"""The rows `realname check` streams, as plain driver tuples, and what it makes of them.

The check reads every line, event and identity. Through SQLAlchemy each value went through
its result processor (a JSON column parsed, every timestamp parsed into a `datetime`, which
the MAC encoder then printed back to text): most of the check's time at a million lines.
Here the rows come straight from the driver's cursor, and each value is brought to the form
the MAC encoder (security/audit.py `encode_fields`) and the replay compare, with a fast path
for the form the registry writes and SQLAlchemy's own processor for anything else, so what
the check computes is the same value for value:

- a SQLite timestamp stored as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, what SQLAlchemy and the
  bulk loaders write) becomes the encoder's `T…+00:00` text directly; any other spelling is
  parsed by the column's processor and left to the encoder, as before;
- a JSON document is parsed once per distinct text (events share a handful of details);
- PostgreSQL's driver already returns `datetime`, `date` and parsed JSON: left as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from itertools import count
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, LargeBinary, Table
from sqlalchemy.orm import Session

from realname.db.types import UtcDateTime
from realname.registry.repository import RegistryRepository

_CANONICAL_INSTANT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
_CANONICAL_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_cursor_names = count(1)

Convert = Callable[[Any], Any]


class CheckRepository(RegistryRepository):
    """The registry's reads for `realname check`: the per-run aggregates computed once, and
    the big tables streamed as driver tuples in the session's own transaction."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._held: dict[tuple[int, int], int] | None = None

    def held_counts(self) -> dict[tuple[int, int], int]:
        """Lines held per (identity, enterprise): three checks use it, one query answers."""
        if self._held is None:
            self._held = super().held_counts()
        return self._held

    def raw_rows(
        self,
        table: Table,
        columns: Sequence[str],
        order_by: str | None = None,
        batch: int = 20000,
        ids: tuple[int, int] | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """`SELECT columns FROM table [ORDER BY …]` as the driver's tuples (no result
        processing), in the session's transaction; PostgreSQL streams through a named cursor.
        Table and column names come from our metadata, never from input."""
        names = ", ".join(f'"{table.c[c].name}"' for c in columns)
        sql = f'SELECT {names} FROM "{table.name}"'  # noqa: S608 (our metadata)
        if ids is not None:  # (after, up to): a share of the table for one worker
            sql += f' WHERE "id" > {int(ids[0])} AND "id" <= {int(ids[1])}'
        if order_by:
            sql += " ORDER BY " + ", ".join(f'"{table.c[c].name}"' for c in order_by.split(","))
        connection = self.session.connection()
        dbapi: Any = connection.connection.dbapi_connection
        assert dbapi is not None
        if connection.dialect.name == "postgresql":
            with dbapi.cursor(name=f"realname_check_{next(_cursor_names)}") as cursor:
                cursor.itersize = batch
                cursor.execute(sql)
                yield from cursor
            return
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(batch):
                yield from rows
        finally:
            cursor.close()


def converters(session: Session, table: Table, columns: Sequence[str]) -> list[Convert | None]:
    """For each column, how to bring a driver value to what the MAC encoder is handed (None:
    as it is). See the module's docstring."""
    dialect = session.get_bind().dialect
    return [_converter(table.c[name], dialect) for name in columns]


def instant_key(session: Session, column: Column[Any]) -> Convert | None:
    """How to bring a driver timestamp to a value that compares equal exactly when the
    instants are equal (canonical UTC text on SQLite; PostgreSQL's `datetime` as it is)."""
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        return None
    process = column.type.result_processor(dialect, None)

    def key(value: Any) -> Any:
        if value is None or (isinstance(value, str) and _CANONICAL_INSTANT.fullmatch(value)):
            return value
        parsed = process(value) if process else value
        return _utc_text(parsed)

    return key


def _utc_text(value: Any) -> str:
    from realname.db.dialect import _utc_text as text

    return text(value)


def _converter(column: Column[Any], dialect: Any) -> Convert | None:
    kind = column.type
    if isinstance(kind, LargeBinary):
        return None  # bytes either way; the encoder tags them
    if dialect.name != "sqlite":
        return None  # psycopg returns datetimes, dates and parsed JSON already
    process = kind.result_processor(dialect, None)
    if isinstance(kind, JSON):
        memo: dict[str, Any] = {}

        def document(value: Any) -> Any:
            if not isinstance(value, str):
                return process(value) if process else value
            parsed = memo.get(value, memo)
            if parsed is memo:
                if len(memo) > 10_000:
                    memo.clear()
                parsed = memo[value] = json.loads(value)
            return parsed

        return document
    if isinstance(kind, (UtcDateTime, DateTime)):

        def instant(value: Any) -> Any:
            if isinstance(value, str) and _CANONICAL_INSTANT.fullmatch(value):
                return f"T{value[:10]}T{value[11:]}+00:00"
            return process(value) if process else value

        return instant
    if isinstance(kind, Date):

        def day(value: Any) -> Any:
            if isinstance(value, str) and _CANONICAL_DATE.fullmatch(value):
                return "D" + value
            return process(value) if process else value

        return day
    return process
