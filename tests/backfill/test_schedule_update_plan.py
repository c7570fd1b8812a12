"""On SQLite an UPDATE … FROM a payload whose target condition is `unindexed` (the sweep's
schedule update here) finds each payload row by the primary key: with the campaign's index
chosen instead, SQLite walked every line of the campaign and rescanned the payload for each
(a 1 M-line demo's barring day took over an hour)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Date, create_engine, event, update
from sqlalchemy.orm import Session

from realname.backfill.models import BackfillLine
from realname.db import migrate
from realname.db.dialect import columns_table, unindexed


def test_the_next_dates_update_reads_the_payload_and_finds_rows_by_key(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate.upgrade(engine)
    plans: list[list[Any]] = []

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def explain(_c: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> Any:
        if statement.startswith("UPDATE"):
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append(cursor.fetchall())
        return statement, parameters

    table = BackfillLine.__table__
    with Session(engine) as session:
        payload = columns_table(
            session,
            "next_dates",
            [("line_id", BigInteger(), [1, 2]), ("next_on", Date(), [date(2026, 1, 1)] * 2)],
        )
        of_campaign = unindexed(session, table.c.campaign_id) == 1
        session.execute(
            update(table)
            .where(table.c.line_id == payload.c.line_id, of_campaign)
            .values(next_on=payload.c.next_on)
        )
    steps = " | ".join(str(row[-1]) for row in plans[0])
    assert "ix_backfill_line_campaign_id" not in steps, steps
    assert "(line_id=?)" in steps, steps
    engine.dispose()
