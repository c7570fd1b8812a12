"""`realname check`: an fsck for the registry.

Everything the service promises is re-derived from first principles and compared: the line
table against the replay of its events, holdings against real counts, caps, owners,
encryption of PII, the keyed MAC of every event and identity row, the keyed audit chains and
the signed checkpoints they must still extend, and every text column (and any log file given)
scanned for ID and phone numbers in any spelling. It reads only; it repairs nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, LargeBinary, String, Table, Text, cast, func, select
from sqlalchemy.orm import Session

from realname.db.base import Base
from realname.policy.schema import CapScope, Policy
from realname.registry.check_rows import CheckRepository, converters, instant_key
from realname.registry.identities import NAME_CONTEXT, NUMBER_CONTEXT, opened_fields
from realname.registry.integrity import (
    EVENT_COLUMNS,
    EVENT_DOMAIN,
    IDENTITY_COLUMNS,
    IDENTITY_DOMAIN,
    IDENTITY_PURGED_COLUMNS,
    IDENTITY_PURGED_DOMAIN,
    PURGED_KEY_ID,
    verify_row,
)
from realname.registry.models import Identity, Line, LineEvent
from realname.registry.replay import (
    cached_columns,
    grouped,
    mask_line,
    replay_line,
    replays_cleanly,
)
from realname.security.audit import (
    NOTE_PURGED_KEY_ID,
    is_purged_note,
    note_refs,
    open_note,
    verify_audit_chains,
)
from realname.security.audit_keys import AuditKeys
from realname.security.checkpoint import (
    CheckpointError,
    compare,
    positions_of,
    read_checkpoints,
)
from realname.security.clients import CLIENT_OBJECT, client_authority
from realname.security.models import ApiClient, SealedNote
from realname.security.redact import contains_pii
from realname.security.repository import AuditRepository
from realname.security.vault import KeyRing, VaultError

EVENT_TEXT_COLUMNS = (
    "operation",
    "from_state",
    "to_state",
    "actor",
    "reason",
    "detail",
    "correlation_id",
)
_DIGEST = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
# Append-only tables whose high-water marks a checkpoint records.
APPEND_ONLY = ("line_event", "sealed_note")
# Columns that hold numbers by design (the line's own number and SIM, block bounds, an SMS's
# destination, a cached API answer about a line); every other text column is scanned.
NUMBER_COLUMNS = {
    ("line", "msisdn"),
    ("line", "iccid"),
    ("line", "imsi"),
    ("number_block", "first"),
    ("number_block", "last"),
    ("outbox_message", "destination"),
    ("idempotent_request", "response"),
    ("api_client", "secret_hash"),
}


@dataclass
class CheckResult:
    name: str
    examined: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class IntegrityReport:
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def violation_count(self) -> int:
        return sum(len(r.violations) for r in self.results)


def run_integrity_check(
    session: Session,
    policy: Policy,
    keyring: KeyRing,
    progress: Callable[[str], None] | None = None,
    *,
    checkpoints: Path | None = None,
    logs: Sequence[Path] = (),
) -> IntegrityReport:
    """`checkpoints`: a JSONL file of signed checkpoints the chains must still extend;
    `logs`: log files to scan for PII shapes."""
    session.flush()  # the raw reads below do not autoflush as ORM queries did
    repo = CheckRepository(session)
    steps: list[tuple[str, Callable[[CheckRepository, Policy, KeyRing, Session], CheckResult]]] = [
        ("held lines have verified owners", _owners),
        ("holdings equal the real counts", _holdings),
        ("holdings respect the caps", _caps),
        ("line state equals the replay of its events", _replay),
        ("line events carry their keyed MAC and no PII", _event_macs),
        ("identities carry their keyed MAC", _identity_macs),
        ("PII is sealed and opens", _pii),
        ("no text column holds an ID or phone number", _text_columns),
        ("sealed notes are intact", _notes),
        ("API clients are what the audit chain says", _clients),
        (
            "audit chains are intact, keyed, and extend the checkpoints",
            lambda r, p, k, s: _audit(r, p, k, s, checkpoints),
        ),
    ]
    if logs:
        steps.append(("logs hold no ID or phone number", lambda r, p, k, s: _logs(logs)))
    results = []
    for name, step in steps:
        if progress:
            progress(name)
        result = step(repo, policy, keyring, session)
        result.name = name
        results.append(result)
    return IntegrityReport(results)


def _owners(repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    result = CheckResult("")
    rows = repo.unverified_owners_of_held_lines()
    result.examined = sum(repo.held_counts().values())
    for msisdn, owner in rows:
        why = "no owner" if owner is None else f"owner identity {owner} never verified"
        result.violations.append(f"line {mask_line(msisdn)} is in service with {why}")
    return result


def _holdings(repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    result = CheckResult("")
    real = repo.held_counts()
    recorded = repo.holdings()
    keys = set(real) | {k for k, v in recorded.items() if v}
    result.examined = len(keys)
    for identity_id, enterprise_id in sorted(keys):
        have, says = (
            real.get((identity_id, enterprise_id), 0),
            recorded.get((identity_id, enterprise_id), 0),
        )
        if have != says:
            result.violations.append(
                f"identity {identity_id} at enterprise {enterprise_id}: holding says {says}, "
                f"lines say {have}"
            )
    return result


def _caps(repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    result = CheckResult("")
    real = repo.held_counts()
    result.examined = len(real)
    enterprise_cap = policy.cap(CapScope.ENTERPRISE)
    national_cap = policy.cap(CapScope.NATIONAL)
    national: dict[int, int] = {}
    for (identity_id, enterprise_id), count in sorted(real.items()):
        national[identity_id] = national.get(identity_id, 0) + count
        if enterprise_cap is not None and count > enterprise_cap:
            result.violations.append(
                f"identity {identity_id} holds {count} lines at enterprise {enterprise_id} "
                f"(cap {enterprise_cap})"
            )
    if national_cap is not None:
        for identity_id, count in sorted(national.items()):
            if count > national_cap:
                result.violations.append(
                    f"identity {identity_id} holds {count} lines nationally (cap {national_cap})"
                )
    return result


def _replay(repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    """Merge-join lines and events (both ordered by line id), so memory stays flat. Driver
    tuples (check_rows.py), timestamps brought to a form that is equal exactly when the
    instants are."""
    result = CheckResult("")
    lines, events_table = _table(Line), _table(LineEvent)
    instant = instant_key(s, lines.c.activated_at)
    moves = repo.raw_rows(events_table, _MOVE_COLUMNS, order_by="line_id,seq")
    if instant is not None:
        moves = ((*row[:8], instant(row[8])) for row in moves)
    events = grouped(moves)
    pending = next(events, None)
    examined = 0
    violations = result.violations
    for line in repo.raw_rows(lines, _LINE_COLUMNS, order_by="id"):
        examined += 1
        line_id = line[0]
        while pending is not None and pending[0] < line_id:
            violations.append(f"events for line id {pending[0]}, which does not exist")
            pending = next(events, None)
        mine: list[Any] = []
        if pending is not None and pending[0] == line_id:
            mine = pending[1]
            pending = next(events, None)
        if instant is not None:
            line = (*line[:7], instant(line[7]), instant(line[8]), instant(line[9]))
        if (mine or line[5] is not None) and replays_cleanly(line, mine):
            violations.extend(cached_columns(line, mine))
            continue
        violations.extend(replay_line(line, mine))
    while pending is not None:
        violations.append(f"events for line id {pending[0]}, which does not exist")
        pending = next(events, None)
    result.examined = examined
    return result


# What the replay reads (registry/replay.py indexes them by position).
_LINE_COLUMNS = (
    "id",
    "msisdn",
    "state",
    "owner_identity_id",
    "event_count",
    "legacy_import_id",
    # The columns that cache what the events say (checked against them):
    "channel_id",
    "activated_at",
    "owner_since",
    "sim_changed_at",
)
_MOVE_COLUMNS = (
    "line_id",
    "seq",
    "operation",
    "from_state",
    "to_state",
    "owner_after_id",
    "owner_before_id",
    "channel_id",
    "occurred_at",
)


def _clients(repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    """Each client's role, tenant, scopes and status against its last audit entry: the row has
    no MAC, and who may act as whom is exactly what an attacker would change (a client row
    inserted behind the service's back has no entry at all)."""
    result = CheckResult("")
    recorded = AuditRepository(s).latest_details(CLIENT_OBJECT)
    for client in s.scalars(select(ApiClient).order_by(ApiClient.id)):
        result.examined += 1
        detail = recorded.get(client.client_id)
        if detail is None:
            result.violations.append(f"client {client.client_id} has no audit record")
        elif detail != client_authority(client):
            changed = sorted(k for k, v in client_authority(client).items() if detail.get(k) != v)
            result.violations.append(
                f"client {client.client_id}: {', '.join(changed)} differ from the audit chain"
            )
    return result


def _audit_keys(keyring: KeyRing, result: CheckResult) -> AuditKeys | None:
    try:
        return keyring.audit
    except VaultError as error:
        result.violations.append(str(error))
        return None


def _event_macs(repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    """Driver tuples (check_rows.py); the PII scan of an event's text columns is computed
    once per distinct combination of their values (events share a handful of them)."""
    result = CheckResult("")
    keys = _audit_keys(keyring, result)
    if keys is None:
        return result
    width = len(EVENT_COLUMNS)
    columns = ("id", *EVENT_COLUMNS, "mac_key_id", "mac")
    table = _table(LineEvent)
    convert = [(i + 1, f) for i, f in enumerate(converters(s, table, EVENT_COLUMNS)) if f]
    texts = [i + 1 for i, c in enumerate(EVENT_COLUMNS) if c in EVENT_TEXT_COLUMNS]
    scanned: dict[Any, bool] = {}
    examined = 0
    violations = result.violations
    for raw in repo.raw_rows(table, columns):
        examined += 1
        row = list(raw)
        for i, f in convert:
            row[i] = f(row[i])
        problem = verify_row(keys, EVENT_DOMAIN, row[1 : width + 1], row[-2], row[-1])
        if problem is not None:
            violations.append(f"line event {row[0]} {problem}")
        # The text scan of line_event happens here, on the rows already read.
        seen: Any = tuple(raw[i] for i in texts)
        try:
            holds = scanned.get(seen)
        except TypeError:  # a parsed JSON document (PostgreSQL) is not hashable: its text is
            seen = "\x00".join(_as_text(row[i]) for i in texts)
            holds = scanned.get(seen)
        if holds is None:
            text = seen if isinstance(seen, str) else "\x00".join(_as_text(row[i]) for i in texts)
            holds = contains_pii(text)
            if len(scanned) < 100_000:
                scanned[seen] = holds
        if holds:
            violations.append(f"line event {row[0]} holds an ID or phone number")
    result.examined = examined
    return result


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _identity_macs(
    repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session
) -> CheckResult:
    result = CheckResult("")
    keys = _audit_keys(keyring, result)
    if keys is None:
        return result
    width = len(IDENTITY_COLUMNS)
    columns = ("id", *IDENTITY_PURGED_COLUMNS, "mac_key_id", "mac")
    table = _table(Identity)
    convert = [(i + 1, f) for i, f in enumerate(converters(s, table, IDENTITY_PURGED_COLUMNS)) if f]
    # The encoder's tag for bytes ("B" + hex), applied here rather than in its callback.
    binary = [i + 1 for i, c in enumerate(IDENTITY_PURGED_COLUMNS) if c in _BINARY_IDENTITY]
    examined = 0
    for raw in repo.raw_rows(table, columns):
        examined += 1
        row = list(raw)
        for i, f in convert:
            row[i] = f(row[i])
        for i in binary:
            value = row[i]
            if isinstance(value, bytes):
                row[i] = "B" + value.hex()
        # A purged row (purged_at set) is MAC'd under its own domain, over purged_at too.
        if row[width + 1] is None:
            problem = verify_row(keys, IDENTITY_DOMAIN, row[1 : width + 1], row[-2], row[-1])
        else:
            problem = verify_row(keys, IDENTITY_PURGED_DOMAIN, row[1 : width + 2], row[-2], row[-1])
        if problem is not None:
            result.violations.append(f"identity {row[0]} {problem}")
    result.examined = examined
    return result


_BINARY_IDENTITY = ("number_index", "name_index", "number_sealed", "name_sealed", "address_sealed")


def _pii(repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    """Every sealed value opens, and both blind indexes match what it opens to (a number or a
    name swapped between two identities fails here). A purged identity holds exactly nothing
    of its record (registry/retention.py) and no line names it as owner; a row with part of
    its record gone, or purged in part, is reported."""
    result = CheckResult("")
    for (
        identity_id,
        key_id,
        number_sealed,
        name_sealed,
        address_sealed,
        number_index,
        name_index,
        purged_at,
        birth_date,
    ) in repo.iter_sealed_identities():
        result.examined += 1
        record = (number_sealed, name_sealed, address_sealed, number_index, name_index)
        if purged_at is not None:
            if any(v is not None for v in (*record, birth_date)) or key_id != PURGED_KEY_ID:
                result.violations.append(f"identity {identity_id} is purged only in part")
            continue
        if None in (number_sealed, name_sealed, number_index, name_index):
            result.violations.append(
                f"identity {identity_id} lost part of its record but is not marked purged"
            )
            continue
        try:
            clear = opened_fields(keyring, key_id, number_sealed, name_sealed, address_sealed)
        except VaultError:
            result.violations.append(f"identity {identity_id}: a sealed value does not open")
            continue
        if keyring.blind_index(clear.document_number or "", NUMBER_CONTEXT) != number_index:
            result.violations.append(f"identity {identity_id}: blind index does not match")
        elif keyring.blind_index(clear.name or "", NAME_CONTEXT) != name_index:
            result.violations.append(f"identity {identity_id}: name index does not match")
    for identity_id, msisdn in repo.purged_identities_holding_lines():
        result.violations.append(
            f"identity {identity_id} is purged but line {mask_line(msisdn)} names it as owner"
        )
    return result


def _text_columns(
    repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session
) -> CheckResult:
    """Every String, Text and JSON column of every table the entry point loaded (the CLI
    loads them all), with the redactor's normaliser. Set-based: each column's distinct values
    are read once (`GROUP BY`) and tested once (most columns hold a handful: states, codes,
    regions); the rows that carry a value that fails are then fetched by key. A value is
    tested alone, as it was after a row's joined values failed (no number spans two
    columns)."""
    result = CheckResult("")
    found: list[tuple[tuple[Any, ...], int, str]] = []
    for table in list(Base.metadata.tables.values()):
        columns = [
            c
            for c in table.columns
            if isinstance(c.type, String | Text | JSON)
            and not isinstance(c.type, LargeBinary)
            and (table.name, c.name) not in NUMBER_COLUMNS
        ]
        if not columns or table.name == "line_event":  # scanned with its MACs
            continue
        result.examined += int(s.scalar(select(func.count()).select_from(table)) or 0)
        key = list(table.primary_key.columns)
        found.clear()
        for index, column in enumerate(columns):
            # JSON compared as its text (PostgreSQL's `json` has no equality), parsed as the
            # ORM would have parsed it before it is tested.
            document = isinstance(column.type, JSON)
            value = cast(column, Text) if document else column
            bad = []
            for (distinct,) in s.execute(select(value).where(value.is_not(None)).distinct()):
                text = _as_text(json.loads(distinct) if document else distinct)
                if text and contains_pii(text):
                    bad.append(distinct)
            for distinct in bad:
                for row in s.execute(select(*key).where(value == distinct)):
                    found.append((tuple(row), index, column.name))
        for pk, _index, name in sorted(found, key=lambda f: (f[0], f[1])):
            where = "/".join(str(v) for v in pk)
            result.violations.append(f"{table.name} {where}: {name} holds an ID or phone number")
    return result


def _as_text(value: Any) -> str:
    """A column value as one string: JSON as written without escapes (so full-width digits
    stay visible), digests (64 hex digits: a sealed note's SHA-256, an import file's), whose
    random digit runs are no one's number, left out."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return _DIGEST.sub("#", value) if len(value) >= 64 else value


def _notes(repo: CheckRepository, policy: Policy, keyring: KeyRing, s: Session) -> CheckResult:
    """Each sealed note opens and matches the digest its references carry. A purged note (its
    ciphertext destroyed with its identity by the retention job) is accepted exactly when an
    event naming a purged identity as owner references it; a note purged in part, a purged
    note no such event references, and a note of a purged identity that still opens are
    reported."""
    result = CheckResult("")
    digests: dict[int, bytes] = {}
    purged: set[int] = set()
    partial: set[int] = set()
    for note in s.scalars(select(SealedNote)):
        result.examined += 1
        digests[note.id] = note.digest
        if is_purged_note(note):
            purged.add(note.id)
            continue
        if note.key_id == NOTE_PURGED_KEY_ID or not note.blob:
            result.violations.append(f"sealed note {note.id} is purged only in part")
            partial.add(note.id)
            continue
        try:
            open_note(keyring, note)
        except VaultError:
            result.violations.append(f"sealed note {note.id} does not open")
        if hashlib.sha256(note.blob).digest() != note.digest:
            result.violations.append(f"sealed note {note.id} does not match its digest")
    sources = (
        ("line event", repo.iter_event_details()),
        ("audit entry", AuditRepository(s).details()),
    )
    for what, rows in sources:
        for row_id, detail in rows:
            for ref in note_refs(detail):
                digest = digests.get(ref["note"]) if isinstance(ref["note"], int) else None
                if digest is None or digest.hex() != ref["sha256"]:
                    result.violations.append(f"{what} {row_id}: its sealed note is not the one")
    of_purged: set[int] = set()
    for _event_id, detail in repo.note_events_of_owners(None):
        of_purged.update(r["note"] for r in note_refs(detail) if isinstance(r["note"], int))
    for note_id in sorted(purged - of_purged):
        result.violations.append(
            f"sealed note {note_id} is purged but no event of a purged identity refers to it"
        )
    for note_id in sorted(of_purged & digests.keys() - purged - partial):
        result.violations.append(f"sealed note {note_id} of a purged identity still holds its text")
    return result


def _audit(
    repo: CheckRepository,
    policy: Policy,
    keyring: KeyRing,
    s: Session,
    checkpoints: Path | None,
) -> CheckResult:
    result = CheckResult("")
    keys = _audit_keys(keyring, result)
    if keys is None:
        return result
    reads = []
    if checkpoints is not None:
        try:
            reads = read_checkpoints(checkpoints, keys)
        except CheckpointError as error:
            result.violations.append(str(error))
    scan = verify_audit_chains(s, keys, positions_of(reads))
    result.examined = scan.checked
    result.violations += [
        f"audit chain {p.chain} at {p.position}: {p.what}" for p in scan.problems or []
    ]
    audit = AuditRepository(s)
    for read in reads:
        if read.checkpoint is None:
            result.violations.append(f"checkpoint line {read.line_no}: {read.problem}")
            continue
        when = read.checkpoint.at.isoformat(timespec="seconds")
        for problem in compare(read.checkpoint, scan):
            result.violations.append(f"checkpoint of {when}: {problem}")
        for name, (top, count) in read.checkpoint.tables.items():
            table = Base.metadata.tables.get(name)
            if not isinstance(table, Table) or name not in APPEND_ONLY:
                result.violations.append(f"checkpoint of {when}: unknown table {name}")
                continue
            now = audit.rows_up_to(table, top)
            if now != count:
                result.violations.append(
                    f"checkpoint of {when}: {name} had {count} rows up to id {top}, now {now}"
                )
    return result


def append_only_marks(s: Session) -> dict[str, tuple[int, int]]:
    """What a checkpoint records of the append-only tables."""
    audit = AuditRepository(s)
    return {name: audit.high_water(Base.metadata.tables[name]) for name in APPEND_ONLY}


def _logs(paths: Sequence[Path]) -> CheckResult:
    result = CheckResult("")
    for path in paths:
        try:
            handle = path.open(encoding="utf-8", errors="replace")
        except OSError as error:
            result.violations.append(f"cannot read log {path}: {error.strerror}")
            continue
        with handle:
            for line_no, line in enumerate(handle, start=1):
                result.examined += 1
                if contains_pii(line):
                    result.violations.append(f"{path}:{line_no} holds an ID or phone number")
    return result
