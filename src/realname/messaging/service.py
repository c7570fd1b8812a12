"""The outbox's use cases: queue a message, claim due ones, record what the gateway said.

Each function only flushes; the caller owns the transaction (DESIGN §3). The intended
transactions:

- `enqueue` runs inside the transaction of the change it announces (the back-fill step that
  restricts a line queues the reminder in the same commit), so the message exists if and only
  if the change does. Its `dedupe_key` makes a re-run queue nothing.
- `claim` is a short transaction of its own, committed *before* anything is sent: the lease
  (`claimed_by`, `claimed_until`) is what keeps other senders off the rows while this one
  sends, and what hands them over if it dies.
- sent messages are recorded in groups (1, 2, 4 … 256) by `mark_many_sent`, each group
  committed as soon as its last message was accepted; `mark_failed_attempt` commits each
  failure at once.

The window between "the gateway accepted" and "mark_sent committed" cannot be closed by the
database alone; the gateways close it: every submission carries a reference derived from the
outbox id, and a gateway that has already accepted that reference answers with the original
message id instead of delivering again (see `gateways`).
"""

from __future__ import annotations

import base64
import binascii
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from realname.messaging.errors import OutboxError
from realname.messaging.repository import FAILED, PENDING, OutboxRepository
from realname.messaging.schemas import FailureOutcome, OutboxStatus, OutgoingMessage
from realname.security.vault import KeyRing, Sealed, VaultError

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
BACKOFF_JITTER = 0.2  # ± 20 %
DEFAULT_MAX_ATTEMPTS = 8

_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
_KIND = re.compile(r"[A-Za-z0-9_.:\-]{1,32}", re.ASCII)


# A body that must not rest in the database in clear (a one-time code) is stored sealed:
# `sealed:<key id>:<base64 AES-GCM blob>`; the sender opens it just before the gateway.
SEALED_PREFIX = "sealed:"
BODY_CONTEXT = "outbox.body"


def seal_body(keyring: KeyRing, text: str) -> str:
    sealed = keyring.seal(text, BODY_CONTEXT)
    return f"{SEALED_PREFIX}{sealed.key_id}:{base64.b64encode(sealed.blob).decode()}"


def open_body(keyring: KeyRing | None, body: str) -> str:
    """The text to send: a plain body as it is, a sealed one opened (OutboxError when it
    cannot be: no key ring, a retired key, a tampered row)."""
    if not body.startswith(SEALED_PREFIX):
        return body
    if keyring is None:
        raise OutboxError("a sealed body needs the key ring")
    try:
        key_id, blob = body[len(SEALED_PREFIX) :].split(":", 1)
        return keyring.open(Sealed(key_id, base64.b64decode(blob, validate=True)), BODY_CONTEXT)
    except (ValueError, binascii.Error, VaultError):
        raise OutboxError("the sealed body does not open") from None


