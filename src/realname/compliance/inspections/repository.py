"""Every query of the inspections: the rounds' own tables, and the registry rows a plan is
drawn from and a test purchase is traced through (read, never written)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from realname.compliance.inspections.models import (
    InspectionEvidence,
    InspectionRound,
    InspectionTarget,
    InspectionVisit,
    TestPurchase,
)
from realname.compliance.inspections.outcomes import Outcome
from realname.registry.lifecycle import Operation
from realname.registry.models import Channel, Enterprise, Identity, Line, LineEvent
from realname.security.models import ApiClient

# The events that give a line its current owner: the registration the purchase is traced to.
OWNING = (
    str(Operation.REGISTER),
    str(Operation.REGISTER_LEGACY),
    str(Operation.TRANSFER),
    str(Operation.IMPORT_REGISTERED),
)


def province_of(column: Any) -> Any:
    """The GB/T 2260 province (first two digits) of a region-code column, on both engines."""
    return func.substr(column, 1, 2)


@dataclass(frozen=True)
class OutletRow:
    channel_id: int
    enterprise_id: int
    enterprise: str
    kind: str
    province: str


@dataclass(frozen=True)
class Owning:
    """The line's current owner and the event that made it so."""

    line_id: int
    owner_doc_type: str | None
    owner_number_index: bytes | None
    event_id: int | None
    channel_id: int | None
    occurred_at: Any
    detail: dict[str, Any]


class InspectionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- rounds and plans ------------------------------------------------------------------

    def round(self, round_id: int) -> InspectionRound | None:
        return self.session.get(InspectionRound, round_id)

    def round_by_code(self, code: str) -> InspectionRound | None:
        return self.session.scalars(
            select(InspectionRound).where(InspectionRound.code == code)
        ).first()

    def rounds(
        self, province: str | None, since: date | None = None, until: date | None = None
    ) -> Sequence[InspectionRound]:
        """Rounds by start date; a province sees its own rounds only."""
        query = select(InspectionRound).order_by(InspectionRound.starts_on, InspectionRound.id)
        if province is not None:
            query = query.where(InspectionRound.province == province)
        if since is not None:
            query = query.where(InspectionRound.starts_on >= since)
        if until is not None:
            query = query.where(InspectionRound.starts_on < until)
        return self.session.scalars(query).all()

    def add(self, row: object) -> None:
        self.session.add(row)

    def enterprise_codes(self, codes: Iterable[str]) -> dict[str, int]:
        wanted = list(codes)
        rows = self.session.execute(
            select(Enterprise.code, Enterprise.id).where(Enterprise.code.in_(wanted))
        )
        return {str(code): int(ident) for code, ident in rows}

    def outlets(
        self, enterprise_ids: list[int], kinds: list[str], provinces: list[str]
    ) -> list[OutletRow]:
        """Active channels in scope (an empty list: no restriction), by id."""
        province = province_of(Channel.region_code)
        query = (
            select(Channel.id, Channel.enterprise_id, Enterprise.code, Channel.kind, province)
            .join(Enterprise, Enterprise.id == Channel.enterprise_id)
            .where(Channel.status == "active")
            .order_by(Channel.id)
        )
        if enterprise_ids:
            query = query.where(Channel.enterprise_id.in_(enterprise_ids))
        if kinds:
            query = query.where(Channel.kind.in_(kinds))
        if provinces:
            query = query.where(province.in_(provinces))
        return [OutletRow(*row) for row in self.session.execute(query)]

    def targets(
        self, round_id: int
    ) -> list[tuple[InspectionTarget, str, str, int | None, str | None, bool | None]]:
        """The plan with each outlet's channel and enterprise codes and its visit, if any."""
        query = (
            select(
                InspectionTarget,
                Channel.code,
                Enterprise.code,
                InspectionVisit.id,
                InspectionVisit.outcome,
                InspectionVisit.violation,
            )
            .join(Channel, Channel.id == InspectionTarget.channel_id)
            .join(Enterprise, Enterprise.id == InspectionTarget.enterprise_id)
            .outerjoin(InspectionVisit, InspectionVisit.target_id == InspectionTarget.id)
            .where(InspectionTarget.round_id == round_id)
            .order_by(InspectionTarget.id)
        )
        return [(t, c, e, v, o, x) for t, c, e, v, o, x in self.session.execute(query)]

    def target(self, round_id: int, target_id: int) -> InspectionTarget | None:
        return self.session.scalars(
            select(InspectionTarget).where(
                InspectionTarget.id == target_id, InspectionTarget.round_id == round_id
            )
        ).first()

    def targets_by_id(self, round_id: int, target_ids: list[int]) -> dict[int, InspectionTarget]:
        """The round's outlets among `target_ids`, in one query (the others are not its)."""
        if not target_ids:
            return {}
        rows = self.session.scalars(
            select(InspectionTarget).where(
                InspectionTarget.round_id == round_id, InspectionTarget.id.in_(target_ids)
            )
        )
        return {row.id: row for row in rows}

    def has_plan(self, round_id: int) -> bool:
        found = self.session.scalar(
            select(InspectionTarget.id).where(InspectionTarget.round_id == round_id).limit(1)
        )
        return found is not None

    def active_inspector(self, client_id: str) -> bool:
        found = self.session.scalar(
            select(ApiClient.id).where(
                ApiClient.client_id == client_id,
                ApiClient.role == "regulator_inspector",
                ApiClient.status == "active",
            )
        )
        return found is not None

    # --- visits and purchases --------------------------------------------------------------

    def visit_of_target(self, target_id: int) -> InspectionVisit | None:
        return self.session.scalars(
            select(InspectionVisit).where(InspectionVisit.target_id == target_id)
        ).first()

    def visit(self, visit_id: int) -> tuple[InspectionVisit, InspectionTarget] | None:
        row = self.session.execute(
            select(InspectionVisit, InspectionTarget)
            .join(InspectionTarget, InspectionTarget.id == InspectionVisit.target_id)
            .where(InspectionVisit.id == visit_id)
        ).first()
        return None if row is None else (row[0], row[1])

    def evidence_of(self, visit_id: int) -> Sequence[InspectionEvidence]:
        return self.session.scalars(
            select(InspectionEvidence)
            .where(InspectionEvidence.visit_id == visit_id)
            .order_by(InspectionEvidence.id)
        ).all()

    def purchase_of_visit(self, visit_id: int) -> TestPurchase | None:
        return self.session.scalars(
            select(TestPurchase).where(TestPurchase.visit_id == visit_id)
        ).first()

    def purchases(self, round_id: int, *, unchecked: bool) -> list[tuple[TestPurchase, int, int]]:
        """The round's test purchases with the visited channel and the plan's outlet, by id."""
        query = (
            select(TestPurchase, InspectionTarget.channel_id, InspectionTarget.id)
            .join(InspectionVisit, InspectionVisit.id == TestPurchase.visit_id)
            .join(InspectionTarget, InspectionTarget.id == InspectionVisit.target_id)
            .where(InspectionTarget.round_id == round_id)
            .order_by(TestPurchase.id)
        )
        if unchecked:
            query = query.where(TestPurchase.checked_at.is_(None))
        return [(row[0], row[1], row[2]) for row in self.session.execute(query)]

    def owning(self, msisdn: str) -> Owning | None:
        """The line's current owner and the last event that gave it to them (None: the
        registry has no such number)."""
        line = self.session.execute(
            select(Line.id, Line.owner_identity_id, Identity.doc_type, Identity.number_index)
            .outerjoin(Identity, Identity.id == Line.owner_identity_id)
            .where(Line.msisdn == msisdn)
        ).first()
        if line is None:
            return None
        line_id, owner_id, doc_type, number_index = line
        event = None
        if owner_id is not None:
            event = self.session.execute(
                select(LineEvent.id, LineEvent.channel_id, LineEvent.occurred_at, LineEvent.detail)
                .where(
                    LineEvent.line_id == line_id,
                    LineEvent.owner_after_id == owner_id,
                    LineEvent.operation.in_(OWNING),
                )
                .order_by(LineEvent.seq.desc())
                .limit(1)
            ).first()
        return Owning(
            line_id,
            doc_type,
            number_index,
            event[0] if event else None,
            event[1] if event else None,
            event[2] if event else None,
            dict(event[3] or {}) if event else {},
        )

    # --- rates -----------------------------------------------------------------------------

    def visit_counts(
        self, round_ids: list[int], by: str, province: str | None = None
    ) -> list[tuple[int, str, str | None, int, int]]:
        """(round, group, enterprise kind, visits, violating) of the visited outlets (not
        `not_visited`), grouped by round and `by` (enterprise code, channel kind or
        province); the kind is the enterprise's when grouping by enterprise."""
        group: Any = {
            "enterprise": Enterprise.code,
            "kind": InspectionTarget.channel_kind,
            "province": InspectionTarget.province,
        }[by]
        kind: Any = Enterprise.kind if by == "enterprise" else func.min(Enterprise.kind)
        query = (
            select(
                InspectionTarget.round_id,
                group,
                kind,
                func.count(InspectionVisit.id),
                func.sum(case((InspectionVisit.violation, 1), else_=0)),
            )
            .join(InspectionVisit, InspectionVisit.target_id == InspectionTarget.id)
            .join(Enterprise, Enterprise.id == InspectionTarget.enterprise_id)
            .where(
                InspectionTarget.round_id.in_(round_ids),
                InspectionVisit.outcome != str(Outcome.NOT_VISITED),
            )
            .group_by(InspectionTarget.round_id, group, *([kind] if by == "enterprise" else []))
            .order_by(InspectionTarget.round_id, group)
        )
        if province is not None:
            query = query.where(InspectionTarget.province == province)
        return [
            (r, str(g), k, int(n), int(v or 0)) for r, g, k, n, v in self.session.execute(query)
        ]

    def violations_by(
        self, by: str, since: date | None, until: date | None, province: str | None
    ) -> dict[Any, tuple[int, int]]:
        """group -> (outlets visited, violating) over the rounds starting in [since, until)
        (None: unbounded), by enterprise id, channel kind or province, for the figures."""
        group: Any = {
            "enterprise": InspectionTarget.enterprise_id,
            "kind": InspectionTarget.channel_kind,
            "province": InspectionTarget.province,
        }[by]
        query = (
            select(
                group,
                func.count(InspectionVisit.id),
                func.sum(case((InspectionVisit.violation, 1), else_=0)),
            )
            .join(InspectionVisit, InspectionVisit.target_id == InspectionTarget.id)
            .join(InspectionRound, InspectionRound.id == InspectionTarget.round_id)
            .where(InspectionVisit.outcome != str(Outcome.NOT_VISITED))
            .group_by(group)
        )
        conditions = []
        if since is not None:
            conditions.append(InspectionRound.starts_on >= since)
        if until is not None:
            conditions.append(InspectionRound.starts_on < until)
        if province is not None:
            conditions.append(InspectionTarget.province == province)
        if conditions:
            query = query.where(and_(*conditions))
        return {g: (int(n), int(v or 0)) for g, n, v in self.session.execute(query)}

    def visits_for_export(self, batch: int = 50_000) -> Any:
        """(enterprise code, kind, province, channel kind, round code, violated) of every
        visit that inspected an outlet, by round then visit, streamed (the national dataset
        `national_inspections`)."""
        return self.session.execute(
            select(
                Enterprise.code,
                Enterprise.kind,
                InspectionTarget.province,
                InspectionTarget.channel_kind,
                InspectionRound.code,
                InspectionVisit.violation,
            )
            .join(InspectionTarget, InspectionTarget.id == InspectionVisit.target_id)
            .join(InspectionRound, InspectionRound.id == InspectionTarget.round_id)
            .join(Enterprise, Enterprise.id == InspectionTarget.enterprise_id)
            # an outlet not found is no inspection (as in the rates)
            .where(InspectionVisit.outcome != str(Outcome.NOT_VISITED))
            .order_by(InspectionRound.id, InspectionVisit.id)
            .execution_options(yield_per=batch)
        )


__all__ = ["InspectionRepository", "OutletRow", "Owning", "province_of"]
