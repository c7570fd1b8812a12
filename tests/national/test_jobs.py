"""The publisher's run (national/feeds/jobs.py publish) on a committed database: batches
streamed (built, stored, sent and acknowledged one at a time, progress told), and one run per
enterprise at a time (two cron runs ended in an IntegrityError on the batch number)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from realname.db.uow import UnitOfWork
from realname.national.feeds.errors import FeedError, FeedErrorCode
from realname.national.feeds.jobs import PublishReport, publish
from realname.national.feeds.models import NationalPublication
from realname.national.feeds.repository import FeedRepository
from realname.national.feeds.transport import InProcess
from realname.policy.schema import Policy
from realname.security.vault import KeyRing
from tests.national.conftest import NOW, Nation, build_nation


def _nation(engine: Engine, keyring: KeyRing, china: Policy) -> Nation:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return build_nation(session, keyring, china)


def _publish(engine: Engine, nation: Nation, **extra: object) -> PublishReport:
    uow = UnitOfWork(sessionmaker(bind=engine, expire_on_commit=False))
    return publish(
        uow,
        keyring=nation.keyring,
        signing=nation.cmcc,
        transport=InProcess(uow, nation.keys, lambda: NOW),
        batch_size=1,
        now=lambda: NOW,
        **extra,  # type: ignore[arg-type]
    )


def test_publish_streams_each_batch_and_tells_its_progress(
    fresh_engine: Engine, keyring: KeyRing, china: Policy
) -> None:
    nation = _nation(fresh_engine, keyring, china)
    told: list[tuple[str, int, int | None]] = []
    report = _publish(fresh_engine, nation, progress=lambda *a: told.append(a))
    assert report.refused is None and report.built == report.sent > 1  # one event a batch
    assert report.numbers == list(range(1, report.built + 1))
    built = [t for t in told if t[0] == "built"]
    sent = [t for t in told if t[0] == "sent"]
    assert built == [("built", n, None) for n in range(1, report.built + 1)]
    assert sent == [("sent", n, report.built) for n in range(1, report.built + 1)]
    with Session(fresh_engine) as session:
        assert FeedRepository(session).pending_numbers(nation.world.enterprise_id) == []
    again = _publish(fresh_engine, nation)
    assert (again.built, again.sent, again.refused) == (0, 0, None)


def test_a_second_publish_of_the_same_enterprise_is_refused_while_one_runs(
    fresh_engine: Engine, keyring: KeyRing, china: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("SQLite builds under its one write lock: two runs cannot build at once")
    nation = _nation(fresh_engine, keyring, china)
    last = FeedRepository.last_publication

    def slow(self: FeedRepository, enterprise_id: int) -> NationalPublication | None:
        found = last(self, enterprise_id)
        time.sleep(0.5)  # both runs read "no batch yet" before either stores batch 1
        return found

    monkeypatch.setattr(FeedRepository, "last_publication", slow)
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def run() -> None:
        start.wait()
        try:
            outcomes.append(_publish(fresh_engine, nation))
        except Exception as error:
            outcomes.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    refused = [o for o in outcomes if isinstance(o, FeedError)]
    done = [o for o in outcomes if isinstance(o, PublishReport)]
    assert len(refused) == 1 and len(done) == 1, outcomes
    assert refused[0].code is FeedErrorCode.FEED_PUBLISH_RUNNING
    assert "Another publish" in refused[0].message
    assert done[0].refused is None and done[0].sent == done[0].built > 1
    with Session(fresh_engine) as session:
        numbers = session.scalars(select(func.count(NationalPublication.id))).one()
    assert numbers == done[0].built
    # the lock goes with the run: the next one runs
    assert _publish(fresh_engine, nation).refused is None


def test_batches_left_unsent_under_a_retired_key_are_signed_again_with_the_new_one(
    fresh_engine: Engine, keyring: KeyRing, china: Policy
) -> None:
    """The platform is unreachable, the key leaks and is retired: the batches built under it
    were refused FEED_KEY_RETIRED on every later run (the publisher resent them as stored),
    and the feed stuck. They go again signed with the active key, the same bodies."""
    from datetime import timedelta

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from realname.national.feeds.keys import FeedSigningKey
    from realname.national.feeds.service import FeedIngest

    nation = _nation(fresh_engine, keyring, china)
    uow = UnitOfWork(sessionmaker(bind=fresh_engine, expire_on_commit=False))

    class Unreachable(InProcess):
        def push(self, envelope: object) -> object:
            raise FeedError(FeedErrorCode.FEED_PLATFORM_UNREACHABLE)

    down = publish(
        uow, keyring=nation.keyring, signing=nation.cmcc,
        transport=Unreachable(uow, nation.keys, lambda: NOW), batch_size=1, now=lambda: NOW,
    )  # fmt: skip
    assert down.refused == "FEED_PLATFORM_UNREACHABLE" and down.built > 1
    rotated = FeedSigningKey("CMCC", "f2", Ed25519PrivateKey.generate())
    later = NOW + timedelta(hours=1)
    with uow.transaction() as session:
        ingest = FeedIngest(session, nation.keys)
        ingest.register_key("CMCC", "f2", rotated.public_raw, later)
        ingest.retire_key("CMCC", "f1", later, keyring=nation.keyring, actor="operator:test")
    resumed = publish(
        uow, keyring=nation.keyring, signing=rotated,
        transport=InProcess(uow, nation.keys, lambda: later), batch_size=1, now=lambda: later,
    )  # fmt: skip
    assert resumed.refused is None and resumed.sent == down.built
    assert resumed.numbers == list(range(1, down.built + 1))
    with Session(fresh_engine) as session:
        assert FeedRepository(session).pending_numbers(nation.world.enterprise_id) == []
