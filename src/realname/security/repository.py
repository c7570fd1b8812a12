"""Queries on the audit log."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from realname.db.dialect import insert_ignoring_conflicts
from realname.security.models import AuditChainHead, AuditLog

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

    def heads(self) -> dict[int, AuditChainHead]:
        return {h.chain: h for h in self.session.scalars(select(AuditChainHead))}

    def entries_in_chain_order(self, batch: int = 5000) -> Iterator[AuditLog]:
        statement = (
            select(AuditLog)
            .order_by(AuditLog.chain, AuditLog.position)
            .execution_options(yield_per=batch)
        )
        yield from self.session.scalars(statement)
