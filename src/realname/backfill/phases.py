"""The back-fill ladder as pure functions: which phase a date is in, which move brings a
legacy line there, and when the campaign will finish at the current pace.

No I/O, so the runner, the API and the tests all ask the same questions of the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from math import ceil

from realname.policy.schema import BackfillPhase, BackfillStep
from realname.registry.lifecycle import LineState, Operation

P = BackfillPhase
S = LineState


def phase_dates(steps: tuple[BackfillStep, ...], starts_on: date) -> dict[BackfillPhase, date]:
    return {step.phase: starts_on + timedelta(days=step.days_after_start) for step in steps}


def phase_on(dates: dict[BackfillPhase, date], today: date) -> BackfillPhase | None:
    """The latest phase that has begun by `today`; None before the campaign starts."""
    begun = [phase for phase, day in dates.items() if day <= today]
    return max(begun, key=list(BackfillPhase).index) if begun else None


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


def move_for(phase: BackfillPhase, state: LineState) -> Operation | None:
    """The operation that brings an unregistered legacy line in `state` to `phase`, or None
    when it is already there (or further along)."""
    return _MOVES[phase].get(state)


def default_deadline(dates: dict[BackfillPhase, date]) -> date:
    """Registered before outgoing calls are barred, unless the policy has no such bar."""
    for phase in (P.BAR_OUTGOING, P.BAR_BOTH, P.TERMINATE):
        if phase in dates:
            return dates[phase]
    return max(dates.values())


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


REMINDER_TEXT: dict[str, dict[BackfillPhase, str]] = {
    "zh": {
        P.REMIND: (
            "【实名登记提醒】您的号码尚未登记实名信息。请于{deadline}前携带本人有效身份证件到"
            "营业厅办理，逾期将依次限制呼出、停机，直至销号。"
        ),
        P.BAR_OUTGOING: (
            "【实名登记提醒】您的号码因未登记实名信息，已限制呼出。请携带本人有效身份证件到"
            "营业厅办理登记，登记后立即恢复。{next_phase}"
        ),
        P.BAR_BOTH: (
            "【实名登记提醒】您的号码因未登记实名信息，已停机。请携带本人有效身份证件到"
            "营业厅办理登记，登记后立即恢复。{next_phase}"
        ),
        P.TERMINATE: (
            "【实名登记通知】您的号码因未登记实名信息已销号。预付费余额可凭本人有效身份证件到"
            "营业厅办理退还。"
        ),
    },
    "en": {
        P.REMIND: (
            "Your number is not yet registered to an ID. Please register at a shop with your "
            "ID document before {deadline}; otherwise outgoing service will be barred, then all "
            "service, and the number terminated."
        ),
        P.BAR_OUTGOING: (
            "Outgoing service on your number is barred because it is not registered to an ID. "
            "Register at a shop with your ID document to restore it at once. {next_phase}"
        ),
        P.BAR_BOTH: (
            "All service on your number is barred because it is not registered to an ID. "
            "Register at a shop with your ID document to restore it at once. {next_phase}"
        ),
        P.TERMINATE: (
            "Your number was terminated because it was not registered to an ID. Your prepaid "
            "balance can be refunded at a shop on showing your ID document."
        ),
    },
}

_NEXT = {
    "zh": "{date}起将{what}。",
    "en": "From {date} the number will be {what}.",
}
_NEXT_WHAT = {
    "zh": {P.BAR_BOTH: "停机", P.TERMINATE: "销号"},
    "en": {P.BAR_BOTH: "barred both ways", P.TERMINATE: "terminated"},
}


def reminder_text(
    phase: BackfillPhase, dates: dict[BackfillPhase, date], deadline: date, language: str
) -> str:
    """The message a line gets when it enters `phase`: what happened, what comes next, when."""
    language = language if language in REMINDER_TEXT else "en"
    ordered = list(BackfillPhase)
    later = [p for p in ordered[ordered.index(phase) + 1 :] if p in dates and p in _NEXT_WHAT["en"]]
    next_phase = ""
    if later:
        upcoming = later[0]
        next_phase = _NEXT[language].format(
            date=dates[upcoming].isoformat(), what=_NEXT_WHAT[language][upcoming]
        )
    return REMINDER_TEXT[language][phase].format(
        deadline=deadline.isoformat(), next_phase=next_phase
    )
