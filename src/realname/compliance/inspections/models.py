"""A secret-inspection round, its plan (the outlets drawn), the visits, the evidence files
and the test purchases.

No PII: an inspector is a client id; the identity a test purchase was made with is kept only
as the registry's blind index of its document number (what the registry's own identity rows
are looked up by), so the check can compare without anyone storing the number; evidence is a
SHA-256 and a size here, its content in a content-addressed store outside the database.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class InspectionRound(Base):
    __tablename__ = "inspection_round"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    # The outlets it covers: {"enterprises": [codes], "kinds": [...], "provinces": ["44"]},
    # an empty list meaning all. A provincial administration's rounds cover its province.
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    province: Mapped[str | None] = mapped_column(String(2))  # set: a provincial round
    margin: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    expected_rate: Mapped[float] = mapped_column(Float)
    min_per_stratum: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigId)
    population: Mapped[int | None] = mapped_column(Integer)  # set when planned
    target_size: Mapped[int | None] = mapped_column(Integer)
    planned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (CheckConstraint("starts_on <= ends_on", name="dates"),)


class InspectionTarget(Base):
    """One outlet drawn for a round, with its stratum as it was at the draw."""

    __tablename__ = "inspection_target"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("inspection_round.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    channel_kind: Mapped[str] = mapped_column(String(16))
    province: Mapped[str] = mapped_column(String(2))
    inspector: Mapped[str | None] = mapped_column(String(64))  # the client id assigned
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("round_id", "channel_id", name="uq_inspection_target_channel"),
        Index("ix_inspection_target_inspector", "inspector"),
    )


class InspectionVisit(Base):
    """What the inspector found at one outlet of the plan (one visit per target)."""

    __tablename__ = "inspection_visit"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("inspection_target.id"), unique=True)
    inspector: Mapped[str] = mapped_column(String(64))
    visited_at: Mapped[datetime] = mapped_column(UtcDateTime())
    place_region: Mapped[str] = mapped_column(String(6))  # GB/T 2260 county code
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(40))  # inspections.outcomes.Outcome
    violation: Mapped[bool] = mapped_column(Boolean)  # the outcome's, or the purchase's
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class InspectionEvidence(Base):
    """A file the inspector attached to a visit: its hash, size and type; the bytes are in
    the evidence store under their hash (`evidence.py`)."""

    __tablename__ = "inspection_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("inspection_visit.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigId)
    media_type: Mapped[str] = mapped_column(String(100))
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("visit_id", "sha256", name="uq_inspection_evidence"),)


class TestPurchase(Base):
    """A line the inspector bought at a visit; `checked_at` onwards, what the registry's own
    record says about how it was registered."""

    __tablename__ = "test_purchase"
    __test__ = False  # not a pytest class

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("inspection_visit.id"), unique=True)
    msisdn: Mapped[str] = mapped_column(String(16))
    bought_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The document the inspector showed (type and blind index), or neither when the outlet
    # sold the card without asking for one.
    buyer_doc_type: Mapped[str | None] = mapped_column(String(32))
    buyer_number_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finding: Mapped[str | None] = mapped_column(String(40))  # outcomes.Finding
    violation: Mapped[bool | None] = mapped_column(Boolean)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id"))
    registration_event_id: Mapped[int | None] = mapped_column(ForeignKey("line_event.id"))
    registered_channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"))
    registered_clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerk.id"))
    registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    document_type: Mapped[str | None] = mapped_column(String(32))  # as the registry recorded
    entry_method: Mapped[str | None] = mapped_column(String(16))  # when the event records it
