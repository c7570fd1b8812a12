"""The segments table over HTTP."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SegmentRowOut(BaseModel):
    values: dict[str, str] = Field(
        description="Each dimension's value; `total` where the row is a total over it"
    )
    lines: int | None = Field(description="Active lines; null when withheld")
    withheld: str | None = Field(
        description="`primary` (below k) or `complementary` (a total would give one away)"
    )


class SegmentsOut(BaseModel):
    by: list[str]
    k: int
    province: str | None = Field(description="The GB/T 2260 province the table covers, if one")
    rows: list[SegmentRowOut]
