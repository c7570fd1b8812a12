"""Keyed MACs over registry rows: every `line_event` column (who, what, when, where, why) and
every clear `identity` column (birth date, sex, region, document type, indexes, sealed values).

The key is the audit key (outside the database, its id stored on the row), so a single SQL
edit of any covered column, or a row moved to another line, fails `realname check`. Writers
that bypass the service (the demo's bulk loader) call the same functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from realname.security.audit import row_mac
from realname.security.audit_keys import AuditKeys

EVENT_DOMAIN = "line_event.v1"
IDENTITY_DOMAIN = "identity.v1"

EVENT_COLUMNS = (
    "line_id",
    "seq",
    "operation",
    "from_state",
    "to_state",
    "owner_before_id",
    "owner_after_id",
    "channel_id",
    "actor",
    "reason",
    "detail",
    "occurred_at",
    "correlation_id",
)
# The row's own id is covered: the sealed values open under any id, so without it two
# identities' contents could be swapped and every line would change owner unnoticed.
IDENTITY_COLUMNS = (
    "id",
    "doc_type",
    "number_index",
    "name_index",
    "key_id",
    "number_sealed",
    "name_sealed",
    "address_sealed",
    "birth_date",
    "sex",
    "region_code",
    "nationality",
    "verified_at",
    "created_at",
)

# A purged identity (registry/retention.py) is MAC'd under a domain of its own, over the same
# columns plus `purged_at`: a live row's MAC never verifies as a purged one, nor the reverse.
IDENTITY_PURGED_DOMAIN = "identity.purged.v1"
IDENTITY_PURGED_COLUMNS = (*IDENTITY_COLUMNS, "purged_at")
# What a purge leaves in the PII columns, and the key id it records (no key seals anything).
PURGED_KEY_ID = "-"
PURGED_TO_NULL = (
    "number_index",
    "name_index",
    "number_sealed",
    "name_sealed",
    "address_sealed",
    "birth_date",
)

# A coded reason: lower-case words (`lost`, `risk:night_bursts,disputed_lines`), no digits
# and no spaces, so it can never spell an ID, a phone number or a name. Anything else a person
# typed is a note, and notes are sealed.
REASON_CODE = re.compile(r"[a-z][a-z_.:,-]{0,199}")


def is_reason_code(text: str) -> bool:
    return REASON_CODE.fullmatch(text) is not None


def event_mac(keys: AuditKeys, values: Sequence[Any], key_id: str | None = None) -> bytes:
    """MAC of one event's values in EVENT_COLUMNS order."""
    kid = key_id or keys.mac_active
    return row_mac(keys, EVENT_DOMAIN, (kid, *values), kid)


def identity_mac(keys: AuditKeys, values: Sequence[Any], key_id: str | None = None) -> bytes:
    kid = key_id or keys.mac_active
    return row_mac(keys, IDENTITY_DOMAIN, (kid, *values), kid)


def seal_event_row(keys: AuditKeys, row: dict[str, Any]) -> dict[str, Any]:
    """Add `mac_key_id` and `mac` to an event row given as a dict (bulk loaders)."""
    row["mac_key_id"] = keys.mac_active
    row["mac"] = event_mac(keys, [row.get(c) for c in EVENT_COLUMNS])
    return row


def seal_identity_row(keys: AuditKeys, row: dict[str, Any]) -> dict[str, Any]:
    row["mac_key_id"] = keys.mac_active
    row["mac"] = identity_mac(keys, [row.get(c) for c in IDENTITY_COLUMNS])
    return row


def mac_object(keys: AuditKeys, obj: Any, columns: Sequence[str], domain: str) -> None:
    """Set `mac_key_id` and `mac` on an ORM object from its current values."""
    kid = keys.mac_active
    obj.mac_key_id = kid
    obj.mac = row_mac(keys, domain, (kid, *(getattr(obj, c) for c in columns)), kid)


def mac_event(keys: AuditKeys, event: Any) -> None:
    mac_object(keys, event, EVENT_COLUMNS, EVENT_DOMAIN)


def mac_identity(keys: AuditKeys, identity: Any) -> None:
    mac_object(keys, identity, IDENTITY_COLUMNS, IDENTITY_DOMAIN)


def mac_purged_identity(keys: AuditKeys, identity: Any) -> None:
    mac_object(keys, identity, IDENTITY_PURGED_COLUMNS, IDENTITY_PURGED_DOMAIN)


def verify_row(
    keys: AuditKeys, domain: str, values: Sequence[Any], key_id: str | None, mac: bytes | None
) -> str | None:
    """None when the stored MAC is right, else what is wrong (safe to print)."""
    if mac is None or key_id is None:
        return "carries no MAC"
    if not keys.has_mac_key(key_id):
        return "is MAC'd with a key this process does not hold"
    if row_mac(keys, domain, (key_id, *values), key_id) != mac:
        return "was altered (MAC mismatch)"
    return None
