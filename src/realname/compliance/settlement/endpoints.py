"""The monthly channel-commission statement over HTTP: an enterprise's own under
/v1/settlement, any enterprise's for the national regulator under /v1/regulator/settlement.
Refused with 403 `REALNAME.SETTLEMENT_SUSPENDED` while a yellow III card suspends it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request, Security

from realname.compliance.enforcement.endpoints import OfficerReading
from realname.compliance.figures.endpoints import period_of
from realname.compliance.figures.periods import Period, last_months
from realname.compliance.reads import audit_figure_read
from realname.compliance.settlement.schemas import StatementLineOut, StatementOut
from realname.compliance.settlement.service import SettlementService
from realname.http.deps import Runtime, RuntimeDep
from realname.http.errors import refusals
from realname.http.principals import READ, EnterpriseStaff, Staff, context_of
from realname.registry.commands import Context
from realname.security.principals import Permission

OwnReader = Annotated[Staff, Security(EnterpriseStaff(Permission.OPERATE), scopes=[READ])]
PeriodQuery = Annotated[
    str | None,
    Query(max_length=20, description="2026-07 or 2026-07..2026-12 (default: 12 months)"),
]

router = APIRouter(
    prefix="/v1",
    tags=["settlement"],
    responses=refusals(
        {
            422: "A period that cannot be read (REALNAME.PERIOD_INVALID)",
            404: "No such enterprise",
            403: "REALNAME.SETTLEMENT_SUSPENDED: a yellow III card suspends settlement",
        }
    ),
)


def _statement(
    rt: Runtime, ctx: Context, enterprise_id: int, period: str | None, own: bool
) -> StatementOut:
    chosen: Period = period_of(period, last_months(rt.clock.now().date()))
    # A writing unit: the read is audited in the transaction that reads it.
    with rt.transaction() as session:
        service = rt.service(SettlementService, session)
        enterprise = service.enterprise(enterprise_id)
        lines = service.statement(enterprise, chosen)
        audit_figure_read(
            session,
            rt.keyring,
            ctx,
            "settlement",
            None,
            enterprise_id if own else None,
            enterprise=enterprise.code,
            period=chosen.label,
        )
        return StatementOut(
            enterprise=enterprise.code,
            period=chosen.label,
            lines=[StatementLineOut(**asdict(line)) for line in lines],
        )


@router.get("/settlement", response_model=StatementOut, summary="Your settlement statement")
def own_statement(rt: RuntimeDep, staff: OwnReader, period: PeriodQuery = None) -> StatementOut:
    """Your enterprise's lines registered and back-filled at each channel, month by month:
    what you owe your channels in commission. Refused while a yellow III card suspends
    settlement; lifting the card restores every month in full (withheld, not forfeited)."""
    return _statement(rt, staff.ctx, staff.enterprise_id, period, own=True)


@router.get(
    "/regulator/settlement",
    response_model=StatementOut,
    summary="An enterprise's settlement statement",
)
def regulator_statement(
    request: Request,
    rt: RuntimeDep,
    principal: OfficerReading,
    enterprise_id: Annotated[int, Query(ge=1, le=2**31 - 1, description="The enterprise")],
    period: PeriodQuery = None,
) -> StatementOut:
    """Any enterprise's statement, as the enterprise sees it; refused alike while its
    settlement is suspended. Each read is audited."""
    return _statement(rt, context_of(principal, request), enterprise_id, period, own=False)
