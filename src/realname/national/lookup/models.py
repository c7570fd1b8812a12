"""一证通查: the one-time-code challenges (who asked, from where, for which identity: keys
only, never the number typed) and the "not mine" disputes it opened."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class NationalLookupChallenge(Base):
    __tablename__ = "national_lookup_challenge"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(24), unique=True)
    # The national index of what was typed, whether or not anyone holds it: the per-identity
    # limit counts requests for a person the platform does not know exactly as for one it does.
    requested_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("national_identity.id"))
    source_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    code_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    sent: Mapped[bool] = mapped_column(Boolean, default=False)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    proved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_national_lookup_requested", "requested_key", "issued_at"),
        Index("ix_national_lookup_source", "source_key", "issued_at"),
    )


class NationalDispute(Base):
    """A line its holder's identity says is not theirs: a complaint case at the enterprise."""

    __tablename__ = "national_dispute"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("national_line.id"))
    identity_id: Mapped[int] = mapped_column(ForeignKey("national_identity.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))
    # A dispute at an enterprise whose registry is not in this instance has no complaint case
    # here: it is `forwarded`, the enterprise pulls it (GET /v1/national/feeds/disputes) and
    # posts its handling (a status of the complaints' vocabulary and an outcome code).
    status: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(40))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_national_dispute_identity", "identity_id", "opened_at"),
        Index("ix_national_dispute_enterprise", "enterprise_id", "status"),
        # the enterprise's forwarded-disputes feed pages in this order (0032)
        Index("ix_national_dispute_feed_order", "enterprise_id", "opened_at", "reference"),
    )


class NationalDisputeAnswer(Base):
    """One handling a separate enterprise posted for a forwarded dispute, in the order posted:
    the subscriber sees each step and when it was taken, not only the last (an `acted` with
    one outcome, then a `closed` with another, both stay visible)."""

    __tablename__ = "national_dispute_answer"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("national_dispute.id"))
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(40))
    answered_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_national_dispute_answer_dispute", "dispute_id", "id"),)


class NationalLookupLock(Base):
    """One row per limit key (a caller's address, a document typed: both keyed), locked
    before that key's requests are counted: concurrent requests under one key are counted
    one after another, so a limit is exact (counting, then inserting, let them all pass)."""

    __tablename__ = "national_lookup_lock"

    key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    touched_at: Mapped[datetime] = mapped_column(UtcDateTime())
