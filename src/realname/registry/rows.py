"""Plain rows the registration hot path reads and hands on: no ORM object, no session.

The registration (`registry/registration.py`) reads the counter (channel, clerk, licence) and
the line in one statement and keeps what it read here; the answer to the caller is built from
the same values, never re-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from realname.registry.integrity import IDENTITY_COLUMNS


@dataclass(slots=True)
class LineRow:
    """The line's columns a counter operation decides on and answers with. Mutable: the
    operation sets what it changes, and the row then is what the database holds."""

    id: int
    msisdn: str
    iccid: str | None
    enterprise_id: int
    state: str
    owner_identity_id: int | None
    channel_id: int | None
    barring_reason: str | None
    restriction_reason: str | None
    activated_at: datetime | None
    owner_since: datetime | None
    sim_changed_at: datetime | None
    reverify_deadline: datetime | None
    cooling_until: datetime | None
    state_changed_at: datetime | None
    stocked_at: datetime | None
    event_count: int
    owner: MaskedOwner | None = None  # set by an operation that knows the owner (masked)


@dataclass(frozen=True, slots=True)
class CounterRow:
    """A desk as the database has it: the channel (None: no such channel), its clerk (None:
    no such clerk) and its enterprise's licence."""

    channel_id: int | None
    channel_enterprise_id: int | None
    channel_kind: str | None
    channel_status: str | None
    channel_status_reason: str | None
    clerk_channel_id: int | None
    clerk_status: str | None
    licence_status: str | None


@dataclass(frozen=True, slots=True)
class MaskedOwner:
    """A line's owner as the API shows it to anyone who may see the line."""

    document_type: str
    document_number: str
    name: str


# IdentityRow's fields, in order: the columns a registration reads of an identity.
IDENTITY_ROW_COLUMNS = (*IDENTITY_COLUMNS, "mac", "purged_at")


@dataclass(frozen=True, slots=True)
class IdentityRow:
    """Every column of an identity row its MAC covers, the MAC, and whether it was purged."""

    id: int
    doc_type: str
    number_index: bytes | None
    name_index: bytes | None
    key_id: str
    number_sealed: bytes | None
    name_sealed: bytes | None
    address_sealed: bytes | None
    birth_date: date | None
    sex: str | None
    region_code: str | None
    nationality: str | None
    verified_at: datetime | None
    created_at: datetime
    mac: bytes | None
    purged_at: datetime | None


@dataclass(frozen=True, slots=True)
class HeldIdentity:
    """The identity a registration attaches the line to: its id, its MAC as read (the write
    goes through only if the row still carries it: nothing changed it since), and what the
    registration writes on it."""

    id: int
    seen_mac: bytes | None
    writes: dict[str, Any]
    inserted: bool = False  # a new row, inserted by this registration


@dataclass(frozen=True, slots=True)
class Written:
    """What the registration's write found: the line and the identity as read (each unchanged
    since), and the holding's new count (None: at the cap, or not tried). Nothing is written
    unless all three hold."""

    line_unchanged: bool
    identity_unchanged: bool
    held: int | None
