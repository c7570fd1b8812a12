"""What the inspections API takes and gives."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from realname.compliance.inspections.outcomes import Outcome
from realname.policy.schema import ChannelKind
from realname.registry.schemas import MSISDN, IsoDate, IsoDateTime, JsonInt, Lax, RequestModel

Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
ProvinceCode = Annotated[str, Field(pattern=r"^\d{2}$", examples=["44"])]


class RoundIn(RequestModel):
    code: Code = Field(description="The round's own code, e.g. 2016-H2-MVNO")
    name: str = Field(min_length=1, max_length=200)
    starts_on: IsoDate
    ends_on: IsoDate
    seed: JsonInt = Field(ge=0, le=2**62, description="The draw's seed: same seed, same plan")
    enterprises: list[Code] = Field(
        default_factory=list, max_length=1000, description="Enterprise codes (empty: all)"
    )
    kinds: list[Annotated[ChannelKind, Lax]] = Field(
        default_factory=list, max_length=4, description="Channel kinds (empty: all)"
    )
    provinces: list[ProvinceCode] = Field(
        default_factory=list, max_length=40, description="GB/T 2260 provinces (empty: all)"
    )
    margin: float = Field(default=0.05, description="± this much around the rate (0.05: 5 points)")
    confidence: float = Field(default=0.95)
    expected_rate: float = Field(default=0.5, description="The rate expected (0.5: unknown)")
    min_per_stratum: JsonInt = Field(default=2, ge=0, le=1000)


class RoundOut(BaseModel):
    id: int
    code: str
    name: str
    starts_on: date
    ends_on: date
    scope: dict[str, list[str]]
    province: str | None
    margin: float
    confidence: float
    expected_rate: float
    min_per_stratum: int
    seed: int
    population: int | None = Field(description="Outlets in scope at the draw")
    target_size: int | None = Field(description="The sample the precision asks for")
    planned_at: datetime | None


class TargetOut(BaseModel):
    id: int
    channel_id: int
    channel: str
    enterprise: str
    channel_kind: str
    province: str
    province_name: str
    inspector: str | None
    visit_id: int | None
    outcome: str | None
    violation: bool | None


class PlanOut(BaseModel):
    round: RoundOut
    targets: list[TargetOut]


class AssignIn(RequestModel):
    inspector: str = Field(min_length=1, max_length=64, description="The inspector's client id")
    target_ids: list[JsonInt] | None = Field(
        default=None, max_length=10_000, description="Outlets of the plan (omitted: all unassigned)"
    )


class AssignedOut(BaseModel):
    inspector: str
    target_ids: list[int]


class EvidenceIn(RequestModel):
    content_base64: str = Field(min_length=1, max_length=14_000_000)
    media_type: str = Field(min_length=1, max_length=100, examples=["image/jpeg"])
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="Checked against the content"
    )


class EvidenceOut(BaseModel):
    sha256: str
    size: int
    media_type: str


class VisitIn(RequestModel):
    target_id: JsonInt = Field(ge=1, le=2**31 - 1)
    visited_at: IsoDateTime
    place_region: str = Field(pattern=r"^\d{6}$", description="GB/T 2260 county code")
    latitude: float | None = None
    longitude: float | None = None
    outcome: Annotated[Outcome, Lax]
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=20)


class VisitOut(BaseModel):
    id: int
    target_id: int
    inspector: str
    visited_at: datetime
    place_region: str
    latitude: float | None
    longitude: float | None
    outcome: str
    violation: bool
    evidence: list[EvidenceOut]


class PurchaseIn(RequestModel):
    visit_id: JsonInt = Field(ge=1, le=2**31 - 1)
    msisdn: str = MSISDN
    bought_at: IsoDateTime
    document_number: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The document the inspector showed (kept only as the registry's blind "
        "index); omitted when the outlet sold without one",
    )
    document_type: str | None = Field(default=None, max_length=32)


class PurchaseOut(BaseModel):
    id: int
    visit_id: int
    msisdn_masked: str
    bought_at: datetime
    with_document: bool
    checked_at: datetime | None
    finding: str | None
    violation: bool | None
    line_id: int | None
    registration_event_id: int | None
    registered_channel_id: int | None
    registered_clerk_id: int | None
    registered_at: datetime | None
    document_type: str | None
    entry_method: str | None


class RateOut(BaseModel):
    round_id: int
    group: str
    kind: str | None = Field(description="The enterprise's kind (mno/mvno) when by enterprise")
    inspected: int
    violations: int
    violation_rate: float | None
    violation_rate_low: float | None = Field(description="Wilson 95 % lower bound")
    violation_rate_high: float | None = Field(description="Wilson 95 % upper bound")
