"""One-time codes, failed proofs and the usage feed that proofs are checked against.

Nothing here holds a code, a called number or a top-up amount in clear: codes and usage facts
are keyed hashes (HMAC under the blind-index key, each with its own context), so a copy of the
database proves nothing and cannot be searched for a code offline.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class PossessionChallenge(Base):
    """A one-time code sent to a line, bound to the line, the purpose and who asked for it.

    A login request for a number nobody can log in with still gets a row (no line, no message):
    the per-number limit then counts alike whether the number exists or not, and the answer
    is the same."""

    __tablename__ = "possession_challenge"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # letters only
    purpose: Mapped[str] = mapped_column(String(16))  # backfill | login
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"))
    # Keyed hash of the E.164 number asked about (known or not): the per-number limit.
    number_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Who may answer it: the clerk's actor (`clerk:12`) or the subscriber app's client id.
    requester: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"))
    # Keyed hash of the source address (subscriber login): the per-source limit.
    source_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    code_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_possession_challenge_number_time", "number_digest", "created_at"),
        Index("ix_possession_challenge_requester_time", "requester", "created_at"),
        Index("ix_possession_challenge_source_time", "source_digest", "created_at"),
    )


class PossessionFailure(Base):
    """A proof of possession that failed (a wrong or missing code, ICCID or usage answer):
    kept although the request was refused, per channel, clerk and line, for channel risk and
    the per-line limit. No PII: the method and a coded reason, never what was entered."""

    __tablename__ = "possession_failure"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"))
    clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerk.id"))
    requester: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))  # otp | iccid | usage | none
    reason: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_possession_failure_channel_time", "channel_id", "occurred_at"),
        Index("ix_possession_failure_line_time", "line_id", "occurred_at"),
    )


class LineUsage(Base):
    """The usage feed's last word on a line (`realname usage import`): when it was last used
    and topped up, and, as keyed hashes, the last top-up amount and the numbers it called
    recently (32 bytes each, concatenated): what the holder can state and a stranger cannot."""

    __tablename__ = "line_usage"

    line_id: Mapped[int] = mapped_column(ForeignKey("line.id"), primary_key=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_topup_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    topup_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    called_digests: Mapped[bytes | None] = mapped_column(LargeBinary())
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime())
