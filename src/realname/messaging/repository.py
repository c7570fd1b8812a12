"""Every query the outbox runs.

Claiming reads due rows `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two senders claiming at
the same moment each skip the rows the other is locking and never take the same one; on
SQLite the clause renders as nothing and BEGIN IMMEDIATE (see `db.engine`) serialises the
claiming transactions instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    CursorResult,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from realname.db.dialect import columns_table, returned_count, rows_table, unindexed
from realname.db.types import UtcDateTime
from realname.messaging.models import OutboxMessage

PENDING, SENT, FAILED = "pending", "sent", "failed"


def _due(at: datetime) -> Any:
    return (OutboxMessage.status == PENDING) & (OutboxMessage.next_attempt_at <= at)


def _unleased(at: datetime) -> Any:
    return or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < at)


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- queueing ---------------------------------------------------------------------------

    def insert_if_new(self, values: Mapping[str, Any]) -> int | None:
        """INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id: the new id, or None when
        the key was already queued (also when a concurrent transaction queued it first: on
        PostgreSQL the insert waits for that transaction, then does nothing)."""
        dialect = self.session.get_bind().dialect.name
        module = postgresql if dialect == "postgresql" else sqlite
        statement = (
            module.insert(OutboxMessage.__table__)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(OutboxMessage.__table__.c.id)
        )
        new_id = self.session.execute(statement).scalar_one_or_none()
        return None if new_id is None else int(new_id)

    def insert_many_if_new(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """`insert_if_new` for many rows in ONE statement (INSERT … SELECT from the rows
        sent as one JSON parameter … ON CONFLICT DO NOTHING): how many were new. The rows
        share `enterprise_id`, `status`, `attempts` and the two times, the first row's."""
        if not rows:
            return 0
        first = rows[0]
        # Thousands of reminders share a few texts: each text is sent once, rows name it.
        texts: dict[str, int] = {}
        v = columns_table(
            self.session,
            "messages",
            [
                ("dedupe_key", String(), [r["dedupe_key"] for r in rows]),
                ("line_id", BigInteger(), [r["line_id"] for r in rows]),
                ("destination", String(), [r["destination"] for r in rows]),
                ("kind", String(), [r["kind"] for r in rows]),
                ("text", Integer(), [texts.setdefault(r["body"], len(texts)) for r in rows]),
            ],
        )
        bodies = rows_table(
            self.session,
            "bodies",
            [("i", Integer()), ("body", Text())],
            [{"i": i, "body": body} for body, i in texts.items()],
        )
        table = OutboxMessage.__table__
        dialect = self.session.get_bind().dialect.name
        module = postgresql if dialect == "postgresql" else sqlite
        shared = {
            "enterprise_id": bindparam("enterprise_id", first["enterprise_id"], type_=BigInteger()),
            "status": bindparam("status", first["status"], type_=String()),
            "attempts": bindparam("attempts", first["attempts"], type_=Integer()),
            "next_attempt_at": bindparam("next_at", first["next_attempt_at"], type_=UtcDateTime()),
            "created_at": bindparam("created_at", first["created_at"], type_=UtcDateTime()),
        }
        statement = (
            module.insert(table)
            .from_select(
                ["dedupe_key", "line_id", "destination", "kind", "body", *shared],
                select(
                    v.c.dedupe_key,
                    v.c.line_id,
                    v.c.destination,
                    v.c.kind,
                    bodies.c.body,
                    *shared.values(),
                )
                .select_from(v.join(bodies, bodies.c.i == v.c.text))
                .where(true()),
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(table.c.id)
        )
        # Counted from the rows RETURNING gives (a conflict inserts none), by the server on
        # PostgreSQL: the driver's row count of this INSERT … SELECT read -1 there, and the
        # sweep reported -1 reminders.
        return returned_count(self.session, statement)

    # --- claiming ---------------------------------------------------------------------------

    def claimable_ids(self, at: datetime, limit: int) -> list[int]:
        """Due, pending, no live lease; oldest first; locked (and others' locks skipped)."""
        return list(
            self.session.scalars(
                select(OutboxMessage.id)
                .where(_due(at), _unleased(at))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )

    def set_claims(
        self, ids: Sequence[int], worker_id: str, until: datetime
    ) -> list[tuple[int, str, str, str, int]]:
        """Lease the rows to `worker_id`; returns (id, destination, kind, body, attempts)."""
        if not ids:
            return []
        rows = self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(claimed_by=worker_id, claimed_until=until)
            .returning(
                OutboxMessage.id,
                OutboxMessage.destination,
                OutboxMessage.kind,
                OutboxMessage.body,
                OutboxMessage.attempts,
            )
            .execution_options(synchronize_session=False)
        ).all()
        order = {message_id: i for i, message_id in enumerate(ids)}
        result = [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows]
        return sorted(result, key=lambda row: order[row[0]])

    def claimed_for_update(self, message_id: int, worker_id: str) -> OutboxMessage | None:
        """The row if it is still pending and claimed by `worker_id`, locked."""
        return self.session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status == PENDING,
                OutboxMessage.claimed_by == worker_id,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()

    def mark_sent(
        self, message_id: int, worker_id: str, gateway_message_id: str, at: datetime
    ) -> bool:
        result = cast(
            CursorResult[Any],
            self.session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message_id,
                    OutboxMessage.status == PENDING,
                    OutboxMessage.claimed_by == worker_id,
                )
                .values(
                    status=SENT,
                    attempts=OutboxMessage.attempts + 1,
                    gateway_message_id=gateway_message_id[:64],
                    sent_at=at,
                    claimed_until=None,  # claimed_by stays: which sender sent it
                    last_error=None,
                )
                .execution_options(synchronize_session=False)
            ),
        )
        return result.rowcount == 1

    def mark_many_sent(
        self, sent: Sequence[tuple[int, str]], worker_id: str, at: datetime
    ) -> list[int]:
        """`mark_sent` for (outbox id, gateway message id) pairs in one UPDATE … FROM the
        pairs: the ids recorded (those still pending and claimed by `worker_id`)."""
        if not sent:
            return []
        v = rows_table(
            self.session,
            "sent",
            [("id", BigInteger()), ("gateway_id", String())],
            [{"id": message_id, "gateway_id": gateway_id[:64]} for message_id, gateway_id in sent],
        )
        table: Table = OutboxMessage.__table__  # type: ignore[assignment]
        statement = (
            update(table)
            .where(
                table.c.id == v.c.id,
                unindexed(self.session, table.c.status) == PENDING,
                table.c.claimed_by == worker_id,
            )
            .values(
                status=SENT,
                attempts=table.c.attempts + 1,
                gateway_message_id=v.c.gateway_id,
                sent_at=at,
                claimed_until=None,  # claimed_by stays: which sender sent it
                last_error=None,
            )
            .returning(table.c.id)
        )
        return [int(i) for i in self.session.execute(statement).scalars()]

    def release(self, ids: Sequence[int], worker_id: str) -> int:
        """Hand claimed, unsent rows back at once (graceful stop, lease about to run out)."""
        if not ids:
            return 0
        result = cast(
            CursorResult[Any],
            self.session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids),
                    OutboxMessage.status == PENDING,
                    OutboxMessage.claimed_by == worker_id,
                )
                .values(claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False)
            ),
        )
        return int(result.rowcount)

    # --- reporting --------------------------------------------------------------------------

    def earliest_lease_expiry_of_due(self, at: datetime) -> datetime | None:
        """When the first live lease on a due message runs out (None: no such lease)."""
        return self.session.scalar(
            select(func.min(OutboxMessage.claimed_until)).where(
                _due(at), OutboxMessage.claimed_until >= at
            )
        )

    def counts_by_status_and_kind(self) -> dict[tuple[str, str], int]:
        rows = self.session.execute(
            select(OutboxMessage.status, OutboxMessage.kind, func.count()).group_by(
                OutboxMessage.status, OutboxMessage.kind
            )
        ).all()
        return {(str(status), str(kind)): int(n) for status, kind, n in rows}

    def oldest_pending_created_at(self) -> datetime | None:
        return self.session.scalar(
            select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == PENDING)
        )

    def due_count(self, at: datetime) -> tuple[int, int]:
        """(due and free to claim, due but leased to a sender)."""
        free = self.session.scalar(select(func.count()).where(_due(at), _unleased(at)))
        leased = self.session.scalar(
            select(func.count()).where(_due(at), OutboxMessage.claimed_until >= at)
        )
        return int(free or 0), int(leased or 0)
