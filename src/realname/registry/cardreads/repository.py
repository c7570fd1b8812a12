"""Every query of the card reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from realname.registry.cardreads.models import CardRead


class CardReadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: CardRead) -> None:
        self.session.add(row)

    def waiting(self, channel_id: int, public_id: str, now: datetime) -> CardRead | None:
        """The channel's unused, unexpired read of that id, locked for its one use."""
        return self.session.scalars(
            select(CardRead)
            .where(
                CardRead.public_id == public_id,
                CardRead.channel_id == channel_id,
                CardRead.used_at.is_(None),
                CardRead.expires_at > now,
            )
            .with_for_update()
        ).first()

    def latest(self, channel_id: int, now: datetime) -> CardRead | None:
        return self.session.scalars(
            select(CardRead)
            .where(
                CardRead.channel_id == channel_id,
                CardRead.used_at.is_(None),
                CardRead.expires_at > now,
            )
            .order_by(CardRead.read_at.desc(), CardRead.id.desc())
            .limit(1)
        ).first()

    def purge(self, now: datetime, channel_id: int | None = None) -> int:
        """Delete the used and expired reads of one channel (a reader's post: the desks of
        other channels neither wait on its delete nor it on their registrations' locks), or
        of every channel (the daily job); how many."""
        query = delete(CardRead).where(
            or_(CardRead.used_at.is_not(None), CardRead.expires_at <= now)
        )
        if channel_id is not None:
            query = query.where(CardRead.channel_id == channel_id)
        result = self.session.execute(query.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)
