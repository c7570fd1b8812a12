"""The national index: every enterprise's lines as their feeds tell them, and the identities
that hold them, keyed by the platform's own blind index (never a clear number, never an
enterprise's index)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class NationalIdentity(Base):
    __tablename__ = "national_identity"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # HMAC-SHA256 under the platform's index key of "doc_type:number" (feeds/keys.py).
    identity_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    doc_type: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class NationalLine(Base):
    """One line of one enterprise, as of the highest event number its feed has sent."""

    __tablename__ = "national_line"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    msisdn: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("national_identity.id"))
    # HMAC of the normalised name under which THIS enterprise registered THIS line (from an
    # item that was applied, never a stale one): 一证通查 checks the name typed against the
    # line holding the number typed, so one enterprise's batch cannot change (or break) the
    # name another enterprise's lines answer to. Never the name itself.
    name_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    channel_kind: Mapped[str | None] = mapped_column(String(16))
    province: Mapped[str | None] = mapped_column(String(2))
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    owner_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    batch: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("enterprise_id", "msisdn", name="uq_national_line_enterprise_msisdn"),
        Index(
            "ix_national_line_identity",
            "identity_id",
            "state",
            postgresql_where=text("identity_id IS NOT NULL"),
            sqlite_where=text("identity_id IS NOT NULL"),
        ),
        Index("ix_national_line_msisdn", "msisdn"),
    )
