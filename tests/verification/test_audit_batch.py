"""The audit writer of the relying parties' calls: an entry is committed before `append`
returns; a batch that fails fails every call in it; concurrent calls share batches."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from realname.config import Settings
from realname.db.engine import async_pool_from_settings
from realname.db.uow import UnitOfWork
from realname.security.audit import (
    DEFERRED_AUDIT,
    AuditDeferral,
    AuditKeys,
    verify_audit_chains,
)
from realname.security.audit_sequencer import sequence_all
from realname.security.models import AuditLog
from realname.security.vault import KeyRing, generate_key
from realname.verification.audit_batch import AsyncAuditBatcher, AuditBatcher

AT = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def entry(n: int) -> dict[str, Any]:
    return {
        "actor": "client:bank",
        "action": "verify.kyc-match",
        "object_type": "line",
        "object_id": str(n),
        "at": AT,
        "detail": {"msisdn": "+86139****0001", "outcome": "idDocumentMatch=true"},
    }


def count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditLog)) or 0)


@pytest.fixture
def writer(fresh_engine: Engine) -> AuditBatcher:
    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    uow = UnitOfWork(sessionmaker(bind=fresh_engine, expire_on_commit=False))
    return AuditBatcher(uow, keyring)


def test_an_entry_is_committed_before_append_returns(
    writer: AuditBatcher, fresh_engine: Engine
) -> None:
    before = count(fresh_engine)
    writer.append([entry(1)])
    assert count(fresh_engine) == before + 1  # seen from another connection: committed
    writer.close()


def test_concurrent_calls_share_batches_and_every_entry_is_written(
    writer: AuditBatcher, fresh_engine: Engine
) -> None:
    before = count(fresh_engine)
    errors: list[BaseException] = []

    def call(n: int) -> None:
        for k in range(10):
            try:
                writer.append([entry(n * 100 + k)])
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert not errors
    assert count(fresh_engine) == before + 80
    assert writer.batches <= 80


def test_a_failed_batch_fails_every_call_in_it(writer: AuditBatcher, fresh_engine: Engine) -> None:
    before = count(fresh_engine)
    broken = {**entry(1), "detail": {"unserialisable": object()}}
    with pytest.raises(TypeError):  # the detail does not serialise: the batch rolls back
        writer.append([entry(2), broken])
    assert count(fresh_engine) == before  # nothing of the batch was kept
    writer.append([entry(3)])  # the writer goes on
    assert count(fresh_engine) == before + 1
    writer.close()
    with pytest.raises(RuntimeError):
        writer.append([entry(4)])


def test_deferred_batches_are_one_insert_of_pending_entries_the_sequencer_chains(
    fresh_engine: Engine,
) -> None:
    """On a deferred process (PostgreSQL's default) the writer inserts its batch pending, with
    content MACs the sequencer verifies: chained, the trail checks clean."""
    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    deferral = AuditDeferral()
    uow = UnitOfWork(
        sessionmaker(bind=fresh_engine, expire_on_commit=False, info={DEFERRED_AUDIT: deferral})
    )
    writer = AuditBatcher(uow, keyring)
    before = count(fresh_engine)
    writer.append([entry(1), entry(2), entry(17)])
    writer.close()
    assert deferral.used and count(fresh_engine) == before + 3
    with Session(fresh_engine) as session:
        pending = session.scalars(select(AuditLog).where(AuditLog.position.is_(None))).all()
        assert len(pending) == 3
        assert {row.detail["outcome"] for row in pending} == {"idDocumentMatch=true"}
    assert sequence_all(uow, keyring.audit).chained == 3
    with Session(fresh_engine) as session:
        scan = verify_audit_chains(session, keyring.audit, now=AT)
    assert not scan.problems and scan.pending == 0 and scan.checked >= 3


def test_one_statement_batches_commit_without_a_transaction_and_chain_clean(
    fresh_engine: Engine,
) -> None:
    """The server's writer on PostgreSQL: each batch one INSERT in autocommit, committed
    before `append` returns (seen from another connection), chained clean by the sequencer."""
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only, as in the server (SQLite's engine begins its own BEGIN)")
    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    deferral = AuditDeferral()
    autocommit = fresh_engine.execution_options(isolation_level="AUTOCOMMIT")
    uow = UnitOfWork(sessionmaker(bind=fresh_engine, info={DEFERRED_AUDIT: deferral}))
    writer = AuditBatcher(
        uow,
        keyring,
        one_statement=sessionmaker(bind=autocommit, info={DEFERRED_AUDIT: deferral}),
    )
    before = count(fresh_engine)
    writer.append([entry(5), entry(6)])
    assert count(fresh_engine) == before + 2
    with pytest.raises(TypeError):  # a batch that cannot be written fails, and keeps nothing
        writer.append([entry(7), {**entry(8), "detail": {"unserialisable": object()}}])
    assert count(fresh_engine) == before + 2
    writer.close()
    assert sequence_all(uow, keyring.audit).chained == 2
    with Session(fresh_engine) as session:
        scan = verify_audit_chains(session, keyring.audit, now=AT)
    assert not scan.problems and scan.pending == 0


def test_an_entry_with_notes_is_refused_alone_before_it_joins_a_batch(
    writer: AuditBatcher, fresh_engine: Engine
) -> None:
    """Sealed notes need the vault in the batch's transaction: such an entry is refused at
    once, instead of failing a whole batch of other callers' entries."""
    before = count(fresh_engine)
    with pytest.raises(ValueError, match="no sealed notes"):
        writer.append([{**entry(9), "notes": {"reason": "free text"}}])
    writer.append([entry(10)])
    assert count(fresh_engine) == before + 1
    writer.close()


def test_the_async_batch_is_one_insert_the_sequencer_chains_clean(fresh_engine: Engine) -> None:
    """The async KYC Match route's writer (PostgreSQL): concurrent calls' entries, with
    Chinese, nested and missing values, go as one JSON payload read back as rows; stored as
    sent (the sequencer checks each content MAC before chaining), so the trail checks clean.
    A batch that cannot be written fails every call in it and keeps nothing."""
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: the async route runs on PostgreSQL")
    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    deferral = AuditDeferral()
    url = fresh_engine.url.render_as_string(hide_password=False)
    details = [
        {"outcome": "nameMatch=false", "score": 87, "attributes": ["name", "address"]},
        {"reason": "未授权", "nested": {"a": [1, 2.5, None, True]}, "empty": {}},
        {},
    ]

    async def scenario() -> tuple[int, type[BaseException] | None]:
        pool = async_pool_from_settings(Settings(database_url=url), min_size=1, max_size=2)
        await pool.open()
        try:
            writer = AsyncAuditBatcher(pool, keyring, deferral)
            calls = [
                writer.append([{**entry(20 + n), "detail": detail, "correlation_id": None}])
                for n, detail in enumerate(details)
            ]
            await asyncio.gather(*calls)
            failed = None
            try:
                await writer.append([entry(30), {**entry(31), "detail": {"x": object()}}])
            except TypeError as error:
                failed = type(error)
            return writer.batches, failed
        finally:
            await pool.close()

    before = count(fresh_engine)
    batches, failed = asyncio.run(scenario())
    assert batches >= 1 and failed is not None
    assert count(fresh_engine) == before + len(details)  # the failed batch kept nothing
    uow = UnitOfWork(sessionmaker(bind=fresh_engine))
    assert sequence_all(uow, keyring.audit).chained == len(details)
    with Session(fresh_engine) as session:
        stored = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()[-len(details) :]
        scan = verify_audit_chains(session, keyring.audit, now=AT)
    assert not scan.problems and scan.pending == 0
    assert sorted(map(str, (e.detail for e in stored))) == sorted(map(str, details))
    assert all(e.correlation_id is None and len(e.nonce or b"") == 16 for e in stored)
