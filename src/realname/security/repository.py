"""Queries on the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Table, Text, cast, func, select, update
from sqlalchemy.orm import Session

from realname.db.dialect import insert_ignoring_conflicts
from realname.security.models import AuditChainHead, AuditLog, SealedNote

GENESIS = b"\x00" * 32


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_head(self, chain: int) -> AuditChainHead:
        """The chain's head row, locked until commit (created on first use)."""
        head = self.session.scalars(
            select(AuditChainHead)
            .where(AuditChainHead.chain == chain)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if head is not None:
            return head
        insert_ignoring_conflicts(
            self.session,
            AuditChainHead.__table__,  # type: ignore[arg-type]
            {"chain": chain, "position": 0, "head_hash": GENESIS},
            ["chain"],
        )
        return self.session.scalars(
            select(AuditChainHead)
            .where(AuditChainHead.chain == chain)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()

    def add(self, entry: AuditLog) -> None:
        self.session.add(entry)

    def purge_notes(self, note_ids: list[int], marker: str, chunk: int = 500) -> list[int]:
        """Empty the blob of each of these notes not yet purged and mark its key id; returns
        the ids changed."""
        done: list[int] = []
        for start in range(0, len(note_ids), chunk):
            part = note_ids[start : start + chunk]
            live = list(
                self.session.scalars(
                    select(SealedNote.id)
                    .where(SealedNote.id.in_(part), SealedNote.key_id != marker)
                    .order_by(SealedNote.id)
                    .with_for_update()
                )
            )
            if live:
                self.session.execute(
                    update(SealedNote)
                    .where(SealedNote.id.in_(live))
                    .values(key_id=marker, blob=b"")
                    .execution_options(synchronize_session="fetch")
                )
            done += live
        return done

    def latest_details(self, object_type: str) -> dict[str, dict[str, Any]]:
        """The newest entry's detail for each object of this type (few objects: API clients)."""
        rows = self.session.execute(
            select(AuditLog.object_id, AuditLog.detail)
            .where(AuditLog.object_type == object_type)
            .order_by(AuditLog.id)
        )
        return {row.object_id: row.detail for row in rows}

    def heads(self) -> dict[int, AuditChainHead]:
        return {h.chain: h for h in self.session.scalars(select(AuditChainHead))}

    def last_entry(self, chain: int) -> AuditLog | None:
        return self.session.scalars(
            select(AuditLog)
            .where(AuditLog.chain == chain)
            .order_by(AuditLog.position.desc())
            .limit(1)
        ).first()

    def high_water(self, table: Table) -> tuple[int, int]:
        """(highest id, rows) of an append-only table."""
        top, count = self.session.execute(select(func.max(table.c.id), func.count())).one()
        return int(top or 0), int(count)

    def rows_up_to(self, table: Table, top: int) -> int:
        return int(
            self.session.scalar(select(func.count()).select_from(table).where(table.c.id <= top))
            or 0
        )

    def details(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(id, detail) of the entries whose detail references a sealed note."""
        rows = self.session.execute(
            select(AuditLog.id, AuditLog.detail).where(cast(AuditLog.detail, Text).like('%"note"%'))
        )
        for entry_id, detail in rows:
            yield int(entry_id), detail

    def entries_in_chain_order(self, batch: int = 5000) -> Iterator[AuditLog]:
        statement = (
            select(AuditLog)
            .order_by(AuditLog.chain, AuditLog.position)
            .execution_options(yield_per=batch)
        )
        yield from self.session.scalars(statement)
