"""The daily job's housekeeping (realname/jobs.py run_backfill)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from realname.config import Settings
from realname.db.uow import UnitOfWork
from realname.jobs import run_backfill
from realname.national.lookup.models import NationalLookupLock
from realname.policy.schema import Policy
from realname.security.vault import KeyRing
from realname.wiring import Services, services
from tests.registry.conftest import NOW, china, keyring  # noqa: F401


def test_the_daily_job_purges_old_lookup_rows(
    fresh_engine: Engine,
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    factory = sessionmaker(bind=fresh_engine, expire_on_commit=False)
    with factory() as session, session.begin():
        session.add(NationalLookupLock(key=b"o" * 32, kind="source", touched_at=NOW))
        session.add(
            NationalLookupLock(key=b"n" * 32, kind="source", touched_at=NOW + timedelta(days=2))
        )

    def build(session: Session) -> Services:
        return services(session, Settings(), keyring, china)

    report = run_backfill(UnitOfWork(factory), build, NOW + timedelta(days=2, hours=1))
    assert report.lookup_rows_purged == 1
    with factory() as session:
        assert session.scalars(select(NationalLookupLock.key)).all() == [b"n" * 32]
