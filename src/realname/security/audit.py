"""The tamper-evident audit trail: every write and every unmasked PII read leaves an entry.

Entries form keyed hash chains: `hash = HMAC-SHA256(key[key_id], prev_hash || canonical
entry)`, the key kept outside the database (security/audit_keys.py) and its id recorded on
the entry, so keys rotate and old entries verify under theirs. Editing, deleting or reordering
any entry breaks every later link, and recomputing the links needs the key. Truncation (the
newest entries deleted and the head rewound) is caught against signed checkpoints
(security/checkpoint.py). Sixteen chains, chosen by the object, let unrelated writers append
in parallel; each chain's head row is locked while appending, so a chain never forks.

Free text (a reason, a purpose, a note) never enters the chain in clear: it is sealed in the
vault (`sealed_note`) and the entry carries only its id and the SHA-256 of its ciphertext.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from realname.security.audit_keys import AuditKeys
from realname.security.models import AuditLog, SealedNote
from realname.security.redact import redact_pii
from realname.security.repository import GENESIS, AuditRepository
from realname.security.vault import KeyRing, Sealed, VaultError

CHAINS = 16
CHAIN_DOMAIN = b"realname.audit.v2\x00"
NOTE_CONTEXT = "audit.note"


def chain_for(object_type: str, object_id: str) -> int:
    return zlib.crc32(f"{object_type}:{object_id}".encode()) % CHAINS


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def entry_message(prev_hash: bytes, entry: AuditLog) -> bytes:
    fields = {
        "chain": entry.chain,
        "position": entry.position,
        "key_id": entry.key_id,
        "occurred_at": _instant(entry.occurred_at),
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "correlation_id": entry.correlation_id,
        "detail": entry.detail,
    }
    return CHAIN_DOMAIN + prev_hash + canonical_json(fields).encode()


def entry_hash(keys: AuditKeys, prev_hash: bytes, entry: AuditLog) -> bytes:
    return keys.mac(entry_message(prev_hash, entry), entry.key_id)


def legacy_entry_hash(prev_hash: bytes, entry: AuditLog) -> bytes:
    """The unkeyed SHA-256 link of releases before 0007 (the migration re-keys them)."""
    fields = {
        "chain": entry.chain,
        "position": entry.position,
        "occurred_at": _instant(entry.occurred_at),
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "correlation_id": entry.correlation_id,
        "detail": entry.detail,
    }
    return hashlib.sha256(prev_hash + canonical_json(fields).encode()).digest()


# --- row MACs (line events, identities) ---------------------------------------------------------


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return "T" + _instant(value)
    if isinstance(value, date):
        return "D" + value.isoformat()
    if isinstance(value, bytes):
        return "B" + value.hex()
    raise TypeError(f"cannot MAC a {type(value).__name__}")


_ROW_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
)


def encode_fields(domain: str, fields: Iterable[object]) -> bytes:
    """An unambiguous byte encoding of a row's values, in column order: canonical JSON of
    the list (JSON keeps None, numbers and strings apart; instants, dates and bytes get a
    tagged string). The C encoder keeps `check` fast over millions of rows."""
    return (domain + "\x00" + _ROW_ENCODER.encode(list(fields))).encode()


def row_mac(
    keys: AuditKeys, domain: str, fields: Iterable[object], key_id: str | None = None
) -> bytes:
    return keys.mac(encode_fields(domain, fields), key_id)


# --- sealed free text --------------------------------------------------------------------------


def seal_note(session: Session, keyring: KeyRing, text: str, at: datetime) -> dict[str, Any]:
    """Seal free text in the vault; the reference (id, SHA-256 of the ciphertext) is what the
    chain and the event MACs cover. The text itself never enters an append-only record."""
    sealed = keyring.seal(text, NOTE_CONTEXT)
    digest = hashlib.sha256(sealed.blob).digest()
    note = SealedNote(key_id=sealed.key_id, blob=sealed.blob, digest=digest, created_at=at)
    session.add(note)
    session.flush()
    return {"note": note.id, "sha256": digest.hex()}


def open_note(keyring: KeyRing, note: SealedNote) -> str:
    """The note's text; a purged note (see `purge_notes`) opens to nothing: VaultError."""
    if is_purged_note(note):
        raise VaultError("the note was purged")
    return keyring.open(Sealed(note.key_id, note.blob), NOTE_CONTEXT)


