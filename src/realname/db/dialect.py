"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Integer,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, FromClause, operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.types import TypeEngine

from realname.db.types import UtcDateTime


def insert_ignoring_conflicts(
    session: Session,
    table: Table,
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    conflict_columns: Sequence[str],
) -> None:
    """INSERT … ON CONFLICT DO NOTHING: create-if-missing that two writers can race safely.
    `values`: one row, or many (one executemany)."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    if isinstance(values, Mapping):
        session.execute(statement.values(**values))
    elif values:
        session.execute(statement, [dict(row) for row in values])


T = TypeVar("T")
# Values of one IN list, at most: PostgreSQL takes 65,535 bind parameters a statement, SQLite
# 32,766 (the national feeds' batches may carry 100,000 items).
IN_CHUNK = 10_000


def in_chunks(values: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """`values` in lists of at most `size`: one IN statement each, within every engine's limit
    of bind parameters."""
    chunk: list[T] = []
    for value in values:
        chunk.append(value)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def increment_counter(
    session: Session,
    table: Table,
    key_column: str,
    count_column: str,
    values: Mapping[str, Any],
    by: int = 1,
) -> int:
    """INSERT … ON CONFLICT DO UPDATE SET count = count + by RETURNING count: one round trip,
    and two writers on one key serialise on its row instead of losing an increment."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).values(**{**values, count_column: by})
    column = table.c[count_column]
    statement = statement.on_conflict_do_update(
        index_elements=[key_column], set_={count_column: column + by}
    ).returning(column)
    return int(session.execute(statement).scalar_one())


def next_ids(session: Session, table: Table, count: int) -> range:
    """Ids for a bulk insert that sets them explicitly (no RETURNING round trip per row).

    Only for single-writer bulk loads (the demo world, imports holding a table lock): call
    `sync_id_sequence` afterwards so PostgreSQL's sequence continues after them.
    """
    start = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return range(int(start) + 1, int(start) + 1 + count)


def sync_id_sequence(session: Session, table: Table) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                # table names come from our own metadata, never from input
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}), false)"
            )
        )


