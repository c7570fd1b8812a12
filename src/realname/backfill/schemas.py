"""What the back-fill API takes and gives."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from realname.registry.schemas import IsoDate, RequestModel


class CampaignIn(RequestModel):
    starts_on: IsoDate = Field(description="Day 0 of the policy's back-fill phases")
    deadline: IsoDate | None = Field(
        default=None, description="Registered-by date; default: when outgoing bars begin"
    )


class ProgressRowOut(BaseModel):
    group: str
    total: int
    registered: int
    terminated: int
    unregistered: int
    barred_outgoing: int
    barred_both: int
    share_registered: float


class CampaignOut(BaseModel):
    enterprise_id: int
    starts_on: date
    deadline: date
    phase: str | None = Field(description="The phase in force today")
    phase_dates: dict[str, date]
    overall: ProgressRowOut
    by_region: list[ProgressRowOut]
    by_channel: list[ProgressRowOut]
    registrations_per_day: float = Field(description="Over the last 7 days")
    projected_completion: date | None = Field(
        description="At the current pace; null if nothing is being registered"
    )
    on_track: bool = Field(description="Projected completion on or before the deadline")
    refunds_due: int
    refunds_due_minor: int = Field(description="Prepaid balances owed, in minor units")
