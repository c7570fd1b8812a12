"""Sales channels and the clerks who register customers at them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class Channel(Base):
    __tablename__ = "channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # policy.ChannelKind
    region_code: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("enterprise_id", "code", name="uq_channel_code"),)


class Clerk(Base):
    __tablename__ = "clerk"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RegistrationRefusal(Base):
    """A registration a channel attempted and the registry refused. The refused transaction
    leaves nothing behind, so the entry point records the refusal apart: identities the
    authority rejects are a channel risk signal. No PII: the code says why, not who."""

    __tablename__ = "registration_refusal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"))
    clerk_id: Mapped[int | None] = mapped_column(ForeignKey("clerk.id"))
    code: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_registration_refusal_channel_time", "channel_id", "occurred_at"),)
