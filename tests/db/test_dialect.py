"""The statements whose SQL differs between the engines, on both."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from realname.db.dialect import in_chunks, insert_ignoring_conflicts
from realname.national.lookup.models import NationalLookupLock

AT = datetime(2026, 12, 1, tzinfo=UTC)


def test_insert_ignoring_conflicts_takes_one_row_or_many(db_session: Session) -> None:
    table = cast(Table, NationalLookupLock.__table__)
    one = {"key": b"a" * 32, "kind": "one", "touched_at": AT}
    insert_ignoring_conflicts(db_session, table, one, ["key"])
    rows = [{"key": key * 32, "kind": "many", "touched_at": AT} for key in (b"a", b"b", b"c")]
    insert_ignoring_conflicts(db_session, table, rows, ["key"])
    insert_ignoring_conflicts(db_session, table, [], ["key"])  # nothing to do
    kinds = {bytes(k)[:1]: v for k, v in db_session.execute(select(table.c.key, table.c.kind))}
    assert kinds == {b"a": "one", b"b": "many", b"c": "many"}


def test_in_chunks_splits_without_losing_or_repeating() -> None:
    assert [len(c) for c in in_chunks(range(25), 10)] == [10, 10, 5]
    assert [v for c in in_chunks(iter(range(25)), 10) for v in c] == list(range(25))
    assert list(in_chunks([], 10)) == []
