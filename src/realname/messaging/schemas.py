"""What the outbox hands to gateways and reports back (plain data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from realname.numbering.msisdn import mask_msisdn


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One claimed outbox row, as a gateway sees it. `id` is the outbox id: gateways derive
    their idempotency reference from it, so a re-send after a crash is recognised."""

    id: int
    destination: str  # E.164
    kind: str
    body: str
    attempts: int = 0
    claimed_until: datetime | None = None

    def __repr__(self) -> str:
        # Never the number in full, never the body: this object ends up in logs and tracebacks.
        return (
            f"OutgoingMessage(id={self.id}, destination={mask_msisdn(self.destination)!r}, "
            f"kind={self.kind!r}, body=<{len(self.body)} chars>, attempts={self.attempts})"
        )

    __str__ = __repr__


class FailureOutcome(StrEnum):
    RETRY = "retry"  # pending again, next_attempt_at after the back-off
    FAILED = "failed"  # permanent error or out of attempts
    LOST = "lost"  # the claim had passed to another sender; nothing recorded


@dataclass(slots=True)
class SendStats:
    """What a sender run did. `lost`: sent, but the claim had passed to another sender by the
    time it was recorded (that sender re-sends it and the gateway answers it as a duplicate)."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0
    released: int = 0
    batches: int = 0
    gateway_down: bool = False

    def add(self, other: SendStats) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.lost += other.lost
        self.released += other.released
        self.batches += other.batches
        if other.claimed or other.gateway_down:
            # Only a batch that talked to the gateway knows its state: an empty pass after
            # a failed send (the message now backs off) does not mean the gateway is back.
            self.gateway_down = other.gateway_down

    def summary(self) -> str:
        return (
            f"sent {self.sent:,}, retried {self.retried:,}, failed {self.failed:,}, "
            f"lost claims {self.lost:,}, handed back {self.released:,}"
        )


@dataclass(slots=True)
class OutboxStatus:
    """Counts by (status, kind), the oldest pending message, what is due and leased now."""

    at: datetime
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    oldest_pending_at: datetime | None = None
    due: int = 0
    leased: int = 0

    @property
    def oldest_pending_age_seconds(self) -> float | None:
        if self.oldest_pending_at is None:
            return None
        return max(0.0, (self.at - self.oldest_pending_at).total_seconds())

    def total(self, status: str) -> int:
        return sum(n for (s, _kind), n in self.counts.items() if s == status)
