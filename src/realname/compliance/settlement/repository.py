"""The settlement statement's query: one grouped read of the line events for the whole period."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from realname.compliance.figures.periods import Period
from realname.compliance.figures.repository import month_of
from realname.registry.lifecycle import Operation
from realname.registry.models import Channel, LineEvent

# What a channel is paid commission for: a new customer registered, a legacy line back-filled.
PAID = (Operation.REGISTER, Operation.REGISTER_LEGACY)


class SettlementRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def registrations_by_month_and_channel(
        self, enterprise_id: int, period: Period
    ) -> list[tuple[str, str, str, int, int]]:
        """(month, channel code, kind, new registrations, back-fills) at the enterprise's
        channels in each month of `period`, by month then channel code; channels with none in
        a month are left out. One query for the period (it was one per month)."""
        months = period.months()
        if not months:
            return []
        month = month_of(LineEvent.occurred_at, period)
        legacy = case((LineEvent.operation == str(Operation.REGISTER_LEGACY), 1), else_=0)
        rows = self.session.execute(
            select(month, Channel.code, Channel.kind, func.count(), func.sum(legacy))
            .join(LineEvent, LineEvent.channel_id == Channel.id)
            .where(
                Channel.enterprise_id == enterprise_id,
                LineEvent.operation.in_([str(o) for o in PAID]),
                LineEvent.occurred_at >= months[0][1],
                LineEvent.occurred_at < months[-1][2],
            )
            .group_by(month, Channel.code, Channel.kind)
            .order_by(month, Channel.code)
        )
        return [
            (
                str(label),
                str(code),
                str(kind),
                int(total) - int(backfilled or 0),
                int(backfilled or 0),
            )
            for label, code, kind, total, backfilled in rows
        ]
