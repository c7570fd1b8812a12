"""The sender loop in-process (both engines), and the `messages` commands as processes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from realname.clock import SystemClock
from realname.db.uow import UnitOfWork
from realname.messaging.errors import PermanentGatewayError, TemporaryGatewayError
from realname.messaging.gateways import FileGateway
from realname.messaging.models import OutboxMessage
from realname.messaging.schemas import OutgoingMessage
from realname.messaging.sender import Sender
from realname.messaging.service import claim, enqueue, seal_body
from realname.security.vault import KeyRing, generate_key
from tests.messaging.conftest import (
    Processes,
    database_url,
    destination,
    enqueue_many,
    enterprise_id,
)


class ScriptedGateway:
    """Answers per outbox id from a script: an exception to raise, else a message id."""

    name = "scripted"

    def __init__(self, script: Callable[[OutgoingMessage], Exception | None] | None = None):
        self.script = script
        self.sent: list[int] = []
        self.closed = False

    def send(self, message: OutgoingMessage) -> str:
        error = self.script(message) if self.script else None
        if error is not None:
            raise error
        self.sent.append(message.id)
        return f"gw-{message.id}"

    def close(self) -> None:
        self.closed = True


def _rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _sender(engine: Engine, gateway: object, **kw: object) -> Sender:
    # Leases and back-offs are relative: the machine's clock, whatever its date, serves.
    kw.setdefault("clock", SystemClock().now)
    uow = UnitOfWork(sessionmaker(engine))
    return Sender(uow, gateway, lease_seconds=30, **kw)  # type: ignore[arg-type]


def test_the_sender_drains_the_outbox_through_the_file_gateway(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    with Session(fresh_engine) as session, session.begin():
        bodies = enqueue_many(session, 25, at=SystemClock().now() - timedelta(minutes=1))
    sink = tmp_path / "sms.jsonl"
    with _sender(fresh_engine, FileGateway(sink)) as sender:
        stats = sender.run(batch=10)
    assert (stats.sent, stats.retried, stats.failed, stats.batches) == (25, 0, 0, 4)
    lines = [json.loads(line) for line in sink.read_text(encoding="utf-8").splitlines()]
    assert [line["body"] for line in lines] == bodies
    rows = _rows(fresh_engine)
    assert {r.status for r in rows} == {"sent"}
    assert [r.gateway_message_id for r in rows] == [f"file:{r.id}" for r in rows]


def test_temporary_failures_retry_later_and_permanent_ones_fail(fresh_engine: Engine) -> None:
    now = [SystemClock().now()]
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 3, at=now[0])
    ids = [r.id for r in _rows(fresh_engine)]
    attempts: dict[int, int] = {}

    def script(message: OutgoingMessage) -> Exception | None:
        attempts[message.id] = attempts.get(message.id, 0) + 1
        if message.id == ids[0] and attempts[message.id] == 1:
            return TemporaryGatewayError("throttled", code="smpp:0x00000058")
        if message.id == ids[1]:
            return PermanentGatewayError("Invalid Destination Address", code="smpp:0x0000000b")
        return None

    gateway = ScriptedGateway(script)
    sender = _sender(fresh_engine, gateway, clock=lambda: now[0])
    stats = sender.run()
    assert (stats.sent, stats.retried, stats.failed) == (1, 1, 1)
    first = _rows(fresh_engine)[0]
    assert first.status == "pending" and first.attempts == 1
    assert first.last_error == "smpp:0x00000058: throttled"
    assert timedelta(seconds=24) <= first.next_attempt_at - now[0] <= timedelta(seconds=36)

    now[0] += timedelta(seconds=40)  # the back-off is over
    stats = sender.run()
    assert (stats.sent, stats.retried, stats.failed) == (1, 0, 0)
    rows = _rows(fresh_engine)
    assert [(r.status, r.attempts) for r in rows] == [("sent", 2), ("failed", 1), ("sent", 1)]
    assert gateway.sent == [ids[2], ids[0]]


def test_a_message_that_keeps_failing_is_failed_after_max_attempts(fresh_engine: Engine) -> None:
    now = [SystemClock().now()]
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 1, at=now[0])
    gateway = ScriptedGateway(lambda _m: ValueError("a bug in some library +8613912345678"))
    sender = _sender(fresh_engine, gateway, clock=lambda: now[0], max_attempts=3)
    for _ in range(3):
        sender.run()
        now[0] += timedelta(hours=2)
    (row,) = _rows(fresh_engine)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error == "error: ValueError"  # the type only: no text from the library


def test_when_the_gateway_is_down_the_sender_stops_and_hands_the_batch_back(
    fresh_engine: Engine,
) -> None:
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 10, at=SystemClock().now())
    gateway = ScriptedGateway(
        lambda _m: TemporaryGatewayError("cannot connect", code="connection", gateway_down=True)
    )
    sender = _sender(fresh_engine, gateway, gateway_pause=0.01, max_gateway_pauses=2)
    stats = sender.run(batch=5)
    assert stats.gateway_down and stats.sent == 0
    assert stats.batches == 3 and stats.retried == 3  # one attempt spent per pause, not 10
    rows = _rows(fresh_engine)
    assert sum(r.attempts for r in rows) == 3
    assert all(r.claimed_until is None for r in rows)  # nothing left leased


def test_a_stop_event_ends_the_run_after_the_message_in_hand(fresh_engine: Engine) -> None:
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 20, at=SystemClock().now())
    stop = threading.Event()

    def script(message: OutgoingMessage) -> None:
        if len(gateway.sent) == 4:
            stop.set()  # as SIGTERM would, while the 5th message is being sent

    gateway = ScriptedGateway(script)
    stats = _sender(fresh_engine, gateway).run(forever=True, batch=10, stop_event=stop)
    assert stats.sent == 5 and stats.released == 5
    rows = _rows(fresh_engine)
    assert sum(r.status == "sent" for r in rows) == 5
    assert all(r.claimed_until is None for r in rows)


def test_a_dead_senders_messages_are_taken_over_when_its_lease_runs_out(
    fresh_engine: Engine,
) -> None:
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 6, at=SystemClock().now() - timedelta(seconds=5))
        claim(session, "dead-sender", SystemClock().now(), 4, 1.5)  # and then it was killed
    gateway = ScriptedGateway()
    started = time.monotonic()
    stats = _sender(fresh_engine, gateway).run(batch=10, poll_interval=0.2)
    elapsed = time.monotonic() - started
    assert stats.sent == 6
    assert 1.0 <= elapsed < 10  # waited for the lease, not for ever
    assert {r.status for r in _rows(fresh_engine)} == {"sent"}


def test_the_send_and_status_commands(
    fresh_engine: Engine, tmp_path: Path, processes: Processes
) -> None:
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 12, at=SystemClock().now() - timedelta(minutes=3))
    env = {
        "REALNAME_DATABASE_URL": database_url(fresh_engine),
        "REALNAME_SMS_GATEWAY": "file",
        "REALNAME_SMS_FILE": str(tmp_path / "sms.jsonl"),
    }
    status = processes.messages("status", "--json", env=env)
    out, err = status.communicate(timeout=60)
    assert status.returncode == 0, err
    report = json.loads(out)
    assert report["counts"] == {"pending": {"backfill_remind": 12}}
    assert report["due"] == 12 and report["oldest_pending_age_seconds"] >= 180

    send = processes.messages("send", "--batch", "5", env=env)
    out, err = send.communicate(timeout=60)
    assert send.returncode == 0, err
    assert "sent 12, retried 0, failed 0" in out
    assert "+86139" not in out + err  # numbers never in output or logs

    human = processes.messages("status", env=env)
    out, _err = human.communicate(timeout=60)
    assert "backfill_remind" in out and "oldest pending: none" in out
    assert len((tmp_path / "sms.jsonl").read_text(encoding="utf-8").splitlines()) == 12


def test_a_run_whose_last_send_found_the_gateway_down_says_so(fresh_engine: Engine) -> None:
    """One message, a dead gateway: the failed attempt backs the message off, the next pass
    finds nothing due, and the run must still report the gateway down (`messages send`
    exits 1), not "drained"."""
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 1, at=SystemClock().now())
    gateway = ScriptedGateway(
        lambda _m: TemporaryGatewayError("cannot connect", code="connection", gateway_down=True)
    )
    stats = _sender(fresh_engine, gateway, gateway_pause=0.01).run()
    assert stats.gateway_down and stats.retried == 1
    (row,) = _rows(fresh_engine)
    assert row.attempts == 1 and row.last_error == "connection: cannot connect"
    assert row.claimed_by is None and row.next_attempt_at > row.created_at


def test_an_unexpected_failure_mid_batch_hands_the_rest_back(fresh_engine: Engine) -> None:
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 5, at=SystemClock().now())
    factory = sessionmaker(fresh_engine)
    calls = [0]

    def sessions() -> Session:
        calls[0] += 1
        if calls[0] == 2:  # recording the first send: the database went away
            raise RuntimeError("database went away")
        return factory()

    sender = Sender(
        UnitOfWork(sessions), ScriptedGateway(), lease_seconds=30, clock=SystemClock().now
    )
    with pytest.raises(RuntimeError):
        sender.run_batch(5)
    rows = _rows(fresh_engine)
    assert [r.claimed_by is None for r in rows] == [False, True, True, True, True]


def test_a_sealed_body_is_opened_only_on_its_way_to_the_gateway(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    """A one-time code rests in the outbox sealed; the sender opens it for the gateway, and a
    sender without the key ring fails the message instead of sending the sealed text."""
    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key())
    text = "【实名登记】验证码 048213"
    at = SystemClock().now() - timedelta(minutes=1)
    with Session(fresh_engine) as session, session.begin():
        for n in (1, 2):
            enqueue(
                session,
                dedupe_key=f"otp:{n}",
                enterprise_id=enterprise_id(session),
                line_id=None,
                destination=destination(n),
                kind="otp.login",
                body=seal_body(keyring, text),
                at=at,
            )
    stored = _rows(fresh_engine)
    assert all("048213" not in r.body and r.body.startswith("sealed:k1:") for r in stored)
    sink = tmp_path / "sms.jsonl"
    with _sender(fresh_engine, FileGateway(sink)) as blind:
        stats = blind.run_batch(1)
    assert (stats.sent, stats.failed) == (0, 1)  # failed for good, nothing sent
    assert not sink.exists() or "048213" not in sink.read_text(encoding="utf-8")
    with _sender(fresh_engine, FileGateway(sink), keyring=keyring) as sender:
        stats = sender.run(batch=10)
    assert stats.sent == 1
    delivered = [json.loads(line) for line in sink.read_text(encoding="utf-8").splitlines()]
    assert [d["body"] for d in delivered] == [text]
    assert sorted(r.status for r in _rows(fresh_engine)) == ["failed", "sent"]


def test_a_batch_records_its_sends_in_a_few_transactions_and_loses_none(
    fresh_engine: Engine,
) -> None:
    """100 messages, one batch: the sends are recorded in groups of 1, 2, 4 … 64 (7
    transactions besides the claim), not one each; a message whose claim another sender
    took over mid-group is counted lost and left to that sender, the rest are recorded."""
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 100, at=SystemClock().now() - timedelta(minutes=1))
    factory = sessionmaker(fresh_engine)
    opened = [0]

    def sessions() -> Session:
        opened[0] += 1
        return factory()

    def steal(message: OutgoingMessage) -> None:
        if message.id == ids[50]:  # sent by us, then taken over before our record
            with Session(fresh_engine) as session, session.begin():
                row = session.get(OutboxMessage, message.id)
                assert row is not None
                row.claimed_by = "other"

    ids = [r.id for r in _rows(fresh_engine)]
    gateway = ScriptedGateway(steal)
    sender = Sender(UnitOfWork(sessions), gateway, lease_seconds=30, clock=SystemClock().now)
    stats = sender.run_batch(100)
    assert (stats.claimed, stats.sent, stats.lost, stats.released) == (100, 99, 1, 0)
    assert opened[0] == 1 + 7  # claim, then groups of 1, 2, 4, 8, 16, 32 and the last 37
    assert gateway.sent == ids
    rows = _rows(fresh_engine)
    assert [r.status for r in rows] == ["pending" if r.id == ids[50] else "sent" for r in rows]
    assert all(r.gateway_message_id == f"gw-{r.id}" for r in rows if r.status == "sent")
    assert all(r.attempts == 1 for r in rows if r.status == "sent")


def test_the_grouped_record_looks_its_rows_up_by_key_on_sqlite(fresh_engine: Engine) -> None:
    """With the status index to take, SQLite walked every pending row and scanned the group's
    payload for each (45 s for a group of 256 among 68,605 pending reminders); the record
    must read the payload and find each row by its key."""
    if fresh_engine.dialect.name != "sqlite":
        pytest.skip("the plan in question is SQLite's")
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 3, at=SystemClock().now() - timedelta(minutes=1))
    plans: list[str] = []  # one text per UPDATE … FROM (the grouped records)

    def explain(conn: object, cursor: Any, statement: str, params: Any, *_rest: object) -> None:
        if statement.startswith("UPDATE outbox_message") and " FROM " in statement:
            rows = cursor.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
            plans.append(" | ".join(row[3] for row in rows))

    event.listen(fresh_engine, "before_cursor_execute", explain)
    try:
        stats = _sender(fresh_engine, ScriptedGateway()).run(batch=10)
    finally:
        event.remove(fresh_engine, "before_cursor_execute", explain)
    assert stats.sent == 3
    assert len(plans) == 2  # groups of 1 and 2
    for plan in plans:
        assert "SEARCH outbox_message USING INTEGER PRIMARY KEY" in plan, plan
        assert "ix_outbox_message_due" not in plan, plan
