"""The relying parties' counters behave alike in the database (SQLite, PostgreSQL) and in
Redis: the gate's counting, the unanswered budget, mismatches, windows, and exact counts
under concurrency; Redis keys expire at the window's end and hold no number."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from realname.verification.counters import (
    AsyncRedisCounters,
    Counters,
    DatabaseCounters,
    GateKeys,
    RedisCounters,
    Spent,
    redis_key,
)
from realname.verification.models import QuotaCounter
from realname.verification.parties import PartyCache
from realname.verification.repository import PartyRow, VerificationRepository
from tests.verification.conftest import REDIS_URL, redis_prefix

AT = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(params=["database", "redis"])
def counters(request: pytest.FixtureRequest, db_session: Session) -> Iterator[Counters]:
    if request.param == "database":
        yield DatabaseCounters(VerificationRepository(db_session))
        return
    for prefix in redis_prefix():
        store = RedisCounters.from_url(REDIS_URL, prefix)
        yield store
        store.close()


def keys(number: str = "n1", *, answered: bool = True, budget: int = 3) -> GateKeys:
    return GateKeys(
        unanswered="unanswered:bank:20261130",
        calls=f"calls:bank:{number}:20261130" if answered else None,
        mismatches=f"mismatch:bank:{number}:20261130" if answered else None,
        budget=budget,
        at=AT,
        expires_at=MIDNIGHT,
    )


def test_the_gate_counts_calls_and_reads_mismatches(counters: Counters) -> None:
    first = counters.spend(keys())
    assert (first.budget_spent, first.calls, first.mismatches) == (False, 1, 0)
    for _ in range(2):  # two mismatches (KYC Match counts each with its call)
        counters.spend(mismatching())
    second = counters.spend(keys())
    assert (second.calls, second.mismatches) == (4, 2)
    other = counters.spend(keys("n2"))  # another number: its own counts
    assert (other.calls, other.mismatches) == (1, 0)


def test_refused_calls_spend_the_budget_then_everything_is_refused(counters: Counters) -> None:
    assert [counters.spend(keys(answered=False)).calls for _ in range(3)] == [1, 2, 3]
    spent = counters.spend(keys(answered=False))
    assert spent.budget_spent
    answered = counters.spend(keys())  # even a call that would be answered
    assert answered.budget_spent and answered.calls == 0
    # Nothing was counted once the budget was spent: the number's calls start at 1 when a
    # new window (a new unanswered key) opens.
    fresh = GateKeys(
        unanswered="unanswered:bank:20261201",
        calls="calls:bank:n1:20261130",
        mismatches=None,
        budget=3,
        at=AT,
        expires_at=MIDNIGHT,
    )
    assert counters.spend(fresh).calls == 1


def test_redis_keys_expire_at_the_windows_end_and_name_no_number() -> None:
    """The time to live runs to the window's end by the process clock (AT is days away from
    the machine's clock here, as under a drill clock): nine hours."""
    for prefix in redis_prefix():
        store = RedisCounters.from_url(REDIS_URL, prefix)
        try:
            store.spend(keys("blind0123"))
            store.spend(mismatching("blind0123"))
            client = redis.Redis.from_url(REDIS_URL)
            names = sorted(k.decode() for k in client.scan_iter(match=f"{prefix}*"))
            assert names == [
                f"{prefix}q:{{bank}}:calls:blind0123:20261130",
                f"{prefix}q:{{bank}}:mismatch:blind0123:20261130",
            ]
            for name in names:
                assert 9 * 3600 - 5 <= client.ttl(name) <= 9 * 3600
            client.close()
        finally:
            store.close()


def test_redis_counts_are_exact_under_concurrency() -> None:
    for prefix in redis_prefix():
        store = RedisCounters.from_url(REDIS_URL, prefix)
        seen = [spent.calls for spent in _spend_in_threads(store.spend, threads=8, each=50)]
        assert sorted(seen) == list(range(1, 401))  # every call got its own count
        assert store.count("calls:bank:n1:20261130") == 400
        store.close()


def _spend_in_threads(
    spend: Callable[[GateKeys], Spent],
    *,
    threads: int,
    each: int,
    keyed: Callable[[], GateKeys] = keys,
) -> list[Spent]:
    found: list[Spent] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(each):
            spent = spend(keyed())
            with lock:
                found.append(spent)

    running = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return found


def test_database_counters_are_exact_under_concurrency(fresh_engine: Engine) -> None:
    seen = [spent.calls for spent in _spend_in_transactions(fresh_engine, threads=4, each=10)]
    assert sorted(seen) == list(range(1, 41))


