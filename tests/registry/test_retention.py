"""The retention job: a registration record past the policy's retention after termination
loses its PII and blind indexes, the event skeleton stays, `check` stays clean, and only what
is due goes (on both engines)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import sessionmaker

from realname.authority.simulated import SimulatedAuthority
from realname.db.uow import UnitOfWork
from realname.policy.loader import load_policy
from realname.policy.schema import ChannelKind, Policy
from realname.registry.check import run_integrity_check
from realname.registry.commands import Actor, Context, Desk
from realname.registry.models import Identity, Line
from realname.registry.retention import purge_batch, run_retention
from realname.registry.service import RegistryService
from realname.security.audit_keys import AuditKeys
from realname.security.models import AuditLog
from realname.security.vault import KeyRing, generate_key
from tests.registry.conftest import NOW, World, build_world

RETENTION = timedelta(days=730)


def _ended(world: World, person_index: int = 0) -> tuple[str, int]:
    """A line registered at NOW and cancelled a day later; its owner's identity id."""
    number = world.register(world.people[person_index])
    owner = world.session.scalar(select(Line.owner_identity_id).where(Line.msisdn == number))
    assert owner is not None
    world.service.cancel(world.ctx(at=NOW + timedelta(days=1)), world.enterprise_id, number, "x")
    world.session.flush()
    return number, owner


def _report(world: World, policy: Policy) -> dict[str, list[str]]:
    world.session.expire_all()
    report = run_integrity_check(world.session, policy, world.service.keyring)
    return {r.name: r.violations for r in report.results if r.violations}


def test_a_record_is_purged_only_after_retention_and_check_stays_clean(
    world: World, china: Policy
) -> None:
    number, owner = _ended(world)
    ended = NOW + timedelta(days=1)
    keyring = world.service.keyring
    assert (
        purge_batch(world.session, keyring, china, ended + RETENTION - timedelta(seconds=1), 50)
        == []
    )
    assert world.session.get(Identity, owner).purged_at is None  # type: ignore[union-attr]

    at = ended + RETENTION + timedelta(seconds=1)
    assert purge_batch(world.session, keyring, china, at, 50) == [owner]
    world.session.expire_all()
    row = world.session.get(Identity, owner)
    assert row is not None and row.purged_at == at
    assert (row.number_sealed, row.name_sealed, row.address_sealed) == (None, None, None)
    assert (row.number_index, row.name_index, row.birth_date) == (None, None, None)
    assert row.doc_type == "resident_id"
    assert _report(world, china) == {}

    # the skeleton still answers "who held this number then", with the id and nothing more
    then = NOW + timedelta(hours=1)
    assert (
        world.service.identities.owner_at(number, then, enterprise_id=world.enterprise_id) == owner
    )
    line = world.service.line_by_number(world.enterprise_id, number)
    revealed = world.service.identities.reveal_owner(world.ctx(at=at), line, then, "fraud case")
    assert revealed is not None and revealed.purged and revealed.identity_id == owner
    assert revealed.document_number is None and revealed.name is None
    # and the document no longer finds it
    assert world.service.identities.identity_of(world.people[0]) is None

    # one audit entry names the batch; a re-run does nothing
    entries = world.session.scalars(
        select(AuditLog).where(AuditLog.action == "identity.purge")
    ).all()
    assert [e.detail["ids"] for e in entries] == [[owner]]
    assert purge_batch(world.session, keyring, china, at + timedelta(days=1), 50) == []
    assert len(world.session.scalars(
        select(AuditLog).where(AuditLog.action == "identity.purge")
    ).all()) == 1  # fmt: skip


def test_an_identity_still_holding_a_line_is_kept(world: World, china: Policy) -> None:
    _, owner = _ended(world, 1)
    kept = world.register(world.people[1])  # the same person holds another line
    later = NOW + RETENTION * 2
    assert purge_batch(world.session, world.service.keyring, china, later, 50) == []
    # a line that ended recently keeps the record its full retention
    world.service.cancel(world.ctx(at=later), world.enterprise_id, kept, "x")
    almost = later + RETENTION - timedelta(seconds=1)
    assert purge_batch(world.session, world.service.keyring, china, almost, 50) == []
    assert purge_batch(world.session, world.service.keyring, china, later + RETENTION, 50) == [
        owner
    ]


def test_a_person_registering_again_after_the_purge_gets_a_new_record(
    world: World, china: Policy
) -> None:
    _, owner = _ended(world, 2)
    at = NOW + RETENTION * 2
    assert purge_batch(world.session, world.service.keyring, china, at, 50) == [owner]
    number = world.register(world.people[2])
    again = world.session.scalar(select(Line.owner_identity_id).where(Line.msisdn == number))
    assert again is not None and again != owner
    assert _report(world, china) == {}


