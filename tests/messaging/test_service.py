"""The outbox's use cases on SQLite and PostgreSQL: idempotent queueing, leases, back-off."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from realname.messaging.errors import OutboxError
from realname.messaging.models import OutboxMessage
from realname.messaging.schemas import FailureOutcome
from realname.messaging.service import (
    BACKOFF_CAP_SECONDS,
    backoff_delay,
    claim,
    enqueue,
    mark_failed_attempt,
    mark_sent,
    outbox_status,
    release,
)
from tests.messaging.conftest import NOW, destination, enqueue_many, enterprise_id


def _queue(session: Session, key: str = "k1", body: str = "请补登记", **kw: object) -> bool:
    values: dict[str, object] = {
        "dedupe_key": key,
        "enterprise_id": enterprise_id(session),
        "line_id": None,
        "destination": destination(1),
        "kind": "backfill_remind",
        "body": body,
        "at": NOW,
    }
    values.update(kw)
    return enqueue(session, **values)  # type: ignore[arg-type]


def _row(session: Session, message_id: int) -> OutboxMessage:
    row = session.get(OutboxMessage, message_id, populate_existing=True)
    assert row is not None
    return row


def test_enqueue_is_idempotent_on_the_dedupe_key(db_session: Session) -> None:
    assert _queue(db_session) is True
    assert _queue(db_session, body="another text, same key") is False
    rows = db_session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == "k1")).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.status, row.attempts, row.body) == ("pending", 0, "请补登记")
    assert row.next_attempt_at == NOW and row.created_at == NOW
    assert row.claimed_by is None and row.claimed_until is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("destination", "13900000001"),
        ("destination", "+86 139 0000 0001"),
        ("kind", ""),
        ("kind", "has space"),
        ("body", "  "),
        ("dedupe_key", ""),
        ("dedupe_key", "x" * 129),
    ],
)
def test_enqueue_refuses_bad_input_without_echoing_it(
    db_session: Session, field: str, value: str
) -> None:
    with pytest.raises(OutboxError) as caught:
        _queue(db_session, **{field: value})
    assert field in str(caught.value)
    if field == "destination":
        assert "0000" not in str(caught.value)


def test_claim_takes_due_unleased_messages_oldest_first(db_session: Session) -> None:
    enqueue_many(db_session, 3, at=NOW - timedelta(minutes=5))
    enqueue_many(db_session, 2, at=NOW, start=3)
    enqueue_many(db_session, 1, at=NOW + timedelta(minutes=5), start=5)  # not due yet

    first = claim(db_session, "a", NOW, 2, 60)
    assert [m.body[-1] for m in first] == ["0", "1"]
    assert all(m.claimed_until == NOW + timedelta(seconds=60) for m in first)
    half_minute = NOW + timedelta(seconds=30)
    second = claim(db_session, "b", half_minute, 10, 60)
    assert sorted(m.body[-1] for m in second) == ["2", "3", "4"]
    assert claim(db_session, "c", half_minute, 10, 60) == []
    assert {_row(db_session, m.id).claimed_by for m in first} == {"a"}

    # a's lease runs out (b's does not yet): a's rows can be taken over, and only those
    taken_over = claim(db_session, "c", NOW + timedelta(seconds=61), 10, 60)
    assert [m.id for m in taken_over] == [m.id for m in first]
    assert {_row(db_session, m.id).claimed_by for m in taken_over} == {"c"}
    # later still: b's rows, and the message that has become due meanwhile
    at_six = claim(db_session, "d", NOW + timedelta(minutes=6), 10, 60)
    assert sorted(m.body[-1] for m in at_six) == ["0", "1", "2", "3", "4", "5"]


def test_mark_sent_only_by_the_worker_holding_the_claim(db_session: Session) -> None:
    enqueue_many(db_session, 1)
    (message,) = claim(db_session, "a", NOW, 10, 30)
    (again,) = claim(db_session, "b", NOW + timedelta(seconds=31), 10, 30)  # a's lease expired
    assert again.id == message.id

    assert mark_sent(db_session, message.id, "a", "gw-a", NOW + timedelta(seconds=32)) is False
    assert _row(db_session, message.id).status == "pending"
    assert mark_sent(db_session, message.id, "b", "gw-b", NOW + timedelta(seconds=33)) is True
    row = _row(db_session, message.id)
    assert (row.status, row.gateway_message_id, row.attempts) == ("sent", "gw-b", 1)
    assert row.sent_at == NOW + timedelta(seconds=33)
    assert row.claimed_until is None
    assert mark_sent(db_session, message.id, "b", "gw-b", NOW) is False  # not twice
    assert claim(db_session, "c", NOW + timedelta(hours=1), 10, 30) == []


def test_failed_attempts_back_off_then_fail_after_max_attempts(db_session: Session) -> None:
    enqueue_many(db_session, 1)
    rng = random.Random(7)
    at = NOW
    expected = [30, 60]
    for attempt, nominal in enumerate(expected, start=1):
        (message,) = claim(db_session, "w", at, 1, 60)
        outcome = mark_failed_attempt(
            db_session, message.id, "w", "smpp:0x00000058: throttled", at, max_attempts=3, rng=rng
        )
        assert outcome is FailureOutcome.RETRY
        row = _row(db_session, message.id)
        delay = (row.next_attempt_at - at).total_seconds()
        assert nominal * 0.8 <= delay <= nominal * 1.2
        assert (row.status, row.attempts, row.claimed_by, row.claimed_until) == (
            "pending",
            attempt,
            None,
            None,
        )
        assert row.last_error == "smpp:0x00000058: throttled"
        assert claim(db_session, "w", at + timedelta(seconds=delay - 1), 1, 60) == []
        at = row.next_attempt_at
    (message,) = claim(db_session, "w", at, 1, 60)
    assert mark_failed_attempt(db_session, message.id, "w", "x", at, max_attempts=3) is (
        FailureOutcome.FAILED
    )
    row = _row(db_session, message.id)
    assert (row.status, row.attempts) == ("failed", 3)
    assert claim(db_session, "w", at + timedelta(days=1), 1, 60) == []


def test_a_permanent_error_fails_at_once(db_session: Session) -> None:
    enqueue_many(db_session, 1)
    (message,) = claim(db_session, "w", NOW, 1, 60)
    outcome = mark_failed_attempt(
        db_session,
        message.id,
        "w",
        "smpp:0x0000000b: Invalid Destination Address",
        NOW,
        permanent=True,
    )
    assert outcome is FailureOutcome.FAILED
    row = _row(db_session, message.id)
    assert (row.status, row.attempts, row.last_error[:15]) == ("failed", 1, "smpp:0x0000000b")


def test_a_failure_reported_by_a_worker_that_lost_the_claim_changes_nothing(
    db_session: Session,
) -> None:
    enqueue_many(db_session, 1)
    (message,) = claim(db_session, "a", NOW, 1, 10)
    claim(db_session, "b", NOW + timedelta(seconds=11), 1, 10)
    assert mark_failed_attempt(db_session, message.id, "a", "x", NOW) is FailureOutcome.LOST
    assert _row(db_session, message.id).attempts == 0


def test_release_hands_claimed_messages_back_at_once(db_session: Session) -> None:
    enqueue_many(db_session, 3)
    claimed = claim(db_session, "a", NOW, 3, 600)
    assert release(db_session, [m.id for m in claimed[1:]], "b") == 0  # not b's
    assert release(db_session, [m.id for m in claimed[1:]], "a") == 2
    assert [m.id for m in claim(db_session, "b", NOW, 10, 600)] == [m.id for m in claimed[1:]]


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for attempts in range(1, 30):
        nominal = min(30 * 2 ** (attempts - 1), BACKOFF_CAP_SECONDS)
        for _ in range(20):
            seconds = backoff_delay(attempts, rng).total_seconds()
            assert nominal * 0.8 <= seconds <= min(nominal * 1.2, BACKOFF_CAP_SECONDS)
    spread = {round(backoff_delay(3, rng).total_seconds(), 3) for _ in range(50)}
    assert len(spread) > 40  # jittered, so a burst of failures does not retry in lockstep


def test_status_counts_by_status_and_kind(db_session: Session) -> None:
    enqueue_many(db_session, 4, at=NOW - timedelta(hours=2))
    enqueue_many(db_session, 1, at=NOW + timedelta(hours=1), start=4)
    _queue(db_session, key="other-kind", kind="reverify_notice")
    claimed = claim(db_session, "w", NOW, 2, 60)
    mark_sent(db_session, claimed[0].id, "w", "g", NOW)

    report = outbox_status(db_session, NOW)
    assert report.counts == {
        ("pending", "backfill_remind"): 4,
        ("sent", "backfill_remind"): 1,
        ("pending", "reverify_notice"): 1,
    }
    assert (report.due, report.leased) == (3, 1)  # two free + the other kind; one claimed
    assert report.oldest_pending_age_seconds == pytest.approx(7200)
    total = db_session.scalar(select(func.count()).select_from(OutboxMessage))
    assert total == 6
