"""Every query of 一证通查: its challenges and their limits, its disputes, and the registry's
view of a disputed line (when the enterprise's registry is in this instance)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, delete, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from realname.compliance.complaints.models import Complaint
from realname.db.dialect import insert_ignoring_conflicts
from realname.national.index.models import NationalLine
from realname.national.lookup.models import (
    NationalDispute,
    NationalDisputeAnswer,
    NationalLookupChallenge,
    NationalLookupLock,
)
from realname.registry.models import Enterprise, Line, LineEvent

FORWARDED = "forwarded"  # a dispute at a separate enterprise instance, not yet answered


@dataclass(frozen=True)
class RegistryLine:
    """The registry's line under a number, as a dispute checks it against the national one."""

    enterprise_id: int
    owner_identity_id: int | None
    owner_since: datetime | None
    owner_at_seq: int | None  # the owner after the event the national line was fed from
    has_event_at_seq: bool


class LookupRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)

    # --- limits and challenges ------------------------------------------------------------

    def lock_keys(self, keys: Sequence[tuple[str, bytes]], at: datetime) -> None:
        """Lock the row of each limit key (created when missing), in key order so that two
        requests never deadlock: a request under one of these keys waits here until this
        transaction ends, then counts what it committed (count-then-insert without it let
        every concurrent request see the count below the limit)."""
        table = cast(Table, NationalLookupLock.__table__)
        for kind, key in sorted(keys, key=lambda k: k[1]):
            insert_ignoring_conflicts(
                self.session, table, {"key": key, "kind": kind, "touched_at": at}, ["key"]
            )
            row = self._locked(key)
            if row is None:  # purged between the two statements (housekeeping): once more
                insert_ignoring_conflicts(
                    self.session, table, {"key": key, "kind": kind, "touched_at": at}, ["key"]
                )
                row = self._locked(key)
            if row is None:
                raise RuntimeError("a lookup lock row vanished twice")  # not a user's error
            row.touched_at = at

    def _locked(self, key: bytes) -> NationalLookupLock | None:
        return self.session.scalars(
            select(NationalLookupLock)
            .where(NationalLookupLock.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()

    def purge_before(self, cutoff: datetime) -> tuple[int, int]:
        """Delete the challenges issued and the limit-lock rows last touched before `cutoff`:
        (challenges, locks) deleted."""
        challenges = self.session.execute(
            delete(NationalLookupChallenge).where(NationalLookupChallenge.issued_at < cutoff)
        )
        locks = self.session.execute(
            delete(NationalLookupLock).where(NationalLookupLock.touched_at < cutoff)
        )
        return (
            int(getattr(challenges, "rowcount", 0) or 0),
            int(getattr(locks, "rowcount", 0) or 0),
        )

    def window(
        self, column: InstrumentedAttribute[bytes], key: bytes, since: datetime
    ) -> tuple[int, datetime | None]:
        """Requests under `key` since `since`: how many, and the oldest."""
        count, oldest = self.session.execute(
            select(func.count(), func.min(NationalLookupChallenge.issued_at)).where(
                column == key, NationalLookupChallenge.issued_at >= since
            )
        ).one()
        return int(count or 0), oldest

    def challenge(self, public_id: str) -> NationalLookupChallenge | None:
        return self.session.scalars(
            select(NationalLookupChallenge)
            .where(NationalLookupChallenge.public_id == public_id)
            .with_for_update()
        ).first()

    # --- disputes --------------------------------------------------------------------------

    def open_dispute(self, line_id: int, identity_id: int, at: datetime) -> NationalDispute | None:
        """The dispute of this identity on this line still within its deadline, if any."""
        return self.session.scalars(
            select(NationalDispute).where(
                NationalDispute.line_id == line_id,
                NationalDispute.identity_id == identity_id,
                NationalDispute.due_at > at,
            )
        ).first()

    def enterprise_is_here(self, enterprise_id: int) -> bool:
        """Whether this instance's registry holds any line of the enterprise (the platform in
        the enterprise's own instance) or none (a separate enterprise instance feeds it)."""
        found = self.session.execute(
            select(Line.id).where(Line.enterprise_id == enterprise_id).limit(1)
        ).first()
        return found is not None

    def forwarded(
        self, enterprise_id: int, after: tuple[datetime, str] | None, limit: int
    ) -> Sequence[tuple[NationalDispute, NationalLine]]:
        """The enterprise's forwarded disputes not closed yet, oldest first: in the order of
        (opened_at, reference), after the position `after` of that order, at most `limit`.
        The order is made of the enterprise's own disputes alone (not the table's id), so a
        page's position tells nothing of other enterprises' disputes."""
        query = (
            select(NationalDispute, NationalLine)
            .join(NationalLine, NationalLine.id == NationalDispute.line_id)
            .where(
                NationalDispute.enterprise_id == enterprise_id,
                NationalDispute.complaint_id.is_(None),
                NationalDispute.status.is_not(None),
                NationalDispute.status != "closed",
            )
        )
        if after is not None:
            opened_at, reference = after
            query = query.where(
                or_(
                    NationalDispute.opened_at > opened_at,
                    and_(
                        NationalDispute.opened_at == opened_at,
                        NationalDispute.reference > reference,
                    ),
                )
            )
        rows = self.session.execute(
            query.order_by(NationalDispute.opened_at, NationalDispute.reference).limit(limit)
        )
        return [(dispute, line) for dispute, line in rows]

    def answers(self, dispute_id: int) -> Sequence[NationalDisputeAnswer]:
        """The handlings posted for a forwarded dispute, in the order posted."""
        return self.session.scalars(
            select(NationalDisputeAnswer)
            .where(NationalDisputeAnswer.dispute_id == dispute_id)
            .order_by(NationalDisputeAnswer.id)
        ).all()

    def disputes_of(
        self, enterprise_id: int | None, include_closed: bool, limit: int
    ) -> Sequence[tuple[NationalDispute, NationalLine, Enterprise, Complaint | None]]:
        """The disputes of an enterprise's lines (None: every enterprise's), whether a
        complaint case here or forwarded: open ones by their deadline, soonest first (closed
        ones too when asked, after them)."""
        status = func.coalesce(Complaint.status, NationalDispute.status, FORWARDED)
        query = (
            select(NationalDispute, NationalLine, Enterprise, Complaint)
            .join(NationalLine, NationalLine.id == NationalDispute.line_id)
            .join(Enterprise, Enterprise.id == NationalDispute.enterprise_id)
            .outerjoin(Complaint, Complaint.id == NationalDispute.complaint_id)
        )
        if enterprise_id is not None:
            query = query.where(NationalDispute.enterprise_id == enterprise_id)
        if not include_closed:
            query = query.where(status != "closed")
        closed_last = (status == "closed").asc() if include_closed else None
        order = [NationalDispute.due_at, NationalDispute.id]
        rows = self.session.execute(
            query.order_by(*([closed_last] if closed_last is not None else []), *order).limit(limit)
        )
        return [(d, line, enterprise, complaint) for d, line, enterprise, complaint in rows]

    def dispute_for_update(self, reference: str) -> NationalDispute | None:
        return self.session.scalars(
            select(NationalDispute).where(NationalDispute.reference == reference).with_for_update()
        ).first()

    def dispute(
        self, reference: str
    ) -> tuple[NationalDispute, NationalLine, Enterprise, Complaint | None] | None:
        row = self.session.execute(
            select(NationalDispute, NationalLine, Enterprise, Complaint)
            .join(NationalLine, NationalLine.id == NationalDispute.line_id)
            .join(Enterprise, Enterprise.id == NationalDispute.enterprise_id)
            .outerjoin(Complaint, Complaint.id == NationalDispute.complaint_id)
            .where(NationalDispute.reference == reference)
        ).first()
        if row is None:
            return None
        dispute, line, enterprise, complaint = row
        return dispute, line, enterprise, complaint

    def registry_line(self, msisdn: str, seq: int) -> RegistryLine | None:
        """The registry's line with this number (None: not in this instance's registry), and
        its owner after its event number `seq`."""
        line = self.session.scalars(select(Line).where(Line.msisdn == msisdn)).first()
        if line is None:
            return None
        event = self.session.execute(
            select(LineEvent.owner_after_id).where(
                LineEvent.line_id == line.id, LineEvent.seq == seq
            )
        ).first()
        return RegistryLine(
            line.enterprise_id,
            line.owner_identity_id,
            line.owner_since,
            event[0] if event is not None else None,
            event is not None,
        )
