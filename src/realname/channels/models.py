"""What channels record beside the registry's own tables: refused registrations (a risk
signal). `Channel` and `Clerk` themselves are the registry's (registry/models.py): a
registration needs them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


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
