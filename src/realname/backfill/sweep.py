"""What a sweep does to one batch of lines, decided in memory: pure, no I/O.

The runner reads a batch of due lines with their schedules (one query), asks `plan_batch`
what each line needs today (its schedule written or rewritten, the step down the ladder its
date calls for, the SMS it is owed, a refund), and then applies the whole batch in a few
set-based statements (service.py): one UPDATE moves every line, the events go in as one bulk
insert, the notices as one, and one audit entry names the batch's lines.

The rules are the ones `CampaignService` always applied line by line (docs/backfill.md):
first contact gives a line its own dates; an amendment tells a told line its new dates; a
line's own date, reached, moves it to the phase it calls for (never back up the ladder); a
final notice the notice period before the first bar.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from realname.backfill.phases import (
    Dates,
    Ladder,
    dates_from_text,
    move_for,
    next_date,
    phase_on,
    phases_done,
)
from realname.policy.schema import BackfillPhase
from realname.registry.lifecycle import LineState, Operation

P = BackfillPhase
O = Operation  # noqa: E741
S = LineState

BARRING_BACKFILL = "backfill"
REASON_BAR = "backfill_unregistered"
REASON_TERMINATE = "backfill_deadline"


@dataclass(frozen=True)
class DueLine:
    """The columns of a due line the sweep decides on (read locked, with its schedule)."""

    id: int
    msisdn: str
    state: str
    barring_reason: str | None
    event_count: int
    prepaid_balance_minor: int | None


@dataclass
class Schedule:
    """A line's own schedule in the campaign (the `backfill_line` row)."""

    first_reminded_on: date
    phase_dates: Dates
    final_notice_on: date | None
    told_version: int
    next_on: date | None = None
    # Dates, final notice or version rewritten today (an amendment): else only `next_on`.
    rewritten: bool = False


@dataclass(frozen=True)
class Notice:
    phase: BackfillPhase
    dates: Dates
    key: str  # the dedupe key's last part: one SMS per line and key, ever
    amended: bool = False

    @property
    def kind(self) -> str:
        if self.amended:
            return "amend"
        return "remind_final" if self.key == "remind:final" else str(self.phase)


@dataclass
class LinePlan:
    line: DueLine
    schedule: Schedule
    new_schedule: bool  # inserted (first contact, or a line barred before 0011) or updated
    operation: Operation | None = None
    notices: list[Notice] = field(default_factory=list)
    refund_minor: int = 0

    def for_line(self, line: DueLine) -> LinePlan:
        """This plan for another line of the same state and schedule (`plan_batch`): the
        schedule and notices are shared, never changed after planning; the refund is the
        line's own balance."""
        refund = line.prepaid_balance_minor or 0 if self.refund_minor else 0
        return LinePlan(
            line, self.schedule, self.new_schedule, self.operation, self.notices, refund
        )


@dataclass(frozen=True)
class CampaignView:
    id: int
    starts_on: date
    version: int


def schedule_from_row(row: Any) -> Schedule:
    """A `backfill_line` row's columns as a Schedule (`phase_dates` as its JSON text)."""
    first, phase_dates, final, version, next_on = row
    return Schedule(first, dict(dates_from_text(phase_dates)), final, version, next_on)


def plan_line(
    campaign: CampaignView,
    ladder: Ladder,
    dates: Dates,
    line: DueLine,
    told: Schedule | None,
    today: date,
) -> LinePlan:
    """Today's work for one due line (the rules of the former per-line sweep, unchanged)."""
    state = LineState(line.state)
    inserted = False
    if told is None and state is not S.LEGACY:
        # Barred by a campaign run before each line kept its dates (revision 0011): it
        # was reminded on the campaign's first day and told the campaign's dates.
        told = Schedule(campaign.starts_on, dict(dates), None, campaign.version)
        inserted = True
    if told is None:
        # First contact: the line's own dates, told now, acted on later.
        own = ladder.line_dates(dates, today)
        told = Schedule(today, own, ladder.final_notice_on(own), campaign.version)
        told.next_on = next_date(own, today, told.final_notice_on)
        plan = LinePlan(line, told, True)
        plan.notices.append(Notice(P.REMIND, own, str(P.REMIND)))
        return plan
    plan = LinePlan(line, told, inserted)
    own = told.phase_dates
    if told.told_version < campaign.version:
        amended = ladder.amended_line_dates(own, dates, told.first_reminded_on, phases_done(state))
        told.told_version = campaign.version
        told.rewritten = True
        if amended != own:
            own = amended
            told.phase_dates = own
            final = ladder.final_notice_on(own)
            told.final_notice_on = final if final and final > today else None
            now_in = phase_on(own, today) or P.REMIND
            plan.notices.append(Notice(now_in, own, f"amend:{campaign.version}", amended=True))
    phase = phase_on(own, today) or P.REMIND
    operation = move_for(phase, state)
    if operation is not None:
        plan.operation = operation
        if operation is O.BACKFILL_TERMINATE and line.prepaid_balance_minor:
            plan.refund_minor = line.prepaid_balance_minor
        plan.notices.append(Notice(phase, own, str(phase)))
    elif phase is P.REMIND and told.final_notice_on is not None and told.final_notice_on <= today:
        plan.notices.append(Notice(phase, own, "remind:final"))
    final = told.final_notice_on if phase is P.REMIND else None
    told.next_on = next_date(own, today, final)
    return plan


