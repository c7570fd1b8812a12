"""Each check at its boundaries, the collected verdict, the clerk's messages, and age."""

from __future__ import annotations

import calendar
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realname.identity.documents import DocumentType as D
from realname.policy import (
    ChannelKind,
    EntryMethod,
    Policy,
    PolicyViolation,
    age_in_years,
    check_age,
    check_caps,
    check_document,
    check_entry_method,
    check_face,
    evaluate_registration,
    load_policy,
    violation_message,
)

K = ChannelKind
V = PolicyViolation
TODAY = date(2024, 6, 15)


@pytest.fixture(scope="module")
def china() -> Policy:
    return load_policy("china")


@pytest.fixture(scope="module")
def india() -> Policy:
    return load_policy("india")


# --- documents


def test_document_accepted_depends_on_the_channel(china: Policy) -> None:
    assert check_document(china, K.OWN_HALL, D.PASSPORT) is None
    assert check_document(china, K.SOCIAL, D.RESIDENT_ID) is None
    assert check_document(china, K.SOCIAL, D.PASSPORT) is V.DOCUMENT_NOT_ACCEPTED
    assert check_document(china, K.ONLINE, D.ORGANISATION) is V.DOCUMENT_NOT_ACCEPTED


def test_a_channel_kind_accepting_nothing_refuses_everything() -> None:
    pakistan = load_policy("pakistan")
    assert all(check_document(pakistan, K.ONLINE, doc) is V.DOCUMENT_NOT_ACCEPTED for doc in D)


# --- age


def test_age_exactly_sixteen_today_passes(china: Policy) -> None:
    assert check_age(china, date(2008, 6, 15), TODAY) is None
    assert check_age(china, date(2008, 6, 16), TODAY) is V.UNDERAGE
    assert check_age(china, date(2008, 6, 14), TODAY) is None
    assert check_age(china, date(1950, 1, 1), TODAY) is None


def test_born_on_29_february_comes_of_age_on_1_march_in_common_years(china: Policy) -> None:
    leapling = date(2004, 2, 29)
    assert check_age(china, leapling, date(2020, 2, 28)) is V.UNDERAGE
    assert check_age(china, leapling, date(2020, 2, 29)) is None  # 2020 is a leap year
    assert age_in_years(leapling, date(2021, 2, 28)) == 16
    assert age_in_years(leapling, date(2021, 3, 1)) == 17


def test_a_birth_date_in_the_future_is_underage_even_with_no_minimum(china: Policy) -> None:
    assert age_in_years(date(2025, 1, 1), TODAY) == -1
    assert check_age(china.with_changes(minimum_age_years=0), date(2025, 1, 1), TODAY) is (
        V.UNDERAGE
    )


def _reference_age(born: date, today: date) -> int:
    """Count the birthdays one by one; a 29 February birthday falls on 1 March when absent."""
    age = -1 if today < born else 0
    year = born.year + 1
    while True:
        if born.month == 2 and born.day == 29 and not calendar.isleap(year):
            birthday = date(year, 3, 1)
        else:
            birthday = date(year, born.month, born.day)
        if birthday > today:
            return age
        age += 1
        year += 1


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
leap_days = st.sampled_from([date(y, 2, 29) for y in range(1904, 2100, 4) if calendar.isleap(y)])


@given(born=st.one_of(dates, leap_days), today=dates, minimum=st.integers(0, 120))
def test_age_matches_counting_birthdays(born: date, today: date, minimum: int) -> None:
    expected = _reference_age(born, today) if born <= today else None
    if expected is not None:
        assert age_in_years(born, today) == expected
    policy = load_policy("china").with_changes(minimum_age_years=minimum)
    underage = born > today or _reference_age(born, today) < minimum
    assert (check_age(policy, born, today) is V.UNDERAGE) == underage


# --- face


def test_face_score_exactly_at_the_threshold_passes(china: Policy) -> None:
    assert check_face(china, 0.80) is None
    assert check_face(china, 1.0) is None
    assert check_face(china, 0.7999) is V.FACE_MISMATCH
    assert check_face(china, 0.0) is V.FACE_MISMATCH
    assert check_face(china, float("nan")) is V.FACE_MISMATCH
    assert check_face(china, None) is V.FACE_MISSING


def test_no_face_match_when_the_policy_has_no_threshold() -> None:
    pakistan = load_policy("pakistan")
    assert check_face(pakistan, None) is None
    assert check_face(pakistan, 0.1) is None


