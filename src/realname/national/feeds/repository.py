"""Every query of the feeds, at the platform and at the publishing enterprise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select, text, union_all, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from realname.db.dialect import in_chunks, insert_ignoring_conflicts
from realname.national.feeds.errors import FeedError, FeedErrorCode
from realname.national.feeds.models import (
    NationalFeed,
    NationalFeedBatch,
    NationalFeedKey,
    NationalPublication,
)
from realname.registry.lifecycle import LineState
from realname.registry.models import Channel, Enterprise, Identity, Line, LineEvent

# pg_try_advisory_xact_lock(space, enterprise id): one publisher per enterprise (b"NP")
PUBLISH_LOCK_SPACE = 0x4E50

# How long the publisher waits for the writers of `line_event` before giving up (retryable).
HIGH_WATER_LOCK_TIMEOUT_MS = 2000
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired
# Inventory moves are not the platform's business: a kit in stock is nobody's line yet.
UNPUBLISHED_STATES = ("pooled", "stocked")
PUBLISHED = tuple(str(s) for s in LineState if s not in UNPUBLISHED_STATES)


class FeedRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)

    # --- platform ---------------------------------------------------------------------------

    def enterprise_by_code(self, code: str) -> Enterprise | None:
        return self.session.scalars(select(Enterprise).where(Enterprise.code == code)).first()

    def enterprise(self, enterprise_id: int) -> Enterprise | None:
        return self.session.get(Enterprise, enterprise_id)

    def feed_key(self, enterprise_id: int, key_id: str) -> NationalFeedKey | None:
        return self.session.scalars(
            select(NationalFeedKey).where(
                NationalFeedKey.enterprise_id == enterprise_id, NationalFeedKey.key_id == key_id
            )
        ).first()

    def feed_for_update(self, enterprise_id: int) -> NationalFeed:
        """The feed's row, created when missing, locked: one batch of a feed lands at a time."""
        table = NationalFeed.__table__
        assert isinstance(table, Table)
        insert_ignoring_conflicts(
            self.session,
            table,
            {"enterprise_id": enterprise_id, "next_batch": 1, "cursor": 0, "items": 0,
             "refusals": 0},
            ["enterprise_id"],
        )  # fmt: skip
        return self.session.scalars(
            select(NationalFeed)
            .where(NationalFeed.enterprise_id == enterprise_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()

    def batch(self, enterprise_id: int, number: int) -> NationalFeedBatch | None:
        return self.session.scalars(
            select(NationalFeedBatch).where(
                NationalFeedBatch.enterprise_id == enterprise_id,
                NationalFeedBatch.number == number,
            )
        ).first()

    def feeds(self) -> Sequence[tuple[Enterprise, NationalFeed | None]]:
        """Every enterprise with a registered key or a feed, with its feed (if any)."""
        keyed = select(NationalFeedKey.enterprise_id)
        fed = select(NationalFeed.enterprise_id)
        rows = self.session.execute(
            select(Enterprise, NationalFeed)
            .outerjoin(NationalFeed, NationalFeed.enterprise_id == Enterprise.id)
            .where(Enterprise.id.in_(keyed.union(fed)))
            .order_by(Enterprise.code)
        )
        return [(e, f) for e, f in rows]

    # --- publishing enterprise ----------------------------------------------------------------

    def high_water_mark(self, lock_timeout_ms: int = HIGH_WATER_LOCK_TIMEOUT_MS) -> int:
        """The highest line event id below which every event is committed.

        Event ids come from a sequence in insert order, but transactions commit in any order:
        a cursor past id 90 while id 88 is still uncommitted would skip 88 for ever. On
        PostgreSQL a SHARE lock on `line_event` waits until every transaction that inserted
        into it has ended (it conflicts with their ROW EXCLUSIVE lock), so the highest id read
        then has nothing uncommitted below it; the caller commits at once, releasing the lock
        (writers wait for that instant only). SQLite has one writer at a time: nothing to do.

        The lock waits at most `lock_timeout_ms` (`SET LOCAL lock_timeout`): behind a long
        writer (a bulk import holds its transaction for minutes) the publisher gives up with
        the retryable FEED_BUSY, instead of waiting without end while every registration
        queues behind its request (a SHARE request ahead of them in the lock queue blocks
        them too)."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms'"))
            try:
                self.session.execute(text("LOCK TABLE line_event IN SHARE MODE"))
            except OperationalError as error:
                if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                    raise
                raise FeedError(
                    FeedErrorCode.FEED_BUSY, retry_after=max(1, lock_timeout_ms // 1000)
                ) from None
        return int(self.session.scalar(select(func.coalesce(func.max(LineEvent.id), 0))) or 0)

    def last_publication(self, enterprise_id: int) -> NationalPublication | None:
        return self.session.scalars(
            select(NationalPublication)
            .where(NationalPublication.enterprise_id == enterprise_id)
            .order_by(NationalPublication.number.desc())
            .limit(1)
        ).first()

    def pending(self, enterprise_id: int) -> Sequence[NationalPublication]:
        return self.session.scalars(
            select(NationalPublication)
            .where(
                NationalPublication.enterprise_id == enterprise_id,
                NationalPublication.acked_at.is_(None),
            )
            .order_by(NationalPublication.number)
        ).all()

    def has_publishing_lock(self) -> bool:
        """PostgreSQL has one (below). SQLite needs none: one writer at a time, each build
        runs under the write lock (and holding a connection for the run would be one more)."""
        return self.session.get_bind().dialect.name == "postgresql"

    def try_lock_publishing(self, enterprise_id: int) -> bool:
        """The enterprise's publisher lock, held until this transaction ends (PostgreSQL: an
        advisory lock, released by the server if the process dies); False when another run
        holds it."""
        if not self.has_publishing_lock():
            return True
        held = self.session.scalar(
            select(func.pg_try_advisory_xact_lock(PUBLISH_LOCK_SPACE, enterprise_id))
        )
        return bool(held)

    def pending_numbers(self, enterprise_id: int) -> list[tuple[int, int]]:
        """(id, number) of the batches not acknowledged yet, in order: no envelopes."""
        rows = self.session.execute(
            select(NationalPublication.id, NationalPublication.number)
            .where(
                NationalPublication.enterprise_id == enterprise_id,
                NationalPublication.acked_at.is_(None),
            )
            .order_by(NationalPublication.number)
        ).all()
        return [(int(row[0]), int(row[1])) for row in rows]

    def envelope_bytes(self, publication_id: int) -> bytes:
        return bytes(
            self.session.scalars(
                select(NationalPublication.envelope).where(NationalPublication.id == publication_id)
            ).one()
        )

    def replace_envelope(self, publication_id: int, envelope: bytes) -> None:
        """The stored batch re-signed (same body: its digest is unchanged)."""
        self.session.execute(
            update(NationalPublication)
            .where(NationalPublication.id == publication_id)
            .values(envelope=envelope)
        )

    def ack(self, publication_id: int, at: datetime) -> None:
        self.session.execute(
            update(NationalPublication)
            .where(NationalPublication.id == publication_id)
            .values(acked_at=at)
        )

    def unack_from(self, enterprise_id: int, number: int) -> int:
        result = self.session.execute(
            update(NationalPublication)
            .where(
                NationalPublication.enterprise_id == enterprise_id,
                NationalPublication.number >= number,
            )
            .values(acked_at=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def events_after(self, enterprise_id: int, cursor: int, high: int, limit: int) -> Sequence[Any]:
        """(event id, seq, operation, to_state, owner_after_id, channel_id, occurred_at,
        msisdn, line's channel, activated_at, line's owner, owner_since) in id order."""
        return self.session.execute(
            select(
                LineEvent.id,
                LineEvent.seq,
                LineEvent.operation,
                LineEvent.to_state,
                LineEvent.owner_after_id,
                LineEvent.channel_id,
                LineEvent.occurred_at,
                Line.msisdn,
                Line.channel_id,
                Line.activated_at,
                Line.owner_identity_id,
                Line.owner_since,
            )
            .join(Line, Line.id == LineEvent.line_id)
            .where(
                Line.enterprise_id == enterprise_id,
                LineEvent.id > cursor,
                LineEvent.id <= high,
            )
            .order_by(LineEvent.id)
            .limit(limit)
        ).all()

    def last_line_id(self, enterprise_id: int) -> int:
        """The enterprise's highest line id (0: none): where a snapshot begun now ends."""
        return int(
            self.session.scalar(
                select(func.max(Line.id)).where(Line.enterprise_id == enterprise_id)
            )
            or 0
        )

    def lines_after(
        self, enterprise_id: int, after_id: int, limit: int, until_id: int | None = None
    ) -> Sequence[Any]:
        """(line id, msisdn, event_count, state, owner, channel, activated_at, owner_since,
        state_changed_at) of lines in service or past it, keyset by id, up to `until_id`.

        On SQLite the batch's ids come from one ordered walk of `ix_line_enterprise_state`
        per published state, merged: written as one condition, SQLite read every line of the
        enterprise through that index and sorted them all for each batch (a 290,000-line
        enterprise's snapshot: 0.25 s a batch, quadratic in its size; its sealer read each
        batch again). PostgreSQL plans the condition itself."""
        columns = (
            Line.id,
            Line.msisdn,
            Line.event_count,
            Line.state,
            Line.owner_identity_id,
            Line.channel_id,
            Line.activated_at,
            Line.owner_since,
            Line.state_changed_at,
        )
        window = [Line.enterprise_id == enterprise_id, Line.id > after_id]
        if until_id is not None:
            window.append(Line.id <= until_id)
        if self.session.get_bind().dialect.name == "sqlite":
            walks = union_all(
                *(select(Line.id).where(*window, Line.state == state) for state in PUBLISHED)
            ).subquery()
            first = select(walks.c.id).order_by(walks.c.id).limit(limit)
            query = select(*columns).where(Line.id.in_(first)).order_by(Line.id)
        else:
            query = (
                select(*columns)
                .where(*window, Line.state.not_in(UNPUBLISHED_STATES))
                .order_by(Line.id)
                .limit(limit)
            )
        return self.session.execute(query).all()

    def channels(self, enterprise_id: int) -> dict[int, tuple[str, str]]:
        rows = self.session.execute(
            select(Channel.id, Channel.kind, Channel.region_code).where(
                Channel.enterprise_id == enterprise_id
            )
        )
        return {int(i): (kind, region[:2]) for i, kind, region in rows}

    def identities(self, ids: Sequence[int]) -> Sequence[Identity]:
        return [
            row
            for chunk in in_chunks(ids)
            for row in self.session.scalars(select(Identity).where(Identity.id.in_(chunk)))
        ]