def bulk_insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows in the session's transaction, bypassing per-row SQLAlchemy processing.

    PostgreSQL gets COPY (psycopg's binary-safe row writer); SQLite a driver-level executemany
    with values already in the form SQLAlchemy would store. For bulk loads only: no ORM
    events, no defaults; every column to fill must be in the rows.
    """
    if not rows:
        return
    columns = list(rows[0])
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
        driver = connection.connection.driver_connection
        assert driver is not None
        names = ", ".join(f'"{c}"' for c in columns)
        with (
            driver.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy,
        ):
            # JSON as its text (COPY parses it by the column's type): rows mostly share one
            # small detail, whose text is then made once (`_json_text`).
            for row in rows:
                copy.write_row(
                    [_json_text(row[c]) if c in json_columns else row[c] for c in columns]
                )
        return
    getter = itemgetter(*columns)
    instant = _SameInstant()  # one per call: a row's times are often one datetime
    conversions = [
        (i, instant if f is _utc_text else f)
        for i, f in enumerate(_sqlite_converter(table.c[c].type) for c in columns)
        if f
    ]
    values: list[tuple[Any, ...]] = []
    for row in rows:
        picked = getter(row)
        if conversions:
            picked = list(picked) if len(columns) > 1 else [picked]
            for i, convert in conversions:
                if picked[i] is not None:
                    picked[i] = convert(picked[i])
        values.append(tuple(picked) if len(columns) > 1 or conversions else (picked,))
    placeholders = ", ".join("?" for _ in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    connection.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({names}) VALUES ({placeholders})',  # noqa: S608 (our metadata)
        values,
    )


def _sqlite_converter(column_type: Any) -> Any:
    """How SQLAlchemy's SQLite dialect stores a value of this type, or None if as is."""
    if isinstance(column_type, JSON):
        return _json_text
    if isinstance(column_type, (UtcDateTime, DateTime)):
        return _utc_text
    if isinstance(column_type, Date):
        return lambda v: v.isoformat()
    if isinstance(column_type, Boolean):
        return int
    return None


def _utc_text(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text, UTC, always with microseconds."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


class _SameInstant:
    """`_utc_text` that remembers the last datetime it was given (the same object gives the
    same text): a bulk-loaded line's state change, activation and owner-since are mostly
    one datetime, and the conversion was a seventh of the demo's base load."""

    __slots__ = ("text", "value")

    def __init__(self) -> None:
        self.value: datetime | None = None
        self.text = ""

    def __call__(self, value: datetime) -> str:
        if value is not self.value:
            self.text = _utc_text(value)
            self.value = value
        return self.text


_JSON_MEMO: dict[str, str] = {}


def _json_text(value: Any) -> str:
    """Bulk rows often share one small detail dict; its text is computed once."""
    if isinstance(value, dict) and len(value) == 1:
        key = repr(value)
        text_ = _JSON_MEMO.get(key)
        if text_ is None:
            if len(_JSON_MEMO) > 1000:
                _JSON_MEMO.clear()
            text_ = _JSON_MEMO[key] = json.dumps(value, ensure_ascii=False)
        return text_
    return json.dumps(value, ensure_ascii=False)


def unindexed(session: Session, column: ColumnElement[T]) -> ColumnElement[T]:
    """`column` as a condition of an UPDATE … FROM a payload (`rows_table`, `columns_table`)
    that no index may serve, on SQLite: given an indexed equality on the target table
    (`status = 'pending'`, `campaign_id = ?`), its planner walks that index over every
    matching row and rescans the payload for each (seconds per batch at a million rows);
    written `+column` it reads the payload and finds each row by its key. PostgreSQL plans
    the join itself: the column as is."""
    if session.get_bind().dialect.name != "sqlite":
        return column
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def rows_table(
    session: Session,
    name: str,
    columns: Sequence[tuple[str, TypeEngine[Any]]],
    rows: Sequence[Mapping[str, Any]],
) -> FromClause:
    """Rows sent as one JSON parameter and read back as a table, for UPDATE … FROM: one
    statement however many rows (PostgreSQL `json_to_recordset`, SQLite `json_each`). The
    text is orjson's: the JSON type's encoder (the standard library's) was ~10 % of the
    back-fill sweep's Python time (py-spy, docs/benchmarks.md)."""
    payload = orjson.dumps(list(rows)).decode()
    param = bindparam(f"{name}_rows", payload, type_=Text())
    if session.get_bind().dialect.name == "postgresql":
        function = func.json_to_recordset(cast(param, JSON))
        return function.table_valued(*(column(c, t) for c, t in columns)).render_derived(
            name=name, with_types=True
        )
    each = func.json_each(param).table_valued("value")
    return (
        select(*(func.json_extract(each.c.value, f"$.{c}").label(c) for c, _ in columns))
        .select_from(each)
        .subquery(name)
    )


def columns_table(
    session: Session,
    name: str,
    columns: Sequence[tuple[str, TypeEngine[Any], Sequence[Any]]],
) -> FromClause:
    """Rows sent as one list per column (all of one length) and read back as a table, for
    UPDATE … FROM and INSERT … SELECT. PostgreSQL: `unnest` of one typed array per column,
    which psycopg sends without a JSON text to build per row and the server to parse back
    (the sweep's payloads: 2,000 rows of JSON cost more to build than the statement took).
    SQLite: `rows_table`'s JSON (dates as ISO text)."""
    if session.get_bind().dialect.name == "postgresql":
        arrays = [_pg_array(f"{name}_{c}", t, values) for c, t, values in columns]
        function = func.unnest(*arrays)
        return function.table_valued(*(column(c, t) for c, t, _ in columns)).render_derived(
            name=name
        )
    names = [c for c, _, _ in columns]
    lists = [
        [v.isoformat() if v is not None else None for v in values]
        if isinstance(t, Date)
        else values
        for _, t, values in columns
    ]
    rows = [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]
    return rows_table(session, name, [(c, t) for c, t, _ in columns], rows)


def _pg_array(name: str, type_: TypeEngine[Any], values: Sequence[Any]) -> Any:
    """One typed array parameter, built in C: psycopg's list dumper is a Python loop per
    element, which cost more than the statement's own work per row. Integers and booleans
    as the array's literal text (`{1,2,3}`); anything else as a JSON array."""
    if isinstance(type_, Integer) and all(type(v) is int for v in values):
        literal = "{" + ",".join(map(str, values)) + "}"
        return cast(bindparam(name, literal, type_=Text()), postgresql.ARRAY(type_))
    if isinstance(type_, Boolean) and all(type(v) is bool for v in values):
        literal = "{" + ",".join("t" if v else "f" for v in values) + "}"
        return cast(bindparam(name, literal, type_=Text()), postgresql.ARRAY(type_))
    # Others as one JSON array (encoded in C), its elements read back in order.
    items = json.dumps([v.isoformat() if isinstance(v, date) else v for v in values])
    each = (
        func.json_array_elements_text(cast(bindparam(name, items, type_=Text()), JSON))
        .table_valued("value", with_ordinality="n")
        .render_derived(name=f"{name}_items")
    )
    in_order = aggregate_order_by(each.c.value, each.c.n)
    aggregated = select(func.array_agg(in_order)).scalar_subquery()
    return cast(aggregated, postgresql.ARRAY(type_))


def returned_count(session: Session, statement: Any) -> int:
    """How many rows an INSERT/UPDATE … RETURNING wrote, without sending them back one by
    one: on PostgreSQL counted by the server (`WITH w AS (…) SELECT count(*) FROM w`; the
    sweep's 2,000 rows a statement cost more to fetch than to count); SQLite, which has no
    data-modifying WITH, fetches the returned rows and counts them."""
    if session.get_bind().dialect.name == "postgresql":
        written = statement.cte("written")
        return int(session.execute(select(func.count()).select_from(written)).scalar_one())
    return len(session.execute(statement).all())


def secondary_indexes(connection: Connection, tables: Sequence[Table]) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the plain indexes on these tables, as the database has
    them (migrations may differ from the models): not those that back a primary key or a
    unique constraint, which stay and keep checking the rows as they arrive."""
    names = [t.name for t in tables]
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            text(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                "WHERE i.schemaname = current_schema() AND i.tablename = ANY(:names) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conname = i.indexname AND c.connamespace = "
                "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())) "
                "ORDER BY i.tablename, i.indexname"
            ),
            {"names": names},
        )
    else:
        rows = connection.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "AND tbl_name IN :names ORDER BY tbl_name, name"
            ).bindparams(bindparam("names", expanding=True)),
            {"names": names},
        )
    return [(str(name), str(sql)) for name, sql in rows]


@contextmanager
def indexes_built_after(connection: Connection, tables: Sequence[Table]) -> Iterator[None]:
    """Drop the tables' plain indexes for a bulk load and build them again after it: one sort
    per index instead of a random B-tree insert per row. Only for a database the caller has
    just created and loads alone (the demo's): a reader meanwhile would find no index. The
    indexes are built again even when the load fails, so the schema is never left short."""
    with connection.begin():
        indexes = secondary_indexes(connection, tables)
        for name, _sql in indexes:
            connection.exec_driver_sql(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        with connection.begin():
            for _name, sql in indexes:
                connection.exec_driver_sql(sql)
