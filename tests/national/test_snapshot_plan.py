"""A snapshot batch's lines (`FeedRepository.lines_after`) on SQLite: read through ordered walks
of the enterprise's state index, without sorting the whole enterprise for each batch (the
1 M-line demo's largest enterprise, 290,000 lines, paid 0.25 s a batch in its publisher and
again in its sealer), and the same rows as the plain condition, in the same order."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, select
from sqlalchemy.orm import Session

from realname.db import migrate
from realname.national.feeds.repository import UNPUBLISHED_STATES, FeedRepository
from realname.registry.lifecycle import LineState
from realname.registry.models import Enterprise, Line

AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _world(path: Path) -> Any:
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    states = [str(s) for s in LineState]
    with Session(engine) as session, session.begin():
        for code in ("A", "B"):
            session.add(Enterprise(code=code, name=code, kind="mno", created_at=AT))
        session.flush()
        session.execute(
            insert(Line),
            [
                {
                    "msisdn": f"+861380000{n:04d}",
                    "enterprise_id": 1 + (n % 3 == 0),
                    "state": states[(n * 7) % len(states)],
                    "state_changed_at": AT,
                    "event_count": 1,
                }
                for n in range(400)
            ],
        )
    return engine


def test_a_batch_walks_the_state_index_in_order_without_sorting_the_enterprise(
    tmp_path: Path,
) -> None:
    engine = _world(tmp_path / "plan.db")
    plans: list[str] = []

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def explain(_c: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> Any:
        if "FROM line" in statement:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append(" | ".join(str(row[-1]) for row in cursor.fetchall()))
        return statement, parameters

    with Session(engine) as session:
        FeedRepository(session).lines_after(1, 10, 50, 300)
    assert "TEMP B-TREE" not in plans[0], plans[0]
    assert "ix_line_enterprise_state (enterprise_id=? AND state=? AND rowid>?" in plans[0]
    engine.dispose()


def test_a_batch_is_the_lines_the_plain_condition_gives(tmp_path: Path) -> None:
    engine = _world(tmp_path / "rows.db")
    with Session(engine) as session:
        repo = FeedRepository(session)
        for enterprise_id in (1, 2):
            every = session.execute(
                select(Line.id)
                .where(Line.enterprise_id == enterprise_id, Line.state.not_in(UNPUBLISHED_STATES))
                .order_by(Line.id)
            ).scalars()
            expected = list(every)
            assert expected
            windows = ((0, 1000, None), (0, 7, None), (50, 20, 200), (399, 5, None))
            for after, limit, until in windows:
                want = [i for i in expected if i > after and (until is None or i <= until)]
                got = [row[0] for row in repo.lines_after(enterprise_id, after, limit, until)]
                assert got == want[:limit]
            assert {row[3] for row in repo.lines_after(enterprise_id, 0, 1000)}.isdisjoint(
                UNPUBLISHED_STATES
            )
    engine.dispose()
