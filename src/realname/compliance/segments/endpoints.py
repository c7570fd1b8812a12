"""Planning segments under /v1/regulator/segments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from realname.compliance.figures.service import checked_province
from realname.compliance.inspections.access import FiguresReader, confined_to
from realname.compliance.reads import audit_figure_read
from realname.compliance.segments.schemas import SegmentRowOut, SegmentsOut
from realname.compliance.segments.service import DIMENSIONS, segments
from realname.http.deps import RuntimeDep
from realname.http.errors import refusals
from realname.http.principals import context_of

router = APIRouter(
    prefix="/v1/regulator",
    tags=["compliance"],
    responses=refusals({400: "A dimension, threshold or province that cannot be read"}),
)


@router.get("/segments", response_model=SegmentsOut, summary="Active lines by segment")
def get_segments(
    request: Request,
    rt: RuntimeDep,
    who: FiguresReader,
    by: Annotated[
        str, Query(max_length=60, description="Comma-separated: enterprise,province,age,sex")
    ] = ",".join(DIMENSIONS),
    k: Annotated[int, Query(ge=1, le=1_000_000, description="Smallest count shown (>= 10)")] = 10,
    province: Annotated[
        str | None, Query(max_length=2, description="GB/T 2260 province, e.g. 44")
    ] = None,
) -> SegmentsOut:
    """Active lines by enterprise, province (names), age band and sex, with every total, for
    planning: a count below k is withheld, and so is a second count wherever a total would
    give the first away, so no table singles anyone out. A provincial administration sees its
    province only. Each read is audited."""
    where = checked_province(province, confined_to(who))
    with rt.transaction() as session:
        table = segments(session, rt.clock.now().date(), by=by.split(","), k=k, province=where)
        ctx = context_of(who, request)
        audit_figure_read(session, rt.keyring, ctx, "segments", where, by=by, k=str(k))
    return SegmentsOut(
        by=list(table.by),
        k=table.k,
        province=where,
        rows=[
            SegmentRowOut(
                values={name: str(row[name]) for name in table.by},
                lines=row["lines"],
                withheld=row["withheld"],
            )
            for row in table.rows()
        ],
    )