# A purged note keeps its row (id, digest, creation time: the references in the chain and the
# event MACs still resolve, and a checkpoint's row count of `sealed_note` still holds) and loses
# its ciphertext: the blob is emptied and the key id set to this marker, which names no key.
NOTE_PURGED_KEY_ID = "-"


def is_purged_note(note: SealedNote) -> bool:
    return note.key_id == NOTE_PURGED_KEY_ID and not note.blob


def purge_notes(session: Session, note_ids: Iterable[int]) -> list[int]:
    """Destroy these notes' ciphertext in place (the retention job, registry/retention.py);
    returns the ids that still held one (a purged note is left as it is)."""
    return AuditRepository(session).purge_notes(sorted(set(note_ids)), NOTE_PURGED_KEY_ID)


def note_refs(detail: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The sealed-note references inside a detail object."""
    found = []
    for value in (detail or {}).values():
        if isinstance(value, dict) and "note" in value and "sha256" in value:
            found.append(value)
    return found


def append_audit(
    session: Session,
    keyring: KeyRing,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
    notes: Mapping[str, str | None] | None = None,
    correlation_id: str | None = None,
) -> AuditLog:
    """Append one entry, MAC'd with the active audit key.

    `detail` holds coded values (ids, states, masked numbers); free text goes in `notes`,
    which are sealed (see `seal_note`). String values of `detail` are still redacted by
    pattern as defence in depth, but the guarantee is that free text is sealed.
    """
    keys = keyring.audit
    repository = AuditRepository(session)
    body = {k: redact_pii(v) if isinstance(v, str) else v for k, v in (detail or {}).items()}
    for name, text in (notes or {}).items():
        if text:
            body[name] = seal_note(session, keyring, text, at)
    chain = chain_for(object_type, object_id)
    head = repository.lock_head(chain)
    entry = AuditLog(
        chain=chain,
        position=head.position + 1,
        key_id=keys.mac_active,
        occurred_at=at.astimezone(UTC),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        correlation_id=correlation_id,
        detail=body,
        prev_hash=head.head_hash,
    )
    entry.hash = entry_hash(keys, head.head_hash, entry)
    repository.add(entry)
    head.position = entry.position
    head.head_hash = entry.hash
    return entry


@dataclass(frozen=True)
class ChainProblem:
    chain: int
    position: int
    what: str


@dataclass
class ChainScan:
    """What one pass over the chains saw: problems, the count, each chain's last position and
    hash, and the hashes at the positions a checkpoint asked about."""

    checked: int = 0
    problems: list[ChainProblem] | None = None
    last: dict[int, tuple[int, bytes]] | None = None
    at_positions: dict[tuple[int, int], bytes] | None = None


def verify_audit_chains(
    session: Session, keys: AuditKeys, wanted: Iterable[tuple[int, int]] = ()
) -> ChainScan:
    """Recomputes every keyed link, checks positions, links and heads. An entry without a key
    id, or with one this process does not hold, is a problem, never skipped."""
    repository = AuditRepository(session)
    problems: list[ChainProblem] = []
    positions = set(wanted)
    found: dict[tuple[int, int], bytes] = {}
    checked = 0
    last: dict[int, tuple[int, bytes]] = {}
    for entry in repository.entries_in_chain_order():
        checked += 1
        position, prev = last.get(entry.chain, (0, GENESIS))
        if entry.position != position + 1:
            problems.append(
                ChainProblem(entry.chain, entry.position, f"gap: expected {position + 1}")
            )
        if entry.prev_hash != prev:
            problems.append(ChainProblem(entry.chain, entry.position, "link to previous broken"))
        if not keys.has_mac_key(entry.key_id):
            what = "entry is not keyed" if entry.key_id is None else "entry's key is unknown"
            problems.append(ChainProblem(entry.chain, entry.position, what))
        else:
            try:
                ok = entry_hash(keys, entry.prev_hash, entry) == entry.hash
            except (VaultError, TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(ChainProblem(entry.chain, entry.position, "content altered"))
        if (entry.chain, entry.position) in positions:
            found[(entry.chain, entry.position)] = entry.hash
        last[entry.chain] = (entry.position, entry.hash)
    for chain, head in repository.heads().items():
        position, prev = last.get(chain, (0, GENESIS))
        if (head.position, head.head_hash) != (position, prev):
            problems.append(
                ChainProblem(chain, head.position, "head does not match the last entry")
            )
    return ChainScan(checked, problems, last, found)
