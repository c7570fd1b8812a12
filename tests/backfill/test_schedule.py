"""The back-fill schedule the rules set, on both engines: a three-year campaign, every line's
notice before its first bar (however late it was loaded or the runner ran), every date in an
SMS the date the job acts on, milestones, and amendments that never act earlier than told."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from realname.backfill.errors import BackfillError
from realname.backfill.models import BackfillAmendment, BackfillCampaign, BackfillMilestone
from realname.backfill.phases import STEP_WORDS
from realname.config import Settings
from realname.db.uow import UnitOfWork
from realname.jobs import run_backfill
from realname.messaging.models import OutboxMessage
from realname.policy.schema import BackfillPhase as P
from realname.policy.schema import ChannelKind, Policy
from realname.registry.check import run_integrity_check
from realname.registry.commands import Actor, Context
from realname.registry.models import Line, LineEvent
from realname.security.models import AuditLog
from realname.security.vault import KeyRing
from realname.wiring import Services, services
from tests.backfill.test_campaign import add_legacy, at_day, svc, sweep_all, world  # noqa: F401
from tests.registry.conftest import NOW, World, build_world, china, keyring  # noqa: F401

START = NOW.date()
NOTICE = 60  # china: reminder on day 0, outgoing bar on day 60
EVENT_PHASE = {
    "backfill_restrict": P.BAR_OUTGOING,
    "backfill_suspend": P.BAR_BOTH,
    "backfill_terminate": P.TERMINATE,
}
WORDS = {word: phase for phase, word in STEP_WORDS["zh"].items()}


def announced(body: str) -> dict[P, date]:
    """The dates an SMS gives for each later step, read the way a subscriber reads them."""
    dates = {
        WORDS[what]: date.fromisoformat(day)
        for day, what in re.findall(r"(\d{4}-\d{2}-\d{2})起(限制呼出|停机|销号)", body)
    }
    deadline = re.search(r"请于(\d{4}-\d{2}-\d{2})前", body)
    if deadline:
        first_bar = min(dates.values())
        assert date.fromisoformat(deadline.group(1)) == first_bar, body
    return dates


@dataclass
class Told:
    first_reminded: date | None
    dates: dict[P, date]  # the last date each step was announced with


def messages(session: Session, line_id: int) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.line_id == line_id)
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
    )


def events(session: Session, line_id: int) -> list[tuple[P, date]]:
    rows = session.execute(
        select(LineEvent.operation, LineEvent.occurred_at)
        .where(LineEvent.line_id == line_id, LineEvent.operation.in_(EVENT_PHASE))
        .order_by(LineEvent.seq)
    )
    return [(EVENT_PHASE[op], at.date()) for op, at in rows]


def assert_told_then_acted(session: Session, line: Line, *, exact: bool) -> None:
    """The invariant: no bar without a reminder at least the notice before it, and no step
    earlier than the date last announced for it before it happened (with a daily runner:
    exactly on it)."""
    sent = messages(session, line.id)
    for phase, day in events(session, line.id):
        before = [m for m in sent if m.created_at.date() <= day]
        reminders = [m for m in before if m.kind in ("backfill.remind", "backfill.amend")]
        assert reminders, f"line {line.id} {phase} on {day} with no reminder"
        first = reminders[0].created_at.date()
        assert (day - first).days >= NOTICE, (line.id, phase, day, first)
        told = {}
        for message in [m for m in before if m.created_at.date() < day]:
            told.update(announced(message.body))
        assert phase in told, (line.id, phase, day)
        assert day >= told[phase], (line.id, phase, day, told[phase])
        if exact:
            assert day == told[phase], (line.id, phase, day, told[phase])


def test_a_three_year_campaign_the_issue_describes(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    """`--starts-on 2026-11-30 --deadline 2029-11-30`: no termination in 2027; reminders at
    the start and the notice before the deadline; bars on the deadline; every SMS true."""
    lines = add_legacy(world, 4)
    s = svc(world, china, keyring)
    deadline = START + timedelta(days=3 * 365 + 1)
    campaign = s.campaigns.create_campaign(
        world.ctx("admin"),
        world.enterprise_id,
        starts_on=START,
        deadline=deadline,
        milestones=[(START + timedelta(days=365), 30), (deadline, 100)],
    )
    schedule = s.campaigns.schedule(world.enterprise_id)
    assert schedule.phase_dates == {
        P.REMIND: START,
        P.BAR_OUTGOING: deadline,
        P.BAR_BOTH: deadline + timedelta(days=30),
        P.TERMINATE: deadline + timedelta(days=60),
    }
    assert schedule.final_notice_on == deadline - timedelta(days=NOTICE)
    assert [(m.due_on, m.percent) for m in schedule.milestones] == [
        (START + timedelta(days=365), 30),
        (deadline, 100),
    ]
    day = (deadline - START).days
    for run in (0, 120, 365, day - NOTICE - 1):
        sweep_all(s, campaign.id, at_day(run))
    assert {line.state for line in lines} == {"legacy"}
    assert [m.kind for m in messages(world.session, lines[0].id)] == ["backfill.remind"]
    sweep_all(s, campaign.id, at_day(day - NOTICE))
    assert [m.kind for m in messages(world.session, lines[0].id)] == [
        "backfill.remind",
        "backfill.remind_final",
    ]
    world.register(world.people[0], lines[0].msisdn, ChannelKind.OWN_HALL)
    for run in range(day - 1, day + 61):
        sweep_all(s, campaign.id, at_day(run))
    assert lines[0].state == "active"
    assert {line.state for line in lines[1:]} == {"cooling"}
    for line in lines:
        assert_told_then_acted(world.session, line, exact=True)
    assert events(world.session, lines[1].id) == [
        (P.BAR_OUTGOING, deadline),
        (P.BAR_BOTH, deadline + timedelta(days=30)),
        (P.TERMINATE, deadline + timedelta(days=60)),
    ]
    report = run_integrity_check(world.session, china, keyring)
    assert report.ok, [r.violations for r in report.results]


# campaign start (days from NOW), deadline (days from its start), import days, run days
CASES = [
    (0, 60, [0, 1, 30, 59, 60, 61, 100], range(200)),  # the shortest campaign, daily
    (0, 90, [0, 45, 89, 130], range(260)),  # a longer one, daily
    (5, 60, [0, 3, 20], range(160)),  # started in the future; loaded before it
    (0, 60, [0, 30, 61], range(0, 240, 7)),  # a weekly runner: late, never early
    (0, 60, [0, 10], [0, 95, 96, 200]),  # a runner down for months
    (0, 60, [50], [70, 71, 129, 130, 131, 400]),  # first run after the deadline
]


@pytest.mark.parametrize(("start", "length", "imports", "runs"), CASES)
def test_no_line_is_barred_without_its_notice_and_every_sms_date_is_kept(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
    start: int,
    length: int,
    imports: list[int],
    runs: range | list[int],
) -> None:
    s = svc(world, china, keyring)
    starts_on = START + timedelta(days=start)
    campaign = s.campaigns.create_campaign(
        world.ctx("admin"),
        world.enterprise_id,
        starts_on=starts_on,
        deadline=starts_on + timedelta(days=length),
    )
    lines: list[Line] = []
    pending = sorted(imports)
    for run in runs:
        while pending and pending[0] <= run:
            lines += add_legacy(world, 2, day=pending.pop(0))
        sweep_all(s, campaign.id, at_day(run))
    daily = isinstance(runs, range) and runs.step == 1
    assert any(events(world.session, line.id) for line in lines), "nothing was ever barred"
    for line in lines:
        assert_told_then_acted(world.session, line, exact=daily)
    assert run_integrity_check(world.session, china, keyring).ok


def test_an_extension_tells_every_told_line_its_new_dates_and_keeps_them(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    early = add_legacy(world, 2)
    s = svc(world, china, keyring)
    campaign = s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    sweep_all(s, campaign.id, at_day(0))
    sweep_all(s, campaign.id, at_day(60))
    assert {line.state for line in early} == {"restricted"}
    late = add_legacy(world, 2, day=30)
    sweep_all(s, campaign.id, at_day(30))  # reminded on day 30: barred on day 90
    audits = world.session.scalar(select(func.count()).select_from(AuditLog))
    # Day 61: the regulator extends the deadline by 100 days.
    s.campaigns.amend(
        world.ctx("admin", NOW + timedelta(days=61)),
        world.enterprise_id,
        reason="regulator notice: extension",
        deadline=START + timedelta(days=160),
    )
    assert world.session.scalar(select(func.count()).select_from(AuditLog)) == audits + 1
    entry = world.session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert entry is not None and entry.action == "backfill.campaign.amend"
    assert entry.actor == "admin:1" and entry.detail["deadline_after"] == str(
        START + timedelta(days=160)
    )
    for run in range(61, 260):
        sweep_all(s, campaign.id, at_day(run))
    kinds = [m.kind for m in messages(world.session, early[0].id)]
    assert kinds[:3] == ["backfill.remind", "backfill.bar_outgoing", "backfill.amend"]
    # Already barred on day 60 as told; the later steps follow the new deadline.
    assert events(world.session, early[0].id) == [
        (P.BAR_OUTGOING, START + timedelta(days=60)),
        (P.BAR_BOTH, START + timedelta(days=190)),
        (P.TERMINATE, START + timedelta(days=220)),
    ]
    assert events(world.session, late[0].id)[0] == (P.BAR_OUTGOING, START + timedelta(days=160))
    for line in early + late:
        assert_told_then_acted(world.session, line, exact=True)
    amendments = world.session.scalars(select(BackfillAmendment)).all()
    assert [(a.version, a.deadline_after, a.reason) for a in amendments] == [
        (1, START + timedelta(days=160), "regulator notice: extension")
    ]
    assert run_integrity_check(world.session, china, keyring).ok


def test_an_amendment_acting_earlier_than_told_is_refused_and_leaves_nothing(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    add_legacy(world, 2)
    s = svc(world, china, keyring)
    deadline = START + timedelta(days=200)
    campaign = s.campaigns.create_campaign(
        world.ctx("admin"), world.enterprise_id, starts_on=START, deadline=deadline
    )
    sweep_all(s, campaign.id, at_day(0))
    world.session.flush()

    def state() -> tuple[object, ...]:
        return (
            campaign.deadline,
            campaign.version,
            world.session.scalar(select(func.count()).select_from(BackfillAmendment)),
            world.session.scalar(select(func.count()).select_from(BackfillMilestone)),
            world.session.scalar(select(func.count()).select_from(AuditLog)),
        )

    before = state()
    refusals = [
        ({"deadline": deadline - timedelta(days=1), "reason": "sooner"}, "EARLIER_THAN_TOLD"),
        ({"deadline": START + timedelta(days=59), "reason": "x"}, "DEADLINE_TOO_SOON"),
        ({"reason": "nothing"}, "NOTHING_TO_AMEND"),
        ({"deadline": deadline + timedelta(days=9), "reason": "  "}, "REASON_REQUIRED"),
        (
            {"milestones": [(START + timedelta(days=100), 50), (deadline, 40)], "reason": "x"},
            "MILESTONES_INVALID",
        ),
        ({"milestones": [(deadline + timedelta(days=1), 50)], "reason": "x"}, "MILESTONES_INVALID"),
        ({"milestones": [(START + timedelta(days=9), 101)], "reason": "x"}, "MILESTONES_INVALID"),
    ]
    for changes, code in refusals:
        with pytest.raises(BackfillError) as refused:
            s.campaigns.amend(world.ctx("admin"), world.enterprise_id, **changes)  # type: ignore[arg-type]
        assert refused.value.code == code, changes
        world.session.flush()
        assert state() == before, changes
    with pytest.raises(BackfillError) as missing:
        s.campaigns.amend(
            world.ctx("admin"), world.other_enterprise_id, reason="x", deadline=deadline
        )
    assert missing.value.code == "CAMPAIGN_NOT_FOUND"


def test_before_anyone_is_told_a_deadline_may_still_come_sooner(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    add_legacy(world, 2)
    s = svc(world, china, keyring)
    starts_on = START + timedelta(days=30)
    s.campaigns.create_campaign(
        world.ctx("admin"),
        world.enterprise_id,
        starts_on=starts_on,
        deadline=starts_on + timedelta(days=365),
    )
    amended = s.campaigns.amend(
        world.ctx("admin"),
        world.enterprise_id,
        reason="shorter, nobody told yet",
        deadline=starts_on + timedelta(days=90),
        milestones=[(starts_on + timedelta(days=45), 50), (starts_on + timedelta(days=90), 100)],
    )
    assert amended.deadline == starts_on + timedelta(days=90)
    row = world.session.get(BackfillCampaign, amended.id)
    assert row is not None and row.phase_dates["terminate"] == str(starts_on + timedelta(days=150))


def test_milestones_are_checked_when_a_campaign_starts(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    s = svc(world, china, keyring)
    deadline = START + timedelta(days=365)
    for milestones in (
        [(START + timedelta(days=100), 60), (START + timedelta(days=200), 30)],
        [(START, 10)],
        [(START + timedelta(days=100), 0)],
        [(START + timedelta(days=100), 10), (START + timedelta(days=100), 20)],
    ):
        with pytest.raises(BackfillError) as refused:
            s.campaigns.create_campaign(
                world.ctx("admin"),
                world.enterprise_id,
                starts_on=START,
                deadline=deadline,
                milestones=milestones,
            )
        assert refused.value.code == "MILESTONES_INVALID"
    assert world.session.scalar(select(func.count()).select_from(BackfillCampaign)) == 0
    with pytest.raises(BackfillError) as soon:
        s.campaigns.create_campaign(
            world.ctx("admin"),
            world.enterprise_id,
            starts_on=START,
            deadline=START + timedelta(days=59),
        )
    assert soon.value.code == "DEADLINE_TOO_SOON"


def test_progress_shows_each_milestone_against_the_pace(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    lines = add_legacy(world, 10)
    s = svc(world, china, keyring)
    s.campaigns.create_campaign(
        world.ctx("admin"),
        world.enterprise_id,
        starts_on=START,
        deadline=START + timedelta(days=365),
        milestones=[(START + timedelta(days=3), 30), (START + timedelta(days=5), 90)],
    )
    for person, line in zip(world.people[:2], lines[:2], strict=True):
        world.register(person, line.msisdn, ChannelKind.OWN_HALL)
    progress = s.campaigns.progress(world.enterprise_id, NOW + timedelta(days=1))
    first, second = progress.milestones
    assert (first.target_lines, first.registered, first.projected, first.status) == (
        3,
        2,
        6,
        "on track",
    )
    assert (second.target_lines, second.projected, second.status, second.short_by) == (
        9,
        10,
        "on track",
        0,
    )
    later = s.campaigns.progress(world.enterprise_id, NOW + timedelta(days=10))
    assert [(m.status, m.registered, m.short_by) for m in later.milestones] == [
        ("missed", 2, 1),
        ("missed", 2, 7),
    ]


def test_an_amendment_reason_never_holds_pii_in_clear(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    s = svc(world, china, keyring)
    s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    s.campaigns.amend(
        world.ctx("admin"),
        world.enterprise_id,
        reason="complaint from 13800138000, ID 11010519491231002X",
        deadline=START + timedelta(days=90),
    )
    world.session.flush()
    amendment = world.session.scalars(select(BackfillAmendment)).one()
    assert "13800138000" not in amendment.reason
    assert "11010519491231002X" not in amendment.reason
    entry = world.session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert entry is not None and "13800138000" not in str(entry.detail)
    report = run_integrity_check(world.session, china, keyring)
    assert report.ok, [r.violations for r in report.results]


def test_lines_barred_before_each_line_kept_its_dates_follow_the_campaigns(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    """A campaign that ran before revision 0010 barred lines with no `backfill_line` row: they
    were reminded on its first day, so they keep the campaign's dates and are not re-reminded."""
    from realname.registry.lifecycle import Operation

    lines = add_legacy(world, 2)
    s = svc(world, china, keyring)
    campaign = s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    for line in lines:
        s.registry.apply_backfill_move(at_day(60), line, Operation.BACKFILL_RESTRICT)
    sweep_all(s, campaign.id, at_day(89))
    assert {line.state for line in lines} == {"restricted"}
    assert messages(world.session, lines[0].id) == []
    sweep_all(s, campaign.id, at_day(90))
    assert {line.state for line in lines} == {"suspended"}
    assert [m.kind for m in messages(world.session, lines[0].id)] == ["backfill.bar_both"]


