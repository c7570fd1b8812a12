"""Every query self-service runs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from realname.registry.models import Line
from realname.selfservice.models import Dispute


class SelfServiceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def line(self, line_id: int) -> Line | None:
        return self.session.get(Line, line_id)

    def lines_of(self, identity_id: int, enterprise_id: int) -> Sequence[Line]:
        """The lines this identity holds now at this enterprise (an ended line names no one)."""
        return self.session.scalars(
            select(Line)
            .where(Line.owner_identity_id == identity_id, Line.enterprise_id == enterprise_id)
            .order_by(Line.id)
        ).all()

    def disputes_of(self, identity_id: int, enterprise_id: int) -> Sequence[Dispute]:
        return self.session.scalars(
            select(Dispute)
            .where(Dispute.identity_id == identity_id, Dispute.enterprise_id == enterprise_id)
            .order_by(Dispute.opened_at, Dispute.id)
        ).all()

    def open_dispute(self, line_id: int, identity_id: int) -> Dispute | None:
        """A case already open on this line for this identity (a repeat is not a new case)."""
        return self.session.scalars(
            select(Dispute)
            .where(Dispute.line_id == line_id, Dispute.identity_id == identity_id)
            .order_by(Dispute.id.desc())
        ).first()

    def add(self, row: object) -> None:
        self.session.add(row)
