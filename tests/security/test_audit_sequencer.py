"""The audit chain without a head-row lock on the hot path: deferred appends and the sequencer
(security/audit_sequencer.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from realname.config import Settings
from realname.db import migrate
from realname.db.uow import UnitOfWork
from realname.security.audit import (
    CHAINS,
    DEFERRED_AUDIT,
    AuditDeferral,
    append_audit,
    chain_for,
    verify_audit_chains,
)
from realname.security.audit_keys import AuditKeys
from realname.security.audit_sequencer import (
    BackgroundSequencer,
    has_pending,
    sequence_all,
    sequence_audit,
)
from realname.security.models import AuditChainHead, AuditLog
from realname.security.repository import AuditRepository
from realname.security.vault import KeyRing, generate_key
from realname.wiring import Process, audit_sequencing
from tests.conftest import _engine_for, _postgres_database

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())


def _uow(engine: Engine, deferred: bool) -> UnitOfWork:
    info = {DEFERRED_AUDIT: AuditDeferral()} if deferred else {}
    return UnitOfWork(sessionmaker(bind=engine, expire_on_commit=False, info=info))


@pytest.fixture
def deferred(fresh_engine: Engine) -> UnitOfWork:
    return _uow(fresh_engine, deferred=True)


@pytest.fixture
def inline(fresh_engine: Engine) -> UnitOfWork:
    return _uow(fresh_engine, deferred=False)


def _append(session: Session, keyring: KeyRing, object_id: str, n: int = 0) -> AuditLog:
    return append_audit(
        session,
        keyring,
        actor="clerk:1",
        action="line.activated",
        object_type="line",
        object_id=object_id,
        at=AT + timedelta(microseconds=n),
        detail={"n": n, "state": "active"},
    )


def _scan(uow: UnitOfWork, keyring: KeyRing, now: datetime | None = None) -> object:
    with uow.transaction(readonly=True) as session:
        return verify_audit_chains(session, keyring.audit, now=now)


def _counts(uow: UnitOfWork) -> tuple[int, int]:
    """(sequenced, pending) entries."""
    with uow.transaction(readonly=True) as session:
        sequenced = session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.position.is_not(None))
        )
        pending = session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.position.is_(None))
        )
    return int(sequenced or 0), int(pending or 0)


def _assert_contiguous(uow: UnitOfWork, total: int) -> None:
    """Every chain runs 1..n with no gap or twin, its head at its last entry, and every entry
    is chained exactly once."""
    with uow.transaction(readonly=True) as session:
        rows = session.execute(select(AuditLog.chain, AuditLog.position, AuditLog.id)).all()
        heads = {h.chain: h.position for h in session.scalars(select(AuditChainHead))}
    assert all(position is not None for _c, position, _i in rows)
    assert len(rows) == total and len({i for _c, _p, i in rows}) == total
    by_chain: dict[int, list[int]] = {}
    for chain, position, _id in rows:
        by_chain.setdefault(chain, []).append(position)
    for chain, positions in by_chain.items():
        assert sorted(positions) == list(range(1, len(positions) + 1)), chain
        assert heads[chain] == len(positions)


def test_a_deferred_entry_is_pending_until_the_sequencer_chains_it(
    deferred: UnitOfWork, keyring: KeyRing
) -> None:
    with deferred.transaction() as session:
        entries = [_append(session, keyring, f"line-{i % 5}", i) for i in range(40)]
        assert all(e.position is None and e.hash is None for e in entries)
        assert all(e.content_mac is not None for e in entries)
        # nothing but the INSERT: no head row was even created
        assert session.scalar(select(func.count()).select_from(AuditChainHead)) == 0
    assert _counts(deferred) == (0, 40)
    scan = _scan(deferred, keyring)
    assert scan.problems == [] and scan.pending == 40  # type: ignore[attr-defined]
    with deferred.transaction() as session:
        done = sequence_audit(session, keyring.audit, limit=25)
    assert (done.chained, done.full) == (25, True)
    assert sequence_all(deferred, keyring.audit, limit=25).chained == 15
    assert sequence_all(deferred, keyring.audit).chained == 0  # idempotent
    scan = _scan(deferred, keyring)
    assert scan.problems == [] and scan.pending == 0 and scan.checked == 40  # type: ignore[attr-defined]
    _assert_contiguous(deferred, 40)
    with deferred.transaction(readonly=True) as session:
        chain = chain_for("line", "line-0")
        ns = session.scalars(
            select(AuditLog.detail).where(AuditLog.chain == chain).order_by(AuditLog.position)
        ).all()
    assert [d["n"] for d in ns] == sorted(d["n"] for d in ns)  # chained oldest first


def test_inline_and_deferred_entries_share_a_chain(fresh_engine: Engine, keyring: KeyRing) -> None:
    inline, deferred = _uow(fresh_engine, False), _uow(fresh_engine, True)
    for n in range(6):
        with (inline if n % 2 else deferred).transaction() as session:
            _append(session, keyring, "same-line", n)
        if n == 3:
            sequence_all(deferred, keyring.audit)
    sequence_all(deferred, keyring.audit)
    assert _scan(inline, keyring).problems == []  # type: ignore[attr-defined]
    _assert_contiguous(inline, 6)


def test_the_sequencer_refuses_an_altered_pending_entry_and_check_reports_it(
    deferred: UnitOfWork, keyring: KeyRing
) -> None:
    with deferred.transaction() as session:
        entries = [_append(session, keyring, f"line-{i}", i) for i in range(3)]
        session.flush()
        ids = [e.id for e in entries]
    with deferred.transaction() as session:
        session.execute(update(AuditLog).where(AuditLog.id == ids[1]).values(actor="clerk:999"))
    scan = _scan(deferred, keyring)
    assert [(p.entry, p.what) for p in scan.problems] == [(ids[1], "content altered")]  # type: ignore[attr-defined]
    done = sequence_all(deferred, keyring.audit)
    assert done.chained == 2 and done.refused == [ids[1]]
    assert sequence_all(deferred, keyring.audit).chained == 0  # refused stays out for good
    scan = _scan(deferred, keyring)
    assert [(p.entry, p.what) for p in scan.problems] == [  # type: ignore[attr-defined]
        (ids[1], "refused by the sequencer: content altered")
    ]
    assert scan.refused == [ids[1]]  # type: ignore[attr-defined]


def test_a_pending_entry_held_out_of_the_chain_is_reported(
    deferred: UnitOfWork, keyring: KeyRing
) -> None:
    with deferred.transaction() as session:
        entry = _append(session, keyring, "line-1")
        session.flush()
        entry_id = entry.id
    with deferred.transaction() as session:
        session.execute(update(AuditLog).where(AuditLog.id == entry_id).values(refused=True))
    scan = _scan(deferred, keyring)
    assert [p.what for p in scan.problems] == [  # type: ignore[attr-defined]
        "refused by the sequencer: held out of the chain"
    ]


def test_a_replayed_copy_of_an_entry_is_refused_by_the_database(
    deferred: UnitOfWork, keyring: KeyRing
) -> None:
    """The content MAC covers a random nonce and is unique: a copy cannot be inserted to be
    chained (the sequencer would otherwise chain anything whose MAC verifies)."""
    with deferred.transaction() as session:
        entry = _append(session, keyring, "line-1")
    columns = [c for c in AuditLog.__table__.columns if c.name != "id"]
    with deferred.transaction() as session:
        row = session.execute(select(*columns).where(AuditLog.id == entry.id)).one()
    copy = AuditLog.__table__.insert().values(**row._mapping)
    with pytest.raises(IntegrityError), deferred.transaction() as session:
        session.execute(copy)


def test_an_entry_pending_too_long_is_reported(deferred: UnitOfWork, keyring: KeyRing) -> None:
    with deferred.transaction() as session:
        _append(session, keyring, "line-1")
    assert _scan(deferred, keyring, now=AT + timedelta(seconds=30)).problems == []  # type: ignore[attr-defined]
    late = _scan(deferred, keyring, now=AT + timedelta(minutes=5))
    assert ["audit sequencer" in p.what for p in late.problems] == [True]  # type: ignore[attr-defined]


def test_a_sequencer_killed_mid_batch_leaves_every_entry_pending(
    deferred: UnitOfWork, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    with deferred.transaction() as session:
        for i in range(30):
            _append(session, keyring, f"line-{i % 7}", i)
    sequence_all(deferred, keyring.audit, limit=10, rounds=1)  # a first batch, committed

    def killed(self: AuditRepository, heads: object) -> None:
        raise RuntimeError("killed after the entries were linked, before the heads moved")

    with monkeypatch.context() as patch:
        patch.setattr(AuditRepository, "move_heads", killed)
        with pytest.raises(RuntimeError, match="killed"):
            sequence_all(deferred, keyring.audit, limit=10)
    assert _counts(deferred) == (10, 20)
    assert _scan(deferred, keyring).problems == []  # type: ignore[attr-defined]
    assert sequence_all(deferred, keyring.audit, limit=10).chained == 20
    _assert_contiguous(deferred, 30)
    assert _scan(deferred, keyring).problems == []  # type: ignore[attr-defined]


def test_the_process_chooses_its_mode_and_chains_before_it_exits(
    fresh_engine: Engine, keyring: KeyRing, tmp_path: object
) -> None:
    url = fresh_engine.url.render_as_string(hide_password=False)
    auto = Settings(database_url=url)
    expected = "deferred" if fresh_engine.dialect.name == "postgresql" else "inline"
    assert audit_sequencing(auto, fresh_engine) == expected
    assert audit_sequencing(Settings(database_url=url, audit_sequencing="inline"), fresh_engine)
    settings = Settings(database_url=url, audit_sequencing="deferred")
    process = Process(settings)
    process.__dict__["keyring"] = keyring
    with process.uow.transaction() as session:
        assert _append(session, keyring, "line-1").position is None
    process.close()
    assert _counts(_uow(fresh_engine, False)) == (1, 0)


def test_a_process_that_could_not_chain_its_last_entries_says_so(
    fresh_engine: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`close` logs a failed last pass and leaves the entries pending; it now also answers
    False, so `serve`'s sequencer process exits 1 and its supervisor chains them itself (it
    exited 0, and the supervisor took that for a clean stop)."""
    url = fresh_engine.url.render_as_string(hide_password=False)
    process = Process(Settings(database_url=url, audit_sequencing="deferred"))
    process.__dict__["keyring"] = keyring
    with process.uow.transaction() as session:
        _append(session, keyring, "line-1")

    def unreachable() -> None:
        raise OSError("the database went away")

    monkeypatch.setattr(process, "sequence_audit", unreachable)
    assert process.close() is False
    assert _counts(_uow(fresh_engine, False)) == (0, 1)  # pending, intact
    healthy = Process(Settings(database_url=url, audit_sequencing="deferred"))
    healthy.__dict__["keyring"] = keyring
    assert healthy.close() is True