def test_an_amendment_racing_the_runner_leaves_every_line_told_the_truth(
    fresh_engine: Engine,
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    """The amendment and the sweep queue on the campaign row: lines swept before it are told
    the new dates on the next run, lines after it at once; nobody is acted on by old dates."""
    factory = sessionmaker(bind=fresh_engine, expire_on_commit=False)
    with factory() as session, session.begin():
        world = build_world(session, keyring, china)
        add_legacy(world, 40)
        s = services(session, Settings(), keyring, china)
        campaign_id = s.campaigns.create_campaign(
            world.ctx("admin"), world.enterprise_id, starts_on=START
        ).id
        enterprise_id = world.enterprise_id

    def build(session: Session) -> Services:
        return services(session, Settings(), keyring, china)

    errors: list[BaseException] = []

    def runner() -> None:
        try:
            run_backfill(UnitOfWork(factory), build, NOW + timedelta(hours=1), batch_size=3)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def amender() -> None:
        try:
            with factory() as session, session.begin():
                build(session).campaigns.amend(
                    Context(Actor("enterprise_admin", "1"), NOW + timedelta(hours=1)),
                    enterprise_id,
                    reason="extension",
                    deadline=START + timedelta(days=75),
                )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=runner), threading.Thread(target=amender)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for day in range(1, 140):
        with factory() as session, session.begin():
            sweep_all(build(session), campaign_id, at_day(day))
    with factory() as session:
        lines = session.scalars(select(Line).where(Line.enterprise_id == enterprise_id)).all()
        legacy = [line for line in lines if line.legacy_import_id is not None]
        assert len(legacy) == 40
        for line in legacy:
            assert_told_then_acted(session, line, exact=True)
            assert events(session, line.id)[0] == (P.BAR_OUTGOING, START + timedelta(days=75))


def test_an_extension_on_the_deadline_day_before_the_run_spares_that_days_bar(
    world: World,  # noqa: F811
    keyring: KeyRing,  # noqa: F811
    china: Policy,  # noqa: F811
) -> None:
    lines = add_legacy(world, 2)
    s = svc(world, china, keyring)
    campaign = s.campaigns.create_campaign(world.ctx("admin"), world.enterprise_id, starts_on=START)
    sweep_all(s, campaign.id, at_day(0))
    s.campaigns.amend(
        world.ctx("admin", NOW + timedelta(days=60)),
        world.enterprise_id,
        reason="extension on the day",
        deadline=START + timedelta(days=90),
    )
    sweep_all(s, campaign.id, at_day(60))
    assert {line.state for line in lines} == {"legacy"}
    assert [m.kind for m in messages(world.session, lines[0].id)] == [
        "backfill.remind",
        "backfill.amend",
    ]
    for day in range(61, 91):
        sweep_all(s, campaign.id, at_day(day))
    assert {line.state for line in lines} == {"restricted"}
    for line in lines:
        assert_told_then_acted(world.session, line, exact=True)