def _spend_in_transactions(
    engine: Engine, *, threads: int, each: int, keyed: Callable[[], GateKeys] = keys
) -> list[Spent]:
    """`_spend_in_threads` on the database: each call a transaction of its own."""

    def spend(keys: GateKeys) -> Spent:
        with Session(engine) as session, session.begin():
            return DatabaseCounters(VerificationRepository(session)).spend(keys)

    return _spend_in_threads(spend, threads=threads, each=each, keyed=keyed)


def test_the_party_cache_keeps_a_party_for_its_ttl_and_forgets_on_demand() -> None:
    cache = PartyCache(5.0)
    looked: list[str] = []
    party = PartyRow(1, "bank", "active", frozenset({"kyc-match"}))

    def lookup(client_id: str) -> PartyRow | None:
        looked.append(client_id)
        return party if client_id == "bank" else None

    assert cache.get("bank", AT, lookup) is party
    assert cache.get("bank", AT + timedelta(seconds=4.9), lookup) is party
    assert looked == ["bank"]
    assert cache.get("bank", AT + timedelta(seconds=5), lookup) is party  # looked again
    assert looked == ["bank", "bank"]
    cache.forget("bank")
    cache.get("bank", AT + timedelta(seconds=5), lookup)
    assert len(looked) == 3
    # A party not found is never cached: one registered a moment later is found at once.
    assert cache.get("new", AT, lookup) is None
    assert cache.get("new", AT, lookup) is None
    assert looked[-2:] == ["new", "new"]
    uncached = PartyCache(0)
    uncached.get("bank", AT, lookup)
    uncached.get("bank", AT, lookup)
    assert len(looked) == 7


def mismatching(number: str = "n1", *, mismatch_budget: int = 2, calls_budget: int = 9) -> GateKeys:
    """KYC Match's keys for a call whose answer is a mismatch."""
    return replace(
        keys(number), mismatch=True, mismatch_budget=mismatch_budget, calls_budget=calls_budget
    )


def test_a_mismatch_is_counted_with_its_call_until_the_budget(counters: Counters) -> None:
    """KYC Match decides its answer first and counts the call and its mismatch in one step:
    each call sees the mismatches before it, and one found at the budget is not counted."""
    found = [counters.spend(mismatching()) for _ in range(3)]
    assert [(f.calls, f.mismatches) for f in found] == [(1, 0), (2, 1), (3, 2)]
    right = counters.spend(replace(mismatching(), mismatch=False))
    assert (right.calls, right.mismatches) == (4, 2)  # the third was not counted


def test_a_call_past_the_number_quota_adds_no_mismatch(counters: Counters) -> None:
    """Past the number's calls quota a call is counted and refused by the gate: its mismatch
    is never counted (it gets no answer)."""
    limited = mismatching(mismatch_budget=5, calls_budget=2)
    found = [counters.spend(limited) for _ in range(4)]
    assert [(f.calls, f.mismatches) for f in found] == [(1, 0), (2, 1), (3, 2), (4, 2)]


def test_redis_mismatch_budget_is_exact_under_concurrency() -> None:
    for prefix in redis_prefix():
        store = RedisCounters.from_url(REDIS_URL, prefix)
        found = _spend_in_threads(store.spend, threads=8, each=10, keyed=mismatching)
        assert sorted(f.calls for f in found) == list(range(1, 81))
        assert sum(f.mismatches < 2 for f in found) == 2  # exactly the budget answered
        assert store.count("mismatch:bank:n1:20261130") == 2
        store.close()


def test_database_mismatch_budget_is_exact_under_concurrency(fresh_engine: Engine) -> None:
    """The calls row's lock queues the calls about one number, so the mismatches each reads
    are exact on PostgreSQL too (they were not when the mismatch was counted after the match,
    in a second step)."""
    found = _spend_in_transactions(fresh_engine, threads=4, each=5, keyed=mismatching)
    assert sorted(f.calls for f in found) == list(range(1, 21))
    assert sum(f.mismatches < 2 for f in found) == 2
    with Session(fresh_engine) as session:
        assert VerificationRepository(session).count("mismatch:bank:n1:20261130") == 2


def test_the_database_count_is_read_afresh_not_from_the_session(db_session: Session) -> None:
    """The increments are Core upserts: a counter row the session already held (any code in
    the transaction that loaded it) kept its old count, and `count` read that."""
    repo = VerificationRepository(db_session)
    key = "mismatch:bank:fresh:20261130"
    repo.increment(key, MIDNIGHT)
    held = db_session.get(QuotaCounter, key)  # loaded, and kept alive, by someone else
    assert held is not None and held.count == 1
    repo.increment(key, MIDNIGHT)
    assert repo.count(key) == 2


