"""The settlement statement's query: one grouped read of the line events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from realname.registry.lifecycle import Operation
from realname.registry.models import Channel, LineEvent

# What a channel is paid commission for: a new customer registered, a legacy line back-filled.
PAID = (Operation.REGISTER, Operation.REGISTER_LEGACY)


class SettlementRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def registrations_by_channel(
        self, enterprise_id: int, since: datetime, until: datetime
    ) -> list[tuple[str, str, int, int]]:
        """(channel code, kind, new registrations, back-fills) at the enterprise's channels in
        [since, until), by channel code; channels with none are left out."""
        legacy = case((LineEvent.operation == str(Operation.REGISTER_LEGACY), 1), else_=0)
        rows = self.session.execute(
            select(Channel.code, Channel.kind, func.count(), func.sum(legacy))
            .join(LineEvent, LineEvent.channel_id == Channel.id)
            .where(
                Channel.enterprise_id == enterprise_id,
                LineEvent.operation.in_([str(o) for o in PAID]),
                LineEvent.occurred_at >= since,
                LineEvent.occurred_at < until,
            )
            .group_by(Channel.code, Channel.kind)
            .order_by(Channel.code)
        )
        return [
            (str(code), str(kind), int(total) - int(backfilled or 0), int(backfilled or 0))
            for code, kind, total, backfilled in rows
        ]