def backoff_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: 30 s · 2^(attempts-1) (30 s,
    1 min, 2 min, …) with ±20 % jitter so retries of a burst spread out, capped at 1 h."""
    exponent = min(max(attempts, 1) - 1, 32)
    nominal = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**exponent)
    jitter = (rng or random).uniform(-BACKOFF_JITTER, BACKOFF_JITTER)
    return timedelta(seconds=min(BACKOFF_CAP_SECONDS, nominal * (1.0 + jitter)))


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    enterprise_id: int,
    line_id: int | None,
    destination: str,
    kind: str,
    body: str,
    at: datetime,
) -> bool:
    """Queue a message; True if newly queued, False if `dedupe_key` was already queued.

    Idempotent and safe under concurrency (INSERT … ON CONFLICT DO NOTHING on the unique
    dedupe key): two transactions queueing one key leave one row. Only flushes.
    `destination` is E.164 (`+8613800138000`); errors name the field, never the value.
    """
    _check(dedupe_key, destination, kind, body)
    if at.tzinfo is None:
        raise OutboxError("at must be timezone-aware")
    message = Queued(dedupe_key, enterprise_id, line_id, destination, kind, body)
    new_id = OutboxRepository(session).insert_if_new(_pending_row(message, at))
    return new_id is not None


@dataclass(frozen=True)
class Queued:
    """One message for `enqueue_many` (the arguments of `enqueue`)."""

    dedupe_key: str
    enterprise_id: int
    line_id: int | None
    destination: str
    kind: str
    body: str


def enqueue_many(session: Session, messages: Sequence[Queued], at: datetime) -> int:
    """`enqueue` for many messages at once: the same checks, then multi-row INSERT … ON
    CONFLICT DO NOTHING statements; returns how many were newly queued."""
    if at.tzinfo is None:
        raise OutboxError("at must be timezone-aware")
    for m in messages:
        _check(m.dedupe_key, m.destination, m.kind, m.body)
    rows = [_pending_row(m, at) for m in messages]
    return OutboxRepository(session).insert_many_if_new(rows)


def _pending_row(m: Queued, at: datetime) -> dict[str, Any]:
    """The outbox row of a message queued at `at`, due at once."""
    return {
        "dedupe_key": m.dedupe_key,
        "enterprise_id": m.enterprise_id,
        "line_id": m.line_id,
        "destination": m.destination,
        "kind": m.kind,
        "body": m.body,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
    }


def _check(dedupe_key: str, destination: str, kind: str, body: str) -> None:
    if not dedupe_key or len(dedupe_key) > 128:
        raise OutboxError("dedupe_key must be 1 to 128 characters")
    if not _E164.fullmatch(destination or ""):
        raise OutboxError("destination must be an E.164 number (+ and 7 to 15 digits)")
    if not _KIND.fullmatch(kind or ""):
        raise OutboxError("kind must be 1 to 32 letters, digits or '_', '-', '.', ':'")
    if not body or not body.strip():
        raise OutboxError("body must not be empty")


def claim(
    session: Session, worker_id: str, at: datetime, limit: int, lease_seconds: float
) -> list[OutgoingMessage]:
    """Lease up to `limit` due messages to `worker_id` until `at + lease_seconds`.

    Due: pending, `next_attempt_at <= at`, and no live lease (`claimed_until` null or before
    `at`: a dead sender's rows come back once its lease runs out). Commit before sending.
    """
    if limit <= 0:
        return []
    repo = OutboxRepository(session)
    until = at + timedelta(seconds=lease_seconds)
    ids = repo.claimable_ids(at, limit)
    return [
        OutgoingMessage(id=i, destination=d, kind=k, body=b, attempts=n, claimed_until=until)
        for i, d, k, b, n in repo.set_claims(ids, worker_id, until)
    ]


def mark_sent(
    session: Session, message_id: int, worker_id: str, gateway_message_id: str, at: datetime
) -> bool:
    """Record the gateway's acceptance; False (nothing written) unless the message is still
    pending and claimed by `worker_id` (another sender took it over after our lease ran out:
    it will re-send, and the gateway will recognise the re-send by its reference)."""
    return OutboxRepository(session).mark_sent(message_id, worker_id, gateway_message_id, at)


def mark_many_sent(
    session: Session, sent: Sequence[tuple[int, str]], worker_id: str, at: datetime
) -> set[int]:
    """`mark_sent` for many (outbox id, gateway message id) pairs in one statement: the ids
    recorded; the others had passed to another sender (see `mark_sent`)."""
    return set(OutboxRepository(session).mark_many_sent(sent, worker_id, at))


def mark_failed_attempt(
    session: Session,
    message_id: int,
    worker_id: str,
    error: str,
    at: datetime,
    *,
    permanent: bool = False,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    rng: random.Random | None = None,
) -> FailureOutcome:
    """Count a failed attempt and let go of the claim.

    Permanent errors, and the `max_attempts`-th failure, mark the message `failed`; otherwise
    it is pending again from `at + backoff_delay(attempts)`. `error` is stored as `last_error`
    (truncated to 200 characters) and must hold no PII: gateway errors never do.
    """
    repo = OutboxRepository(session)
    row = repo.claimed_for_update(message_id, worker_id)
    if row is None:
        return FailureOutcome.LOST
    row.attempts += 1
    row.last_error = error[:200]
    row.claimed_by = None
    row.claimed_until = None
    if permanent or row.attempts >= max_attempts:
        row.status = FAILED
        outcome = FailureOutcome.FAILED
    else:
        row.next_attempt_at = at + backoff_delay(row.attempts, rng)
        outcome = FailureOutcome.RETRY
    session.flush()
    return outcome


def release(session: Session, message_ids: list[int], worker_id: str) -> int:
    """Hand back claimed messages that were not sent, so another sender need not wait for the
    lease to run out. Returns how many were still ours."""
    return OutboxRepository(session).release(message_ids, worker_id)


def earliest_lease_expiry(session: Session, at: datetime) -> datetime | None:
    """When a due message held by a (possibly dead) sender becomes claimable again."""
    return OutboxRepository(session).earliest_lease_expiry_of_due(at)


def outbox_status(session: Session, at: datetime) -> OutboxStatus:
    repo = OutboxRepository(session)
    due, leased = repo.due_count(at)
    return OutboxStatus(
        at=at,
        counts=repo.counts_by_status_and_kind(),
        oldest_pending_at=repo.oldest_pending_created_at(),
        due=due,
        leased=leased,
    )
