"""The compliance figures over a registry with known contents, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from realname.channels.models import RegistrationRefusal
from realname.compliance.figures.errors import FiguresError, FiguresErrorCode
from realname.compliance.figures.periods import parse_period
from realname.compliance.figures.render import compliance_text, inspections_text
from realname.compliance.figures.service import Figures, FiguresService, checked_province
from realname.compliance.inspections.outcomes import Outcome
from realname.compliance.inspections.rates import wilson
from realname.compliance.inspections.service import InspectionService, RoundSpec, VisitSpec
from realname.policy.schema import CapScope, ChannelKind, Policy
from realname.registry.commands import Desk, Kit
from realname.registry.models import Line
from realname.security.clients import ClientService
from realname.security.principals import Role
from realname.security.vault import KeyRing
from tests.compliance.conftest import inspector, national
from tests.registry.conftest import NOW, World

NOVEMBER = parse_period("2026-11")


def _mvno_line(sector: World, n: int, person_index: int) -> str:
    kit = Kit(f"+86170001{n:05d}", f"89860077{n:012d}", f"46077{n:010d}")
    sector.service.stock.stock_kits(
        sector.ctx(), sector.other_enterprise_id, sector.other_channel_id, [kit]
    )
    sector.service.register(
        sector.ctx(),
        desk=Desk(sector.other_enterprise_id, sector.other_channel_id, sector.other_clerk_id),
        msisdn=kit.msisdn,
        person=sector.people[person_index],
    )
    return kit.msisdn


@pytest.fixture
def populated(
    sector: World, inspections: InspectionService, db_session: Session, keyring: KeyRing
) -> World:
    """CMCC: three lines registered in Beijing, one re-verification asked and left to expire,
    one refusal, two unsold kits. MVNO1: two lines in Shanghai, one complaint, and a round
    that visited its Guangdong outlets (one violating of two)."""
    own = sector.register(sector.people[0])
    sector.register(sector.people[1], kind=ChannelKind.PARTNER_HALL)
    sector.register(sector.people[2])
    sector.stock(2)
    sector.service.request_reverification(sector.ctx(), sector.enterprise_id, own, "fraud_linked")
    sector.service.expire_reverification(sector.ctx(at=NOW + timedelta(days=2)), own)
    db_session.add(
        RegistrationRefusal(
            channel_id=sector.channels[ChannelKind.OWN_HALL],
            clerk_id=sector.clerks[ChannelKind.OWN_HALL],
            code="AUTHORITY_NAME_MISMATCH",
            occurred_at=NOW,
        )
    )
    first = _mvno_line(sector, 1, 3)
    _mvno_line(sector, 2, 4)
    sector.service.complain(sector.ctx(), sector.other_enterprise_id, first, "harassment")
    client, _ = ClientService(db_session, keyring).create(role=Role.REGULATOR_INSPECTOR, at=NOW)
    row = inspections.create_round(
        national(),
        RoundSpec(
            "MVNO-GD",
            "resale outlets",
            NOW.date() - timedelta(days=3),
            NOW.date(),
            7,
            enterprises=["MVNO1"],
            provinces=["44"],
            min_per_stratum=1,
            margin=0.3,
        ),
    )
    targets = inspections.plan(national(), row.id)
    inspections.assign(national(), row.id, client.client_id, None)
    for target, outcome in zip(
        targets, (Outcome.PRE_ACTIVATED_CARD, Outcome.COMPLIANT, Outcome.NOT_VISITED), strict=False
    ):
        inspections.record_visit(
            inspector(client.client_id, NOW), row.id, VisitSpec(target.id, NOW, "440106", outcome)
        )
    db_session.flush()
    return sector


def _figures(session: Session, china: Policy, province: str | None = None) -> Figures:
    return FiguresService(session, china).figures(NOVEMBER, province, NOW.date())


def test_figures_per_enterprise(populated: World, db_session: Session, china: Policy) -> None:
    figures = _figures(db_session, china)
    mno, mvno = figures.enterprises  # MNOs first
    assert (mno.enterprise, mno.kind, mvno.enterprise, mvno.kind) == (
        "CMCC",
        "mno",
        "MVNO1",
        "mvno",
    )
    assert (mno.lines, mno.registered, mno.real_name_rate) == (3, 3, 1.0)
    assert (
        mno.registrations,
        mno.reverify_asked,
        mno.reverify_answered,
        mno.reverify_suspended,
    ) == (3, 1, 0, 1)
    assert mno.refusals == {"AUTHORITY_NAME_MISMATCH": 1}
    assert (mno.inspection.n, mno.complaints, mno.complaints_per_10k) == (0, 0, 0.0)
    assert (mvno.lines, mvno.complaints, mvno.complaints_per_10k) == (2, 1, 5000.0)
    assert (mvno.inspection.hits, mvno.inspection.n) == (1, 2)  # `not_visited` is not counted
    assert mvno.inspection == wilson(1, 2)
    assert figures.cap_breaches == 0
    kinds = {g.group: g for g in figures.by_enterprise_kind}
    assert (kinds["mno"].lines, kinds["mvno"].lines) == (3, 2)
    provinces = {g.group: g.lines for g in figures.by_province}
    assert provinces == {"北京市": 3, "上海市": 2, "广东省": 0}  # Guangdong: outlets inspected
    assert [g.inspection.n for g in figures.by_province if g.group == "广东省"] == [2]
    # each province row carries its code, which the dashboard's map joins on (it re-parsed
    # the names back into codes)
    assert {g.group: g.code for g in figures.by_province} == {
        "北京市": "11",
        "上海市": "31",
        "广东省": "44",
    }
    assert all(g.code is None for g in figures.by_channel_kind)
    channel_kinds = {g.group: g for g in figures.by_channel_kind}
    assert channel_kinds["own_hall"].events["registrations"] == 4  # two CMCC, two MVNO1
    assert channel_kinds["own_hall"].refused == 1
    assert (channel_kinds["online"].inspection.n + channel_kinds["social"].inspection.n) == 2
    (month,) = figures.by_month
    assert (month.inspection.hits, month.inspection.n) == (1, 2)
    assert (month.group, month.events["registrations"], month.events["complaints"]) == (
        "2026-11",
        5,
        1,
    )
    # Flows belong to their period; the registry's stock does not move with it.
    earlier = FiguresService(db_session, china).figures(
        parse_period("2026-01..2026-10"), None, NOW.date()
    )
    assert earlier.enterprises[0].registrations == 0 and earlier.enterprises[0].lines == 3
    assert earlier.enterprises[1].inspection.n == 0


def test_a_province_reads_its_own_lines_and_outlets(
    populated: World, db_session: Session, china: Policy
) -> None:
    shanghai = _figures(db_session, china, "31")
    mno, mvno = shanghai.enterprises
    assert (mno.lines, mvno.lines, mvno.complaints) == (0, 2, 1)
    assert mvno.inspection.n == 0  # the round visited Guangdong
    guangdong = _figures(db_session, china, "44")
    assert guangdong.enterprises[1].inspection.n == 2 and guangdong.enterprises[1].lines == 0
    assert checked_province(None, "44") == "44"
    assert checked_province("44", "44") == "44"
    assert checked_province("31", None) == "31"
    with pytest.raises(FiguresError) as other:
        checked_province("31", "44")
    assert other.value.code is FiguresErrorCode.OUTSIDE_PROVINCE
    with pytest.raises(FiguresError) as unknown:
        checked_province("99", None)
    assert unknown.value.code is FiguresErrorCode.PROVINCE_INVALID


def test_a_cap_breach_shows(populated: World, db_session: Session, china: Policy) -> None:
    """The registry never lets one through; written behind its back, the figure shows it."""
    cap = china.cap(CapScope.ENTERPRISE)
    assert cap is not None
    owner = db_session.scalar(  # an owner of this world's enterprise (the database is shared)
        select(Line.owner_identity_id)
        .where(Line.owner_identity_id.is_not(None), Line.enterprise_id == populated.enterprise_id)
        .order_by(Line.id)
        .limit(1)
    )
    kits = populated.stock(cap)
    db_session.execute(
        update(Line).where(Line.msisdn.in_(kits)).values(state="active", owner_identity_id=owner)
    )
    figures = _figures(db_session, china)
    assert figures.enterprises[0].cap_breaches == 1 and figures.cap_breaches >= 1


def test_the_reports_render(
    populated: World, db_session: Session, china: Policy, inspections: InspectionService
) -> None:
    figures = _figures(db_session, china)
    import json

    rows = json.loads(compliance_text(figures, "json"))
    assert [r["enterprise"] for r in rows] == ["CMCC", "MVNO1"]
    required = {
        "enterprise",
        "kind",
        "lines",
        "real_name_rate",
        "inspected",
        "violations",
        "violation_rate",
        "violation_rate_low",
        "violation_rate_high",
        "complaints_per_10k",
    }
    assert all(required <= set(r) for r in rows)
    assert rows[1]["violation_rate_low"] == pytest.approx(wilson(1, 2).low)
    markdown = compliance_text(figures, "md")
    assert "北京市" in markdown and "上海市" in markdown and "MVNO" in markdown
    assert "50.0 %" in markdown  # MVNO1's violation rate
    csv_text = compliance_text(figures, "csv")
    assert csv_text.splitlines()[0].startswith("enterprise,name,kind,lines")
    assert len(csv_text.splitlines()) == 3
    report = inspections.report(national(), NOVEMBER.first, NOVEMBER.end)
    text = inspections_text(report, "md", NOVEMBER.label)
    assert "MVNO-GD" in text and "广东省" in text
    assert json.loads(inspections_text(report, "json", ""))[0]["by"] == "round"


def test_backfill_progress_against_the_campaigns_milestones(
    populated: World, db_session: Session, china: Policy
) -> None:
    from realname.backfill.models import BackfillCampaign, BackfillMilestone

    (legacy,) = populated.stock(1)
    db_session.execute(update(Line).where(Line.msisdn == legacy).values(state="legacy"))
    campaign = BackfillCampaign(
        enterprise_id=populated.enterprise_id,
        starts_on=NOW.date() - timedelta(days=60),
        deadline=NOW.date() + timedelta(days=30),
        phase_dates={},
        policy_code="china",
        created_by="test",
        created_at=NOW,
    )
    db_session.add(campaign)
    db_session.flush()
    db_session.add_all(
        [
            BackfillMilestone(
                campaign_id=campaign.id, due_on=NOW.date() - timedelta(days=1), percent=50
            ),
            BackfillMilestone(
                campaign_id=campaign.id, due_on=NOW.date() + timedelta(days=20), percent=90
            ),
        ]
    )
    db_session.flush()
    mno, mvno = _figures(db_session, china).enterprises
    assert (mno.backfill_base, mno.backfilled, mno.backfill_progress) == (1, 0, 0.0)
    assert mno.backfill_deadline == NOW.date() + timedelta(days=30)
    assert mno.backfill_milestones_missed == 1  # yesterday's 50 %; next month's not yet due
    assert (mvno.backfill_deadline, mvno.backfill_milestones_missed) == (None, 0)


def test_a_workbook_takes_an_instant_as_utc() -> None:
    """openpyxl refuses an aware datetime (TypeError): RealName keeps every instant aware."""
    from datetime import datetime, timedelta, timezone
    from io import BytesIO

    from openpyxl import load_workbook

    from realname.compliance.figures.render import xlsx_bytes

    at = datetime(2026, 11, 30, 18, 0, tzinfo=timezone(timedelta(hours=8)))
    data = xlsx_bytes(["enterprise", "at"], [{"enterprise": "CMCC", "at": at}], "complaints")
    (row,) = load_workbook(BytesIO(data)).active.iter_rows(min_row=2, values_only=True)
    assert row == ("CMCC", datetime(2026, 11, 30, 10, 0))
