"""The back-fill ladder's pure rules: the policy gives the shape, the campaign the length."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realname.backfill.phases import (
    STEP_WORDS,
    Ladder,
    Milestone,
    milestone_status,
    move_for,
    phase_dates,
    phase_on,
    phases_done,
    project,
    reminder_text,
)
from realname.policy.loader import load_policy
from realname.policy.schema import BackfillPhase as P
from realname.registry.lifecycle import LineState as S
from realname.registry.lifecycle import Operation as Op

START = date(2026, 1, 1)
CHINA = Ladder.of(load_policy("china").backfill_steps)
DATES = phase_dates(load_policy("china").backfill_steps, START)


def test_the_shortest_campaign_is_the_policys_days() -> None:
    assert {
        P.REMIND: date(2026, 1, 1),
        P.BAR_OUTGOING: date(2026, 3, 2),
        P.BAR_BOTH: date(2026, 4, 1),
        P.TERMINATE: date(2026, 5, 1),
    } == DATES
    assert CHINA.notice_days == 60
    assert CHINA.minimum_deadline(START) == date(2026, 3, 2)


def test_a_three_year_campaign_bars_on_its_deadline_and_keeps_the_gaps() -> None:
    """The issue's case: starts 2026-11-30, deadline 2029-11-30 — no termination in 2027."""
    dates = CHINA.campaign_dates(date(2026, 11, 30), date(2029, 11, 30))
    assert dates == {
        P.REMIND: date(2026, 11, 30),
        P.BAR_OUTGOING: date(2029, 11, 30),
        P.BAR_BOTH: date(2029, 12, 30),
        P.TERMINATE: date(2030, 1, 29),
    }
    # One SMS three years ahead is not enough: a final notice the notice period before.
    assert CHINA.final_notice_on(dates) == date(2029, 10, 1)
    assert CHINA.final_notice_on(DATES) is None  # the shortest campaign: the first is the last


def test_a_policy_without_bars_terminates_on_the_deadline() -> None:
    philippines = Ladder.of(load_policy("philippines").backfill_steps)
    assert philippines.first_bar is P.TERMINATE and philippines.notice_days == 180
    dates = philippines.campaign_dates(START, date(2027, 1, 1))
    assert dates == {P.REMIND: START, P.TERMINATE: date(2027, 1, 1)}


@pytest.mark.parametrize(
    ("reminded", "bar"),
    [
        (date(2026, 11, 30), date(2029, 11, 30)),  # in time: the campaign's dates
        (date(2029, 10, 1), date(2029, 11, 30)),  # exactly the notice before
        (date(2029, 10, 2), date(2029, 12, 1)),  # a day late: a day later
        (date(2029, 12, 15), date(2030, 2, 13)),  # imported after the deadline
    ],
)
def test_a_line_reminded_late_gets_dates_of_its_own(reminded: date, bar: date) -> None:
    campaign = CHINA.campaign_dates(date(2026, 11, 30), date(2029, 11, 30))
    own = CHINA.line_dates(campaign, reminded)
    assert own[P.REMIND] == reminded
    assert own[P.BAR_OUTGOING] == bar
    assert own[P.BAR_OUTGOING] - reminded >= timedelta(days=CHINA.notice_days)
    assert own[P.BAR_BOTH] - own[P.BAR_OUTGOING] == timedelta(days=30)
    assert own[P.TERMINATE] - own[P.BAR_OUTGOING] == timedelta(days=60)


def test_an_amendment_never_moves_a_told_date_earlier_nor_a_step_already_taken() -> None:
    told = CHINA.line_dates(DATES, START)
    later = CHINA.campaign_dates(START, date(2026, 6, 1))
    amended = CHINA.amended_line_dates(told, later, START, phases_done(S.RESTRICTED))
    assert amended[P.BAR_OUTGOING] == told[P.BAR_OUTGOING]  # already barred as announced
    assert amended[P.BAR_BOTH] == date(2026, 7, 1)
    assert amended[P.TERMINATE] == date(2026, 7, 31)
    # Extended on its deadline day before the runner barred it: the line gets the new date.
    assert CHINA.amended_line_dates(told, later, START, phases_done(S.LEGACY))[
        P.BAR_OUTGOING
    ] == date(2026, 6, 1)
    earlier = CHINA.campaign_dates(START, date(2026, 3, 2))
    assert CHINA.amended_line_dates(told, earlier, START, set()) == told


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


