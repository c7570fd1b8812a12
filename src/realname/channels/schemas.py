"""What the channels API takes and gives."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from realname.registry.schemas import MSISDN, EventOut, IsoDateTime, JsonInt, RequestModel

ChannelIdField = Field(ge=1, le=2**31 - 1)


class ChannelOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    region_code: str
    parent_id: int | None
    status: str
    status_reason: str | None


class KitNumbersIn(RequestModel):
    msisdns: list[str] = Field(min_length=1, max_length=1000, description="Kits by phone number")


class StockMoveIn(KitNumbersIn):
    to_channel_id: JsonInt = Field(ge=1, le=2**31 - 1, description="A sub-channel, or the parent")


class StockReturnIn(KitNumbersIn):
    write_off: bool = Field(default=False, description="Lost or damaged: the kit is gone")
    reason: str = Field(default="", max_length=200)


class KitsMovedOut(BaseModel):
    moved: int
    line_ids: list[int]


class ChannelStockOut(BaseModel):
    channel: ChannelOut
    unsold: int
    oldest_stocked_at: datetime | None
    older_than_days: dict[int, int] = Field(
        description="Kits unsold longer than 30, 90 and 180 days"
    )


class AgedKitOut(BaseModel):
    line_id: int
    msisdn: str
    iccid: str | None
    channel_id: int | None
    stocked_at: datetime | None
    days_unsold: int


class WhereIn(RequestModel):
    msisdn: str = MSISDN


class WhereOut(BaseModel):
    line_id: int
    state: str
    channel: ChannelOut | None
    stocked_at: datetime | None
    trail: list[EventOut] = Field(description="Every stock movement and the sale, oldest first")


class SignalOut(BaseModel):
    name: str
    value: float
    threshold: float
    tripped: bool
    judged: bool = Field(description="False when too few registrations to judge a share")
    evidence: list[str]


class ChannelRiskOut(BaseModel):
    channel: ChannelOut
    registrations: int
    score: int = Field(description="How many signals are over their threshold")
    over_threshold: bool = Field(description="Enough signals to suspend the channel")
    signals: list[SignalOut]


class SuspendIn(RequestModel):
    reason: str | None = Field(
        default=None,
        max_length=200,
        description="Required unless the channel is over the risk threshold",
    )


class ResumeIn(RequestModel):
    reason: str = Field(min_length=1, max_length=200)


class ComplaintIn(RequestModel):
    kind: Literal["fraud", "not_mine", "harassment", "other"]
    note: str = Field(default="", max_length=200)


class ComplaintOut(BaseModel):
    line_id: int
    kind: str
    reverification_requested: bool


class UsageIn(RequestModel):
    class Use(RequestModel):
        msisdn: str = MSISDN
        used_at: IsoDateTime

    uses: list[Use] = Field(min_length=1, max_length=10_000)


class UsageOut(BaseModel):
    updated: int
    unknown: int = Field(description="Numbers that are not this enterprise's lines")
    refused: int = Field(description="Uses reported more than an hour in the future")
    reverification_requested: list[int] = Field(description="Line ids asked to re-verify")
