"""`realname check`: an fsck for the registry.

Everything the service promises is re-derived from first principles and compared: the line
table against the replay of its events, holdings against real counts, caps, owners,
encryption of PII, the keyed MAC of every event and identity row, the keyed audit chains and
the signed checkpoints they must still extend, and every text column (and any log file given)
scanned for ID and phone numbers in any spelling. It reads only; it repairs nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from realname.db.base import Base
from realname.policy.schema import CapScope, Policy
from realname.registry.check_rows import CheckRepository, instant_key
from realname.registry.models import Line, LineEvent
from realname.registry.replay import (
    cached_columns,
    grouped,
    replay_line,
    replays_cleanly,
)
from realname.registry.row_checks import (
    EVENT_MACS,
    OWNERS,
    CheckResult,
    audit_keys_or_violation,
    event_macs,
    held_lines_owners,
    identity_macs,
    sealed_pii,
    start_workers,
    table_of,
    text_columns,
)
from realname.security.audit import (
    NOTE_PURGED_KEY_ID,
    PENDING_ALARM,
    is_purged_note,
    note_refs,
    open_note,
    verify_audit_chains,
)
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

# Append-only tables whose high-water marks a checkpoint records.
APPEND_ONLY = ("line_event", "sealed_note")


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
    now: datetime | None = None,
    pending_alarm: timedelta = PENDING_ALARM,
    workers: int = 0,
) -> IntegrityReport:
    """`checkpoints`: a JSONL file of signed checkpoints the chains must still extend;
    `logs`: log files to scan for PII shapes; `now`: with it, an audit entry still pending
    (deferred mode) longer than `pending_alarm` is a violation (no sequencer runs);
    `workers`: processes for the checks that look at one row at a time (row MACs, sealed PII,
    text columns), which then read the committed database on connections of their own while
    this one runs the rest (0: all here, in the session's transaction, which is what a caller
    with uncommitted writes needs)."""
    session.flush()  # the raw reads below do not autoflush as ORM queries did
    repo = CheckRepository(session)
    steps: list[tuple[str, Step]] = [
        (OWNERS, held_lines_owners),
        ("holdings equal the real counts", _holdings),
        ("holdings respect the caps", _caps),
        ("line state equals the replay of its events", _replay),
        (EVENT_MACS, event_macs),
        ("identities carry their keyed MAC", identity_macs),
        ("PII is sealed and opens", sealed_pii),
        ("no text column holds an ID or phone number", text_columns),
        ("sealed notes are intact", _notes),
        ("API clients are what the audit chain says", _clients),
        (
            "audit chains are intact, keyed, and extend the checkpoints",
            lambda r, p, k, s: _audit(r, p, k, s, checkpoints, now, pending_alarm),
        ),
    ]
    if logs:
        steps.append(("logs hold no ID or phone number", lambda r, p, k, s: _logs(logs)))
    elsewhere = start_workers(session, policy, keyring, workers) if workers > 0 else {}
    results = []
    try:
        for name, step in steps:
            if name in elsewhere:
                continue
            if progress:
                progress(name)
            result = step(repo, policy, keyring, session)
            result.name = name
            results.append(result)
        for name, futures in elsewhere.items():
            if progress:
                progress(name)
            parts = [future.result() for future in futures]
            merged = CheckResult(name, sum(p.examined for p in parts))
            for part in parts:
                merged.violations += part.violations
                merged.notes += part.notes
            results.append(merged)
    finally:
        for futures in elsewhere.values():
            for future in futures:
                future.cancel()
    order = [name for name, _step in steps]
    results.sort(key=lambda r: order.index(r.name))
    return IntegrityReport(results)


Step = Callable[[CheckRepository, Policy, KeyRing, Session], CheckResult]


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
    lines, events_table = table_of(Line), table_of(LineEvent)
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
    now: datetime | None = None,
    pending_alarm: timedelta = PENDING_ALARM,
) -> CheckResult:
    """Sequenced entries: every keyed link, position and head, and the checkpoints. Pending
    entries (deferred mode): each one's content MAC; counted, a violation only when refused,
    altered, or older than `pending_alarm`."""
    result = CheckResult("")
    keys = audit_keys_or_violation(keyring, result)
    if keys is None:
        return result
    reads = []
    if checkpoints is not None:
        try:
            reads = read_checkpoints(checkpoints, keys)
        except CheckpointError as error:
            result.violations.append(str(error))
    scan = verify_audit_chains(s, keys, positions_of(reads), now=now, pending_alarm=pending_alarm)
    result.examined = scan.checked
    for p in scan.problems or []:
        if p.entry is not None:
            result.violations.append(f"audit entry {p.entry} (pending, chain {p.chain}): {p.what}")
        elif p.chain < 0:
            result.violations.append(f"audit: {p.what}")
        else:
            result.violations.append(f"audit chain {p.chain} at {p.position}: {p.what}")
    if scan.pending:
        oldest = scan.oldest_pending.isoformat(timespec="seconds") if scan.oldest_pending else "?"
        result.notes.append(
            f"{scan.pending:,} audit entries pending (not yet chained; oldest appended {oldest})"
        )
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
            rows = audit.rows_up_to(table, top)
            if rows != count:
                result.violations.append(
                    f"checkpoint of {when}: {name} had {count} rows up to id {top}, now {rows}"
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
