"""The retention job (`realname retention run`): registration records past the policy's
retention after termination are purged.

China keeps a subscriber's registration record (document type and number, name, address) for
the service period plus two years after termination (MIIT Order No. 25 of 2013; the preset's
`retention_after_termination_days = 730`), then it must go. An identity is due when no line
names it as owner and no line event has named it (as owner before or after) within the
retention: its last line ended that long ago. Purging it

- removes its sealed number, name and address, both blind indexes (so no document look-up
  can find it again) and its birth date; keeps its id, document type, sex, region and
  nationality (statistics), its verification and creation times, and stamps `purged_at`;
- re-MACs the row under the purged-identity domain (`integrity.IDENTITY_PURGED_DOMAIN`), which
  `realname check` verifies, together with "a purged row holds no PII and no line";
- destroys the sealed notes (free text typed with an operation: a cancel reason, a clerk's
  note) of every line event that names it as owner before or after: the operations on its
  lines while it held them, and the ones that gave it a line or took one from it. Such text is
  about the subscriber (people type names and ID numbers into reasons), so it goes with the
  record, even when the other side of a transfer is still a subscriber. A note keeps its row
  (id, digest, time: the references in events and audit entries still resolve, and signed
  checkpoints still count it) and loses its ciphertext (`security.audit.purge_notes`);
- keeps every `line_event` as it is: the skeleton the law requires (states, times, channel,
  clerk, owner *ids*, the reason code and the reference to the purged note), so "who held
  number N on day D" still answers with the purged identity's id, and nothing more.

A line needs nothing of its own: ending service already cleared its owner link and SIM, and
reissuing the number clears its times. One audit entry per batch names the purged ids and counts the
notes purged with them; each batch is its own transaction; a re-run finds nothing left to do.
A run also sweeps the notes of identities purged before notes were (releases before this
one), in batches of their own (`note.purge` audit entries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from realname.db.uow import UnitOfWork
from realname.policy.schema import Policy
from realname.registry.integrity import PURGED_KEY_ID, PURGED_TO_NULL, mac_purged_identity
from realname.registry.models import Identity
from realname.registry.repository import RegistryRepository
from realname.security.audit import append_audit, note_refs, purge_notes
from realname.security.vault import KeyRing

ACTOR = "system:retention"


@dataclass
class RetentionReport:
    at: datetime
    cutoff: datetime
    dry_run: bool
    purged: list[int] = field(default_factory=list)
    batches: int = 0
    notes: int = 0


def retention_cutoff(policy: Policy, at: datetime) -> datetime:
    """Events at or before this instant are past the policy's retention."""
    return at - timedelta(days=policy.retention_after_termination_days)


def purge_identity(keyring: KeyRing, identity: Identity, at: datetime) -> None:
    """Remove a row's registration record in place (the row itself stays: events point at it)."""
    for column in PURGED_TO_NULL:
        setattr(identity, column, None)
    identity.key_id = PURGED_KEY_ID
    identity.purged_at = at
    mac_purged_identity(keyring.audit, identity)


def note_ids(repo: RegistryRepository, owners: list[int] | None) -> list[int]:
    """The notes referenced by events naming these identities (None: any purged one) as owner
    before or after."""
    found: set[int] = set()
    for _event_id, detail in repo.note_events_of_owners(owners):
        found.update(ref["note"] for ref in note_refs(detail) if isinstance(ref["note"], int))
    return sorted(found)


def purge_batch(
    session: Session, keyring: KeyRing, policy: Policy, at: datetime, limit: int
) -> list[int]:
    """Purge up to `limit` due identities and their notes in this session (the caller
    commits); returns them."""
    return purge_batch_counted(session, keyring, policy, at, limit).purged


@dataclass(frozen=True)
class PurgedBatch:
    purged: list[int]
    notes: int
    last_seen: int  # the highest identity id examined: the next batch starts after it


def purge_batch_counted(
    session: Session,
    keyring: KeyRing,
    policy: Policy,
    at: datetime,
    limit: int,
    *,
    after_id: int = 0,
) -> PurgedBatch:
    """`purge_batch` from identity `after_id` on, with the number of notes purged. The
    candidates are locked, then re-checked by a fresh statement, so a line attached to one of
    them meanwhile keeps it."""
    repo = RegistryRepository(session)
    cutoff = retention_cutoff(policy, at)
    candidates = repo.purgeable_identities(cutoff, limit, after_id=after_id)
    if not candidates:
        return PurgedBatch([], 0, after_id)
    locked = {identity.id: identity for identity in repo.lock_identities(candidates)}
    due = repo.purgeable_identities(cutoff, limit, among=candidates)
    for identity_id in due:
        purge_identity(keyring, locked[identity_id], at)
    notes = purge_notes(session, note_ids(repo, due)) if due else []
    session.flush()
    if due:
        append_audit(
            session,
            keyring,
            actor=ACTOR,
            action="identity.purge",
            object_type="identity_batch",
            object_id=f"{due[0]}-{due[-1]}",
            at=at,
            detail={
                "ids": due,
                "count": len(due),
                "notes": len(notes),
                "retention_days": policy.retention_after_termination_days,
                "cutoff": cutoff.isoformat(),
            },
        )
        session.flush()
    return PurgedBatch(due, len(notes), candidates[-1])


def purge_leftover_notes(
    session: Session, keyring: KeyRing, at: datetime, candidates: list[int]
) -> list[int]:
    """Of these notes (referenced by events of purged identities), purge the ones that still
    hold their ciphertext (left by a release that purged identities but not their notes);
    one audit entry names them."""
    done = purge_notes(session, candidates)
    if done:
        session.flush()
        append_audit(
            session,
            keyring,
            actor=ACTOR,
            action="note.purge",
            object_type="note_batch",
            object_id=f"{done[0]}-{done[-1]}",
            at=at,
            detail={"ids": done, "count": len(done), "reason": "owner_purged"},
        )
        session.flush()
    return done


def run_retention(
    uow: UnitOfWork,
    keyring: KeyRing,
    policy: Policy,
    at: datetime,
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RetentionReport:
    """Every due identity, one batch per transaction (or, with `dry_run`, only list them)."""
    report = RetentionReport(at, retention_cutoff(policy, at), dry_run)
    if dry_run:
        with uow.transaction(readonly=True) as session:
            repo = RegistryRepository(session)
            while batch := repo.purgeable_identities(
                report.cutoff, batch_size, after_id=report.purged[-1] if report.purged else 0
            ):
                report.purged.extend(batch)
                report.batches += 1
        return report
    # Each batch starts after the last identity examined instead of rescanning every live
    # identity from the first (a candidate that stopped being due stays behind: it is not).
    last_seen = 0
    while True:
        with uow.transaction() as session:
            done = purge_batch_counted(session, keyring, policy, at, batch_size, after_id=last_seen)
        if done.last_seen == last_seen:
            break
        last_seen = done.last_seen
        if done.purged:
            report.batches += 1
            report.purged.extend(done.purged)
            report.notes += done.notes
            if progress:
                progress(len(report.purged))
    with uow.transaction(readonly=True) as session:
        left = note_ids(RegistryRepository(session), None)
    for start in range(0, len(left), batch_size):
        with uow.transaction() as session:
            report.notes += len(
                purge_leftover_notes(session, keyring, at, left[start : start + batch_size])
            )
    return report
