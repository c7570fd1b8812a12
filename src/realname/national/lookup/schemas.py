"""一证通查's requests and answers. Document numbers, names and phone numbers travel only in
request bodies; answers carry masked numbers only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from realname.registry.schemas import JsonInt, RequestModel


class CodeIn(RequestModel):
    document_type: str = Field(min_length=1, max_length=32, examples=["resident_id"])
    document_number: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    msisdn: str = Field(min_length=5, max_length=20, description="one of your mobile numbers")


class CodeOut(BaseModel):
    challenge_id: str
    expires_at: datetime


class AnswerIn(RequestModel):
    challenge_id: str = Field(min_length=1, max_length=24)
    code: str = Field(min_length=1, max_length=12)


class LineOut(BaseModel):
    line_ref: int = Field(description="dispute this line with it")
    msisdn_masked: str
    state: str


class EnterpriseLinesOut(BaseModel):
    enterprise: str
    name: str
    kind: str = Field(description="mno | mvno")
    active_lines: int
    lines: list[LineOut]


class AnswerOut(BaseModel):
    total: int
    enterprises: list[EnterpriseLinesOut]
    answered_at: datetime


class DisputeIn(RequestModel):
    challenge_id: str = Field(min_length=1, max_length=24, description="a proved challenge")
    line_ref: JsonInt = Field(ge=1, le=2**53 - 1)  # a JSON-safe integer


class DisputeStepOut(BaseModel):
    status: str = Field(description="open | forwarded | traced | acted | closed")
    outcome: str | None = Field(description="the enterprise's outcome code, if it gave one")
    at: datetime


class DisputeOut(BaseModel):
    """A case as the subscriber who opened it follows it, by its reference."""

    # Built from the one `DisputeState` the console's list is built from too: its
    # `forwarded` and `complaint_id` are the enterprise's, and are left out here.
    model_config = ConfigDict(extra="ignore")

    reference: str
    enterprise: str
    msisdn_masked: str
    opened_at: datetime
    due_at: datetime
    status: str = Field(
        description="open | traced | acted | closed (the enterprise's case); forwarded: at a "
        "separate enterprise instance, which has not posted its handling yet"
    )
    outcome: str | None
    overdue: bool
    history: list[DisputeStepOut] = Field(
        description="every step of the case so far, oldest first (the last is its state)"
    )


class EnterpriseDisputeOut(BaseModel):
    """A dispute of one of the enterprise's lines, as its console lists it (without the
    subscriber's `history`)."""

    model_config = ConfigDict(extra="ignore")

    reference: str
    enterprise: str
    msisdn_masked: str
    opened_at: datetime
    due_at: datetime = Field(description="the answer the subscriber is owed, by then")
    status: str = Field(description="open | traced | acted | closed | forwarded")
    outcome: str | None
    overdue: bool
    forwarded: bool = Field(
        description="no complaint case in this instance: the enterprise's own registry "
        "traces it (GET /v1/national/feeds/disputes)"
    )
    complaint_id: int | None = Field(description="its complaint case here (GET /v1/complaints/…)")


class ForwardedDisputeOut(BaseModel):
    """A dispute of one of the enterprise's lines, for its own registry to trace."""

    reference: str = Field(description="the case's reference: post its handling with it")
    msisdn: str = Field(description="the enterprise's own line, E.164")
    line_seq: int = Field(description="the line's event number the national index was fed")
    owner_since: datetime | None
    opened_at: datetime
    due_at: datetime
    status: str = Field(description="forwarded | traced | acted")
    outcome: str | None
    overdue: bool


class ForwardedPageOut(BaseModel):
    """A page of the enterprise's forwarded disputes, oldest first."""

    disputes: list[ForwardedDisputeOut]
    next: str | None = Field(
        description="the next page's `after` (an opaque cursor, valid for this enterprise "
        "only); null on the last page"
    )


class DisputeAnswerIn(RequestModel):
    status: Literal["traced", "acted", "closed"]
    outcome: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z_]{0,39}$",
        description="a code (required to close)",
        examples=["line_cancelled", "owner_reverified"],
    )
