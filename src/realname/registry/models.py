"""Enterprises, number blocks, the channels and clerks that register, identities, lines,
their events and holdings.

PII lives only in `identity`, sealed (AES-GCM) with a blind index for equality look-ups; birth
date, sex and region stay clear for policy and statistics. `line_event` is append-only: the
line row is the current state, the events are the truth it must replay to.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from realname.db.base import Base
from realname.db.types import BigId, UtcDateTime


class Enterprise(Base):
    __tablename__ = "enterprise"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))  # mno | mvno
    licence_no: Mapped[str | None] = mapped_column(String(64))
    host_enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The ministry's licence: pilot | official | suspended | revoked, since when (the history
    # of changes is `licence_change`, provisioning/models.py).
    licence_status: Mapped[str] = mapped_column(String(16), default="official")
    licence_status_since: Mapped[date | None] = mapped_column(Date)
    # Provinces served: GB/T 2260 two-digit prefixes ("11", "44"); empty = not stated.
    provinces: Mapped[list[str]] = mapped_column(JSON, default=list)

    __table_args__ = (CheckConstraint("kind in ('mno', 'mvno')", name="kind"),)


class NumberBlockRow(Base):
    """A range of MSISDNs allocated to an enterprise (E.164 digits, inclusive)."""

    __tablename__ = "number_block"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), index=True)
    first: Mapped[str] = mapped_column(String(15), unique=True)
    last: Mapped[str] = mapped_column(String(15))
    allocated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (CheckConstraint("first <= last", name="range"),)


class Channel(Base):
    """A sales channel of an enterprise (hall, kiosk, online...): where lines are registered."""

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
    """A person who registers customers at one channel."""

    __tablename__ = "clerk"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Identity(Base):
    __tablename__ = "identity"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(32))
    # The four PII columns are NULL only on a purged row (`purged_at` set, registry/retention):
    # nothing reads a purged identity's PII (no line is held by one; `check` says so), so the
    # attributes stay typed as present for every reader of a live row.
    number_index: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=True)
    name_index: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=True)
    key_id: Mapped[str] = mapped_column(String(32))
    number_sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=True)
    name_sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=True)
    address_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(8))
    region_code: Mapped[str | None] = mapped_column(String(6))
    nationality: Mapped[str | None] = mapped_column(String(3))
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # HMAC over every other column (registry/integrity.py), keyed outside the database.
    mac_key_id: Mapped[str | None] = mapped_column(String(32))
    mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # When the retention job removed the registration record (sealed PII and blind indexes)
    # after the policy's retention past the last line's termination; the row stays, so the
    # event skeleton still answers "which identity held this number then" (by id only).
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("doc_type", "number_index", name="uq_identity_document"),)


class Line(Base):
    __tablename__ = "line"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(16), unique=True)
    # Unique per enterprise (uq_line_enterprise_*): never a probe of another tenant's kits.
    iccid: Mapped[str | None] = mapped_column(String(22))
    imsi: Mapped[str | None] = mapped_column(String(15))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    state: Mapped[str] = mapped_column(String(16))
    owner_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identity.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"))
    barring_reason: Mapped[str | None] = mapped_column(String(32))
    # The restriction under a suspension (a back-fill-restricted phone reported lost), which
    # lifting the suspension restores.
    restriction_reason: Mapped[str | None] = mapped_column(String(32))
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    owner_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sim_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reverify_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cooling_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    state_changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # 归属地: the region the number is homed in, for back-fill progress by region.
    home_region: Mapped[str | None] = mapped_column(String(6))
    # When the kit first entered a channel's stock (moves between channels keep it): ageing.
    stocked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # A legacy line's prepaid balance (minor units) as billing reported it: refunded if the
    # back-fill campaign terminates the line.
    prepaid_balance_minor: Mapped[int | None] = mapped_column(BigInteger)
    # A legacy line loaded by `realname import legacy`: the import batch is its first event,
    # so millions of rows load without millions of event rows (the check replays from it).
    legacy_import_id: Mapped[int | None] = mapped_column(ForeignKey("legacy_import.id"))
    # Last traffic the network reported (usage feed): "dormant, then active" re-verification.
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        # Partial (0015): legacy lines have no owner and often no channel; lookups by value
        # imply the predicate, so both engines still use these.
        Index(
            "ix_line_owner",
            "owner_identity_id",
            "enterprise_id",
            postgresql_where=text("owner_identity_id IS NOT NULL"),
            sqlite_where=text("owner_identity_id IS NOT NULL"),
        ),
        Index("ix_line_enterprise_state", "enterprise_id", "state"),
        Index(
            "ix_line_channel_state",
            "channel_id",
            "state",
            postgresql_where=text("channel_id IS NOT NULL"),
            sqlite_where=text("channel_id IS NOT NULL"),
        ),
        UniqueConstraint("enterprise_id", "iccid", name="uq_line_enterprise_iccid"),
        UniqueConstraint("enterprise_id", "imsi", name="uq_line_enterprise_imsi"),
    )


class LineEvent(Base):
    """One state change of one line. Never updated, never deleted."""

    __tablename__ = "line_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id"))
    seq: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    owner_before_id: Mapped[int | None] = mapped_column(ForeignKey("identity.id"))
    owner_after_id: Mapped[int | None] = mapped_column(ForeignKey("identity.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    correlation_id: Mapped[str | None] = mapped_column(String(256))
    # HMAC over every other column (registry/integrity.py), keyed outside the database.
    mac_key_id: Mapped[str | None] = mapped_column(String(32))
    mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))

    __table_args__ = (
        UniqueConstraint("line_id", "seq", name="uq_line_event_line_seq"),
        # Partial (0019): most events name no owner or no channel, and their readers look
        # only for a given owner or channel (the `=` or the join implies IS NOT NULL).
        Index(
            "ix_line_event_owner_after",
            "owner_after_id",
            postgresql_where=text("owner_after_id IS NOT NULL"),
            sqlite_where=text("owner_after_id IS NOT NULL"),
        ),
        Index(  # retention: last named
            "ix_line_event_owner_before",
            "owner_before_id",
            postgresql_where=text("owner_before_id IS NOT NULL"),
            sqlite_where=text("owner_before_id IS NOT NULL"),
        ),
        # Channel risk and back-fill progress read a channel's events in a window.
        Index(
            "ix_line_event_channel_time",
            "channel_id",
            "occurred_at",
            postgresql_where=text("channel_id IS NOT NULL"),
            sqlite_where=text("channel_id IS NOT NULL"),
        ),
        Index("ix_line_event_operation_time", "operation", "occurred_at"),
    )


class Holding(Base):
    """How many lines an identity holds at an enterprise; the row is locked to enforce caps."""

    __tablename__ = "holding"

    identity_id: Mapped[int] = mapped_column(ForeignKey("identity.id"), primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"), primary_key=True)
    active_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (CheckConstraint("active_count >= 0", name="not_negative"),)


class EnterpriseSanction(Base):
    """A measure the regulator's enforcement put on an enterprise, which the registry enforces
    while it is in force (`lifted_at` NULL): no new number blocks, no settlement. Who imposed
    it and why is the enforcement action named by `reference` (compliance/), which lifts it;
    the registry only reads the state, so it never imports the layer above it."""

    __tablename__ = "enterprise_sanction"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id"))
    measure: Mapped[str] = mapped_column(String(32))  # registry.sanctions.Measure
    reference: Mapped[str] = mapped_column(String(64))  # e.g. "enforcement_action:12"
    imposed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    imposed_by: Mapped[str] = mapped_column(String(64))
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lifted_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("measure in ('block_allocation', 'settlement')", name="measure"),
        Index("ix_enterprise_sanction_enterprise", "enterprise_id", "measure"),
    )
