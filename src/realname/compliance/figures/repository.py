"""The figures' SQL over the registry: one statement per figure for every enterprise at once,
grouped in the database, the same on SQLite and PostgreSQL (no dialect functions: provinces
by `substr`, months by a CASE over their bounds)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlalchemy.orm import Session, aliased

from realname.backfill.models import BackfillCampaign, BackfillMilestone
from realname.channels.models import RegistrationRefusal
from realname.compliance.figures.periods import Period
from realname.compliance.inspections.models import InspectionTarget, InspectionVisit
from realname.compliance.inspections.outcomes import Outcome
from realname.compliance.inspections.repository import province_of
from realname.registry.lifecycle import HELD_STATES, BarringReason, LineState, Operation
from realname.registry.models import Channel, Enterprise, Line, LineEvent

# Lines in service: what the real-name rate is a share of (not pooled numbers, unsold kits or
# ended service).
IN_SERVICE = tuple(
    str(s) for s in (LineState.ACTIVE, LineState.RESTRICTED, LineState.SUSPENDED, LineState.LEGACY)
)
HELD = tuple(str(s) for s in HELD_STATES)
UNREGISTERED = tuple(str(s) for s in (LineState.LEGACY, LineState.RESTRICTED, LineState.SUSPENDED))
O = Operation  # noqa: E741


# A line's province: its number's home region (归属地) where known (imported bases carry it),
# else the region of the channel that sold or holds it.
HOME = aliased(Channel, name="home_channel")
LINE_PROVINCE = province_of(func.coalesce(Line.home_region, HOME.region_code))


def _homed(query: Any) -> Any:
    """`query` with the line's channel joined, so LINE_PROVINCE can be read."""
    return query.outerjoin(HOME, HOME.id == Line.channel_id)


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def month_of(column: Any, period: Period) -> Any:
    """The `YYYY-MM` label of a timestamp column within `period`, as SQL."""
    return case(
        *[
            (and_(column >= start, column < end), literal(label))
            for label, start, end in period.months()
        ],
        else_=literal("other"),
    )


class FiguresRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def enterprises(self) -> list[tuple[int, str, str, str]]:
        """(id, code, name, kind) of every enterprise, MNOs first."""
        rows = self.session.execute(
            select(Enterprise.id, Enterprise.code, Enterprise.name, Enterprise.kind).order_by(
                Enterprise.kind, Enterprise.code
            )
        )
        return [(int(i), str(c), str(n), str(k)) for i, c, n, k in rows]

    def lines(self, province: str | None, by: str = "enterprise") -> dict[Any, tuple[int, int]]:
        """group -> (lines in service, of them registered to an owner), by enterprise or the
        lines' home province."""
        group: Any = Line.enterprise_id if by == "enterprise" else LINE_PROVINCE
        query = _homed(
            select(group, func.count(), _count_if(Line.owner_identity_id.is_not(None)))
        ).where(Line.state.in_(IN_SERVICE))
        query = query.group_by(group)
        if province is not None:
            query = query.where(province == LINE_PROVINCE)
        return {g: (int(n), int(r or 0)) for g, n, r in self.session.execute(query)}

    def backfill(self, province: str | None) -> dict[int, tuple[int, int, int]]:
        """enterprise -> (unregistered legacy lines left, back-filled, terminated), as the
        back-fill campaign counts them (backfill/service.py `_rows`)."""
        where = [] if province is None else [province == LINE_PROVINCE]
        left = self.session.execute(
            _homed(select(Line.enterprise_id, func.count()))
            .where(Line.owner_identity_id.is_(None), Line.state.in_(UNREGISTERED), *where)
            .group_by(Line.enterprise_id)
        )
        done = self.session.execute(
            _homed(
                select(
                    Line.enterprise_id,
                    _count_if(LineEvent.operation == str(O.REGISTER_LEGACY)),
                    _count_if(LineEvent.operation == str(O.BACKFILL_TERMINATE)),
                )
                .select_from(LineEvent)
                .join(Line, Line.id == LineEvent.line_id)
            )
            .where(
                LineEvent.operation.in_([str(O.REGISTER_LEGACY), str(O.BACKFILL_TERMINATE)]),
                *where,
            )
            .group_by(Line.enterprise_id)
        )
        out: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        for enterprise, n in left:
            out[enterprise][0] = int(n)
        for enterprise, registered, terminated in done:
            out[enterprise][1:] = [int(registered or 0), int(terminated or 0)]
        return {e: (v[0], v[1], v[2]) for e, v in out.items()}

    def refusals(
        self, period: Period, province: str | None, by: str = "enterprise"
    ) -> dict[tuple[Any, str], int]:
        """(group, refusal code) -> registrations refused in the period, by the refusing
        channel's enterprise, kind or month."""
        group: Any = {
            "enterprise": Channel.enterprise_id,
            "kind": Channel.kind,
            "month": month_of(RegistrationRefusal.occurred_at, period),
        }[by]
        query = (
            select(group, RegistrationRefusal.code, func.count())
            .join(Channel, Channel.id == RegistrationRefusal.channel_id)
            .where(
                RegistrationRefusal.occurred_at >= period.since,
                RegistrationRefusal.occurred_at < period.until,
            )
            .group_by(group, RegistrationRefusal.code)
        )
        if province is not None:
            query = query.where(province_of(Channel.region_code) == province)
        return {(g, str(c)): int(n) for g, c, n in self.session.execute(query)}

    def cap_breaches(self, cap: int | None, province: str | None) -> dict[int, int]:
        """enterprise -> identities holding more lines there than the cap (counted from the
        lines themselves, not the holding counters the registry locks: the figure checks the
        enforcement, so it must not read the enforcement's own bookkeeping)."""
        if cap is None:
            return {}
        held = (
            select(Line.enterprise_id.label("enterprise_id"), Line.owner_identity_id)
            .where(Line.state.in_(HELD), Line.owner_identity_id.is_not(None))
            .group_by(Line.enterprise_id, Line.owner_identity_id)
            .having(func.count() > cap)
        )
        if province is not None:  # the owner's lines homed in the province
            held = _homed(held).where(province == LINE_PROVINCE)
        over = held.subquery()
        rows = self.session.execute(
            select(over.c.enterprise_id, func.count()).group_by(over.c.enterprise_id)
        )
        return {int(e): int(n) for e, n in rows}

    def national_cap_breaches(self, cap: int | None) -> int:
        """Identities holding more lines than the national cap across all enterprises."""
        if cap is None:
            return 0
        over = (
            select(Line.owner_identity_id)
            .where(Line.state.in_(HELD), Line.owner_identity_id.is_not(None))
            .group_by(Line.owner_identity_id)
            .having(func.count() > cap)
            .subquery()
        )
        return int(self.session.scalar(select(func.count()).select_from(over)) or 0)

    def line_events(
        self, period: Period, province: str | None, by: str = "enterprise"
    ) -> dict[Any, dict[str, int]]:
        """group -> {registrations, reverify_asked, reverify_answered, reverify_suspended,
        complaints} in the period, by the line's enterprise, the event's channel kind or
        month.

        `complaints` counts the registry's `complain` events: the hook where the complaint
        cases of the complaints domain (compliance/complaints) take over when they land."""
        suspended = and_(
            LineEvent.operation == str(O.SUSPEND),
            LineEvent.reason == str(BarringReason.REVERIFICATION_OVERDUE),
        )
        measures = {
            "registrations": LineEvent.operation.in_([str(O.REGISTER), str(O.REGISTER_LEGACY)]),
            "reverify_asked": LineEvent.operation == str(O.REQUEST_REVERIFICATION),
            "reverify_answered": LineEvent.operation == str(O.ANSWER_REVERIFICATION),
            "reverify_suspended": suspended,
            "complaints": LineEvent.operation == str(O.COMPLAIN),
        }
        group: Any = {
            "enterprise": Line.enterprise_id,
            "kind": Channel.kind,
            "month": month_of(LineEvent.occurred_at, period),
        }[by]
        query = (
            _homed(
                select(group, *[_count_if(c) for c in measures.values()])
                .select_from(LineEvent)
                .join(Line, Line.id == LineEvent.line_id)
            )
            .where(
                LineEvent.occurred_at >= period.since,
                LineEvent.occurred_at < period.until,
                LineEvent.operation.in_(
                    [
                        str(O.REGISTER),
                        str(O.REGISTER_LEGACY),
                        str(O.REQUEST_REVERIFICATION),
                        str(O.ANSWER_REVERIFICATION),
                        str(O.SUSPEND),
                        str(O.COMPLAIN),
                    ]
                ),
            )
            .group_by(group)
        )
        if by == "kind":
            # the selling channel: the event's own, else the line's
            query = query.join(
                Channel, Channel.id == func.coalesce(LineEvent.channel_id, Line.channel_id)
            )
        if province is not None:
            query = query.where(province == LINE_PROVINCE)
        out: dict[Any, dict[str, int]] = {}
        for g, *counts in self.session.execute(query):
            out[g] = {name: int(n or 0) for name, n in zip(measures, counts, strict=True)}
        return out

    def visits_by_month(self, period: Period, province: str | None) -> dict[str, tuple[int, int]]:
        """month -> (outlets visited, violating), by when the visit took place."""
        month = month_of(InspectionVisit.visited_at, period)
        query = (
            select(month, func.count(), _count_if(InspectionVisit.violation.is_(True)))
            .join(InspectionTarget, InspectionTarget.id == InspectionVisit.target_id)
            .where(
                InspectionVisit.visited_at >= period.since,
                InspectionVisit.visited_at < period.until,
                InspectionVisit.outcome != str(Outcome.NOT_VISITED),
            )
            .group_by(month)
        )
        if province is not None:
            query = query.where(InspectionTarget.province == province)
        return {str(m): (int(n), int(v or 0)) for m, n, v in self.session.execute(query)}

    def campaigns(self) -> dict[int, tuple[date, list[tuple[date, int]]]]:
        """enterprise -> (its back-fill campaign's deadline, its milestones (due, percent))."""
        rows = self.session.execute(
            select(
                BackfillCampaign.enterprise_id,
                BackfillCampaign.deadline,
                BackfillMilestone.due_on,
                BackfillMilestone.percent,
            )
            .outerjoin(BackfillMilestone, BackfillMilestone.campaign_id == BackfillCampaign.id)
            .order_by(BackfillCampaign.enterprise_id, BackfillMilestone.due_on)
        )
        out: dict[int, tuple[date, list[tuple[date, int]]]] = {}
        for enterprise, deadline, due_on, percent in rows:
            entry = out.setdefault(int(enterprise), (deadline, []))
            if due_on is not None:
                entry[1].append((due_on, int(percent)))
        return out
