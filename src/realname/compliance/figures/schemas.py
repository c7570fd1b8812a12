"""What the figures API gives."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EnterpriseFiguresOut(BaseModel):
    enterprise: str = Field(description="The enterprise's code")
    name: str
    kind: str = Field(description="mno (basic operator) or mvno (resale)")
    lines: int = Field(description="Lines in service (active, barred, legacy)")
    registered: int
    real_name_rate: float | None
    inspected: int = Field(description="Outlets visited in the period's rounds")
    violations: int
    violation_rate: float | None
    violation_rate_low: float | None = Field(description="Wilson 95 % lower bound")
    violation_rate_high: float | None = Field(description="Wilson 95 % upper bound")
    complaints: int
    complaints_per_10k: float
    backfill_base: int
    backfilled: int
    backfill_terminated: int
    backfill_progress: float | None
    backfill_deadline: str | None = Field(description="The back-fill campaign's deadline")
    backfill_milestones_missed: int = Field(
        description="Milestones due by today with a share above today's progress"
    )
    refused: int
    refusals: dict[str, int] = Field(description="Refused registrations by reason code")
    cap_breaches: int = Field(description="Identities over the enterprise cap: must be 0")
    registrations: int
    reverify_asked: int
    reverify_answered: int
    reverify_suspended: int


class GroupFiguresOut(BaseModel):
    group: str
    code: str | None = Field(
        default=None,
        description="by province: the GB/T 2260 two-digit code (`group` is its name); null "
        "for lines of no known province and in the other breakdowns",
    )
    lines: int | None
    registered: int | None
    real_name_rate: float | None
    refused: int
    inspected: int
    violations: int
    violation_rate: float | None
    violation_rate_low: float | None
    violation_rate_high: float | None
    registrations: int
    reverify_asked: int
    reverify_answered: int
    reverify_suspended: int
    complaints: int


class FiguresOut(BaseModel):
    period: str
    province: str | None
    province_name: str | None
    enterprises: list[EnterpriseFiguresOut]
    by_enterprise_kind: list[GroupFiguresOut]
    by_province: list[GroupFiguresOut]
    by_channel_kind: list[GroupFiguresOut]
    by_month: list[GroupFiguresOut]
    cap_breaches: int = Field(description="Every cap breach, enterprise and national: must be 0")
    complaints_source: str = Field(description="Where the complaint counts come from")
