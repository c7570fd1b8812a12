"""Senders killed mid-run lose nothing and send nothing twice.

Real processes (`realname messages send`) against the stub SMSC on loopback, on a file-based
SQLite database and on PostgreSQL. The dangerous window is "the SMSC accepted the message,
the sender died before recording it as sent": the first sender is SIGKILLed exactly there
(the stub holds its answer to one submit), the second at a random point, the third finishes.
Short leases (REALNAME_SMS_LEASE_SECONDS=1) let the survivors take over the dead senders'
messages. Afterwards every message was delivered exactly once at the SMSC (by the reference
derived from its outbox id) and every outbox row is `sent`: the resubmissions the crashes
caused were answered by the SMSC as duplicates.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from realname.clock import SystemClock
from realname.messaging.gateways import client_reference, encode_parts
from realname.messaging.models import OutboxMessage
from realname.messaging.smsc_stub import Delivery, StubSmsc
from tests.messaging.conftest import Processes, database_url, enqueue_many

COUNT = 300
HOLD_AT = 60  # the first sender dies with this delivery accepted but unanswered


def _env(engine: Engine, smsc: StubSmsc) -> dict[str, str]:
    return {
        "REALNAME_DATABASE_URL": database_url(engine),
        "REALNAME_SMS_GATEWAY": "smpp",
        "REALNAME_SMSC_HOST": "127.0.0.1",
        "REALNAME_SMSC_PORT": str(smsc.port),
        "REALNAME_SMS_LEASE_SECONDS": "1",
    }


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_killed_senders_lose_nothing_and_send_nothing_twice(
    fresh_engine: Engine, processes: Processes
) -> None:
    started = time.monotonic()
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, COUNT, at=SystemClock().now() - timedelta(minutes=1), long_every=25)
    expected: dict[str, int] = {}  # reference -> outbox id
    for row in _rows(fresh_engine):
        parts = len(encode_parts(row.id, row.body)[0])
        for part in range(1, parts + 1):
            expected[client_reference(row.id, part, parts)] = row.id
    assert len(expected) > COUNT  # some messages are long

    held, release = threading.Event(), threading.Event()
    held_delivery: list[Delivery] = []

    def on_accept(delivery: Delivery) -> None:
        if not held.is_set() and smsc.delivery_count() >= HOLD_AT:
            held_delivery.append(delivery)
            held.set()
            release.wait(20)  # accepted; the answer waits until the sender is dead

    with StubSmsc(submit_delay=0.004, on_accept=on_accept) as smsc:
        env = _env(fresh_engine, smsc)

        first = processes.messages("send", "--batch", "10", env=env)
        _wait_for(held.is_set, 30, "the first sender to reach the held submit")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        release.set()

        second = processes.messages("send", "--batch", "10", env=env)
        kill_at = random.randint(HOLD_AT + 60, HOLD_AT + 160)
        _wait_for(
            lambda: smsc.delivery_count() >= kill_at or second.poll() is not None,
            30,
            "the second sender to make progress",
        )
        assert second.poll() is None, second.communicate()[1]
        os.kill(second.pid, signal.SIGKILL)
        second.wait(timeout=10)
        delivered_before_last = smsc.delivery_count()

        third = processes.messages("send", "--batch", "10", env=env)
        out, err = third.communicate(timeout=60)
        assert third.returncode == 0, err

        deliveries = smsc.deliveries
        duplicates = smsc.duplicates
        messages = smsc.messages()

    assert delivered_before_last < len(expected)  # the third sender had work left
    by_reference = Counter(d.reference for d in deliveries)
    assert set(by_reference) == set(expected)  # nothing lost
    assert max(by_reference.values()) == 1  # nothing delivered twice
    # The crashes made senders resubmit; the SMSC recognised those and did not deliver them.
    (held_one,) = held_delivery
    assert held_one.reference in {reference for reference, _id in duplicates}

    rows = _rows(fresh_engine)
    assert {row.status for row in rows} == {"sent"}
    first_part = {d.reference: d.message_id for d in deliveries}
    for row in rows:
        parts = len(encode_parts(row.id, row.body)[0])
        assert row.gateway_message_id == first_part[client_reference(row.id, 1, parts)]
    assert sorted(m.text for m in messages) == sorted(row.body for row in rows)
    assert "sent" in out
    assert time.monotonic() - started < 60


def test_sigterm_stops_a_sender_cleanly(fresh_engine: Engine, processes: Processes) -> None:
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 150, at=SystemClock().now() - timedelta(minutes=1))
    with StubSmsc(submit_delay=0.004) as smsc:
        env = _env(fresh_engine, smsc)
        sender = processes.messages(
            "send", "--forever", "--batch", "20", "--poll-interval", "0.2", env=env
        )
        _wait_for(lambda: smsc.delivery_count() >= 40, 30, "some deliveries")
        sender.send_signal(signal.SIGTERM)
        out, err = sender.communicate(timeout=20)
        assert sender.returncode == 0, err
        assert "sent" in out

        rows = _rows(fresh_engine)
        sent = [row for row in rows if row.status == "sent"]
        assert len(sent) == smsc.delivery_count()  # the message in hand was finished
        assert all(row.claimed_until is None for row in rows if row.status == "pending")

        rest = processes.messages("send", env=env)
        _out, err = rest.communicate(timeout=60)
        assert rest.returncode == 0, err
        assert smsc.duplicates == []  # a clean stop leaves nothing to resend
        assert smsc.delivery_count() == 150
    assert {row.status for row in _rows(fresh_engine)} == {"sent"}
