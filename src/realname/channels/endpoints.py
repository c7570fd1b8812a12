"""The channels API under /v1: stock movements and ageing, where a kit is, channel risk and
suspension, complaints and the network's usage feed (both feed re-verification)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from realname.channels.schemas import (
    AgedKitOut,
    ChannelOut,
    ChannelRiskOut,
    ChannelStockOut,
    ComplaintIn,
    ComplaintOut,
    KitsMovedOut,
    ResumeIn,
    SignalOut,
    StockMoveIn,
    StockReturnIn,
    SuspendIn,
    UsageIn,
    UsageOut,
    WhereIn,
    WhereOut,
)
from realname.channels.service import ChannelService
from realname.http.deps import RuntimeDep
from realname.http.errors import refusals
from realname.http.idempotency import run_once
from realname.http.params import LineId
from realname.http.principals import (
    EnterpriseOperator,
    EnterpriseQuery,
    LineOperator,
    LineReader,
    context_of,
    enterprise_to_read,
)
from realname.registry.commands import TypedText
from realname.registry.endpoints import (
    event_out,
    visible_line,
)
from realname.registry.errors import RegistryError, RegistryErrorCode
from realname.registry.models import Channel
from realname.registry.reverification import ReverificationTriggers
from realname.registry.service import RegistryService

router = APIRouter(
    prefix="/v1",
    tags=["channels"],
    responses=refusals(
        {
            404: "No such channel or line for this caller",
            409: "Refused: state or conflict",
            422: "Refused by the rules (REALNAME.* code)",
        }
    ),
)
ChannelId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The channel's id")]


def channel_out(channel: Channel) -> ChannelOut:
    return ChannelOut(
        id=channel.id,
        code=channel.code,
        name=channel.name,
        kind=channel.kind,
        region_code=channel.region_code,
        parent_id=channel.parent_id,
        status=channel.status,
        status_reason=channel.status_reason,
    )


@router.get("/channels", response_model=list[ChannelOut], summary="List channels")
def list_channels(
    rt: RuntimeDep, principal: LineReader, enterprise_id: EnterpriseQuery = None
) -> list[ChannelOut]:
    """The enterprise's sales channels with their status and, if suspended, why."""
    enterprise = enterprise_to_read(principal, enterprise_id)
    with rt.transaction() as session:
        return [
            channel_out(c) for c in rt.service(ChannelService, session).repo.channels(enterprise)
        ]


# --- stock -----------------------------------------------------------------------------------


@router.post(
    "/channels/{channel_id}/stock-moves",
    status_code=201,
    response_model=KitsMovedOut,
    summary="Pass kits to a sub-channel or back to the parent",
)
def move_stock(
    channel_id: ChannelId,
    body: StockMoveIn,
    request: Request,
    rt: RuntimeDep,
    staff: EnterpriseOperator,
) -> JSONResponse:
    """Move unsold SIM kits from this channel down to one of its sub-channels, or back up to
    its parent. The whole batch moves or none of it; each kit's history records the move."""
    enterprise_id = staff.enterprise_id

    def work(session: Session) -> KitsMovedOut:
        lines = rt.service(RegistryService, session).stock.move_kits(
            staff.ctx,
            enterprise_id,
            channel_id,
            body.to_channel_id,
            body.msisdns,
        )
        return KitsMovedOut(moved=len(lines), line_ids=[line.id for line in lines])

    return run_once(request, rt, staff.principal, body, 201, work)


@router.post(
    "/channels/{channel_id}/stock-returns",
    status_code=201,
    response_model=KitsMovedOut,
    summary="Return kits to the enterprise pool or write them off",
)
def return_stock(
    channel_id: ChannelId,
    body: StockReturnIn,
    request: Request,
    rt: RuntimeDep,
    staff: EnterpriseOperator,
) -> JSONResponse:
    """Take unsold kits out of the channel: back to the pool, or written off (lost, damaged);
    the numbers return to the pool either way."""
    enterprise_id = staff.enterprise_id

    def work(session: Session) -> KitsMovedOut:
        lines = rt.service(RegistryService, session).stock.return_kits(
            staff.ctx,
            enterprise_id,
            channel_id,
            body.msisdns,
            write_off=body.write_off,
            reason=TypedText(body.reason),
        )
        return KitsMovedOut(moved=len(lines), line_ids=[line.id for line in lines])

    return run_once(request, rt, staff.principal, body, 201, work)


@router.get(
    "/stock/summary", response_model=list[ChannelStockOut], summary="Unsold stock per channel"
)
def stock_report(
    rt: RuntimeDep, principal: LineReader, enterprise_id: EnterpriseQuery = None
) -> list[ChannelStockOut]:
    """Every channel's unsold kits, with how many have waited over 30, 90 and 180 days."""
    enterprise = enterprise_to_read(principal, enterprise_id)
    with rt.transaction() as session:
        return [
            ChannelStockOut(
                channel=channel_out(s.channel),
                unsold=s.count,
                oldest_stocked_at=s.oldest,
                older_than_days=s.older_than,
            )
            for s in rt.service(ChannelService, session).stock(enterprise, rt.clock.now())
        ]


