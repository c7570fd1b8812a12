"""The audit sequencer: pending entries chained in order, a few milliseconds after they commit.

In deferred mode (security/audit.py) a writer only INSERTs its entry, without a place in its
chain and without touching any shared row. The sequencer, like a transparency log's
(Trillian's), then:

1. claims up to `limit` pending entries, oldest id first, locked until it commits; on
   PostgreSQL with FOR UPDATE SKIP LOCKED, so two sequencers never claim the same entry;
2. re-checks each one's content MAC; an entry whose MAC fails is refused (marked, kept out of
   the chain for good, reported by `check` and in the result), never chained; one MAC'd
   with a key this process does not hold (a key rotation reaching the workers one at a
   time) is left pending for a sequencer that holds it;
3. locks the heads of the chains it touches, in ascending chain order (an inline appender or
   a second sequencer waits there; nobody deadlocks), and reads them fresh;
4. gives each entry the next position of its chain, the previous hash and its keyed link,
   exactly as an inline append would (`link_message`), in one UPDATE for the whole batch, and
   moves the heads in one more.

All of it happens in the caller's transaction: a sequencer killed half-way leaves every entry
of its batch pending and every head where it was, and the next run does the batch again. Run
it twice and the second finds nothing to do. The entries of one chain are chained in the order
the sequencer claims them (oldest id first), which is the order their transactions committed
only roughly: as in any transparency log, the order of the log is the sequencer's.

Who runs it: `realname serve`'s one sequencer process beside its workers (cli/serve.py), or,
in a server without that supervisor, a `BackgroundSequencer` thread in each worker (started
in the app's lifespan); every CLI process that appended deferred (wiring.Process, before it
exits), `realname check` before it verifies, and `realname audit sequence` by hand.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from realname.db.uow import UnitOfWork
from realname.security.audit import AuditDeferral, content_intact, link_message
from realname.security.audit_keys import AuditKeys
from realname.security.models import AuditChainHead, AuditLog
from realname.security.repository import AuditRepository

log = logging.getLogger(__name__)

BATCH = 1000


@dataclass
class Sequenced:
    """What one sequencer pass did: entries chained, ids refused, whether the batch was full
    (call again: there may be more)."""

    chained: int = 0
    refused: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # keyed with a key this process lacks
    chains: int = 0
    full: bool = False
    busy: bool = False  # another background sequencer held the turn: nothing was tried


class ChainRaceError(RuntimeError):
    """An entry of the batch was chained by someone else meanwhile (should be impossible while
    everyone locks the heads); the transaction must roll back and the pass be run again."""


def sequence_audit(session: Session, keys: AuditKeys, *, limit: int = BATCH) -> Sequenced:
    """Chain up to `limit` pending entries in the caller's transaction (which it must commit).
    Idempotent; a failure part-way leaves the transaction to be rolled back, nothing chained."""
    session.flush()  # Core statements below: anything the ORM holds goes first
    repository = AuditRepository(session)
    rows = repository.claim_pending(limit)
    result = Sequenced()
    if not rows:
        return result
    by_chain: dict[int, list[Any]] = {}
    for row in rows:
        if row.key_id is not None and not keys.has_mac_key(row.key_id):
            # A key this process does not hold yet (a rotation reaching the workers one by
            # one): left pending for a sequencer that holds it, never refused for it.
            result.skipped.append(int(row.id))
            continue
        problem = content_intact(keys, row, row.nonce, row.content_mac)
        if problem is not None:
            # Ids and chains only: an entry's content is never logged.
            log.warning(
                "audit sequencer: entry %d of chain %d refused: %s", row.id, row.chain, problem
            )
            result.refused.append(int(row.id))
            continue
        by_chain.setdefault(int(row.chain), []).append(row)
    if result.skipped:
        log.warning(
            "audit sequencer: %d entries name an audit key this process lacks; left pending",
            len(result.skipped),
        )
    result.full = len(rows) >= limit and len(result.skipped) < len(rows)
    repository.refuse(result.refused)
    heads = repository.lock_heads(by_chain)
    links: list[tuple[int, int, bytes, bytes]] = []
    moved: dict[int, tuple[int, bytes]] = {}
    for chain in sorted(by_chain):
        position, prev = heads[chain]
        for row in by_chain[chain]:
            position += 1
            link = keys.mac(link_message(prev, position, row), row.key_id)
            links.append((int(row.id), position, prev, link))
            prev = link
        moved[chain] = (position, prev)
    changed = repository.chain_entries(links)
    if changed != len(links):
        raise ChainRaceError(f"{len(links) - changed} entries of the batch were chained meanwhile")
    repository.move_heads(moved)
    _expire_stale(session, {link[0] for link in links} | set(result.refused), set(moved))
    result.chained, result.chains = len(links), len(moved)
    return result


def _expire_stale(session: Session, entry_ids: set[int], chains: set[int]) -> None:
    """Objects of this session the Core statements above made stale reload when next read."""
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, AuditLog) and obj.id in entry_ids) or (
            isinstance(obj, AuditChainHead) and obj.chain in chains
        ):
            session.expire(obj)


def sequence_all(
    uow: UnitOfWork, keys: AuditKeys, *, limit: int = BATCH, rounds: int = 1_000_000
) -> Sequenced:
    """Chain everything pending, one transaction per batch (CLI jobs before they finish,
    `realname check`, the server when it stops). Returns the totals."""
    total = Sequenced()
    for _ in range(rounds):
        with uow.transaction() as session:
            done = sequence_audit(session, keys, limit=limit)
        total.chained += done.chained
        total.refused += done.refused
        total.skipped += done.skipped
        total.chains = max(total.chains, done.chains)
        if not done.full:
            break
    return total


def has_pending(uow: UnitOfWork) -> bool:
    with uow.transaction(readonly=True) as session:
        return AuditRepository(session).has_pending()


# The thread's name: a statement counter that measures a request leaves its statements out.
SEQUENCER_THREAD = "realname-audit-sequencer"


class BackgroundSequencer:
    """A thread that runs the sequencer while its process serves: woken by the process's own
    deferred appends (`AuditDeferral.appended`), it waits `interval` seconds (their
    transactions commit, the batch grows), chains what is pending, and keeps going at that
    pace while there is work or has just been; idle, it looks every `idle` seconds (entries
    other processes appended). Several processes may each run one: the entry locks (SKIP
    LOCKED) and head locks keep them from forking a chain."""

    def __init__(
        self,
        uow: UnitOfWork,
        keys: Callable[[], AuditKeys],
        deferral: AuditDeferral,
        *,
        interval: float = 0.005,
        idle: float = 1.0,
        linger: float = 0.25,
        limit: int = BATCH,
    ) -> None:
        self.uow = uow
        self.keys = keys
        self.deferral = deferral
        self.interval = interval
        self.idle = idle
        self.linger_rounds = max(1, int(linger / max(interval, 0.001)))
        self.limit = limit
        self.chained = 0
        self.refused = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundSequencer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=SEQUENCER_THREAD, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (the caller drains what is left with `sequence_all`)."""
        self._stop.set()
        self.deferral.appended.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> Sequenced:
        with self.uow.transaction() as session:
            if not AuditRepository(session).try_sequencer_turn():
                return Sequenced(busy=True)  # another worker's sequencer is at it
            done = sequence_audit(session, self.keys(), limit=self.limit)
        self.chained += done.chained
        self.refused += len(done.refused)
        return done

    def _run(self) -> None:
        quiet = self.linger_rounds
        while not self._stop.is_set():
            try:
                done = self.run_once()
            except Exception:  # the database away, a lost race: try again later
                self.failures += 1
                log.exception("audit sequencer pass failed; retrying")
                self._stop.wait(1.0)
                continue
            if done.full:
                continue
            quiet = 0 if done.chained or done.refused or done.busy else quiet + 1
            if quiet < self.linger_rounds:
                self._stop.wait(self.interval)
                continue
            woke = self.deferral.appended.wait(self.idle)
            self.deferral.appended.clear()
            if woke:
                quiet = 0
                self._stop.wait(self.interval)
