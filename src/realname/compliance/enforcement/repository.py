"""The enforcement ladder's queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from realname.compliance.complaints.models import Complaint
from realname.compliance.enforcement.ladder import RoundResult
from realname.compliance.enforcement.models import (
    EnforcementAction,
    EnforcementConsequence,
    EnforcementProposal,
)
from realname.compliance.inspections.repository import InspectionRepository
from realname.registry.lifecycle import HELD_STATES
from realname.registry.models import Channel, Enterprise, EnterpriseSanction, Line


class EnforcementRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)

    def enterprise(self, enterprise_id: int, *, lock: bool = False) -> Enterprise | None:
        query = select(Enterprise).where(Enterprise.id == enterprise_id)
        return self.session.scalars(query.with_for_update() if lock else query).first()

    def enterprise_by_code(self, code: str) -> Enterprise | None:
        return self.session.scalars(select(Enterprise).where(Enterprise.code == code)).first()

    def enterprises(self) -> Sequence[Enterprise]:
        return self.session.scalars(select(Enterprise).order_by(Enterprise.code)).all()

    def national_round_results(self) -> dict[int, list[RoundResult]]:
        """Per enterprise id, its result in each national secret-inspection round that
        visited its outlets, in the rounds' order (a provincial round covers one province:
        not a national rate)."""
        inspections = InspectionRepository(self.session)
        national = [r for r in inspections.rounds(None) if r.province is None]
        if not national:
            return {}
        ids = {e.code: e.id for e in self.enterprises()}
        results: dict[int, list[RoundResult]] = {}
        for row in national:
            for _, code, _, visits, violating in inspections.visit_counts([row.id], "enterprise"):
                if code in ids and visits:
                    results.setdefault(ids[code], []).append(
                        RoundResult(row.code, int(visits), int(violating or 0))
                    )
        return results

    def channel(self, channel_id: int) -> Channel | None:
        return self.session.get(Channel, channel_id)

    def action(self, action_id: int, *, lock: bool = False) -> EnforcementAction | None:
        query = select(EnforcementAction).where(EnforcementAction.id == action_id)
        return self.session.scalars(query.with_for_update() if lock else query).first()

    def actions(
        self, enterprise_id: int | None = None, *, open_only: bool = False
    ) -> Sequence[EnforcementAction]:
        query = select(EnforcementAction)
        if enterprise_id is not None:
            query = query.where(EnforcementAction.enterprise_id == enterprise_id)
        if open_only:
            query = query.where(EnforcementAction.status == "open")
        return self.session.scalars(query.order_by(EnforcementAction.id)).all()

    def open_kinds(self, enterprise_id: int) -> list[str]:
        return list(
            self.session.scalars(
                select(EnforcementAction.kind).where(
                    EnforcementAction.enterprise_id == enterprise_id,
                    EnforcementAction.status == "open",
                )
            )
        )

    def overdue_orders(self, at: datetime) -> Sequence[EnforcementAction]:
        """Open rectification orders past their deadline and not found met at a follow-up."""
        return self.session.scalars(
            select(EnforcementAction)
            .where(
                EnforcementAction.kind == "rectification",
                EnforcementAction.status == "open",
                EnforcementAction.deadline < at,
            )
            .order_by(EnforcementAction.id)
        ).all()

    def consequences(self, action_id: int) -> Sequence[EnforcementConsequence]:
        return self.session.scalars(
            select(EnforcementConsequence)
            .where(EnforcementConsequence.action_id == action_id)
            .order_by(EnforcementConsequence.id)
        ).all()

    def consequences_in_force(
        self, enterprise_id: int, measure: str, *, except_action: int
    ) -> Sequence[EnforcementConsequence]:
        """Another open action's consequence of this kind still in force at the enterprise:
        lifting one action must not undo what another still imposes."""
        return self.session.scalars(
            select(EnforcementConsequence)
            .join(EnforcementAction, EnforcementAction.id == EnforcementConsequence.action_id)
            .where(
                EnforcementAction.enterprise_id == enterprise_id,
                EnforcementAction.id != except_action,
                EnforcementConsequence.measure == measure,
                EnforcementConsequence.lifted_at.is_(None),
            )
        ).all()

    def proposal(self, proposal_id: int, *, lock: bool = False) -> EnforcementProposal | None:
        query = select(EnforcementProposal).where(EnforcementProposal.id == proposal_id)
        return self.session.scalars(query.with_for_update() if lock else query).first()

    def proposals(
        self, enterprise_id: int | None = None, status: str | None = None
    ) -> Sequence[EnforcementProposal]:
        query = select(EnforcementProposal)
        if enterprise_id is not None:
            query = query.where(EnforcementProposal.enterprise_id == enterprise_id)
        if status is not None:
            query = query.where(EnforcementProposal.status == status)
        return self.session.scalars(query.order_by(EnforcementProposal.id)).all()

    def proposed_on(self, enterprise_id: int, rule: str, basis: str) -> bool:
        """Whether this rule already proposed on this fact (pending or decided)."""
        found = self.session.scalar(
            select(func.count())
            .select_from(EnforcementProposal)
            .where(
                EnforcementProposal.enterprise_id == enterprise_id,
                EnforcementProposal.rule == rule,
                EnforcementProposal.basis == basis,
            )
        )
        return bool(found)

    def open_kinds_by_enterprise(self) -> dict[int, list[str]]:
        """Every enterprise's open action kinds, in one query (the sweep)."""
        found: dict[int, list[str]] = {}
        rows = self.session.execute(
            select(EnforcementAction.enterprise_id, EnforcementAction.kind).where(
                EnforcementAction.status == "open"
            )
        )
        for enterprise_id, kind in rows:
            found.setdefault(int(enterprise_id), []).append(str(kind))
        return found

    def complaints_and_lines_by_enterprise(
        self, since: datetime, until: datetime
    ) -> dict[int, tuple[int, int]]:
        """`complaints_and_lines` of every enterprise, in two grouped queries (the sweep)."""
        complaints: dict[int, int] = {
            int(e): int(n)
            for e, n in self.session.execute(
                select(Complaint.enterprise_id, func.count())
                .where(
                    Complaint.enterprise_id.is_not(None),
                    # (since, until]: a complaint taken at the sweep's own instant counts
                    Complaint.received_at > since,
                    Complaint.received_at <= until,
                )
                .group_by(Complaint.enterprise_id)
            )
            if e is not None
        }
        lines: dict[int, int] = {
            int(e): int(n)
            for e, n in self.session.execute(
                select(Line.enterprise_id, func.count())
                .where(Line.state.in_([str(s) for s in HELD_STATES]))
                .group_by(Line.enterprise_id)
            )
        }
        return {e: (complaints.get(e, 0), lines.get(e, 0)) for e in set(complaints) | set(lines)}

    def counts_by_enterprise(self) -> list[tuple[int, str, str, int]]:
        """(enterprise, kind, status, count) of every action: the enforcement report."""
        rows = self.session.execute(
            select(
                EnforcementAction.enterprise_id,
                EnforcementAction.kind,
                EnforcementAction.status,
                func.count(),
            ).group_by(
                EnforcementAction.enterprise_id, EnforcementAction.kind, EnforcementAction.status
            )
        )
        return [(int(e), str(k), str(s), int(n)) for e, k, s, n in rows]

    def measures_in_force(self) -> dict[int, set[str]]:
        """Every enterprise's measures not yet lifted, in one query (the report)."""
        rows = self.session.execute(
            select(EnterpriseSanction.enterprise_id, EnterpriseSanction.measure)
            .where(EnterpriseSanction.lifted_at.is_(None))
            .distinct()
        )
        found: dict[int, set[str]] = {}
        for enterprise_id, measure in rows:
            found.setdefault(int(enterprise_id), set()).add(str(measure))
        return found

    def pending_by_enterprise(self) -> dict[int, list[str]]:
        """The rungs proposed and waiting for a decision, per enterprise, in one query."""
        rows = self.session.execute(
            select(EnforcementProposal.enterprise_id, EnforcementProposal.kind)
            .where(EnforcementProposal.status == "pending")
            .order_by(EnforcementProposal.enterprise_id, EnforcementProposal.id)
        )
        found: dict[int, list[str]] = {}
        for enterprise_id, kind in rows:
            found.setdefault(int(enterprise_id), []).append(str(kind))
        return found