def test_the_background_sequencer_chains_within_milliseconds(
    fresh_engine: Engine, keyring: KeyRing
) -> None:
    url = fresh_engine.url.render_as_string(hide_password=False)
    process = Process(Settings(database_url=url, audit_sequencing="deferred"))
    process.__dict__["keyring"] = keyring
    sequencer = process.start_audit_sequencer()
    assert sequencer is not None
    try:
        with process.uow.transaction() as session:
            _append(session, keyring, "line-1")
        for _ in range(500):
            if not has_pending(process.uow):
                break
            threading.Event().wait(0.01)
        assert sequencer.chained == 1
    finally:
        process.close()
    assert _scan(_uow(fresh_engine, False), keyring).problems == []  # type: ignore[attr-defined]


# --- PostgreSQL: concurrency ----------------------------------------------------------------


@pytest.fixture
def pg() -> Iterator[Engine]:
    """A migrated PostgreSQL database of this test's own (row locks, concurrent writers)."""
    for url in _postgres_database():
        engine = _engine_for(url)
        migrate.upgrade(engine)
        yield engine
        engine.dispose()


@pytest.mark.postgres
def test_concurrent_appenders_and_two_sequencers_never_fork_a_chain(
    pg: Engine, keyring: KeyRing
) -> None:
    """Eight appenders (one hot chain and all the others) while two background sequencers
    run, as two API workers would; then every entry is chained exactly once."""
    deferred = _uow(pg, True)
    deferral = AuditDeferral()
    sequencers = [
        BackgroundSequencer(deferred, lambda: keyring.audit, deferral, interval=0.002, limit=7)
        for _ in range(2)
    ]
    threads, per_thread = 8, 40
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def appender(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with deferred.transaction() as session:
                    _append(session, keyring, "hot" if i % 2 else f"line-{t}-{i}", i)
                deferral.appended.set()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    for s in sequencers:
        s.start()
    workers = [threading.Thread(target=appender, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for s in sequencers:
        s.stop()
    assert errors == []
    assert sum(s.failures for s in sequencers) == 0
    sequence_all(deferred, keyring.audit)
    total = threads * per_thread
    _assert_contiguous(deferred, total)
    assert _scan(deferred, keyring).problems == []  # type: ignore[attr-defined]
    assert sequencers[0].chained + sequencers[1].chained <= total


@pytest.mark.postgres
def test_two_sequencers_at_once_split_the_work_without_forking(
    pg: Engine, keyring: KeyRing
) -> None:
    deferred = _uow(pg, True)
    with deferred.transaction() as session:
        for i in range(600):
            _append(session, keyring, f"line-{i % (CHAINS * 3)}", i)
    start = threading.Barrier(2)
    done: list[int] = []

    def run() -> None:
        start.wait()
        done.append(sequence_all(deferred, keyring.audit, limit=20).chained)

    workers = [threading.Thread(target=run) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(done) == 600
    _assert_contiguous(deferred, 600)
    assert _scan(deferred, keyring).problems == []  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_skip_locked_leaves_a_claimed_batch_to_its_sequencer(pg: Engine, keyring: KeyRing) -> None:
    """While one sequencer holds its batch (uncommitted), a second claims only other entries."""
    deferred = _uow(pg, True)
    with deferred.transaction() as session:
        for i in range(10):
            _append(session, keyring, "line-1", i)
    with deferred.transaction() as first:
        mine = {r.id for r in AuditRepository(first).claim_pending(4)}
        with deferred.transaction() as second:
            theirs = {r.id for r in AuditRepository(second).claim_pending(100)}
    assert len(mine) == 4 and len(theirs) == 6 and not mine & theirs


def _lock_timeout(session: Session) -> None:
    session.execute(text("SET LOCAL lock_timeout = '500ms'"))


@pytest.mark.postgres
def _append_waiting_at_most_500ms(uow: UnitOfWork, keyring: KeyRing) -> None:
    with uow.transaction() as session:
        _lock_timeout(session)
        _append(session, keyring, "line-1", 4)
        session.flush()


def test_a_deferred_append_takes_no_lock_on_the_head_row(pg: Engine, keyring: KeyRing) -> None:
    """Two transactions append to the same chain: in deferred mode the second commits while
    the first is still open (and while the head row is locked); inline, it waits."""
    deferred, inline = _uow(pg, True), _uow(pg, False)
    with inline.transaction() as session:
        _append(session, keyring, "line-1")  # the chain's head row exists
    with deferred.transaction() as first:
        _append(first, keyring, "line-1", 1)
        first.flush()
        first.execute(select(AuditChainHead).with_for_update())  # and the heads locked too
        with deferred.transaction() as second:
            _lock_timeout(second)
            _append(second, keyring, "line-1", 2)
        # committed while `first` is open
    with inline.transaction() as first:
        _append(first, keyring, "line-1", 3)
        first.flush()
        with pytest.raises(OperationalError, match="lock timeout"):
            _append_waiting_at_most_500ms(inline, keyring)
    sequence_all(deferred, keyring.audit)
    _assert_contiguous(deferred, 4)
    assert _scan(deferred, keyring).problems == []  # type: ignore[attr-defined]


def test_a_checkpoint_covers_sequenced_entries_only_and_still_holds_after_sequencing(
    deferred: UnitOfWork, keyring: KeyRing
) -> None:
    from realname.security.checkpoint import compare, current_checkpoint

    with deferred.transaction() as session:
        for i in range(12):
            _append(session, keyring, f"line-{i % 3}", i)
    sequence_all(deferred, keyring.audit, limit=5, rounds=1)
    with deferred.transaction() as session:
        for i in range(4):
            _append(session, keyring, f"line-{i % 3}", 100 + i)
    with deferred.transaction(readonly=True) as session:
        checkpoint = current_checkpoint(session, AT, {})
    assert checkpoint.size == 5
    sequence_all(deferred, keyring.audit)
    with deferred.transaction(readonly=True) as session:
        positions = {(c, n) for c, (n, _h) in checkpoint.chains.items()}
        scan = verify_audit_chains(session, keyring.audit, positions)
    assert scan.problems == [] and scan.checked == 16
    assert compare(checkpoint, scan) == []


def test_an_entry_under_a_key_the_sequencer_lacks_waits_for_one_that_holds_it(
    deferred: UnitOfWork, keyring: KeyRing
) -> None:
    """A key rotation reaches the workers one at a time: a sequencer that does not hold the
    new key yet leaves its entries pending (never refuses them)."""
    old = keyring.audit
    rotated = AuditKeys({**old.mac_keys, "a2": b"\x02" * 32}, "a2", dict(old.signing_keys), "c1")
    newer = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=rotated)
    with deferred.transaction() as session:
        _append(session, keyring, "line-1", 1)
        _append(session, newer, "line-1", 2)
    done = sequence_all(deferred, old)
    assert (done.chained, len(done.skipped), done.refused) == (1, 1, [])
    assert sequence_all(deferred, rotated).chained == 1
    assert _scan(deferred, newer).problems == []  # type: ignore[attr-defined]


def test_a_pending_entry_s_fields_are_the_columns_every_writer_inserts() -> None:
    """The registration's one write statement and the sequencer name the entry's columns
    through `ENTRY_CONTENT_COLUMNS`; an entry field added without it would not be written. The
    async batch's insert is spelled from them (one fixed text, prepared once)."""
    from realname.security.audit import PendingEntry
    from realname.security.repository import (
        _INSERT_PENDING_ASYNC,
        ENTRY_CONTENT_COLUMNS,
        PENDING_COLUMNS,
    )

    assert tuple(PendingEntry.__dataclass_fields__) == ENTRY_CONTENT_COLUMNS
    assert ("id", *ENTRY_CONTENT_COLUMNS) == PENDING_COLUMNS
    named = ", ".join(ENTRY_CONTENT_COLUMNS)
    spelled = " ".join(_INSERT_PENDING_ASYNC.split())
    assert f"INSERT INTO audit_log ({named}, refused) SELECT " in spelled
    assert spelled.endswith(" WITH ORDINALITY AS v ORDER BY v.ordinality")
    # The JSON payload's record type names every column, in that order, and nothing else.
    record = spelled.split("json_to_recordset(CAST(%s AS json)) AS (")[1].split("))")[0]
    assert tuple(field.split()[0] for field in record.split(", ")) == ENTRY_CONTENT_COLUMNS
    assert spelled.count("%s") == 1