def test_milestones_against_the_pace_and_once_passed_against_what_was_done() -> None:
    today = date(2026, 6, 1)
    ahead = milestone_status(Milestone(date(2026, 7, 1), 30), 1000, 200, 5.0, today)
    assert (ahead.target_lines, ahead.projected, ahead.status, ahead.short_by) == (
        300,
        350,
        "on track",
        0,
    )
    behind = milestone_status(Milestone(date(2026, 7, 1), 60), 1000, 200, 5.0, today)
    assert (behind.status, behind.short_by) == ("behind", 250)
    missed = milestone_status(Milestone(date(2026, 5, 1), 30), 1000, 120, 5.0, today)
    assert (missed.status, missed.short_by, missed.projected) == ("missed", 180, None)
    met = milestone_status(Milestone(date(2026, 5, 1), 10), 1000, 120, 5.0, today)
    assert met.status == "met"


def _announced(text: str) -> dict[P, date]:
    words = {word: phase for phase, word in STEP_WORDS["zh"].items()}
    return {
        words[what]: date.fromisoformat(day)
        for day, what in re.findall(r"(\d{4}-\d{2}-\d{2})起(限制呼出|停机|销号)", text)
    }


def test_reminders_give_every_later_step_its_date() -> None:
    dates = CHINA.campaign_dates(date(2026, 11, 30), date(2029, 11, 30))
    remind = reminder_text(P.REMIND, dates, "zh")
    assert "请于2029-11-30前" in remind
    assert _announced(remind) == {p: d for p, d in dates.items() if p is not P.REMIND}
    barred = reminder_text(P.BAR_OUTGOING, dates, "zh")
    assert _announced(barred) == {P.BAR_BOTH: dates[P.BAR_BOTH], P.TERMINATE: dates[P.TERMINATE]}
    english = reminder_text(P.BAR_OUTGOING, dates, "en")
    assert "barred" in english and "from 2029-12-30 all service barred" in english
    assert "refund" in reminder_text(P.TERMINATE, dates, "en")
    assert reminder_text(P.REMIND, dates, "en", amended=True).startswith("The registration dates")


LADDERS = [
    Ladder.of(load_policy(code).backfill_steps) for code in ("china", "india", "philippines")
]


@given(
    ladder=st.sampled_from(LADDERS),
    start=st.dates(date(2020, 1, 1), date(2035, 1, 1)),
    extra=st.integers(0, 2000),
    reminded_after=st.integers(0, 3000),
    extension=st.integers(0, 1000),
    state=st.sampled_from([S.LEGACY, S.RESTRICTED, S.SUSPENDED]),
)
def test_no_schedule_bars_before_the_notice_nor_moves_a_told_date_earlier(
    ladder: Ladder, start: date, extra: int, reminded_after: int, extension: int, state: S
) -> None:
    deadline = ladder.minimum_deadline(start) + timedelta(days=extra)
    campaign = ladder.campaign_dates(start, deadline)
    reminded = start + timedelta(days=reminded_after)
    own = ladder.line_dates(campaign, reminded)
    first_bar = own[ladder.first_bar]
    assert first_bar - reminded >= timedelta(days=ladder.notice_days)
    assert all(own[p] >= campaign[p] for p in ladder.gaps)
    assert sorted(own.values()) == [own[p] for p in P if p in own]  # the ladder's order kept
    extended = ladder.campaign_dates(start, deadline + timedelta(days=extension))
    done = phases_done(state) & set(own)
    amended = ladder.amended_line_dates(own, extended, reminded, done)
    assert all(amended[p] >= own[p] for p in own)
    assert all(amended[p] == own[p] for p in done | {P.REMIND})
    final = ladder.final_notice_on(own)
    assert final is None or reminded < final < first_bar
