"""Every query of the back-fill campaign: its row, the lines it sweeps, its progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from realname.backfill.models import (
    BackfillAmendment,
    BackfillCampaign,
    BackfillLine,
    BackfillMilestone,
    PrepaidRefund,
)
from realname.db.dialect import insert_ignoring_conflicts
from realname.registry.lifecycle import LineState, Operation
from realname.registry.models import Channel, Enterprise, Line, LineEvent

S = LineState

# An unregistered legacy line: no owner, and in service or barred by the campaign.
UNREGISTERED_STATES = (str(S.LEGACY), str(S.RESTRICTED), str(S.SUSPENDED))


def _unregistered(enterprise_id: int) -> Any:
    return and_(
        Line.enterprise_id == enterprise_id,
        Line.state.in_(UNREGISTERED_STATES),
        Line.owner_identity_id.is_(None),
    )


class BackfillRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def enterprise(self, enterprise_id: int) -> Enterprise | None:
        return self.session.get(Enterprise, enterprise_id)

    def campaign(self, enterprise_id: int) -> BackfillCampaign | None:
        return self.session.scalars(
            select(BackfillCampaign).where(BackfillCampaign.enterprise_id == enterprise_id)
        ).one_or_none()

    def campaign_for_update(self, campaign_id: int) -> BackfillCampaign | None:
        """The row every runner of one campaign queues on: sweeps of a campaign never overlap."""
        return self.session.scalars(
            select(BackfillCampaign)
            .where(BackfillCampaign.id == campaign_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()

    def campaigns(self) -> Sequence[BackfillCampaign]:
        return self.session.scalars(select(BackfillCampaign).order_by(BackfillCampaign.id)).all()

    def add(self, row: object) -> None:
        self.session.add(row)

    def unregistered_count(self, enterprise_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count()).select_from(Line).where(_unregistered(enterprise_id))
            )
            or 0
        )

    def due_batch(
        self, enterprise_id: int, campaign_id: int, at: datetime, after_line_id: int, limit: int
    ) -> Sequence[tuple[Line, BackfillLine | None]]:
        """The next unregistered legacy lines by id that have something due on `at`'s day:
        never reminded (and already loaded at `at`: a replayed day does not remind lines
        imported since), or a date of theirs reached. Locked: a clerk registering one of them
        at this moment either commits first (and the line has left the campaign) or waits."""
        today = at.date()
        told = and_(BackfillLine.line_id == Line.id, BackfillLine.campaign_id == campaign_id)
        rows = self.session.execute(
            select(Line, BackfillLine)
            .outerjoin(BackfillLine, told)
            .where(
                _unregistered(enterprise_id),
                Line.id > after_line_id,
                or_(
                    and_(BackfillLine.line_id.is_(None), Line.state_changed_at <= at),
                    BackfillLine.next_on <= today,
                ),
            )
            .order_by(Line.id)
            .limit(limit)
            .with_for_update(of=Line)
        ).all()
        return [(line, schedule) for line, schedule in rows]

    def any_told(self, campaign_id: int) -> bool:
        return (
            self.session.scalar(
                select(BackfillLine.line_id).where(BackfillLine.campaign_id == campaign_id).limit(1)
            )
            is not None
        )

    def told_counts(self, campaign_id: int, reminded_after: date) -> tuple[int, int]:
        """Lines told their dates, and of those the ones first reminded after
        `reminded_after` (so on dates of their own, later than the campaign's)."""
        told = self.session.scalar(
            select(func.count()).where(BackfillLine.campaign_id == campaign_id)
        )
        late = self.session.scalar(
            select(func.count()).where(
                BackfillLine.campaign_id == campaign_id,
                BackfillLine.first_reminded_on > reminded_after,
            )
        )
        return int(told or 0), int(late or 0)

    def reschedule_all(self, campaign_id: int, on: date) -> None:
        """Every told line is looked at again on `on`: its dates may have changed."""
        self.session.execute(
            update(BackfillLine)
            .where(BackfillLine.campaign_id == campaign_id, BackfillLine.next_on.is_not(None))
            .values(next_on=on)
        )

    def milestones(self, campaign_id: int) -> Sequence[BackfillMilestone]:
        return self.session.scalars(
            select(BackfillMilestone)
            .where(BackfillMilestone.campaign_id == campaign_id)
            .order_by(BackfillMilestone.due_on)
        ).all()

    def replace_milestones(self, campaign_id: int, milestones: Sequence[tuple[date, int]]) -> None:
        self.session.execute(
            delete(BackfillMilestone).where(BackfillMilestone.campaign_id == campaign_id)
        )
        self.session.flush()
        for due_on, percent in milestones:
            self.session.add(
                BackfillMilestone(campaign_id=campaign_id, due_on=due_on, percent=percent)
            )

    def amendments(self, campaign_id: int) -> Sequence[BackfillAmendment]:
        return self.session.scalars(
            select(BackfillAmendment)
            .where(BackfillAmendment.campaign_id == campaign_id)
            .order_by(BackfillAmendment.version)
        ).all()

    def record_refund(self, line_id: int, campaign_id: int, amount: int, at: datetime) -> None:
        insert_ignoring_conflicts(
            self.session,
            PrepaidRefund.__table__,  # type: ignore[arg-type]
            {
                "line_id": line_id,
                "campaign_id": campaign_id,
                "amount_minor": amount,
                "status": "due",
                "recorded_at": at,
            },
            ["line_id", "campaign_id"],
        )

    # --- progress -------------------------------------------------------------------------------

    def remaining_by(self, enterprise_id: int, key: str) -> dict[Any, dict[str, int]]:
        """Unregistered lines per region or channel, split by where they are on the ladder."""
        column = Line.home_region if key == "region" else Line.channel_id
        rows = self.session.execute(
            select(column, Line.state, func.count())
            .where(_unregistered(enterprise_id))
            .group_by(column, Line.state)
        )
        result: dict[Any, dict[str, int]] = {}
        for group, state, count in rows:
            result.setdefault(group, {})[str(state)] = int(count)
        return result

    def outcomes_by(
        self, enterprise_id: int, key: str, since: datetime, operation: Operation
    ) -> dict[Any, int]:
        """Lines that left the campaign by `operation` (registered, terminated) since `since`."""
        column = Line.home_region if key == "region" else Line.channel_id
        rows = self.session.execute(
            select(column, func.count())
            .select_from(LineEvent)
            .join(Line, Line.id == LineEvent.line_id)
            .where(
                Line.enterprise_id == enterprise_id,
                LineEvent.operation == str(operation),
                LineEvent.occurred_at >= since,
            )
            .group_by(column)
        )
        return {group: int(count) for group, count in rows}

    def registered_between(self, enterprise_id: int, since: datetime, until: datetime) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(LineEvent)
                .join(Line, Line.id == LineEvent.line_id)
                .where(
                    Line.enterprise_id == enterprise_id,
                    LineEvent.operation == str(Operation.REGISTER_LEGACY),
                    LineEvent.occurred_at >= since,
                    LineEvent.occurred_at < until,
                )
            )
            or 0
        )

    def refunds_due(self, campaign_id: int) -> tuple[int, int]:
        count, total = self.session.execute(
            select(func.count(), func.coalesce(func.sum(PrepaidRefund.amount_minor), 0)).where(
                PrepaidRefund.campaign_id == campaign_id, PrepaidRefund.status == "due"
            )
        ).one()
        return int(count), int(total)

    def channel_names(self, enterprise_id: int) -> dict[int, str]:
        rows = self.session.execute(
            select(Channel.id, Channel.code).where(Channel.enterprise_id == enterprise_id)
        )
        return {int(channel_id): str(code) for channel_id, code in rows}
