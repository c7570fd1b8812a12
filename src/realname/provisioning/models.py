"""The licence history of an enterprise; the enterprise, block, channel and clerk tables
themselves belong to the registry and channels domains."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import UtcDateTime


class LicenceChange(Base):
    """One change of an enterprise's licence status (the ministry's decision), with the date
    it takes effect. Never updated; `enterprise.licence_status` is the latest."""

    __tablename__ = "licence_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    effective_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_licence_change_enterprise", "enterprise_id", "id"),)
