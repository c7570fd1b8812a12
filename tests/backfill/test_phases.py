"""The back-fill ladder's pure rules."""

from __future__ import annotations

from datetime import date

import pytest

from realname.backfill.phases import (
    default_deadline,
    move_for,
    phase_dates,
    phase_on,
    project,
    reminder_text,
)
from realname.policy.loader import load_policy
from realname.policy.schema import BackfillPhase as P
from realname.registry.lifecycle import LineState as S
from realname.registry.lifecycle import Operation as Op

START = date(2026, 1, 1)
DATES = phase_dates(load_policy("china").backfill_steps, START)


def test_china_phases_are_dated_from_the_start() -> None:
    assert {
        P.REMIND: date(2026, 1, 1),
        P.BAR_OUTGOING: date(2026, 3, 2),
        P.BAR_BOTH: date(2026, 4, 1),
        P.TERMINATE: date(2026, 5, 1),
    } == DATES
    assert default_deadline(DATES) == date(2026, 3, 2)


@pytest.mark.parametrize(
    ("today", "phase"),
    [
        (date(2025, 12, 31), None),
        (date(2026, 1, 1), P.REMIND),
        (date(2026, 3, 1), P.REMIND),
        (date(2026, 3, 2), P.BAR_OUTGOING),
        (date(2026, 4, 30), P.BAR_BOTH),
        (date(2027, 1, 1), P.TERMINATE),
    ],
)
def test_the_phase_in_force_is_the_latest_begun(today: date, phase: P | None) -> None:
    assert phase_on(DATES, today) == phase


def test_lines_only_move_down_the_ladder_and_may_skip_steps() -> None:
    assert move_for(P.REMIND, S.LEGACY) is None
    assert move_for(P.BAR_OUTGOING, S.LEGACY) is Op.BACKFILL_RESTRICT
    assert move_for(P.BAR_OUTGOING, S.SUSPENDED) is None  # never back up
    assert move_for(P.BAR_BOTH, S.LEGACY) is Op.BACKFILL_SUSPEND  # a runner that was down
    assert move_for(P.BAR_BOTH, S.RESTRICTED) is Op.BACKFILL_SUSPEND
    assert move_for(P.TERMINATE, S.LEGACY) is Op.BACKFILL_TERMINATE
    assert move_for(P.TERMINATE, S.CANCELLED) is None


def test_projection_at_the_current_pace() -> None:
    on_time = project(1000, 700, 7, date(2026, 1, 10), date(2026, 2, 1))
    assert on_time.rate_per_day == 100
    assert on_time.projected_completion == date(2026, 1, 20)
    assert on_time.on_track
    late = project(10_000, 70, 7, date(2026, 1, 10), date(2026, 2, 1))
    assert late.projected_completion == date(2028, 10, 6)  # 1,000 days at 10 a day
    assert not late.on_track
    stalled = project(5, 0, 7, date(2026, 1, 10), date(2026, 2, 1))
    assert stalled.projected_completion is None and not stalled.on_track
    assert project(0, 0, 7, date(2026, 1, 10), date(2026, 2, 1)).on_track


def test_reminders_say_what_comes_next_and_when() -> None:
    remind = reminder_text(P.REMIND, DATES, date(2026, 3, 2), "zh")
    assert "2026-03-02" in remind and "实名" in remind
    barred = reminder_text(P.BAR_OUTGOING, DATES, date(2026, 3, 2), "en")
    assert "barred" in barred and "2026-04-01" in barred
    assert "refund" in reminder_text(P.TERMINATE, DATES, date(2026, 3, 2), "en")
