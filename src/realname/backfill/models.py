"""Legacy imports, back-fill campaigns and prepaid refunds."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


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
    # The runner's sweep: the phase it is applying and the last line id it has done. Line ids
    # only grow, so lines imported later are swept on the next run; a new phase starts over.
    sweep_phase: Mapped[str | None] = mapped_column(String(16))
    sweep_after_line_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


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
