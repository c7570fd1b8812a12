"""What the back-fill API takes and gives."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from realname.registry.schemas import IsoDate, JsonInt, RequestModel


class MilestoneIn(RequestModel):
    due_on: IsoDate = Field(examples=["2027-11-30"])
    percent: JsonInt = Field(ge=1, le=100, description="Share of the legacy lines registered")


class CampaignIn(RequestModel):
    starts_on: IsoDate = Field(description="The day the first reminders go out")
    deadline: IsoDate | None = Field(
        default=None,
        description="Registered-by date: the first bar falls on it, the later steps the "
        "policy's gaps after it. Default: the policy's notice period after `starts_on`",
    )
    milestones: list[MilestoneIn] = Field(
        default_factory=list, max_length=20, description="Targets: increasing dates and shares"
    )


class AmendmentIn(RequestModel):
    reason: str = Field(min_length=1, max_length=500, description="Kept in the audit log")
    deadline: IsoDate | None = Field(
        default=None, description="New registered-by date; never earlier than subscribers were told"
    )
    milestones: list[MilestoneIn] | None = Field(
        default=None, max_length=20, description="Replaces the milestones; omit to keep them"
    )


class MilestoneOut(BaseModel):
    due_on: date
    percent: int


class AmendmentOut(BaseModel):
    version: int
    actor: str
    reason: str
    deadline_before: date
    deadline_after: date
    amended_at: datetime


class ScheduleOut(BaseModel):
    enterprise_id: int
    starts_on: date
    deadline: date
    notice_days: int = Field(
        description="Days from a line's first reminder to its first bar, at least"
    )
    phase_dates: dict[str, date] = Field(description="The campaign's date for each step")
    final_notice_on: date | None = Field(
        description="A second reminder for lines reminded earlier than the notice period"
    )
    milestones: list[MilestoneOut]
    amendments: list[AmendmentOut]
    lines_told: int = Field(description="Lines sent their dates")
    lines_on_later_dates: int = Field(
        description="Lines reminded too late for the campaign's dates, on later dates of their own"
    )


class MilestoneStatusOut(BaseModel):
    due_on: date
    percent: int
    target_lines: int
    registered: int = Field(description="By the due date once it has passed, else so far")
    projected: int | None = Field(description="At the current pace on the due date")
    status: str = Field(description="met, missed, on track or behind")
    short_by: int = Field(description="Lines short of the target")


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
    milestones: list[MilestoneStatusOut] = Field(default_factory=list)
