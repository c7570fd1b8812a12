"""The tamper-evident audit trail: every write and every unmasked PII read leaves an entry.

Entries form keyed hash chains: `hash = HMAC-SHA256(key[key_id], prev_hash || canonical
entry)`, the key kept outside the database (security/audit_keys.py) and its id recorded on
the entry, so keys rotate and old entries verify under theirs. Editing, deleting or reordering
any entry breaks every later link, and recomputing the links needs the key. Truncation (the
newest entries deleted and the head rewound) is caught against signed checkpoints
(security/checkpoint.py). Sixteen chains, chosen by the object, let unrelated writers append
in parallel.

Two ways to append (docs/audit.md), chosen per process (REALNAME_AUDIT_SEQUENCING, set on the
session by the composition root):

- inline (SQLite, and any session the root did not mark): the chain's head row is locked, the
  entry gets its position and link, the head moves, all in the writer's transaction; the
  head lock is held until it commits, so writers of one chain queue there.
- deferred (PostgreSQL by default): the writer only INSERTs the entry, pending, with no lock
  on any shared row; a sequencer (security/audit_sequencer.py) chains pending entries in
  order a few milliseconds after they commit, as transparency logs do.

Either way each entry carries `content_mac`, a keyed MAC over its content and a random nonce:
a pending entry is tamper-evident before it is chained (the sequencer refuses one whose MAC
fails, `check` reports it), and the MAC is unique, so a copy of an entry is refused too.

Free text (a reason, a purpose, a note) never enters the chain in clear: it is sealed in the
vault (`sealed_note`) and the entry carries only its id and the SHA-256 of its ciphertext.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from realname.security.audit_keys import AuditKeys
from realname.security.models import AuditLog, SealedNote
from realname.security.redact import redact_pii
from realname.security.repository import GENESIS, AuditRepository
from realname.security.vault import KeyRing, Sealed, VaultError

CHAINS = 16
CHAIN_DOMAIN = b"realname.audit.v2\x00"
CONTENT_DOMAIN = b"realname.audit.content.v1\x00"
NONCE_BYTES = 16
NOTE_CONTEXT = "audit.note"
# The session.info key under which the composition root marks a session deferred.
DEFERRED_AUDIT = "realname.audit.deferred"


class AuditDeferral:
    """Put in `session.info[DEFERRED_AUDIT]` by the composition root (wiring.Process) when the
    process appends deferred; shared by all its sessions. `appended` wakes the process's
    sequencer and tells the process it has entries to sequence before it exits."""

    def __init__(self) -> None:
        self.appended = threading.Event()  # set on every deferred append (cleared by its reader)
        self.used = False  # this process appended deferred at least once

    def note_append(self) -> None:
        """A deferred append was made: the process must sequence before it exits, and its
        sequencer wakes."""
        self.used = True
        self.appended.set()


def deferral_of(session: Session) -> AuditDeferral | None:
    marker = session.info.get(DEFERRED_AUDIT)
    return marker if isinstance(marker, AuditDeferral) else None


class EntryContent(Protocol):
    """What the MACs cover: an `AuditLog`, or a row the sequencer read."""

    @property
    def chain(self) -> int: ...
    @property
    def key_id(self) -> str | None: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def object_type(self) -> str: ...
    @property
    def object_id(self) -> str: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def detail(self) -> dict[str, Any]: ...


def chain_for(object_type: str, object_id: str) -> int:
    return zlib.crc32(f"{object_type}:{object_id}".encode()) % CHAINS


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def entry_message(prev_hash: bytes, entry: AuditLog) -> bytes:
    assert entry.position is not None, "a pending entry has no link yet"
    return link_message(prev_hash, entry.position, entry)


def _content_fields(entry: EntryContent) -> dict[str, Any]:
    """An entry's own content: what both its content MAC and its chain link cover."""
    return {
        "chain": entry.chain,
        "key_id": entry.key_id,
        "occurred_at": _instant(entry.occurred_at),
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "correlation_id": entry.correlation_id,
        "detail": entry.detail,
    }


def link_message(prev_hash: bytes, position: int, entry: EntryContent) -> bytes:
    """What an entry's chain link MACs: the previous hash, its position and its content."""
    fields = {**_content_fields(entry), "position": position}
    return CHAIN_DOMAIN + prev_hash + canonical_json(fields).encode()


