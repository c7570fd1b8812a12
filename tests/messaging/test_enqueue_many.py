"""`enqueue_many` says how many messages were newly queued: the back-fill sweep reports that
number as its reminders (it read -1 on PostgreSQL when it came from the driver's row count)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from realname.messaging.models import OutboxMessage
from realname.messaging.service import Queued, enqueue_many
from tests.messaging.conftest import body, destination, enterprise_id

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _queued(enterprise: int, keys: range) -> list[Queued]:
    return [
        Queued(f"bench:{n}", enterprise, None, destination(n), "backfill.remind", body(n % 3))
        for n in keys
    ]


def test_the_count_is_the_messages_newly_queued(db_session: Session) -> None:
    session = db_session
    before = session.scalar(select(func.count()).select_from(OutboxMessage))
    enterprise = enterprise_id(session)
    assert enqueue_many(session, _queued(enterprise, range(5)), AT) == 5
    # Three already queued (deduplicated by key), four new.
    assert enqueue_many(session, _queued(enterprise, range(2, 9)), AT) == 4
    assert enqueue_many(session, [], AT) == 0
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == before + 9
