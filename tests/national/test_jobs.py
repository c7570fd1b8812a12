"""The publisher's run (national/feeds/jobs.py publish) on a committed database: batches
streamed (each built, committed, sent and acknowledged before the next; progress told), a
snapshot stopped midway resumed where it stopped, and one run per enterprise at a time (two
cron runs ended in an IntegrityError on the batch number)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from realname.db.uow import UnitOfWork
from realname.national.feeds.envelope import Envelope
from realname.national.feeds.errors import FeedError, FeedErrorCode
from realname.national.feeds.jobs import PublishReport, publish
from realname.national.feeds.keys import SealingKey
from realname.national.feeds.models import NationalPublication
from realname.national.feeds.repository import FeedRepository
from realname.national.feeds.service import Taken
from realname.national.feeds.transport import InProcess
from realname.national.index.models import NationalLine
from realname.policy.schema import Policy
from realname.registry.models import Line
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
    # Interleaved: each batch is sent as soon as it is built (before, every batch was built
    # in one transaction first, and the platform had nothing until the last was built).
    assert told == [
        (phase, n, None) for n in range(1, report.built + 1) for phase in ("built", "sent")
    ]
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
    # (each batch is sent as it is built: the first unsent one stops the run)
    assert down.refused == "FEED_PLATFORM_UNREACHABLE" and down.built == 1
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
    assert resumed.refused is None and resumed.sent == down.built + resumed.built
    assert resumed.numbers == list(range(1, resumed.sent + 1)) and resumed.built > 1
    with Session(fresh_engine) as session:
        assert FeedRepository(session).pending_numbers(nation.world.enterprise_id) == []


class _FailingAfter:
    """The platform in this process, unreachable after `n` batches (a network cut, a kill)."""

    name = "local"

    def __init__(self, inner: InProcess, n: int) -> None:
        self.inner, self.left = inner, n

    def sealing_key(self) -> SealingKey:
        return self.inner.sealing_key()

    def push(self, envelope: Envelope) -> Taken | None:
        if self.left == 0:
            raise FeedError(FeedErrorCode.FEED_PLATFORM_UNREACHABLE)
        self.left -= 1
        return self.inner.push(envelope)


def test_a_snapshot_stopped_midway_resumes_after_its_last_line(
    fresh_engine: Engine, keyring: KeyRing, china: Policy
) -> None:
    """Each snapshot batch commits on its own now: the run that lost the platform after one
    batch leaves it sent and a second built unsent; the next run sends that one and goes on
    after its last line, under the snapshot's own high-water mark. The platform ends with
    every line once and no batch twice. (Before, a snapshot was built whole in one
    transaction, and a resumed one would have been taken for finished.)"""
    nation = _nation(fresh_engine, keyring, china)
    uow = UnitOfWork(sessionmaker(bind=fresh_engine, expire_on_commit=False))
    platform = InProcess(uow, nation.keys, lambda: NOW)

    def run(transport: object) -> PublishReport:
        return publish(
            uow, keyring=nation.keyring, signing=nation.cmcc, transport=transport,  # type: ignore[arg-type]
            batch_size=1, now=lambda: NOW, snapshot=True,
        )  # fmt: skip

    cut = run(_FailingAfter(platform, 1))
    assert (cut.built, cut.sent, cut.refused) == (2, 1, "FEED_PLATFORM_UNREACHABLE")
    with Session(fresh_engine) as session:
        stored = session.scalars(
            select(NationalPublication).order_by(NationalPublication.number)
        ).all()
        assert [p.snapshot for p in stored] == [True, True]
        assert [p.acked_at is not None for p in stored] == [True, False]
        began = stored[0].cursor_to
        assert all(p.cursor_to == began for p in stored)
    rest = run(platform)
    # batch 2 sent as stored, batch 3 built after batch 2's last line (one line a batch)
    assert (rest.refused, rest.numbers, rest.built, rest.duplicates) == (None, [2, 3], 1, 0)
    with Session(fresh_engine) as session:
        stored = session.scalars(
            select(NationalPublication).order_by(NationalPublication.number)
        ).all()
        assert all(p.acked_at is not None for p in stored)
        snapshots = [p for p in stored if p.snapshot]
        assert all(p.cursor_to == began for p in snapshots)
        after = [p.snapshot_after for p in snapshots]
        assert after == sorted(after) and len(set(after)) == len(after)
        # every line lines_after returns (in service or past it), each told once
        expected = {
            row[1]
            for row in FeedRepository(session).lines_after(nation.world.enterprise_id, 0, 10**6)
        }
        told = session.scalars(
            select(NationalLine.msisdn).where(
                NationalLine.enterprise_id == nation.world.enterprise_id
            )
        ).all()
        assert sorted(told) == sorted(expected) and len(expected) == 3
        assert sum(p.items for p in snapshots) == len(expected)
    # Finished: a line the registry holds only since (a legacy import: no event) is not
    # taken into the snapshot by a later run, with or without --snapshot.
    with Session(fresh_engine) as session, session.begin():
        session.add(
            Line(
                msisdn="+8613800199999",
                enterprise_id=nation.world.enterprise_id,
                state="legacy",
                state_changed_at=NOW,
                event_count=0,
            )
        )
    for again in (run(platform), _publish(fresh_engine, nation)):
        assert (again.built, again.sent, again.refused) == (0, 0, None)
