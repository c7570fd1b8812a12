"""The set-based sweep: one audit entry per batch naming its lines, every move with its
MAC'd event, and a batch killed before its commit done again by the next run, never twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from realname.backfill.sweep import id_ranges, parse_id_ranges
from realname.config import Settings
from realname.db.uow import UnitOfWork
from realname.jobs import run_backfill
from realname.messaging.models import OutboxMessage
from realname.policy.schema import Policy
from realname.registry.check import run_integrity_check
from realname.registry.models import LineEvent
from realname.security.models import AuditLog
from realname.security.vault import KeyRing
from realname.wiring import Services, services
from tests.backfill.test_campaign import START, add_legacy, at_day, svc, sweep_all, world  # noqa: F401
from tests.registry.conftest import NOW, World, build_world, china, keyring  # noqa: F401


def test_id_ranges_are_compact_and_exact() -> None:
    ids = [3, 4, 5, 6, 7, 9, 12, 13, 14, 15, 20]
    assert id_ranges(reversed(ids)) == "3:7,9,12:15,20"
    assert parse_id_ranges(id_ranges(ids)) == ids
    assert id_ranges([]) == "" and parse_id_ranges("") == []


def test_one_audit_entry_per_batch_names_its_lines(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    lines = add_legacy(world, 10)
    s = svc(world, china, keyring)
    campaign = s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    sweep_all(s, campaign.id, at_day(0))
    before = world.session.scalar(select(func.max(AuditLog.id)))
    sweep_all(s, campaign.id, at_day(60))  # batches of 4: 4 + 4 + 2 lines
    entries = world.session.scalars(
        select(AuditLog).where(AuditLog.id > before).order_by(AuditLog.id)
    ).all()
    assert [e.action for e in entries] == ["backfill.sweep"] * 3
    assert [e.detail["lines"] for e in entries] == ["4", "4", "2"]
    assert [e.detail["backfill_restrict"] for e in entries] == ["4", "4", "2"]
    named = [parse_id_ranges(e.detail["backfill_restrict_ids"]) for e in entries]
    assert [i for batch in named for i in batch] == sorted(line.id for line in lines)
    assert [parse_id_ranges(e.detail["line_ids"]) for e in entries] == named
    assert {e.object_type for e in entries} == {"backfill_campaign"}
    events = world.session.execute(
        select(LineEvent.line_id, LineEvent.seq, LineEvent.mac).where(
            LineEvent.operation == "backfill_restrict"
        )
    ).all()
    assert sorted(e.line_id for e in events) == sorted(line.id for line in lines)
    assert {e.seq for e in events} == {1} and all(e.mac for e in events)
    assert {(line.state, line.barring_reason) for line in lines} == {("restricted", "backfill")}
    report = run_integrity_check(world.session, china, keyring)
    assert report.ok, [r.violations for r in report.results]


def test_a_batch_killed_before_commit_is_done_again_never_twice(
    fresh_engine: Engine,
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    factory = sessionmaker(bind=fresh_engine, expire_on_commit=False)
    settings = Settings()
    with factory() as session, session.begin():
        world = build_world(session, keyring, china)
        add_legacy(world, 9)
        s = services(session, settings, keyring, china)
        campaign_id = s.campaigns.create_campaign(
            world.ctx("admin"), world.enterprise_id, starts_on=START
        ).id
        sweep_all(s, campaign_id, at_day(0))

    def build(session: object) -> Services:
        return services(session, settings, keyring, china)  # type: ignore[arg-type]

    day = at_day(61)
    with factory() as session, session.begin():  # the first batch commits
        assert sum(build(session).campaigns.sweep(day, campaign_id, 4).moves.values()) == 4
    session = factory()
    session.begin()  # the second is killed: its writes never commit
    assert sum(build(session).campaigns.sweep(day, campaign_id, 4).moves.values()) == 4
    session.rollback()
    session.close()
    report = run_backfill(UnitOfWork(factory), build, day.at + timedelta(hours=1), batch_size=4)
    assert report.campaigns[0].moves == {"backfill_restrict": 5}
    with factory() as session:
        restricts = session.execute(
            select(LineEvent.line_id, func.count())
            .where(LineEvent.operation == "backfill_restrict")
            .group_by(LineEvent.line_id)
        ).all()
        assert len(restricts) == 9 and {n for _, n in restricts} == {1}
        notices = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "backfill.bar_outgoing")
        )
        assert notices == 9
        assert run_integrity_check(session, china, keyring).ok
    assert NOW.date() == START