# --- entry method


def test_manual_entry_refused_at_physical_outlets_only(china: Policy) -> None:
    for kind in (K.OWN_HALL, K.PARTNER_HALL, K.SOCIAL):
        assert check_entry_method(china, kind, EntryMethod.MANUAL) is V.MANUAL_ENTRY_REFUSED
        assert check_entry_method(china, kind, EntryMethod.CHIP_READ) is None
        assert check_entry_method(china, kind, EntryMethod.OCR) is None
    assert check_entry_method(china, K.ONLINE, EntryMethod.MANUAL) is None


# --- caps


def test_enterprise_cap_counts_lines_held_before_the_new_one(china: Policy) -> None:
    assert check_caps(china, 0, None) is None
    assert check_caps(china, 4, None) is None
    assert check_caps(china, 5, None) is V.CAP_EXCEEDED
    assert check_caps(china, 9, 9) is V.CAP_EXCEEDED  # a national count is ignored here


def test_national_cap(india: Policy) -> None:
    assert check_caps(india, 0, 8) is None
    assert check_caps(india, 0, 9) is V.NATIONAL_CAP_EXCEEDED
    assert check_caps(india, 50, 0) is None  # India has no per-enterprise cap


def test_national_count_is_required_when_there_is_a_national_cap(india: Policy) -> None:
    with pytest.raises(ValueError, match="national_active needed"):
        check_caps(india, 0, None)


def test_negative_counts_are_a_bug(china: Policy) -> None:
    with pytest.raises(ValueError, match="negative"):
        check_caps(china, -1, None)


def test_both_caps_reported_enterprise_first(china: Policy) -> None:
    both = china.with_changes(
        line_caps=[
            {"scope": "national", "max_active_lines": 9},
            {"scope": "enterprise", "max_active_lines": 5},
        ]
    )
    assert check_caps(both, 5, 9) is V.CAP_EXCEEDED
    assert check_caps(both, 4, 9) is V.NATIONAL_CAP_EXCEEDED
    assert check_caps(both, 4, 8) is None


def test_no_caps_at_all() -> None:
    assert check_caps(load_policy("philippines"), 1000, None) is None


# --- everything at once


def registration(policy: Policy, **overrides: object) -> list[PolicyViolation]:
    facts: dict[str, object] = {
        "channel_kind": K.OWN_HALL,
        "doc_type": D.RESIDENT_ID,
        "birth_date": date(1990, 1, 1),
        "face_score": 0.95,
        "entry_method": EntryMethod.CHIP_READ,
        "enterprise_active": 0,
        "national_active": None,
        "today": TODAY,
    } | overrides
    return evaluate_registration(policy, **facts)  # type: ignore[arg-type]


def test_a_clean_registration_has_no_violations(china: Policy) -> None:
    assert registration(china) == []


def test_every_violation_reported_in_a_stable_order(china: Policy) -> None:
    strict = china.with_changes(
        line_caps=[
            {"scope": "enterprise", "max_active_lines": 5},
            {"scope": "national", "max_active_lines": 9},
        ]
    )
    found = registration(
        strict,
        channel_kind=K.SOCIAL,
        doc_type=D.PASSPORT,
        birth_date=date(2010, 1, 1),
        face_score=0.5,
        entry_method=EntryMethod.MANUAL,
        enterprise_active=5,
        national_active=9,
    )
    assert found == [
        V.DOCUMENT_NOT_ACCEPTED,
        V.UNDERAGE,
        V.FACE_MISMATCH,
        V.MANUAL_ENTRY_REFUSED,
        V.CAP_EXCEEDED,
        V.NATIONAL_CAP_EXCEEDED,
    ]
    assert found == sorted(found, key=list(PolicyViolation).index)


def test_a_missing_face_is_reported_as_missing(china: Policy) -> None:
    assert registration(china, face_score=None) == [V.FACE_MISSING]


# --- messages


@pytest.mark.parametrize("violation", list(PolicyViolation))
def test_every_violation_has_an_english_and_a_chinese_message(violation: PolicyViolation) -> None:
    english = violation_message(violation)
    chinese = violation_message(violation, "zh-CN")
    assert english == violation_message(violation, "en")
    assert english.isascii() and english.endswith(".")
    assert not chinese.isascii() and chinese.endswith("。")
    assert english != chinese
