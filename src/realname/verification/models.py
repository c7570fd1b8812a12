"""Relying parties, the subscribers' consents to them, and per-number quota counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class RelyingParty(Base):
    """A bank or payment app: which API client it is, why it asks, and which APIs it may use."""

    __tablename__ = "relying_party"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("api_client.client_id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(200))
    apis: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Consent(Base):
    """A subscriber's consent for one relying party to check one line, for as long as the same
    person holds it: a transfer of the line ends the consent."""

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    relying_party_id: Mapped[int] = mapped_column(ForeignKey("relying_party.id"))
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id"))
    owner_identity_id: Mapped[int] = mapped_column(ForeignKey("identity.id"))
    apis: Mapped[list[str]] = mapped_column(JSON, default=list)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_consent_party_line", "relying_party_id", "line_id"),)


class QuotaCounter(Base):
    """Calls (or mismatches) of one client about one number in one window. The key holds a
    blind index of the number, never the number."""

    __tablename__ = "quota_counter"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
