"""The back-fill API under /v1: start an enterprise's campaign and follow its progress."""

from __future__ import annotations

from fastapi import APIRouter, Request

from realname.api.deps import PrincipalDep, RuntimeDep, require
from realname.api.errors import ErrorInfo
from realname.backfill.schemas import CampaignIn, CampaignOut, ProgressRowOut
from realname.backfill.service import CampaignProgress, ProgressRow
from realname.channels.endpoints import EnterpriseQuery, enterprise_to_read
from realname.registry.endpoints import WRITE, context_of, enterprise_of
from realname.security.principals import Permission

router = APIRouter(
    prefix="/v1/backfill",
    tags=["backfill"],
    responses={
        404: {"model": ErrorInfo, "description": "No campaign for this enterprise"},
        409: {"model": ErrorInfo, "description": "A campaign already exists"},
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
    )


@router.post("/campaigns", status_code=201, response_model=CampaignOut, summary="Start a campaign")
def start_campaign(
    body: CampaignIn, request: Request, rt: RuntimeDep, principal: PrincipalDep
) -> CampaignOut:
    """Start the enterprise's back-fill of its unregistered legacy lines: the policy's phases
    (remind, bar outgoing, bar both ways, terminate) dated from `starts_on`."""
    require(principal, Permission.OPERATE, WRITE)
    enterprise_id = enterprise_of(principal)
    ctx = context_of(principal, request)
    with rt.transaction() as session:
        campaigns = rt.services(session).campaigns
        campaigns.create_campaign(
            ctx, enterprise_id, starts_on=body.starts_on, deadline=body.deadline
        )
        return campaign_out(campaigns.progress(enterprise_id, ctx.at))


@router.get("/progress", response_model=CampaignOut, summary="Back-fill progress")
def campaign_progress(
    rt: RuntimeDep, principal: PrincipalDep, enterprise_id: EnterpriseQuery = None
) -> CampaignOut:
    """How much of the legacy base is registered, by region and channel, where the ladder
    stands, and the completion date at the current pace against the deadline."""
    enterprise = enterprise_to_read(principal, enterprise_id)
    with rt.transaction() as session:
        progress = rt.services(session).campaigns.progress(enterprise, rt.clock.now())
        return campaign_out(progress)