def entry_hash(keys: AuditKeys, prev_hash: bytes, entry: AuditLog) -> bytes:
    return keys.mac(entry_message(prev_hash, entry), entry.key_id)


def content_message(entry: EntryContent, nonce: bytes) -> bytes:
    """What an entry's content MAC covers: everything but its place in the chain (position,
    previous hash, hash), and a random nonce that makes each entry's MAC its own."""
    fields = {**_content_fields(entry), "nonce": nonce.hex()}
    return CONTENT_DOMAIN + canonical_json(fields).encode()


def content_mac(keys: AuditKeys, entry: EntryContent, nonce: bytes) -> bytes:
    return keys.mac(content_message(entry, nonce), entry.key_id)


def content_intact(
    keys: AuditKeys, entry: EntryContent, nonce: bytes | None, mac: bytes | None
) -> str | None:
    """None when the entry's content MAC verifies; else what is wrong (safe to print)."""
    if nonce is None or mac is None:
        return "pending entry carries no content MAC"
    if not keys.has_mac_key(entry.key_id):
        return "entry is not keyed" if entry.key_id is None else "entry's key is unknown"
    try:
        ok = hmac.compare_digest(content_mac(keys, entry, nonce), bytes(mac))
    except (VaultError, TypeError, ValueError):
        ok = False
    return None if ok else "content altered"


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


