"""What the enforcement API takes and gives."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from realname.compliance.enforcement.ladder import ActionKind
from realname.registry.schemas import IsoDateTime, JsonInt, Lax, RequestModel

Kind = Annotated[ActionKind, Lax]
EvidenceKind = Literal["inspection_round", "figure", "complaint", "action", "document"]


class EvidenceRefIn(RequestModel):
    kind: EvidenceKind
    ref: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="A round's code, a figure's period, a complaint or action id, a document "
        "number: a reference, never text about a person",
    )


class Evidence(BaseModel):
    kind: str
    ref: str


class ActionIn(RequestModel):
    enterprise_id: JsonInt = Field(ge=1, le=2**31 - 1)
    kind: Kind = Field(description="The rung: notice, interview, rectification, yellow_1..3, red")
    evidence: list[EvidenceRefIn] = Field(min_length=1, max_length=100)
    grounds: str = Field(default="finding", pattern=r"^[a-z][a-z_]{0,31}$")
    minutes: str | None = Field(
        default=None, max_length=20_000, description="An interview's minutes (sealed)"
    )
    deadline: IsoDateTime | None = Field(
        default=None, description="A rectification order's deadline (default: the policy's)"
    )
    channel_ids: list[JsonInt] = Field(
        default_factory=list,
        max_length=1000,
        description="The offending channels a yellow III or red card stops (none: the ones "
        "over the policy's risk threshold)",
    )


class AcceptIn(RequestModel):
    evidence: list[EvidenceRefIn] = Field(default_factory=list, max_length=100)
    minutes: str | None = Field(default=None, max_length=20_000)
    deadline: IsoDateTime | None = None
    channel_ids: list[JsonInt] = Field(default_factory=list, max_length=1000)


class TextIn(RequestModel):
    text: str = Field(min_length=1, max_length=20_000, description="Kept sealed, never in clear")


class AppealDecisionIn(RequestModel):
    decision: Literal["uphold", "withdraw"]
    reason: str = Field(min_length=1, max_length=20_000, description="Kept sealed")


class FollowUpIn(RequestModel):
    passed: bool
    evidence: list[EvidenceRefIn] = Field(min_length=1, max_length=100)


class RoundResultIn(RequestModel):
    round_ref: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    inspected: JsonInt = Field(ge=0, le=1_000_000)
    violations: JsonInt = Field(ge=0, le=1_000_000)


class RoundsIn(RequestModel):
    enterprise_id: JsonInt = Field(ge=1, le=2**31 - 1)
    rounds: list[RoundResultIn] = Field(min_length=1, max_length=50, description="Oldest first")


class ConsequenceOut(BaseModel):
    measure: str
    channel_id: int | None
    applied_at: datetime
    lifted_at: datetime | None


class ActionOut(BaseModel):
    id: int
    enterprise_id: int
    kind: str
    status: str
    grounds: str
    evidence: list[Evidence]
    decided_at: datetime
    deadline: datetime | None
    reported_at: datetime | None
    follow_up_outcome: str | None
    appeal_until: datetime
    appeal_status: str
    closed_at: datetime | None
    consequences: list[ConsequenceOut]


class ProposalOut(BaseModel):
    id: int
    enterprise_id: int
    kind: str
    rule: str
    evidence: list[Evidence]
    status: str
    proposed_at: datetime
    action_id: int | None
