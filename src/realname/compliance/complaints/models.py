"""Complaints as cases, the CSV files they came in, and the lines flagged for their owner.

A complaint names a number, an instant and a category, never what was said: the content is
kept by the complaint centre and arrives here as its SHA-256 only. Tracing fills the line, its
enterprise, the owner at that instant (an identity id: the sealed record stays in the
registry) and the channel and clerk that put that owner on the line.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime

CATEGORIES_SQL = "('spam_sms', 'fraud_call', 'harassment_call', 'not_mine', 'other')"


class ComplaintImport(Base):
    __tablename__ = "complaint_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)

    # A file is taken once: sent again (a retry, a resend), its complaints would count twice
    # in the rates the enforcement rules read.
    __table_args__ = (UniqueConstraint("sha256", name="uq_complaint_import_sha256"),)


class Complaint(Base):
    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())  # the call or message
    category: Mapped[str] = mapped_column(String(16))
    msisdn: Mapped[str] = mapped_column(String(16))  # E.164, as the registry keeps numbers
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    centre_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("complaint_import.id"))
    recorded_by: Mapped[str] = mapped_column(String(64))
    # open -> traced -> acted -> closed
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Codes, no text: number_unknown, recorded, reverification_requested, line_disputed,
    # owner_lines_flagged (comma-separated as they happened), then the closing outcome.
    outcome: Mapped[str | None] = mapped_column(String(200))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"))
    clerk_id: Mapped[int | None] = mapped_column(Integer)
    owner_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identity.id"))
    traced_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint(f"category in {CATEGORIES_SQL}", name="category"),
        CheckConstraint("status in ('open', 'traced', 'acted', 'closed')", name="status"),
        Index("ix_complaint_line_time", "line_id", "occurred_at"),
        Index("ix_complaint_enterprise_time", "enterprise_id", "received_at"),
        Index("ix_complaint_channel_time", "channel_id", "received_at"),
        Index("ix_complaint_owner_time", "owner_identity_id", "occurred_at"),
    )


class ComplaintFlag(Base):
    """A line whose owner other complaints trace as a repeat offender: the enterprise that
    holds it is told to check it (re-verify, look at its use)."""

    __tablename__ = "complaint_flag"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    identity_id: Mapped[int] = mapped_column(ForeignKey("identity.id"))
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"))
    reason: Mapped[str] = mapped_column(String(32))
    flagged_at: Mapped[datetime] = mapped_column(UtcDateTime())
    detail: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_complaint_flag_enterprise", "enterprise_id", "flagged_at"),
        Index("ix_complaint_flag_line", "line_id", "identity_id"),
    )
