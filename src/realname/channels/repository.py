"""Every query of the channels domain: channels, their stock and the evidence of their risk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, column, func, select, table
from sqlalchemy.orm import Session

from realname.channels.models import RegistrationRefusal
from realname.channels.risk import FailedProof, Registration
from realname.db.types import UtcDateTime
from realname.registry.lifecycle import LineState, Operation
from realname.registry.models import Channel, Line, LineEvent

REGISTERING = (str(Operation.REGISTER), str(Operation.REGISTER_LEGACY))
STOCK_MOVES = (
    str(Operation.STOCK),
    str(Operation.MOVE_STOCK),
    str(Operation.UNSTOCK),
    str(Operation.WRITE_OFF),
    str(Operation.REGISTER),
)
AGE_BUCKETS_DAYS = (30, 90, 180)


_POSSESSION_FAILURE = table(
    "possession_failure",
    column("channel_id"),
    column("line_id"),
    column("method"),
    column("reason"),
    column("occurred_at", UtcDateTime()),
)


class ChannelRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def channels(self, enterprise_id: int | None) -> Sequence[Channel]:
        query = select(Channel).order_by(Channel.id)
        if enterprise_id is not None:
            query = query.where(Channel.enterprise_id == enterprise_id)
        return self.session.scalars(query).all()

    def channel(self, channel_id: int) -> Channel | None:
        return self.session.get(Channel, channel_id)

    def add(self, row: object) -> None:
        self.session.add(row)

    # --- stock ----------------------------------------------------------------------------------

    def stock_by_channel(self, enterprise_id: int, at: datetime) -> dict[int, dict[str, Any]]:
        """Unsold kits per channel, bucketed by days since they first entered stock."""
        age_columns = [
            func.sum(case((Line.stocked_at < at - timedelta(days=days), 1), else_=0))
            for days in AGE_BUCKETS_DAYS
        ]
        rows = self.session.execute(
            select(Line.channel_id, func.count(), func.min(Line.stocked_at), *age_columns)
            .where(Line.enterprise_id == enterprise_id, Line.state == str(LineState.STOCKED))
            .group_by(Line.channel_id)
        )
        result = {}
        for channel_id, count, oldest, *older in rows:
            result[int(channel_id)] = {
                "count": int(count),
                "oldest": oldest,
                "older_than": {
                    d: int(n or 0) for d, n in zip(AGE_BUCKETS_DAYS, older, strict=True)
                },
            }
        return result

    def aged_kits(self, enterprise_id: int, cutoff: datetime, limit: int) -> Sequence[Line]:
        return self.session.scalars(
            select(Line)
            .where(
                Line.enterprise_id == enterprise_id,
                Line.state == str(LineState.STOCKED),
                Line.stocked_at < cutoff,
            )
            .order_by(Line.stocked_at, Line.id)
            .limit(limit)
        ).all()

    def stock_trail(self, line_id: int) -> Sequence[LineEvent]:
        """How a kit got where it is: every stock movement, and its sale."""
        return self.session.scalars(
            select(LineEvent)
            .where(LineEvent.line_id == line_id, LineEvent.operation.in_(STOCK_MOVES))
            .order_by(LineEvent.seq)
        ).all()

    # --- risk evidence --------------------------------------------------------------------------

    def registrations(self, enterprise_id: int, since: datetime) -> list[Registration]:
        rows = self.session.execute(
            select(
                LineEvent.channel_id,
                LineEvent.owner_after_id,
                LineEvent.line_id,
                LineEvent.occurred_at,
            )
            .join(Channel, Channel.id == LineEvent.channel_id)
            .where(
                Channel.enterprise_id == enterprise_id,
                LineEvent.operation.in_(REGISTERING),
                LineEvent.occurred_at >= since,
            )
        )
        return [
            Registration(int(channel), int(owner), int(line), at)
            for channel, owner, line, at in rows
            if channel is not None and owner is not None
        ]

    def refusals(self, enterprise_id: int, since: datetime) -> list[tuple[int, str]]:
        rows = self.session.execute(
            select(RegistrationRefusal.channel_id, RegistrationRefusal.code)
            .join(Channel, Channel.id == RegistrationRefusal.channel_id)
            .where(
                Channel.enterprise_id == enterprise_id,
                RegistrationRefusal.occurred_at >= since,
            )
        )
        return [(int(channel), str(code)) for channel, code in rows]

    def backfills(self, enterprise_id: int, since: datetime) -> dict[int, int]:
        """Legacy lines each channel back-filled since `since`."""
        rows = self.session.execute(
            select(LineEvent.channel_id, func.count())
            .join(Channel, Channel.id == LineEvent.channel_id)
            .where(
                Channel.enterprise_id == enterprise_id,
                LineEvent.operation == str(Operation.REGISTER_LEGACY),
                LineEvent.occurred_at >= since,
            )
            .group_by(LineEvent.channel_id)
        )
        return {int(channel): int(n) for channel, n in rows if channel is not None}

    def failed_proofs(self, enterprise_id: int, since: datetime) -> list[FailedProof]:
        """Failed proofs of possession at the enterprise's channels (the possession domain's
        table, named here without importing that feature)."""
        f = _POSSESSION_FAILURE
        rows = self.session.execute(
            select(f.c.channel_id, f.c.line_id, f.c.method, f.c.reason)
            .join(Channel, Channel.id == f.c.channel_id)
            .where(Channel.enterprise_id == enterprise_id, f.c.occurred_at >= since)
        )
        return [
            FailedProof(int(channel), int(line) if line is not None else None, method, reason)
            for channel, line, method, reason in rows
        ]

    def complaints(self, enterprise_id: int, since: datetime) -> list[tuple[int, str]]:
        """(line, kind) of every complaint since `since`."""
        rows = self.session.execute(
            select(LineEvent.line_id, LineEvent.detail)
            .join(Line, Line.id == LineEvent.line_id)
            .where(
                Line.enterprise_id == enterprise_id,
                LineEvent.operation == str(Operation.COMPLAIN),
                LineEvent.occurred_at >= since,
            )
        )
        return [(int(line), str((detail or {}).get("kind", ""))) for line, detail in rows]