@dataclass(frozen=True)
class PendingEntry:
    """An entry as appended, before any chain position: its content, nonce and content MAC
    (an `EntryContent`). Built without a session, so a writer that appends many entries at
    once (the relying parties' group commit) inserts them in one statement."""

    chain: int
    key_id: str | None
    occurred_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    correlation_id: str | None
    detail: dict[str, Any]
    nonce: bytes
    content_mac: bytes

    def columns(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def pending_entry(
    keyring: KeyRing,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
) -> PendingEntry:
    """The entry `append_audit` would append, MAC'd with the active audit key, not written.
    String values of `detail` are redacted by pattern (defence in depth: callers put coded
    values there; free text goes through `append_audit`'s sealed notes)."""
    keys = keyring.audit
    body = {k: redact_pii(v) if isinstance(v, str) else v for k, v in (detail or {}).items()}
    unsigned = PendingEntry(
        chain=chain_for(object_type, object_id),
        key_id=keys.mac_active,
        occurred_at=at.astimezone(UTC),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        correlation_id=correlation_id,
        detail=body,
        nonce=secrets.token_bytes(NONCE_BYTES),
        content_mac=b"",
    )
    return replace(unsigned, content_mac=content_mac(keys, unsigned, unsigned.nonce))


def append_pending(session: Session, entries: Sequence[PendingEntry]) -> None:
    """Insert these entries pending, in one statement; the sequencer chains them. Only on a
    session that appends deferred (`deferral_of`): an inline session appends each entry with
    `append_audit`, which chains it under the head lock."""
    deferral = deferral_of(session)
    if deferral is None:
        raise ValueError("pending entries need a session that appends deferred")
    if entries:
        AuditRepository(session).insert_pending([entry.columns() for entry in entries])
        deferral.note_append()


def deferred_entry(
    session: Session,
    keyring: KeyRing,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
) -> PendingEntry | None:
    """The pending entry `append_audit` would append on this session, for a caller that
    writes it itself, inside one of its own statements (the registration's single write: its
    entry costs no round trip of its own); then `noted_append(session)`. None when the session
    appends inline: the caller then calls `append_audit`, which chains under the head lock."""
    if deferral_of(session) is None:
        return None
    return pending_entry(
        keyring,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        at=at,
        detail=detail,
        correlation_id=correlation_id,
    )


def noted_append(session: Session) -> None:
    """The caller wrote a `deferred_entry` in its own statement: wake the sequencer."""
    deferral = deferral_of(session)
    if deferral is None:
        raise ValueError("pending entries need a session that appends deferred")
    deferral.note_append()


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
    """Append one entry, MAC'd with the active audit key: chained at once (inline), or
    pending until the sequencer chains it (deferred: the session carries an `AuditDeferral`;
    the entry returned then has no position, prev_hash or hash yet).

    `detail` holds coded values (ids, states, masked numbers); free text goes in `notes`,
    which are sealed (see `seal_note`). String values of `detail` are still redacted by
    pattern as defence in depth, but the guarantee is that free text is sealed.
    """
    keys = keyring.audit
    repository = AuditRepository(session)
    sealed = {
        name: seal_note(session, keyring, text, at) for name, text in (notes or {}).items() if text
    }
    built = pending_entry(
        keyring,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        at=at,
        # The sealed notes' references (not strings: never redacted) are content too.
        detail={**(detail or {}), **sealed},
        correlation_id=correlation_id,
    )
    entry = AuditLog(**built.columns(), refused=False)
    deferral = deferral_of(session)
    if deferral is not None:
        # Deferred: one INSERT, no lock on any shared row; the sequencer chains it.
        repository.add(entry)
        deferral.note_append()
        return entry
    head = repository.lock_head(entry.chain)
    entry.position = head.position + 1
    entry.prev_hash = head.head_hash
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
    entry: int | None = None  # the entry's id, for a pending (or refused) entry


@dataclass
class ChainScan:
    """What one pass over the chains saw: problems, the count, each chain's last position and
    hash, the hashes at the positions a checkpoint asked about, and the pending entries
    (deferred mode): how many, and when the oldest was appended."""

    checked: int = 0
    problems: list[ChainProblem] | None = None
    last: dict[int, tuple[int, bytes]] | None = None
    at_positions: dict[tuple[int, int], bytes] | None = None
    pending: int = 0
    oldest_pending: datetime | None = None
    refused: list[int] = field(default_factory=list)


# A pending entry older than this (by the injected clock) means no sequencer is running.
PENDING_ALARM = timedelta(seconds=60)


def verify_audit_chains(
    session: Session,
    keys: AuditKeys,
    wanted: Iterable[tuple[int, int]] = (),
    *,
    now: datetime | None = None,
    pending_alarm: timedelta = PENDING_ALARM,
) -> ChainScan:
    """Recomputes every keyed link, checks positions, links and heads. An entry without a key
    id, or with one this process does not hold, is a problem, never skipped.

    Pending entries (deferred mode) are checked by their content MAC and counted; one the
    sequencer refused is a problem, and so, when `now` is given, is one appended longer than
    `pending_alarm` before it (the sequencer is not running)."""
    repository = AuditRepository(session)
    problems: list[ChainProblem] = []
    positions = set(wanted)
    found: dict[tuple[int, int], bytes] = {}
    checked = 0
    last: dict[int, tuple[int, bytes]] = {}
    for entry in repository.entries_in_chain_order():
        checked += 1
        assert entry.position is not None
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
                ok = (
                    entry.prev_hash is not None
                    and entry_hash(keys, entry.prev_hash, entry) == entry.hash
                )
            except (VaultError, TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(ChainProblem(entry.chain, entry.position, "content altered"))
        if (entry.chain, entry.position) in positions and entry.hash is not None:
            found[(entry.chain, entry.position)] = entry.hash
        last[entry.chain] = (entry.position, entry.hash or b"")
    for chain, head in repository.heads().items():
        position, prev = last.get(chain, (0, GENESIS))
        if (head.position, head.head_hash) != (position, prev):
            problems.append(
                ChainProblem(chain, head.position, "head does not match the last entry")
            )
    scan = ChainScan(checked, problems, last, found)
    _verify_pending(repository, keys, scan, problems, now, pending_alarm)
    return scan


def _verify_pending(
    repository: AuditRepository,
    keys: AuditKeys,
    scan: ChainScan,
    problems: list[ChainProblem],
    now: datetime | None,
    pending_alarm: timedelta,
) -> None:
    stale = 0
    for entry in repository.pending_entries():
        scan.checked += 1
        what = content_intact(keys, entry, entry.nonce, entry.content_mac)
        if entry.refused:
            scan.refused.append(entry.id)
            what = f"refused by the sequencer: {what or 'held out of the chain'}"
        elif what is None:
            scan.pending += 1
            if scan.oldest_pending is None or entry.occurred_at < scan.oldest_pending:
                scan.oldest_pending = entry.occurred_at
            if now is not None and entry.occurred_at < now - pending_alarm:
                stale += 1
            continue
        problems.append(ChainProblem(entry.chain, 0, what, entry=entry.id))
    if stale:
        seconds = int(pending_alarm.total_seconds())
        problems.append(
            ChainProblem(
                -1,
                0,
                f"{stale} entries pending for more than {seconds} s: is the audit sequencer "
                "running? (`realname audit sequence` chains them)",
            )
        )
