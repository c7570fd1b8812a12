"""The back-fill campaign on both engines: the ladder by date, reminders once per phase,
registration leaving the campaign at once, refunds, progress, and runners side by side."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from realname.backfill.errors import BackfillError
from realname.backfill.models import LegacyImport, PrepaidRefund
from realname.config import Settings
from realname.db.uow import UnitOfWork
from realname.jobs import run_backfill
from realname.messaging.models import OutboxMessage
from realname.policy.schema import ChannelKind, Policy
from realname.registry.check import run_integrity_check
from realname.registry.commands import Actor, Context
from realname.registry.models import Line, LineEvent
from realname.security.vault import KeyRing
from realname.wiring import Services, services
from tests.registry.conftest import NOW, World, build_world, china, keyring  # noqa: F401

START = NOW.date()


def add_legacy(world: World, count: int, *, balance: int = 1250, day: int = 0) -> list[Line]:
    """Legacy lines as `realname import legacy` leaves them: the import is their first event."""
    imported = NOW + timedelta(days=day)
    batch = LegacyImport(
        enterprise_id=world.enterprise_id,
        source_name="test.csv",
        source_sha256="0" * 64,
        actor="test",
        started_at=imported,
        finished_at=imported,
        rows_read=count,
        rows_loaded=count,
        rows_present=0,
        rows_rejected=0,
    )
    world.session.add(batch)
    world.session.flush()
    lines = []
    for i in range(count):
        world.next_number += 1
        line = Line(
            msisdn=f"+86138001{world.next_number:05d}",
            enterprise_id=world.enterprise_id,
            state="legacy",
            activated_at=NOW - timedelta(days=3000),
            state_changed_at=imported,
            event_count=0,
            home_region="110105" if i % 2 else "310101",
            prepaid_balance_minor=balance if i % 3 else 0,
            legacy_import_id=batch.id,
        )
        world.session.add(line)
        lines.append(line)
    world.session.flush()
    return lines


def svc(world: World, policy: Policy, keyring: KeyRing) -> Services:  # noqa: F811
    return services(world.session, Settings(), keyring, policy)


def at_day(day: int) -> Context:
    return Context(Actor("system", "backfill"), NOW + timedelta(days=day, hours=1))


def sweep_all(s: Services, campaign_id: int, ctx: Context) -> None:
    while not s.campaigns.sweep(ctx, campaign_id, batch_size=4).done:
        pass


def outbox(session: Session) -> list[tuple[int | None, str]]:
    rows = session.execute(select(OutboxMessage.line_id, OutboxMessage.kind))
    return sorted((line, kind) for line, kind in rows)


@pytest.fixture
def world(db_session: Session, keyring: KeyRing, china: Policy) -> World:  # noqa: F811
    return build_world(db_session, keyring, china)


def test_the_ladder_by_date(world: World, keyring: KeyRing, china: Policy) -> None:  # noqa: F811
    lines = add_legacy(world, 10)
    s = svc(world, china, keyring)
    campaign = s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    assert campaign.legacy_at_start == 10

    sweep_all(s, campaign.id, at_day(0))
    assert {line.state for line in lines} == {"legacy"}
    assert len(outbox(world.session)) == 10
    sweep_all(s, campaign.id, at_day(0))  # again the same day: nothing more
    sweep_all(s, campaign.id, at_day(30))
    assert len(outbox(world.session)) == 10

    sweep_all(s, campaign.id, at_day(60))
    assert {(line.state, line.barring_reason) for line in lines} == {("restricted", "backfill")}
    assert len(outbox(world.session)) == 20

    # A barred legacy line registered at any channel leaves the campaign at once.
    registered = lines[0].msisdn
    world.register(world.people[0], registered, ChannelKind.SOCIAL)
    assert (lines[0].state, lines[0].barring_reason) == ("active", None)
    assert lines[0].activated_at == NOW - timedelta(days=3000)

    sweep_all(s, campaign.id, at_day(90))
    assert lines[0].state == "active"
    assert {line.state for line in lines[1:]} == {"suspended"}

    sweep_all(s, campaign.id, at_day(120))
    assert lines[0].state == "active"
    assert {line.state for line in lines[1:]} == {"cooling"}
    assert all(line.iccid is None and line.cooling_until for line in lines[1:])
    refunds = world.session.scalars(select(PrepaidRefund)).all()
    assert sorted(r.line_id for r in refunds) == sorted(
        line.id for line in lines[1:] if line.prepaid_balance_minor
    )
    assert {r.amount_minor for r in refunds} == {1250}
    kinds = [kind for line, kind in outbox(world.session) if line == lines[1].id]
    assert kinds == sorted(
        ["backfill.remind", "backfill.bar_outgoing", "backfill.bar_both", "backfill.terminate"]
    )
    assert [kind for line, kind in outbox(world.session) if line == lines[0].id] == sorted(
        ["backfill.remind", "backfill.bar_outgoing", "otp.backfill"]  # its holder's code
    )
    report = run_integrity_check(world.session, china, keyring)
    assert report.ok, [r.violations for r in report.results]


def test_a_late_runner_jumps_lines_to_the_phase_their_date_calls_for(
    world: World,
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    lines = add_legacy(world, 3)
    s = svc(world, china, keyring)
    campaign = s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    sweep_all(s, campaign.id, at_day(0))  # reminded, then the runner is down for months
    sweep_all(s, campaign.id, at_day(95))
    assert {line.state for line in lines} == {"suspended"}
    operations = world.session.scalars(
        select(LineEvent.operation).where(LineEvent.line_id == lines[0].id)
    ).all()
    assert operations == ["backfill_suspend"]
    assert run_integrity_check(world.session, china, keyring).ok


def test_a_line_never_reminded_is_reminded_first_whatever_the_day(
    world: World,
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    """A runner whose first run comes after the deadline reminds; it does not bar."""
    lines = add_legacy(world, 3)
    s = svc(world, china, keyring)
    campaign = s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    sweep_all(s, campaign.id, at_day(95))
    assert {line.state for line in lines} == {"legacy"}
    assert {kind for _, kind in outbox(world.session)} == {"backfill.remind"}
    sweep_all(s, campaign.id, at_day(154))
    assert {line.state for line in lines} == {"legacy"}
    sweep_all(s, campaign.id, at_day(155))
    assert {line.state for line in lines} == {"restricted"}


def test_lines_imported_into_a_running_campaign_get_their_own_notice(
    world: World,
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    first = add_legacy(world, 2)
    s = svc(world, china, keyring)
    campaign = s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    sweep_all(s, campaign.id, at_day(0))
    sweep_all(s, campaign.id, at_day(61))
    later = add_legacy(world, 2, day=61)
    sweep_all(s, campaign.id, at_day(62))
    assert {line.state for line in first} == {"restricted"}
    assert {line.state for line in later} == {"legacy"}  # reminded today, not barred
    sweep_all(s, campaign.id, at_day(121))
    assert {line.state for line in later} == {"legacy"}
    sweep_all(s, campaign.id, at_day(122))
    assert {line.state for line in later} == {"restricted"}
    schedule = s.campaigns.schedule(world.enterprise_id)
    assert (schedule.lines_told, schedule.lines_on_later_dates) == (4, 2)


def test_progress_by_region_and_channel_with_projection(
    world: World,
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    lines = add_legacy(world, 8)
    s = svc(world, china, keyring)
    s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    for person, line in zip(world.people[:2], lines[:2], strict=True):
        world.register(person, line.msisdn, ChannelKind.OWN_HALL)
    progress = s.campaigns.progress(world.enterprise_id, NOW + timedelta(days=1))
    assert (progress.overall.total, progress.overall.registered) == (8, 2)
    assert progress.overall.unregistered == 6
    assert {r.group: r.total for r in progress.by_region} == {"110105": 4, "310101": 4}
    own_hall = next(r for r in progress.by_channel if r.group == "C-own_hall")
    assert own_hall.registered == 2
    assert progress.rate_per_day == 2.0
    assert progress.projected_completion == (NOW + timedelta(days=4)).date()
    assert progress.on_track


def test_campaign_refusals(world: World, keyring: KeyRing, china: Policy) -> None:  # noqa: F811
    s = svc(world, china, keyring)
    s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    with pytest.raises(BackfillError) as exists:
        s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    assert exists.value.code == "CAMPAIGN_EXISTS"
    with pytest.raises(BackfillError) as early:
        s.campaigns.create_campaign(
            world.ctx("admin"),
            world.other_enterprise_id,
            starts_on=START,
            deadline=START - timedelta(days=1),
        )
    assert early.value.code == "DEADLINE_BEFORE_START"
    # Started so long ago that lines would be barred before any reminder: refused.
    with pytest.raises(BackfillError) as backdated:
        s.campaigns.create_campaign(
            world.ctx("admin"), world.other_enterprise_id, starts_on=START - timedelta(days=60)
        )
    assert backdated.value.code == "START_TOO_EARLY"
    with pytest.raises(BackfillError) as far:
        s.campaigns.create_campaign(
            world.ctx("admin"), world.other_enterprise_id, starts_on=date(9999, 12, 1)
        )
    assert far.value.code == "DATE_OUT_OF_RANGE"
    with pytest.raises(BackfillError) as missing:
        s.campaigns.progress(world.other_enterprise_id, NOW)
    assert missing.value.code == "CAMPAIGN_NOT_FOUND"


def test_concurrent_runners_act_once_per_line(
    fresh_engine: Engine,
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    factory = sessionmaker(bind=fresh_engine, expire_on_commit=False)
    with factory() as session, session.begin():
        world = build_world(session, keyring, china)
        add_legacy(world, 60)
        s = services(session, Settings(), keyring, china)
        s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    settings = Settings()
    with factory() as session, session.begin():
        s = services(session, settings, keyring, china)
        campaign_id = s.campaigns.campaign(world.enterprise_id).id
        sweep_all(s, campaign_id, at_day(0))

    def build(session: Session) -> Services:
        return services(session, settings, keyring, china)

    errors: list[BaseException] = []

    def runner() -> None:
        try:
            run_backfill(UnitOfWork(factory), build, NOW + timedelta(days=61), batch_size=7)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=runner) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    with factory() as session:
        restricts = session.execute(
            select(LineEvent.line_id, func.count())
            .where(LineEvent.operation == "backfill_restrict")
            .group_by(LineEvent.line_id)
        ).all()
        assert len(restricts) == 60 and {n for _, n in restricts} == {1}
        kinds = session.execute(
            select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)
        ).all()
        assert dict(kinds) == {"backfill.remind": 60, "backfill.bar_outgoing": 60}
        assert run_integrity_check(session, china, keyring).ok
    # And once more, later the same day: nothing changes.
    report = run_backfill(
        UnitOfWork(factory), build, NOW + timedelta(days=61, hours=5), batch_size=7
    )
    assert report.campaigns[0].moves == {} and report.campaigns[0].reminders == 0