@router.get("/stock/aged", response_model=list[AgedKitOut], summary="Kits unsold too long")
def aged_stock(
    rt: RuntimeDep,
    principal: LineReader,
    days: Annotated[int | None, Query(ge=1, le=3650, description="Default: the policy's")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    enterprise_id: EnterpriseQuery = None,
) -> list[AgedKitOut]:
    """Kits that have sat unsold longer than `days`, oldest first: stock that went astray."""
    enterprise = enterprise_to_read(principal, enterprise_id)
    now = rt.clock.now()
    with rt.transaction() as session:
        return [
            AgedKitOut(
                line_id=line.id,
                msisdn=line.msisdn,
                iccid=line.iccid,
                channel_id=line.channel_id,
                stocked_at=line.stocked_at,
                days_unsold=(now - line.stocked_at).days if line.stocked_at else 0,
            )
            for line in rt.service(ChannelService, session).aged_kits(enterprise, now, days, limit)
        ]


@router.post("/stock/where", response_model=WhereOut, summary="Where is this kit now")
def where_is(body: WhereIn, rt: RuntimeDep, principal: LineReader) -> WhereOut:
    """Which channel holds the number now and how it got there (the number goes in the body,
    never the URL)."""
    enterprise = enterprise_to_read(principal, None)
    with rt.transaction() as session:
        found = rt.service(ChannelService, session).where_is(enterprise, body.msisdn)
        return WhereOut(
            line_id=found.line.id,
            state=found.line.state,
            channel=channel_out(found.channel) if found.channel else None,
            stocked_at=found.line.stocked_at,
            trail=[event_out(e) for e in found.trail],
        )


# --- risk and suspension ---------------------------------------------------------------------


@router.get("/channels/risk", response_model=list[ChannelRiskOut], summary="Riskiest channels")
def channel_risk(
    rt: RuntimeDep,
    principal: LineReader,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    enterprise_id: EnterpriseQuery = None,
) -> list[ChannelRiskOut]:
    """Channels with registrations in the policy's window, riskiest first, each signal with
    its value, threshold and evidence."""
    enterprise = enterprise_to_read(principal, enterprise_id)
    with rt.transaction() as session:
        assessed = rt.service(ChannelService, session).assess(enterprise, rt.clock.now())[:limit]
        return [
            ChannelRiskOut(
                channel=channel_out(a.channel),
                registrations=a.risk.registrations,
                score=a.risk.score,
                over_threshold=a.over_threshold,
                signals=[
                    SignalOut(
                        name=s.name,
                        value=s.value,
                        threshold=s.threshold,
                        tripped=s.tripped,
                        judged=s.judged,
                        evidence=list(s.evidence),
                    )
                    for s in a.risk.signals
                ],
            )
            for a in assessed
        ]


@router.post(
    "/channels/{channel_id}/suspend", response_model=ChannelOut, summary="Suspend a channel"
)
def suspend_channel(
    channel_id: ChannelId,
    body: SuspendIn,
    rt: RuntimeDep,
    staff: EnterpriseOperator,
) -> ChannelOut:
    """Stop the channel registering customers; its clerks are refused from now on. Without a
    reason, only a channel over the risk threshold, with the tripped signals as the reason."""
    enterprise_id = staff.enterprise_id
    with rt.transaction() as session:
        reason = TypedText(body.reason) if body.reason else None
        channel = rt.service(ChannelService, session).suspend(
            staff.ctx, enterprise_id, channel_id, reason
        )
        return channel_out(channel)


@router.post("/channels/{channel_id}/resume", response_model=ChannelOut, summary="Resume a channel")
def resume_channel(
    channel_id: ChannelId,
    body: ResumeIn,
    request: Request,
    rt: RuntimeDep,
    staff: EnterpriseOperator,
) -> ChannelOut:
    """Let a suspended channel register again, with the reason (rectification done)."""
    enterprise_id = staff.enterprise_id
    with rt.transaction() as session:
        channel = rt.service(ChannelService, session).resume(
            staff.ctx, enterprise_id, channel_id, TypedText(body.reason)
        )
        return channel_out(channel)


# --- complaints and usage: re-verification triggers ------------------------------------------


@router.post(
    "/lines/{line_id}/complaints",
    status_code=201,
    response_model=ComplaintOut,
    summary="Record a complaint about a line",
)
def complain(
    line_id: LineId, body: ComplaintIn, request: Request, rt: RuntimeDep, principal: LineOperator
) -> ComplaintOut:
    """A fraud report or a "this number is not mine" claim: kept in the line's history, where
    it counts against the channel that registered it; a fraud report also asks the owner to
    re-verify within the policy's deadline."""
    with rt.transaction() as session:
        line = visible_line(session, principal, line_id)
        if principal.enterprise_id != line.enterprise_id:  # a regulator reads, never complains
            raise RegistryError(RegistryErrorCode.LINE_NOT_FOUND)
        ctx = context_of(principal, request)
        rt.service(RegistryService, session).complain(
            ctx, line.enterprise_id, line.msisdn, body.kind, body.note
        )
        asked = rt.service(ReverificationTriggers, session).on_complaint(ctx, line, body.kind)
        return ComplaintOut(line_id=line.id, kind=body.kind, reverification_requested=asked)


@router.post("/usage", response_model=UsageOut, summary="Report the network's last use of lines")
def usage(body: UsageIn, rt: RuntimeDep, staff: EnterpriseOperator) -> UsageOut:
    """The network's usage feed (last traffic per number). A line silent for the policy's
    dormant period that is used again is asked to re-verify."""
    enterprise_id = staff.enterprise_id
    with rt.transaction() as session:
        result = rt.service(ReverificationTriggers, session).record_usage(
            staff.ctx,
            enterprise_id,
            [(u.msisdn, u.used_at) for u in body.uses],
        )
        return UsageOut(
            updated=result.updated,
            unknown=result.unknown,
            refused=result.refused,
            reverification_requested=result.triggered,
        )
