"""The feeds' tables. At the platform: the signing keys each enterprise registered, each feed's
position (the next batch expected), every batch taken (number and digest: a replay is known by
them) and every refusal (a report of a tampered, unsigned, conflicting or early batch). At an
enterprise: the batches it built, kept byte for byte until the platform acknowledges them, so
a retry sends the very same batch (a sealed box is randomised: built again it would differ).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class NationalFeedKey(Base):
    """An enterprise's Ed25519 public key, registered at the platform."""

    __tablename__ = "national_feed_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    key_id: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("enterprise_id", "key_id", name="uq_national_feed_key_enterprise_key"),
    )


class NationalFeed(Base):
    """One enterprise's feed as the platform sees it; the row is locked while a batch lands."""

    __tablename__ = "national_feed"

    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), primary_key=True)
    next_batch: Mapped[int] = mapped_column(Integer, default=1)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    items: Mapped[int] = mapped_column(BigInteger, default=0)
    last_batch_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    refusals: Mapped[int] = mapped_column(Integer, default=0)
    last_refusal_code: Mapped[str | None] = mapped_column(String(48))
    last_refusal_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class NationalFeedBatch(Base):
    """A batch the platform took: a second one with this number must have this digest."""

    __tablename__ = "national_feed_batch"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    number: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    items: Mapped[int] = mapped_column(Integer)
    applied: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[bool] = mapped_column(Boolean, default=False)
    transport: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("enterprise_id", "number", name="uq_national_feed_batch_number"),
    )


class NationalFeedRefusal(Base):
    """A batch refused, reported: codes and numbers only (the body is not kept)."""

    __tablename__ = "national_feed_refusal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_code: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"))
    number: Mapped[int | None] = mapped_column(Integer)
    digest: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(48))
    expected: Mapped[int | None] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class NationalPublication(Base):
    """Enterprise side: a batch built for the platform (the signed envelope as sent)."""

    __tablename__ = "national_publication"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    number: Mapped[int] = mapped_column(Integer)
    cursor_from: Mapped[int] = mapped_column(BigInteger)
    cursor_to: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    items: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[bool] = mapped_column(Boolean, default=False)
    # A snapshot batch: the last line id it covers, where the next run resumes the snapshot
    # (each batch commits on its own, so a run killed mid-snapshot left it half sent). None
    # on batches built before 0031, when a snapshot was built whole in one transaction.
    snapshot_after: Mapped[int | None] = mapped_column(BigInteger)
    # ...and the enterprise's highest line id when the snapshot began: the snapshot ends
    # there (a line made after it, or imported later, is not taken into a finished snapshot).
    snapshot_until: Mapped[int | None] = mapped_column(BigInteger)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    built_at: Mapped[datetime] = mapped_column(UtcDateTime())
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("enterprise_id", "number", name="uq_national_publication_number"),
    )