def _async_spends(prefix: str, calls: list[GateKeys], *, flush: bool = False) -> tuple[list, int]:
    """The calls spent at once on one `AsyncRedisCounters` (gathered in one loop turn):
    each call's answer (a `Spent` or the error it raised), and the pipelines sent."""

    async def run() -> tuple[list, int]:
        store = AsyncRedisCounters.from_url(REDIS_URL, prefix)
        try:
            if flush:  # a Redis that lost its scripts (restarted, SCRIPT FLUSH)
                await store.client.script_flush()
            answers = await asyncio.gather(*(store.spend(k) for k in calls), return_exceptions=True)
            return list(answers), store.pipelines
        finally:
            await store.close()

    return asyncio.run(run())


def test_async_calls_asked_together_go_in_one_pipeline_with_their_own_answers() -> None:
    """Six calls asked in one turn of the loop: one pipeline, and each call the answer it
    gets alone: the scripts ran in the order asked, each atomically."""
    calls = [keys("n1"), keys("n2"), keys("n1"), keys(answered=False), keys("n1"), keys("n3")]
    for prefix in redis_prefix():
        answers, pipelines = _async_spends(prefix, calls)
        assert pipelines == 1
        assert answers == [
            Spent(False, 1, 0),
            Spent(False, 1, 0),
            Spent(False, 2, 0),
            Spent(False, 1, 0),  # the unanswered count: 1
            Spent(False, 3, 0),
            Spent(False, 1, 0),
        ]
    for prefix in redis_prefix():  # the same calls one at a time, on the sync store
        store = RedisCounters.from_url(REDIS_URL, prefix)
        assert [store.spend(k) for k in calls] == answers
        store.close()


def test_a_pipeline_survives_a_redis_that_lost_its_scripts() -> None:
    for prefix in redis_prefix():
        answers, pipelines = _async_spends(prefix, [keys("n1"), keys("n1")], flush=True)
        assert answers == [Spent(False, 1, 0), Spent(False, 2, 0)] and pipelines == 1


def test_one_calls_error_in_a_pipeline_is_its_own() -> None:
    """A key Redis cannot count (another type under its name) fails that call alone."""
    for prefix in redis_prefix():
        broken = keys("broken")
        client = redis.Redis.from_url(REDIS_URL)
        assert broken.calls is not None
        client.hset(redis_key(prefix, broken.calls), "x", "1")
        client.close()
        answers, pipelines = _async_spends(prefix, [keys("n1"), broken, keys("n1")])
        assert pipelines == 1
        assert answers[0] == Spent(False, 1, 0) and answers[2] == Spent(False, 2, 0)
        assert isinstance(answers[1], redis.ResponseError), answers


def test_a_pipeline_half_run_before_redis_lost_its_scripts_counts_each_call_once() -> None:
    """A pipeline is not atomic: when Redis loses its scripts part-way (a flush, a failover),
    the calls before ran and counted; only the calls answered NOSCRIPT are sent again."""

    async def run(prefix: str) -> tuple[list[Spent], int]:
        store = AsyncRedisCounters.from_url(REDIS_URL, prefix)
        real_pipeline, first = store.client.pipeline, [True]

        def pipeline(**options: object) -> object:
            # the first pipeline's second EVALSHA meets a Redis without the script
            pipe = real_pipeline(**options)
            sent, execute_command, execute = [0], pipe.execute_command, pipe.execute

            def command(*args: object) -> object:
                sent[0] += 1
                if first[0] and sent[0] == 2:
                    args = (args[0], "0" * 40, *args[2:])
                return execute_command(*args)

            async def executed(**options: object) -> object:
                first[0] = False
                return await execute(**options)

            pipe.execute_command, pipe.execute = command, executed
            return pipe

        store.client.pipeline = pipeline  # type: ignore[method-assign]
        try:
            answers = await asyncio.gather(store.spend(keys("a")), store.spend(keys("b")))
            return list(answers), int(
                await store.client.get(redis_key(prefix, "calls:bank:a:20261130"))
            )
        finally:
            await store.close()

    for prefix in redis_prefix():
        answers, counted = asyncio.run(run(prefix))
        assert answers == [Spent(False, 1, 0), Spent(False, 1, 0)]
        assert counted == 1


def test_a_call_cancelled_before_it_is_sent_is_not_counted() -> None:
    async def run(prefix: str) -> tuple[Spent, bytes | None]:
        store = AsyncRedisCounters.from_url(REDIS_URL, prefix)
        try:
            gone = asyncio.ensure_future(store.spend(keys("gone")))
            await asyncio.sleep(0)  # it waits for the pipeline
            gone.cancel()
            kept = await store.spend(keys("kept"))
            return kept, await store.client.get(redis_key(prefix, "calls:bank:gone:20261130"))
        finally:
            await store.close()

    for prefix in redis_prefix():
        kept, gone = asyncio.run(run(prefix))
        assert kept == Spent(False, 1, 0) and gone is None
