"""What the complaints API takes and gives. Numbers go out masked."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from realname.registry.schemas import MSISDN, IsoDateTime, RequestModel

CategoryField = Literal["spam_sms", "fraud_call", "harassment_call", "not_mine", "other"]


class ComplaintCaseIn(RequestModel):
    category: CategoryField
    msisdn: str = MSISDN
    occurred_at: IsoDateTime = Field(description="When the call or message happened")
    content_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="SHA-256 of the message or recording, kept by the centre: never the content",
    )
    centre_ref: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The centre's case number: the same one twice is refused (409)",
    )


class ComplaintFileIn(RequestModel):
    csv: str = Field(
        min_length=1,
        max_length=5_000_000,
        description="UTF-8 CSV, header category,msisdn,occurred_at,content_sha256,centre_ref",
    )


class CloseIn(RequestModel):
    outcome: str = Field(pattern=r"^[a-z][a-z_]{0,39}$", examples=["resolved", "no_violation"])


class ComplaintCaseOut(BaseModel):
    id: int
    category: str
    msisdn: str = Field(description="Masked")
    occurred_at: datetime
    received_at: datetime
    status: str
    outcome: str | None
    line_id: int | None
    enterprise_id: int | None
    channel_id: int | None
    clerk_id: int | None
    owner_traced: bool = Field(description="Whether the line had an owner at that instant")


class RefusedRow(BaseModel):
    line: int
    code: str
    message: str


class ImportOut(BaseModel):
    import_id: int | None
    rows: int
    accepted: int
    complaint_ids: list[int]
    refused: list[RefusedRow]


class ComplaintCountOut(BaseModel):
    enterprise: str
    channel: str
    total: int
    spam_sms: int
    fraud_call: int
    harassment_call: int
    not_mine: int
    other: int


class FlagOut(BaseModel):
    line_id: int
    enterprise_id: int
    complaint_id: int
    reason: str
    flagged_at: datetime