def test_check_flags_a_half_purged_row_and_a_purged_owner(world: World, china: Policy) -> None:
    _ended(world, 3)
    live = world.register(world.people[4])
    live_owner = world.session.scalar(select(Line.owner_identity_id).where(Line.msisdn == live))
    at = NOW + RETENTION * 2
    purge_batch(world.session, world.service.keyring, china, at, 50)
    world.session.flush()
    # a live record with its name removed, not marked purged
    world.session.execute(
        update(Identity).where(Identity.id == live_owner).values(name_sealed=None)
    )
    violations = _report(world, china)
    assert any("not marked purged" in v for v in violations["PII is sealed and opens"])
    world.session.rollback()


def test_check_flags_a_purged_identity_that_a_line_names(world: World, china: Policy) -> None:
    _, owner = _ended(world, 5)
    live = world.register(world.people[6])
    purge_batch(world.session, world.service.keyring, china, NOW + RETENTION * 2, 50)
    world.session.execute(update(Line).where(Line.msisdn == live).values(owner_identity_id=owner))
    violations = _report(world, china)
    assert any("is purged but line" in v for v in violations["PII is sealed and opens"])


def test_check_flags_a_purged_row_with_pii_left(world: World, china: Policy) -> None:
    _, owner = _ended(world, 7)
    purge_batch(world.session, world.service.keyring, china, NOW + RETENTION * 2, 50)
    world.session.execute(
        update(Identity).where(Identity.id == owner).values(name_index=b"\x01" * 32)
    )
    violations = _report(world, china)
    assert any("purged only in part" in v for v in violations["PII is sealed and opens"])
    assert any("MAC mismatch" in v for v in violations["identities carry their keyed MAC"])


def test_the_job_runs_in_batches_and_a_rerun_does_nothing(fresh_engine: Engine) -> None:
    keyring = KeyRing({"k1": generate_key()}, "k1", generate_key(), audit=AuditKeys.generate())
    china = load_policy("china")
    sessions = sessionmaker(bind=fresh_engine, expire_on_commit=False)
    with sessions() as session, session.begin():
        world = build_world(session, keyring, china)
        owners = [_ended(world, i)[1] for i in range(5)]
        world.register(world.people[5])  # held: never due
    at = NOW + timedelta(days=1) + RETENTION
    listed = run_retention(UnitOfWork(sessions), keyring, china, at, batch_size=2, dry_run=True)
    assert listed.purged == owners
    with sessions() as session:
        assert session.scalar(select(func.count()).where(Identity.purged_at.is_not(None))) == 0
    report = run_retention(UnitOfWork(sessions), keyring, china, at, batch_size=2)
    assert (report.purged, report.batches) == (owners, 3)
    assert run_retention(UnitOfWork(sessions), keyring, china, at, batch_size=2).purged == []
    with sessions() as session:
        batches = session.scalars(
            select(AuditLog.detail).where(AuditLog.action == "identity.purge")
        ).all()
        assert sorted(i for d in batches for i in d["ids"]) == owners and len(batches) == 3
        result = run_integrity_check(session, china, keyring)
        assert result.ok, {r.name: r.violations for r in result.results if r.violations}


def test_a_registration_racing_the_purge_gets_a_new_record(
    fresh_engine: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purge commits between a registration's look-up of the identity (its first read,
    with the counter and line) and its use of it, while the authority is asked: the
    registration re-reads the row under a lock and makes a new record, never a line held by
    a purged identity. (SQLite serialises writers from BEGIN, so only PostgreSQL can interleave.)"""
    if fresh_engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers: nothing can commit between the two steps")
    china = load_policy("china")
    sessions = sessionmaker(bind=fresh_engine, expire_on_commit=False)
    with sessions() as session, session.begin():
        world = build_world(session, keyring, china)
        _, old = _ended(world, 0)
        kit = world.stock(1)[0]
        ids = (world.enterprise_id, world.channels, world.clerks, world.people[0])
    enterprise_id, channels, clerks, person = ids
    at = NOW + timedelta(days=2) + RETENTION
    original = SimulatedAuthority.verify
    fired: list[int] = []

    def purge_then_verify(self: SimulatedAuthority, *args: Any) -> Any:
        if not fired:
            with sessions() as other, other.begin():
                fired.extend(purge_batch(other, keyring, china, at, 10))
        return original(self, *args)

    monkeypatch.setattr(SimulatedAuthority, "verify", purge_then_verify)
    with sessions() as session, session.begin():
        service = RegistryService(
            session, policy=china, keyring=keyring, authority=SimulatedAuthority(session, keyring)
        )
        line = service.register(
            Context(Actor("clerk", "1"), at),
            desk=Desk(enterprise_id, channels[ChannelKind.OWN_HALL], clerks[ChannelKind.OWN_HALL]),
            msisdn=kit,
            person=person,
        )
        assert line.owner_identity_id not in (None, old)
    assert fired == [old]
    with sessions() as session:
        report = run_integrity_check(session, china, keyring)
        assert report.ok, {r.name: r.violations for r in report.results if r.violations}
