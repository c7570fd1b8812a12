"""A subscriber's "this line is not mine" dispute: a case with a deadline, tracked per
identity so the subscriber can follow it (`GET /v1/me/disputes`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class Dispute(Base):
    __tablename__ = "line_dispute"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id"))
    # The identity the line was registered to, whose holder says it is not theirs.
    identity_id: Mapped[int] = mapped_column(ForeignKey("identity.id"))
    # The line the subscriber proved (its token's line) when opening the case.
    proved_line_id: Mapped[int] = mapped_column(ForeignKey("line.id"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The complaint event (`complain`, kind `not_mine`) on the disputed line's history.
    complaint_seq: Mapped[int] = mapped_column(Integer)
    reverification_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_line_dispute_identity", "identity_id", "opened_at"),
        Index("ix_line_dispute_line", "line_id"),
    )
