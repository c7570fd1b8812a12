"""The back-fill ladder as pure functions: the dates a campaign and each of its lines are
given, which phase a date is in, which move brings a legacy line there, what its SMS says, and
when the campaign will finish at the current pace.

The rule (docs/backfill.md, "The schedule"): the policy gives the ladder's *shape*, the
campaign its *length*. The policy's `backfill_steps` describe the shortest lawful campaign:
remind on day 0, the first bar on day N (so N days is the notice a subscriber gets before any
bar), and the later steps a fixed number of days after the first bar. A campaign anchors the
first bar at its deadline (registered *before* the deadline, barred *on* it) and keeps the
policy's gaps after it; a longer campaign lengthens the reminder period only. A line first
reminded late (imported into a running campaign, or a runner that was down) gets its own
dates: everything shifted so that its first bar is at least the notice period after its own
first reminder. The dates a line was told are stored with it and are the dates it is acted on.

No I/O, so the runner, the API and the tests all ask the same questions of the same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from math import ceil

from realname.policy.schema import BackfillPhase, BackfillStep
from realname.registry.lifecycle import LineState, Operation

P = BackfillPhase
S = LineState

Dates = dict[BackfillPhase, date]


@dataclass(frozen=True)
class Ladder:
    """The policy's shape: the notice before the first bar, and each bar's gap after it."""

    first_bar: BackfillPhase
    notice_days: int
    gaps: dict[BackfillPhase, int]  # days after the first bar; the first bar itself is 0

    @classmethod
    def of(cls, steps: tuple[BackfillStep, ...]) -> Ladder:
        """The policy validator guarantees a `remind` step first and a bar after it."""
        remind = steps[0].days_after_start
        bars = [s for s in steps if s.phase is not P.REMIND]
        first = bars[0]
        return cls(
            first_bar=first.phase,
            notice_days=first.days_after_start - remind,
            gaps={s.phase: s.days_after_start - first.days_after_start for s in bars},
        )

    def minimum_deadline(self, starts_on: date) -> date:
        """The earliest deadline a campaign starting on `starts_on` may have: the notice."""
        return starts_on + timedelta(days=self.notice_days)

    def campaign_dates(self, starts_on: date, deadline: date) -> Dates:
        """Reminders from `starts_on`, the first bar on the deadline, the rest after it."""
        dates = {P.REMIND: starts_on}
        dates.update({phase: deadline + timedelta(days=gap) for phase, gap in self.gaps.items()})
        return dates

    def line_dates(self, campaign: Dates, first_reminded_on: date) -> Dates:
        """A line's own dates: the campaign's, shifted later if its first reminder came so
        late that the notice period would not fit before the campaign's first bar."""
        earliest_bar = first_reminded_on + timedelta(days=self.notice_days)
        shift = max(timedelta(0), earliest_bar - campaign[self.first_bar])
        dates = {P.REMIND: first_reminded_on}
        dates.update({phase: campaign[phase] + shift for phase in self.gaps})
        return dates

    def amended_line_dates(
        self, told: Dates, campaign: Dates, first_reminded_on: date, done: set[BackfillPhase]
    ) -> Dates:
        """A told line's dates after an amendment: a step the line has been through keeps
        the date it had (it happened as announced); any other takes the new date, never
        earlier than the one told."""
        fresh = self.line_dates(campaign, first_reminded_on)
        return {
            phase: told[phase]
            if phase in done or phase is P.REMIND
            else max(told[phase], fresh[phase])
            for phase in told
        }

    def final_notice_on(self, dates: Dates) -> date | None:
        """A second reminder the notice period before the first bar, when the first one came
        earlier than that (a three-year campaign should not rely on one SMS three years ago)."""
        day = dates[self.first_bar] - timedelta(days=self.notice_days)
        return day if day > dates[P.REMIND] else None


def phase_dates(steps: tuple[BackfillStep, ...], starts_on: date) -> Dates:
    """The shortest campaign the policy allows: its deadline is the minimum notice."""
    ladder = Ladder.of(steps)
    return ladder.campaign_dates(starts_on, ladder.minimum_deadline(starts_on))


