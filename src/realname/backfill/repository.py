"""Every query of the back-fill campaign: its row, the lines it sweeps, its progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from realname.backfill.models import BackfillCampaign, PrepaidRefund
from realname.channels.models import Channel
from realname.db.dialect import insert_ignoring_conflicts
from realname.registry.lifecycle import LineState, Operation
from realname.registry.models import Enterprise, Line, LineEvent

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

    def sweep_batch(self, enterprise_id: int, after_line_id: int, limit: int) -> Sequence[Line]:
        """The next unregistered legacy lines by id, locked: a clerk registering one of them
        at this moment either commits first (and the line has left the campaign) or waits."""
        return self.session.scalars(
            select(Line)
            .where(_unregistered(enterprise_id), Line.id > after_line_id)
            .order_by(Line.id)
            .limit(limit)
            .with_for_update()
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
