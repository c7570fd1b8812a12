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
- keeps every `line_event` as it is: the skeleton the law requires (states, times, channel,
  clerk, owner *ids*), so "who held number N on day D" still answers with the purged
  identity's id, and nothing more.

A line needs nothing of its own: ending service already cleared its owner link and SIM, and
reissuing the number clears its times. One audit entry per batch names the purged ids; each
batch is its own transaction; a re-run finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from realname.policy.schema import Policy
from realname.registry.integrity import PURGED_KEY_ID, PURGED_TO_NULL, mac_purged_identity
from realname.registry.models import Identity
from realname.registry.repository import RegistryRepository
from realname.security.audit import append_audit
from realname.security.vault import KeyRing

ACTOR = "system:retention"


@dataclass
class RetentionReport:
    at: datetime
    cutoff: datetime
    dry_run: bool
    purged: list[int] = field(default_factory=list)
    batches: int = 0


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


def purge_batch(
    session: Session, keyring: KeyRing, policy: Policy, at: datetime, limit: int
) -> list[int]:
    """Purge up to `limit` due identities in this session (the caller commits); returns them.
    The candidates are locked, then re-checked by a fresh statement, so a line attached to one
    of them meanwhile keeps it."""
    repo = RegistryRepository(session)
    cutoff = retention_cutoff(policy, at)
    candidates = repo.purgeable_identities(cutoff, limit)
    if not candidates:
        return []
    locked = {identity.id: identity for identity in repo.lock_identities(candidates)}
    due = repo.purgeable_identities(cutoff, limit, among=candidates)
    for identity_id in due:
        purge_identity(keyring, locked[identity_id], at)
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
                "retention_days": policy.retention_after_termination_days,
                "cutoff": cutoff.isoformat(),
            },
        )
        session.flush()
    return due


def run_retention(
    sessions: Callable[[], Session],
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
        with sessions() as session:
            repo = RegistryRepository(session)
            while batch := repo.purgeable_identities(
                report.cutoff, batch_size, after_id=report.purged[-1] if report.purged else 0
            ):
                report.purged.extend(batch)
                report.batches += 1
        return report
    while True:
        with sessions() as session, session.begin():
            done = purge_batch(session, keyring, policy, at, batch_size)
        if not done:
            return report
        report.batches += 1
        report.purged.extend(done)
        if progress:
            progress(len(report.purged))
        if len(done) < batch_size:
            return report
