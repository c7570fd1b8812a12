"""Every query of the back-fill campaign: its row, the lines it sweeps, its progress."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from realname.backfill.models import (
    UNREGISTERED_SQL,
    BackfillAmendment,
    BackfillCampaign,
    BackfillLine,
    BackfillMilestone,
    PrepaidRefund,
)
from realname.backfill.sweep import DueLine, Move, Schedule
from realname.db.dialect import (
    bulk_insert,
    columns_table,
    insert_ignoring_conflicts,
    returned_count,
    rows_table,
    unindexed,
)
from realname.db.types import UtcDateTime
from realname.registry.lifecycle import LineState, Operation
from realname.registry.models import Channel, Enterprise, Line, LineEvent

S = LineState

# An unregistered legacy line: no owner, and in service or barred by the campaign.
UNREGISTERED_STATES = (str(S.LEGACY), str(S.RESTRICTED), str(S.SUSPENDED))
_UNREGISTERED_QUALIFIED = (
    "line.owner_identity_id IS NULL AND line.state IN ('legacy', 'restricted', 'suspended')"
)
assert _UNREGISTERED_QUALIFIED.replace("line.", "") == UNREGISTERED_SQL


def _unregistered(enterprise_id: int) -> Any:
    """Its values written out (models.UNREGISTERED_SQL), so ix_line_unregistered serves."""
    return and_(Line.enterprise_id == enterprise_id, text(_UNREGISTERED_QUALIFIED))


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

    def due_lines(
        self, enterprise_id: int, campaign_id: int, at: datetime, after_line_id: int, limit: int
    ) -> list[tuple[DueLine, tuple[Any, ...] | None]]:
        """The next unregistered legacy lines by id that have something due on `at`'s day
        (never reminded and already loaded at `at`, so a replayed day does not remind lines
        imported since; or a date of theirs reached), as plain rows: the columns the sweep
        decides on and the line's schedule. Locked: a clerk registering one of them at this
        moment either commits first (and the line has left the campaign) or waits."""
        today = at.date()
        told = and_(BackfillLine.line_id == Line.id, BackfillLine.campaign_id == campaign_id)
        rows = self.session.execute(
            select(
                Line.id,
                Line.msisdn,
                Line.state,
                Line.barring_reason,
                Line.event_count,
                Line.prepaid_balance_minor,
                BackfillLine.line_id,
                BackfillLine.first_reminded_on,
                cast(BackfillLine.phase_dates, Text),  # parsed once per distinct text
                BackfillLine.final_notice_on,
                BackfillLine.told_version,
                BackfillLine.next_on,
            )
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
        # The schedule as its columns (`sweep.schedule_from_row` reads them): lines that
        # share one are planned once (`sweep.plan_batch`).
        return [
            (
                DueLine(r[0], r[1], r[2], r[3], r[4] or 0, r[5]),
                None if r[6] is None else tuple(r[7:12]),
            )
            for r in rows
        ]

    def insert_schedules(self, campaign_id: int, rows: Sequence[tuple[int, Schedule]]) -> None:
        """New schedules in one INSERT … SELECT from the rows sent as one payload."""
        if not rows:
            return
        v = rows_table(self.session, "schedules", _SCHEDULE_COLUMNS, _schedule_payload(rows))
        self.session.execute(
            insert(_table(BackfillLine)).from_select(
                ["campaign_id", *(name for name, _ in _SCHEDULE_COLUMNS)],
                select(
                    bindparam("campaign_id", campaign_id, type_=Integer()),
                    *(v.c[name] for name, _ in _SCHEDULE_COLUMNS),
                ),
            )
        )

    def update_schedules(self, campaign_id: int, rows: Sequence[tuple[int, Schedule]]) -> None:
        """The batch's schedules rewritten by one UPDATE … FROM (its rows as a payload); the
        common day moves only their next dates, and only that is sent and written (an
        amendment's rewritten schedules get a second statement)."""
        table = _table(BackfillLine)
        moved = [(line_id, s) for line_id, s in rows if not s.rewritten]
        if moved:
            v = columns_table(
                self.session,
                "next_dates",
                [
                    ("line_id", BigInteger(), [line_id for line_id, _ in moved]),
                    ("next_on", Date(), [s.next_on for _, s in moved]),
                ],
            )
            self.session.execute(
                update(table)
                .where(
                    table.c.line_id == v.c.line_id,
                    unindexed(self.session, table.c.campaign_id) == campaign_id,
                )
                .values(next_on=v.c.next_on)
            )
        rewritten = [(line_id, s) for line_id, s in rows if s.rewritten]
        if not rewritten:
            return
        v = rows_table(self.session, "schedules", _SCHEDULE_COLUMNS, _schedule_payload(rewritten))
        self.session.execute(
            update(table)
            .where(
                table.c.line_id == v.c.line_id,
                unindexed(self.session, table.c.campaign_id) == campaign_id,
            )
            .values(
                phase_dates=v.c.phase_dates,
                final_notice_on=v.c.final_notice_on,
                told_version=v.c.told_version,
                next_on=v.c.next_on,
            )
        )

    def move_lines(self, moves: Sequence[Move], at: datetime, cooling_until: datetime) -> int:
        """ONE statement moves the batch's lines down the ladder, each from the state it was
        read in (locked) to the one its move calls for; returns how many it moved (all of
        them unless a line changed under its lock: then the caller undoes the batch). Each
        line's event count grows by its move's events, from the count read with the lock."""
        if not moves:
            return 0
        v = columns_table(
            self.session,
            "moves",
            [
                ("id", BigInteger(), [m.line_id for m in moves]),
                ("from_state", String(), [m.from_state for m in moves]),
                ("to_state", String(), [m.to_state for m in moves]),
                ("barring", String(), [m.barring for m in moves]),
                ("events", Integer(), [m.events for m in moves]),
                ("ends", Boolean(), [m.ends for m in moves]),
            ],
        )
        line = _table(Line)
        ends = v.c.ends == True  # noqa: E712 (SQL, not Python)
        cooling = bindparam("cooling_until", cooling_until, type_=UtcDateTime())
        return returned_count(
            self.session,
            update(line)
            .where(
                line.c.id == v.c.id,
                line.c.state == v.c.from_state,
                line.c.owner_identity_id.is_(None),
            )
            .values(
                state=v.c.to_state,
                barring_reason=v.c.barring,
                state_changed_at=bindparam("at", at, type_=UtcDateTime()),
                event_count=func.coalesce(line.c.event_count, 0) + v.c.events,
                restriction_reason=case((ends, None), else_=line.c.restriction_reason),
                reverify_deadline=case((ends, None), else_=line.c.reverify_deadline),
                iccid=case((ends, None), else_=line.c.iccid),
                imsi=case((ends, None), else_=line.c.imsi),
                cooling_until=case((ends, cooling), else_=line.c.cooling_until),
            )
            .returning(line.c.id),
        )

    def insert_events(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """The batch's line events in one bulk write (COPY on PostgreSQL)."""
        bulk_insert(self.session, LineEvent.__table__, rows)  # type: ignore[arg-type]

    def record_refunds(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Refunds owed, many in one statement; a refund already recorded stays as it is."""
        if not rows:
            return
        table = PrepaidRefund.__table__
        v = rows_table(
            self.session,
            "refunds",
            [("line_id", BigInteger()), ("amount_minor", BigInteger())],
            [{"line_id": r["line_id"], "amount_minor": r["amount_minor"]} for r in rows],
        )
        first = rows[0]
        module = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        self.session.execute(
            module.insert(table)
            .from_select(
                ["line_id", "campaign_id", "amount_minor", "status", "recorded_at"],
                select(
                    v.c.line_id,
                    bindparam("campaign_id", first["campaign_id"], type_=Integer()),
                    v.c.amount_minor,
                    bindparam("status", "due", type_=String()),
                    bindparam("recorded_at", first["recorded_at"], type_=UtcDateTime()),
                ).where(true()),
            )
            .on_conflict_do_nothing(index_elements=["line_id", "campaign_id"])
        )

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


def _table(model: Any) -> Table:
    """A model's table, typed as one (mypy sees `__table__` as any FromClause)."""
    table: Table = model.__table__
    return table


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


_SCHEDULE_COLUMNS: list[tuple[str, TypeEngine[Any]]] = [
    ("line_id", BigInteger()),
    ("first_reminded_on", Date()),
    ("phase_dates", JSON()),
    ("final_notice_on", Date()),
    ("told_version", Integer()),
    ("next_on", Date()),
]


def _schedule_payload(rows: Sequence[tuple[int, Schedule]]) -> list[dict[str, Any]]:
    return [
        {
            "line_id": line_id,
            "first_reminded_on": s.first_reminded_on.isoformat(),
            "phase_dates": {str(p): d.isoformat() for p, d in s.phase_dates.items()},
            "final_notice_on": _iso(s.final_notice_on),
            "told_version": s.told_version,
            "next_on": _iso(s.next_on),
        }
        for line_id, s in rows
    ]
