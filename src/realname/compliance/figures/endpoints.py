"""The compliance figures under /v1/regulator/figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from realname.compliance.figures.errors import FiguresError, FiguresErrorCode
from realname.compliance.figures.periods import Period, last_months, parse_period
from realname.compliance.figures.schemas import (
    EnterpriseFiguresOut,
    FiguresOut,
    GroupFiguresOut,
)
from realname.compliance.figures.service import (
    Figures,
    FiguresService,
    checked_province,
)
from realname.compliance.inspections.access import FiguresReader, confined_to
from realname.compliance.inspections.places import province_name
from realname.compliance.reads import audit_figure_read
from realname.http.deps import RuntimeDep
from realname.http.errors import refusals
from realname.http.principals import context_of

router = APIRouter(
    prefix="/v1/regulator",
    tags=["compliance"],
    responses=refusals(
        {
            400: "A province that cannot be read",
            422: "A period that cannot be read (REALNAME.PERIOD_INVALID)",
        }
    ),
)


def period_of(text: str | None, today: Period) -> Period:
    if text is None:
        return today
    try:
        return parse_period(text)
    except ValueError:
        raise FiguresError(FiguresErrorCode.PERIOD_INVALID) from None


def figures_out(figures: Figures) -> FiguresOut:
    return FiguresOut(
        period=figures.period.label,
        province=figures.province,
        province_name=province_name(figures.province) if figures.province else None,
        enterprises=[EnterpriseFiguresOut(**e.as_json()) for e in figures.enterprises],
        by_enterprise_kind=[GroupFiguresOut(**g.as_json()) for g in figures.by_enterprise_kind],
        by_province=[GroupFiguresOut(**g.as_json()) for g in figures.by_province],
        by_channel_kind=[GroupFiguresOut(**g.as_json()) for g in figures.by_channel_kind],
        by_month=[GroupFiguresOut(**g.as_json()) for g in figures.by_month],
        cap_breaches=figures.cap_breaches,
        complaints_source=figures.complaints_source,
    )


@router.get("/figures", response_model=FiguresOut, summary="Compliance figures")
def figures(
    request: Request,
    rt: RuntimeDep,
    who: FiguresReader,
    period: Annotated[
        str | None,
        Query(max_length=20, description="2016-07 or 2016-07..2016-12 (default: 12 months)"),
    ] = None,
    province: Annotated[
        str | None, Query(max_length=2, description="GB/T 2260 province, e.g. 44")
    ] = None,
) -> FiguresOut:
    """Per enterprise, MNOs and MVNOs side by side: lines and the real-name rate, back-fill
    progress, refused registrations by reason, cap breaches (must be zero), re-verifications
    asked, answered and suspended, the inspections' violation rate with its Wilson 95 %
    interval and complaints per 10,000 lines; then the same by enterprise kind, province,
    channel kind and month. A provincial administration sees its province only. Each read is
    audited (who, the figure, its scope and period)."""
    today = rt.clock.now().date()
    chosen = period_of(period, last_months(today))
    where = checked_province(province, confined_to(who))
    with rt.transaction() as session:
        found = FiguresService(session, rt.policy).figures(chosen, where, today)
        ctx = context_of(who, request)
        audit_figure_read(session, rt.keyring, ctx, "compliance", where, period=chosen.label)
        return figures_out(found)