def plan_batch(
    campaign: CampaignView,
    ladder: Ladder,
    dates: Dates,
    rows: Iterable[tuple[DueLine, tuple[Any, ...] | None]],
    today: date,
) -> list[LinePlan]:
    """`plan_line` for a batch of due lines, each with its schedule's columns as read.

    A line's plan depends only on its state, its schedule and whether it has a prepaid
    balance (the refund is the line's own amount); a batch's lines mostly share all three
    (lines reminded on one day were told the same dates), so each distinct combination is
    planned once and its plan given to the lines that share it (`LinePlan.for_line`)."""
    plans: list[LinePlan] = []
    planned: dict[tuple[Any, ...], LinePlan] = {}
    for line, told in rows:
        key = (line.state, line.barring_reason, bool(line.prepaid_balance_minor), told)
        shared = planned.get(key)
        if shared is None:
            schedule = None if told is None else schedule_from_row(told)
            shared = planned[key] = plan_line(campaign, ladder, dates, line, schedule, today)
            plans.append(shared)
        else:
            plans.append(shared.for_line(line))
    return plans


@dataclass(frozen=True)
class Move:
    """One line's step down the ladder as the set-based UPDATE applies it."""

    line_id: int
    operation: Operation
    from_state: str
    to_state: str  # where the line ends (a termination ends in cooling)
    barring: str | None
    events: int  # 1, or 2 for a termination (terminate, then begin cooling)
    ends: bool  # a termination: SIM, barring and deadlines cleared, cooling begins


def move_of(line: DueLine, operation: Operation, after: LineState) -> Move:
    """`after`: the lifecycle table's verdict for `operation` from the line's state."""
    if operation is O.BACKFILL_TERMINATE:
        return Move(line.id, operation, line.state, str(S.COOLING), None, 2, True)
    return Move(line.id, operation, line.state, str(after), BARRING_BACKFILL, 1, False)


def event_rows(
    move: Move,
    seq_after: int,
    *,
    actor: str,
    at: datetime,
    correlation_id: str | None,
    cooling_until: datetime,
) -> list[dict[str, Any]]:
    """The move's `line_event` rows (unsealed), as the line recorder writes them."""
    base = {
        "line_id": move.line_id,
        "owner_before_id": None,
        "owner_after_id": None,
        "channel_id": None,
        "actor": actor,
        "occurred_at": at,
        "correlation_id": correlation_id,
    }
    if not move.ends:
        return [
            {
                **base,
                "seq": seq_after + 1,
                "operation": str(move.operation),
                "from_state": move.from_state,
                "to_state": move.to_state,
                "reason": REASON_BAR,
                "detail": {"barring": BARRING_BACKFILL},
            }
        ]
    return [
        {
            **base,
            "seq": seq_after + 1,
            "operation": str(move.operation),
            "from_state": move.from_state,
            "to_state": str(S.CANCELLED),
            "reason": REASON_TERMINATE,
            "detail": {},
        },
        {
            **base,
            "seq": seq_after + 2,
            "operation": str(O.BEGIN_COOLING),
            "from_state": str(S.CANCELLED),
            "to_state": str(S.COOLING),
            "reason": None,
            "detail": {"until": cooling_until.isoformat()},
        },
    ]


def id_ranges(ids: Iterable[int]) -> str:
    """Line ids as compact ranges, `3:7,9,12:15` (a keyset batch is mostly consecutive
    ids). Colons and commas: the PII redactor never reads them as one long number."""
    ordered = sorted(set(ids))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_id_ranges(text: str) -> list[int]:
    """The inverse of `id_ranges` (for readers of the audit entry, and the tests)."""
    ids: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition(":")
        ids.extend(range(int(first), int(last or first) + 1))
    return ids


def batch_audit_detail(
    phase: BackfillPhase, plans: Sequence[LinePlan], moves: Counter[str], notices: int
) -> dict[str, Any]:
    """The one audit entry of a batch: its phase, its count, every line it looked at, and
    for each operation the lines it moved."""
    detail: dict[str, Any] = {
        "phase": str(phase),
        "lines": len(plans),
        **moves,
        "line_ids": id_ranges(p.line.id for p in plans),
        "notices": notices,
    }
    for operation in sorted(moves):
        detail[f"{operation}_ids"] = id_ranges(
            p.line.id for p in plans if p.operation is not None and str(p.operation) == operation
        )
    return detail


def cooling_until(at: datetime, cooling_days: int) -> datetime:
    return at + timedelta(days=cooling_days)
