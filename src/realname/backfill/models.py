"""Legacy imports, back-fill campaigns and prepaid refunds."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime
from realname.registry.models import Line

# An unregistered legacy line, spelt as SQL with its values written out: a partial index is
# used only by a query whose WHERE carries its predicate, and neither engine can match a
# predicate against bound parameters (repository.py puts this very text in its queries).
UNREGISTERED_SQL = "owner_identity_id IS NULL AND state IN ('legacy', 'restricted', 'suspended')"

# The sweep's walk (0016): an enterprise's unregistered legacy lines by id, nothing else.
# Declared here, beside the campaign that reads it, on the registry's `line` table.
Index(
    "ix_line_unregistered",
    Line.enterprise_id,
    Line.id,
    postgresql_where=text(UNREGISTERED_SQL),
    sqlite_where=text(UNREGISTERED_SQL),
)


class LegacyImport(Base):
    """One run of `realname import legacy`: the first event of every line it loaded."""

    __tablename__ = "legacy_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    source_name: Mapped[str] = mapped_column(String(200))
    source_sha256: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_loaded: Mapped[int] = mapped_column(Integer, default=0)
    rows_present: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)


class BackfillCampaign(Base):
    """An enterprise's back-fill of its legacy base: the policy's phases as dates."""

    __tablename__ = "backfill_campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), unique=True)
    starts_on: Mapped[date] = mapped_column(Date)
    # The date every legacy line should be registered by (the regulator's target).
    deadline: Mapped[date] = mapped_column(Date)
    # phase name -> ISO date it begins, from the policy's steps at creation: a later policy
    # change does not move a campaign the subscribers were already told about.
    phase_dates: Mapped[dict[str, Any]] = mapped_column(JSON)
    policy_code: Mapped[str] = mapped_column(String(32))
    legacy_at_start: Mapped[int] = mapped_column(Integer, default=0)
    # The reminder-to-first-bar notice (policy's), kept with the campaign like its dates.
    notice_days: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped by each amendment; a line told an older version is told its new dates.
    version: Mapped[int] = mapped_column(Integer, default=0)
    # Unused since 0011 (the sweep is by day, see sweep_on); kept for old rows.
    sweep_phase: Mapped[str | None] = mapped_column(String(16))
    # The runner's sweep: the day it is doing and the last line id it has done. A new day
    # starts over, and only lines with something due (or never reminded) are read.
    sweep_on: Mapped[date | None] = mapped_column(Date)
    sweep_after_line_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class BackfillMilestone(Base):
    """A target: this share of the campaign's legacy lines registered by this date."""

    __tablename__ = "backfill_milestone"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("backfill_campaign.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    percent: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("campaign_id", "due_on", name="uq_backfill_milestone"),)


class BackfillAmendment(Base):
    """One change of a running campaign's deadline or milestones: who, why, from what to what.
    The audit chain has the same facts; this is the campaign's own readable history."""

    __tablename__ = "backfill_amendment"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("backfill_campaign.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500))
    deadline_before: Mapped[date] = mapped_column(Date)
    deadline_after: Mapped[date] = mapped_column(Date)
    # [[ISO date, percent], ...] after the amendment
    milestones: Mapped[list[Any]] = mapped_column(JSON)
    amended_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("campaign_id", "version", name="uq_backfill_amendment_version"),
    )


class BackfillLine(Base):
    """A legacy line's own schedule in a campaign, written when its first reminder is queued:
    the dates it was told, which are the dates the runner acts on. A line reminded late gets
    later dates than the campaign's, never earlier ones than it was told."""

    __tablename__ = "backfill_line"

    line_id: Mapped[int] = mapped_column(BigId, ForeignKey("line.id"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("backfill_campaign.id"), primary_key=True, index=True
    )
    first_reminded_on: Mapped[date] = mapped_column(Date)
    # phase name -> ISO date, as last told to the subscriber
    phase_dates: Mapped[dict[str, Any]] = mapped_column(JSON)
    final_notice_on: Mapped[date | None] = mapped_column(Date)
    told_version: Mapped[int] = mapped_column(Integer, default=0)
    # The next day the runner has something to do for this line; None: nothing left.
    # Not indexed (0019): the sweep reads schedules by key, and rewrites this column of
    # every line it touches; unindexed, with room on the page, that rewrite is a HOT update.
    next_on: Mapped[date | None] = mapped_column(Date)

    # Half of each page free: a batch rewrites every schedule of a page at once (0019).
    __table_args__ = ({"postgresql_with": {"fillfactor": 50}},)


class PrepaidRefund(Base):
    """A terminated legacy line's prepaid balance, owed back to whoever proves the line."""

    __tablename__ = "prepaid_refund"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("backfill_campaign.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="due")
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("line_id", "campaign_id", name="uq_prepaid_refund_line"),)
