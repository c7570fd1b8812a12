"""Claims and queueing under real concurrency: threads with their own connections.

PostgreSQL: claims read `FOR UPDATE SKIP LOCKED`, so a claimer skips the rows another is
claiming instead of taking them too (or waiting). SQLite: BEGIN IMMEDIATE serialises claims.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from realname.messaging.models import OutboxMessage
from realname.messaging.service import claim, enqueue
from tests.messaging.conftest import NOW, destination, enqueue_many, enterprise_id

THREADS = 8


def test_concurrent_claimers_never_get_the_same_message(fresh_engine: Engine) -> None:
    with Session(fresh_engine) as session, session.begin():
        enqueue_many(session, 240)
    barrier = threading.Barrier(THREADS)
    claimed: Counter[int] = Counter()
    per_worker: dict[str, int] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            barrier.wait()
            mine = 0
            while True:
                with Session(fresh_engine) as session, session.begin():
                    batch = claim(session, name, NOW, 7, 3600)
                if not batch:
                    break
                mine += len(batch)
                with lock:
                    claimed.update(m.id for m in batch)
            per_worker[name] = mine
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(claimed) == 240 and max(claimed.values()) == 1
    assert sum(per_worker.values()) == 240
    with Session(fresh_engine) as session:
        owners = session.execute(
            select(OutboxMessage.claimed_by, func.count()).group_by(OutboxMessage.claimed_by)
        ).all()
    assert dict(owners) == {k: v for k, v in per_worker.items() if v}


def test_skip_locked_gives_a_second_claimer_other_rows_without_waiting(
    postgres_engine: Engine,
) -> None:
    with Session(postgres_engine) as session, session.begin():
        enqueue_many(session, 20)
    holder = Session(postgres_engine)
    holder.begin()
    try:
        first = claim(holder, "a", NOW, 10, 60)  # rows locked, transaction still open
        result: list[list[int]] = []

        def second_claimer() -> None:
            with Session(postgres_engine) as session, session.begin():
                # without SKIP LOCKED this would wait for "a" (and then fail here)
                session.execute(text("SET LOCAL lock_timeout = '2s'"))
                result.append([m.id for m in claim(session, "b", NOW, 10, 60)])

        thread = threading.Thread(target=second_claimer)
        thread.start()
        thread.join(timeout=30)
        assert result, "the second claimer did not finish"
        assert len(result[0]) == 10
        assert not {m.id for m in first} & set(result[0])
        holder.commit()
    finally:
        holder.close()
    with Session(postgres_engine) as session:
        owners = dict(
            session.execute(
                select(OutboxMessage.claimed_by, func.count()).group_by(OutboxMessage.claimed_by)
            ).all()
        )
    assert owners == {"a": 10, "b": 10}
    # and nothing is claimable until the leases run out
    with Session(postgres_engine) as session, session.begin():
        assert claim(session, "c", NOW + timedelta(seconds=59), 10, 60) == []


def test_concurrent_enqueues_of_one_key_queue_it_once(fresh_engine: Engine) -> None:
    with Session(fresh_engine) as session, session.begin():
        ent = enterprise_id(session)
    barrier = threading.Barrier(THREADS)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def queue(n: int) -> None:
        barrier.wait()
        with Session(fresh_engine) as session, session.begin():
            new = enqueue(
                session,
                dedupe_key="campaign-7:line-42:remind-1",
                enterprise_id=ent,
                line_id=None,
                destination=destination(42),
                kind="backfill_remind",
                body=f"copy {n}",
                at=NOW,
            )
        with lock:
            outcomes.append(new)

    threads = [threading.Thread(target=queue, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == [False] * (THREADS - 1) + [True]
    with Session(fresh_engine) as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
