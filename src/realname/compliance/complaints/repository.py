"""The complaints' queries: cases, clusters on a line, an owner's record, counts for the
figures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from realname.compliance.complaints.models import Complaint, ComplaintFlag, ComplaintImport
from realname.registry.lifecycle import HELD_STATES
from realname.registry.models import Channel, Enterprise, Line

# What an owner is a repeat offender for: the person behind the calls and messages (a "not
# mine" complaint's owner is the victim).
OFFENCES = ("spam_sms", "fraud_call", "harassment_call")


class ComplaintRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)

    def complaint(self, complaint_id: int, *, lock: bool = False) -> Complaint | None:
        query = select(Complaint).where(Complaint.id == complaint_id)
        return self.session.scalars(query.with_for_update() if lock else query).first()

    def import_of(self, sha256: str) -> ComplaintImport | None:
        return self.session.scalars(
            select(ComplaintImport).where(ComplaintImport.sha256 == sha256)
        ).first()

    def by_reference(self, centre_ref: str) -> Complaint | None:
        return self.session.scalars(
            select(Complaint).where(Complaint.centre_ref == centre_ref)
        ).first()

    def complaints(
        self,
        enterprise_id: int | None = None,
        status: str | None = None,
        limit: int = 500,
        after_id: int = 0,
    ) -> Sequence[Complaint]:
        query = select(Complaint).where(Complaint.id > after_id)
        if enterprise_id is not None:
            query = query.where(Complaint.enterprise_id == enterprise_id)
        if status is not None:
            query = query.where(Complaint.status == status)
        return self.session.scalars(query.order_by(Complaint.id).limit(limit)).all()

    def on_line_since(self, line_id: int, owner_id: int | None, since: datetime) -> int:
        """Complaints about the line in its owner's time, about calls or messages since."""
        query = (
            select(func.count())
            .select_from(Complaint)
            .where(Complaint.line_id == line_id, Complaint.occurred_at >= since)
        )
        if owner_id is not None:
            query = query.where(Complaint.owner_identity_id == owner_id)
        return int(self.session.scalar(query) or 0)

    def against_owner_since(self, identity_id: int, since: datetime) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(Complaint)
                .where(
                    Complaint.owner_identity_id == identity_id,
                    Complaint.category.in_(OFFENCES),
                    Complaint.occurred_at >= since,
                )
            )
            or 0
        )

    def held_lines_anywhere(self, identity_id: int) -> Sequence[Line]:
        """Every line the identity holds today, at every enterprise."""
        return self.session.scalars(
            select(Line)
            .where(
                Line.owner_identity_id == identity_id,
                Line.state.in_([str(s) for s in HELD_STATES]),
            )
            .order_by(Line.id)
        ).all()

    def flagged_lines(self, identity_id: int, line_ids: Sequence[int]) -> set[int]:
        """Which of these lines are already flagged for this owner (one read, not one per
        line held; by ix_complaint_flag's (line_id, identity_id))."""
        if not line_ids:
            return set()
        return set(
            self.session.scalars(
                select(ComplaintFlag.line_id).where(
                    ComplaintFlag.line_id.in_(list(line_ids)),
                    ComplaintFlag.identity_id == identity_id,
                )
            )
        )

    def flags(self, enterprise_id: int | None = None) -> Sequence[ComplaintFlag]:
        query = select(ComplaintFlag)
        if enterprise_id is not None:
            query = query.where(ComplaintFlag.enterprise_id == enterprise_id)
        return self.session.scalars(query.order_by(ComplaintFlag.id)).all()

    def counts(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        enterprise_id: int | None = None,
        province: str | None = None,
    ) -> list[tuple[str, str | None, str, int]]:
        """(enterprise code, channel code or None, category, count) of traced complaints
        received in [since, until), of one enterprise if named, of the channels in one
        province (GB/T 2260, two digits) if named: what the figures divide by lines."""
        query = (
            select(Enterprise.code, Channel.code, Complaint.category, func.count())
            .join(Enterprise, Enterprise.id == Complaint.enterprise_id)
            .outerjoin(Channel, Channel.id == Complaint.channel_id)
        )
        if enterprise_id is not None:
            query = query.where(Complaint.enterprise_id == enterprise_id)
        if province is not None:  # the selling channel's province, as the figures count it
            query = query.where(func.substr(Channel.region_code, 1, 2) == province)
        if since is not None:
            query = query.where(Complaint.received_at >= since)
        if until is not None:
            query = query.where(Complaint.received_at < until)
        rows = self.session.execute(
            query.group_by(Enterprise.code, Channel.code, Complaint.category).order_by(
                Enterprise.code, Channel.code, Complaint.category
            )
        )
        return [(str(e), c, str(k), int(n)) for e, c, k, n in rows]

    def untraced(self, since: datetime | None = None) -> int:
        query = select(func.count()).select_from(Complaint).where(Complaint.line_id.is_(None))
        if since is not None:
            query = query.where(Complaint.received_at >= since)
        return int(self.session.scalar(query) or 0)

    def traced_enterprises(self) -> list[str]:
        """The codes of the enterprises whose complaints are traced here: those whose lines
        this instance's registry holds (a complaint is traced through the registry), in code
        order. An enterprise that only feeds the national platform is not one of them."""
        holds = select(Line.id).where(Line.enterprise_id == Enterprise.id).exists()
        return list(
            self.session.scalars(select(Enterprise.code).where(holds).order_by(Enterprise.code))
        )

    def traced_for_export(self, batch: int = 50_000) -> Any:
        """(enterprise code, channel region, channel kind, category, received at) of every
        complaint traced to an enterprise's line, oldest first, streamed (the national
        dataset `national_complaints`): no number, no person."""
        return self.session.execute(
            select(
                Enterprise.code,
                Channel.region_code,
                Channel.kind,
                Complaint.category,
                Complaint.received_at,
            )
            .join(Enterprise, Enterprise.id == Complaint.enterprise_id)
            .outerjoin(Channel, Channel.id == Complaint.channel_id)
            .order_by(Complaint.id)
            .execution_options(yield_per=batch)
        )