def dates_from_json(raw: dict[str, str]) -> Dates:
    return dict(_dates_from_items(tuple(raw.items())))


@lru_cache(maxsize=4096)
def dates_from_text(raw: str) -> tuple[tuple[BackfillPhase, date], ...]:
    """`dates_from_json` of the column's text as stored, parsed once per distinct text
    (a sweep reads thousands of schedules that mostly share their dates)."""
    return _dates_from_items(tuple(json.loads(raw).items()))


@lru_cache(maxsize=4096)
def _dates_from_items(items: tuple[tuple[str, str], ...]) -> tuple[tuple[BackfillPhase, date], ...]:
    """A sweep reads thousands of schedules that mostly share their dates: parse each once."""
    return tuple((BackfillPhase(k), date.fromisoformat(v)) for k, v in items)


def dates_to_json(dates: Dates) -> dict[str, str]:
    return {str(p): d.isoformat() for p, d in dates.items()}


def phase_on(dates: Dates, today: date) -> BackfillPhase | None:
    """The latest phase that has begun by `today`; None before the campaign starts."""
    begun = [phase for phase, day in dates.items() if day <= today]
    return max(begun, key=_ORDER.__getitem__) if begun else None


_ORDER = {phase: i for i, phase in enumerate(BackfillPhase)}


def next_date(dates: Dates, today: date, *extra: date | None) -> date | None:
    """The next day anything is due for a line, after `today`; None when nothing is left."""
    later = [d for d in (*dates.values(), *extra) if d is not None and d > today]
    return min(later, default=None)


# The state each phase puts an unregistered legacy line in, and the move that gets it there
# from each state it may be in. A line never goes back down the ladder: a runner that was
# down for a week jumps a line straight to the phase its date calls for.
_MOVES: dict[BackfillPhase, dict[LineState, Operation]] = {
    P.REMIND: {},
    P.BAR_OUTGOING: {S.LEGACY: Operation.BACKFILL_RESTRICT},
    P.BAR_BOTH: {S.LEGACY: Operation.BACKFILL_SUSPEND, S.RESTRICTED: Operation.BACKFILL_SUSPEND},
    P.TERMINATE: {
        S.LEGACY: Operation.BACKFILL_TERMINATE,
        S.RESTRICTED: Operation.BACKFILL_TERMINATE,
        S.SUSPENDED: Operation.BACKFILL_TERMINATE,
    },
}


def phases_done(state: LineState) -> set[BackfillPhase]:
    """The bars an unregistered legacy line in `state` has been through."""
    if state is S.RESTRICTED:
        return {P.BAR_OUTGOING}
    if state is S.SUSPENDED:
        return {P.BAR_OUTGOING, P.BAR_BOTH}
    return set()


def move_for(phase: BackfillPhase, state: LineState) -> Operation | None:
    """The operation that brings an unregistered legacy line in `state` to `phase`, or None
    when it is already there (or further along)."""
    return _MOVES[phase].get(state)


@dataclass(frozen=True)
class Projection:
    rate_per_day: float
    projected_completion: date | None  # None: nothing is being registered, never at this pace
    on_track: bool


def project(
    remaining: int, registered_recently: int, days: int, today: date, deadline: date
) -> Projection:
    """Completion at the pace of the last `days` days: remaining ÷ registrations per day."""
    rate = registered_recently / days if days > 0 else 0.0
    if remaining == 0:
        return Projection(rate, today, True)
    if rate <= 0:
        return Projection(0.0, None, False)
    finished = today + timedelta(days=ceil(remaining / rate))
    return Projection(rate, finished, finished <= deadline)


@dataclass(frozen=True)
class Milestone:
    due_on: date
    percent: int  # of the campaign's legacy lines registered by `due_on`


@dataclass(frozen=True)
class MilestoneStatus:
    milestone: Milestone
    target_lines: int
    registered: int  # by the due date if it has passed, else today
    projected: int | None  # at the current pace on the due date; None once it has passed
    status: str  # "met", "missed", "on track", "behind"
    short_by: int  # lines short of the target (0 when met or on track)


