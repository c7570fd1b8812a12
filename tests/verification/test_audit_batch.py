"""The audit writer of the relying parties' calls: an entry is committed before `append`
returns; a batch that fails fails every call in it; concurrent calls share batches."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from realname.db.uow import UnitOfWork
from realname.security.audit import AuditKeys
from realname.security.models import AuditLog
from realname.security.vault import KeyRing, generate_key
from realname.verification.audit_batch import AuditBatcher

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
