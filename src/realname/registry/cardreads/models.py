"""The card-read table: one chip read, sealed, short-lived, single use."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class CardRead(Base):
    """What the reader sent: the document and the name, AES-GCM sealed as one JSON value
    (context `card_read.data`). A used read loses its data at once; expired and used rows
    are deleted by the next read at any channel. Nothing in clear: a copy of the table holds no
    PII it can read."""

    __tablename__ = "card_read"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"))
    reader: Mapped[str] = mapped_column(String(64))  # the reader's API client id
    key_id: Mapped[str | None] = mapped_column(String(32))
    data_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    read_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    used_by: Mapped[str | None] = mapped_column(String(64))  # the clerk's actor

    __table_args__ = (Index("ix_card_read_channel_time", "channel_id", "read_at"),)