def milestone_status(
    milestone: Milestone, total: int, registered: int, rate: float, today: date
) -> MilestoneStatus:
    """A milestone against the registrations so far (by its date once passed) or, before its
    date, against the registrations the current pace projects for that day."""
    target = ceil(total * milestone.percent / 100)
    if milestone.due_on < today:
        met = registered >= target
        return MilestoneStatus(
            milestone,
            target,
            registered,
            None,
            "met" if met else "missed",
            max(0, target - registered),
        )
    projected = min(total, registered + int(rate * (milestone.due_on - today).days))
    ok = projected >= target
    return MilestoneStatus(
        milestone,
        target,
        registered,
        projected,
        "on track" if ok else "behind",
        max(0, target - projected),
    )


# --- what the SMS says ---------------------------------------------------------------------

_OPENING: dict[str, dict[BackfillPhase, str]] = {
    "zh": {
        P.REMIND: (
            "【实名登记提醒】您的号码尚未登记实名信息。请于{deadline}前携带本人有效身份证件到"
            "营业厅办理。"
        ),
        P.BAR_OUTGOING: (
            "【实名登记提醒】您的号码因未登记实名信息，已限制呼出。请携带本人有效身份证件到"
            "营业厅办理登记，登记后立即恢复。"
        ),
        P.BAR_BOTH: (
            "【实名登记提醒】您的号码因未登记实名信息，已停机。请携带本人有效身份证件到"
            "营业厅办理登记，登记后立即恢复。"
        ),
        P.TERMINATE: (
            "【实名登记通知】您的号码因未登记实名信息已销号。预付费余额可凭本人有效身份证件到"
            "营业厅办理退还。"
        ),
    },
    "en": {
        P.REMIND: (
            "Your number is not yet registered to an ID. Please register at a shop with your "
            "ID document before {deadline}."
        ),
        P.BAR_OUTGOING: (
            "Outgoing service on your number is barred because it is not registered to an ID. "
            "Register at a shop with your ID document to restore it at once."
        ),
        P.BAR_BOTH: (
            "All service on your number is barred because it is not registered to an ID. "
            "Register at a shop with your ID document to restore it at once."
        ),
        P.TERMINATE: (
            "Your number was terminated because it was not registered to an ID. Your prepaid "
            "balance can be refunded at a shop on showing your ID document."
        ),
    },
}

# The words a reminder dates each later step with; tests parse messages by these.
STEP_WORDS: dict[str, dict[BackfillPhase, str]] = {
    "zh": {P.BAR_OUTGOING: "限制呼出", P.BAR_BOTH: "停机", P.TERMINATE: "销号"},
    "en": {
        P.BAR_OUTGOING: "outgoing service barred",
        P.BAR_BOTH: "all service barred",
        P.TERMINATE: "number terminated",
    },
}
_STEP = {"zh": "{date}起{what}", "en": "from {date} {what}"}
_STEPS = {"zh": "逾期未办理：{steps}。", "en": "If not registered: {steps}."}
_SEPARATOR = {"zh": "；", "en": "; "}
_CHANGED = {
    "zh": "【实名登记日期调整】",
    "en": "The registration dates for your number have changed. ",
}


def reminder_text(
    phase: BackfillPhase, dates: Dates, language: str, *, amended: bool = False
) -> str:
    """The message a line gets when it enters `phase` (or when its dates change): what has
    happened, and every later step with the date it will happen. `dates` are the line's own,
    the dates the runner will act on."""
    language = language if language in _OPENING else "en"
    ordered = list(BackfillPhase)
    later = [p for p in ordered[ordered.index(phase) + 1 :] if p in dates and p is not P.REMIND]
    first_bar = min((dates[p] for p in dates if p is not P.REMIND), default=None)
    text = _OPENING[language][phase].format(deadline=first_bar.isoformat() if first_bar else "")
    if later:
        steps = _SEPARATOR[language].join(
            _STEP[language].format(date=dates[p].isoformat(), what=STEP_WORDS[language][p])
            for p in later
        )
        text += (" " if language == "en" else "") + _STEPS[language].format(steps=steps)
    return (_CHANGED[language] if amended else "") + text
