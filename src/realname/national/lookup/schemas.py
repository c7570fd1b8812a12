"""一证通查's requests and answers. Document numbers, names and phone numbers travel only in
request bodies; answers carry masked numbers only."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

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


class DisputeOut(BaseModel):
    reference: str
    enterprise: str
    msisdn_masked: str
    opened_at: datetime
    due_at: datetime
    status: str = Field(description="open | traced | acted | closed (the enterprise's case)")
    outcome: str | None
    overdue: bool
