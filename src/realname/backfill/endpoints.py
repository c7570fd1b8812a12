"""The back-fill API under /v1: start an enterprise's campaign and follow its progress."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from realname.backfill.schemas import (
    AmendmentIn,
    AmendmentOut,
    CampaignIn,
    CampaignOut,
    MilestoneIn,
    MilestoneOut,
    MilestoneStatusOut,
    ProgressRowOut,
    ScheduleOut,
)
from realname.backfill.service import (
    CampaignProgress,
    CampaignSchedule,
    CampaignService,
    ProgressRow,
)
from realname.http.deps import RuntimeDep
from realname.http.errors import ErrorInfo
from realname.http.principals import (
    EnterpriseOperator,
    EnterpriseQuery,
    LineReader,
    enterprise_to_read,
)

router = APIRouter(
    prefix="/v1/backfill",
    tags=["backfill"],
    responses={
        404: {"model": ErrorInfo, "description": "No campaign for this enterprise"},
        409: {
            "model": ErrorInfo,
            "description": "A campaign already exists, or an amendment would act earlier than "
            "subscribers were told",
        },
    },
)


def _row(row: ProgressRow) -> ProgressRowOut:
    return ProgressRowOut(
        group=row.group,
        total=row.total,
        registered=row.registered,
        terminated=row.terminated,
        unregistered=row.unregistered,
        barred_outgoing=row.barred_outgoing,
        barred_both=row.barred_both,
        share_registered=round(row.share_registered, 4),
    )


def campaign_out(progress: CampaignProgress) -> CampaignOut:
    return CampaignOut(
        enterprise_id=progress.enterprise_id,
        starts_on=progress.starts_on,
        deadline=progress.deadline,
        phase=str(progress.phase) if progress.phase else None,
        phase_dates={str(p): d for p, d in progress.phase_dates.items()},
        overall=_row(progress.overall),
        by_region=[_row(r) for r in progress.by_region],
        by_channel=[_row(r) for r in progress.by_channel],
        registrations_per_day=round(progress.rate_per_day, 2),
        projected_completion=progress.projected_completion,
        on_track=progress.on_track,
        refunds_due=progress.refunds_due,
        refunds_due_minor=progress.refunds_due_minor,
        milestones=[
            MilestoneStatusOut(
                due_on=m.milestone.due_on,
                percent=m.milestone.percent,
                target_lines=m.target_lines,
                registered=m.registered,
                projected=m.projected,
                status=m.status,
                short_by=m.short_by,
            )
            for m in progress.milestones
        ],
    )


def schedule_out(s: CampaignSchedule) -> ScheduleOut:
    return ScheduleOut(
        enterprise_id=s.enterprise_id,
        starts_on=s.starts_on,
        deadline=s.deadline,
        notice_days=s.notice_days,
        phase_dates={str(p): d for p, d in s.phase_dates.items()},
        final_notice_on=s.final_notice_on,
        milestones=[MilestoneOut(due_on=m.due_on, percent=m.percent) for m in s.milestones],
        amendments=[
            AmendmentOut(
                version=a.version,
                actor=a.actor,
                reason=a.reason,
                deadline_before=a.deadline_before,
                deadline_after=a.deadline_after,
                amended_at=a.amended_at,
            )
            for a in s.amendments
        ],
        lines_told=s.lines_told,
        lines_on_later_dates=s.lines_on_later_dates,
    )


def _targets(milestones: list[MilestoneIn]) -> list[tuple[date, int]]:
    return [(m.due_on, m.percent) for m in milestones]


@router.post("/campaigns", status_code=201, response_model=CampaignOut, summary="Start a campaign")
def start_campaign(body: CampaignIn, rt: RuntimeDep, staff: EnterpriseOperator) -> CampaignOut:
    """Start the enterprise's back-fill of its unregistered legacy lines. Reminders go out
    from `starts_on`; the first bar (outgoing calls, or termination if the policy has no bar)
    falls on `deadline`, and the later steps keep the policy's gaps after it. Every line gets
    its first reminder at least the policy's notice period before its first bar: a line
    reminded late (imported into a running campaign) gets later dates of its own."""
    enterprise_id, ctx = staff.enterprise_id, staff.ctx
    with rt.transaction() as session:
        campaigns = rt.service(CampaignService, session)
        campaigns.create_campaign(
            ctx,
            enterprise_id,
            starts_on=body.starts_on,
            deadline=body.deadline,
            milestones=_targets(body.milestones),
        )
        return campaign_out(campaigns.progress(enterprise_id, ctx.at))


@router.get("/progress", response_model=CampaignOut, summary="Back-fill progress")
def campaign_progress(
    rt: RuntimeDep, principal: LineReader, enterprise_id: EnterpriseQuery = None
) -> CampaignOut:
    """How much of the legacy base is registered, by region and channel, where the ladder
    stands, and the completion date at the current pace against the deadline."""
    enterprise = enterprise_to_read(principal, enterprise_id)
    with rt.transaction() as session:
        progress = rt.service(CampaignService, session).progress(enterprise, rt.clock.now())
        return campaign_out(progress)


@router.post(
    "/campaigns/amendments",
    response_model=ScheduleOut,
    summary="Amend or extend the campaign",
)
def amend_campaign(body: AmendmentIn, rt: RuntimeDep, staff: EnterpriseOperator) -> ScheduleOut:
    """Move the deadline or replace the milestones, with a reason kept in the audit log. A
    campaign never acts earlier than it told a subscriber: once lines have their dates, the
    deadline may only move later (409 `EARLIER_THAN_TOLD`). Lines already told get an SMS
    with their new dates on the next daily run; a step a line has been through keeps its date."""
    enterprise_id, ctx = staff.enterprise_id, staff.ctx
    with rt.transaction() as session:
        campaigns = rt.service(CampaignService, session)
        campaigns.amend(
            ctx,
            enterprise_id,
            reason=body.reason,
            deadline=body.deadline,
            milestones=None if body.milestones is None else _targets(body.milestones),
        )
        return schedule_out(campaigns.schedule(enterprise_id))


@router.get("/schedule", response_model=ScheduleOut, summary="The campaign's schedule")
def campaign_schedule(
    rt: RuntimeDep, principal: LineReader, enterprise_id: EnterpriseQuery = None
) -> ScheduleOut:
    """The date of each step of the ladder, the notice period, the milestones and the
    amendments, and how many lines were told dates of their own."""
    enterprise = enterprise_to_read(principal, enterprise_id)
    with rt.transaction() as session:
        return schedule_out(rt.service(CampaignService, session).schedule(enterprise))
