from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from realname.identity import (
    DocumentError,
    DocumentErrorCode,
    Sex,
    parse_resident_id,
    resident_id_error,
    validate_resident_ids,
)
from realname.identity.resident_id import check_character, upgrade_15_to_18
from realname.sim.documents import random_resident_id

# The day the tests validate on: fixed, so verdicts do not depend on the machine's date.
TODAY = date(2026, 11, 23)

E = DocumentErrorCode

# The two worked examples printed in GB 11643-1999 itself.
GB_EXAMPLE_FEMALE = "11010519491231002X"  # 北京市朝阳区, 1949-12-31
GB_EXAMPLE_MALE = "440524188001010014"  # 广东省汕头市潮阳县, 1880-01-01


def with_check(body17: str) -> str:
    return body17 + check_character(body17)


def test_standard_examples_decode() -> None:
    female = parse_resident_id(GB_EXAMPLE_FEMALE, TODAY)
    assert (female.region_code, female.birth_date, female.sex) == (
        "110105",
        date(1949, 12, 31),
        Sex.FEMALE,
    )
    assert female.region is not None and female.region.name == "北京市朝阳区"
    male = parse_resident_id(GB_EXAMPLE_MALE, TODAY)
    assert (male.birth_date, male.sex) == (date(1880, 1, 1), Sex.MALE)


@pytest.mark.parametrize(
    "typed",
    [
        "11010519491231002x",  # lower-case x
        "110105 19491231 002X",  # spaces as printed on some forms
        "110105-19491231-002X",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width, as some input methods type it
        "  11010519491231002X\t",
        "110105\u300019491231002ｘ",  # ideographic space, full-width lower x
    ],
)
def test_typing_variants_normalise_to_one_number(typed: str) -> None:
    assert resident_id_error(typed, TODAY) is None
    assert parse_resident_id(typed, TODAY).number == GB_EXAMPLE_FEMALE


def test_fifteen_digit_legacy_number_is_upgraded() -> None:
    parsed = parse_resident_id("110105491231002", TODAY)
    assert parsed.number == GB_EXAMPLE_FEMALE
    assert parsed.upgraded_from_15
    # 15-digit numbers were issued 1984-1999 to people born in the 1900s.
    assert upgrade_15_to_18("440524800101001") == with_check("44052419800101001")


def test_abolished_region_code_is_still_valid() -> None:
    """崇文区 (110103) was merged into 东城区 in 2010; its people keep their numbers."""
    number = with_check("11010319800101001")
    parsed = parse_resident_id(number, TODAY)
    assert parsed.region is not None
    assert parsed.region.abolished and parsed.region.name == "北京市崇文区"


def test_region_code_created_after_birth_is_valid() -> None:
    """石家庄市长安区 dates from 1983; people born in 1960 there carry 130102."""
    assert resident_id_error(with_check("13010219600101002"), TODAY) is None
    assert not ric.is_valid(with_check("13010219600101002"))  # stdnum gets this wrong


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("", E.EMPTY),
        ("   ", E.EMPTY),
        ("1101051949123100", E.LENGTH),
        ("1101051949123100211", E.LENGTH),
        ("11010519491231002Y", E.FORMAT),
        ("1101051949123A002X", E.FORMAT),
        ("11010549123100A", E.FORMAT),  # 15 characters, not all digits
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", E.FORMAT),  # Arabic-Indic digits are digits, not ours
        ("110105194912310021", E.CHECKSUM),
        (with_check("11010519490230002"), E.BIRTH_DATE),  # 30 February
        (with_check("11010520230229002"), E.BIRTH_DATE),  # 2023 was no leap year
        (with_check("11010518491231002"), E.BIRTH_DATE),  # before 1850
        (with_check("11010519491300002"), E.BIRTH_DATE),
        (with_check("99010519491231002"), E.REGION),  # no province 99
        (with_check("11019919491231002"), E.REGION),  # no county 99 in Beijing
        (with_check("11010519490229002"), E.BIRTH_DATE),  # 1949 was no leap year
    ],
)
def test_each_error_code(number: str, code: DocumentErrorCode) -> None:
    assert resident_id_error(number, TODAY) == code
    with pytest.raises(DocumentError) as raised:
        parse_resident_id(number, TODAY)
    assert raised.value.code == code
    assert raised.value.message and raised.value.message_zh


def test_future_birth_date_is_refused() -> None:
    tomorrow = TODAY + timedelta(days=1)
    number = with_check(f"110105{tomorrow:%Y%m%d}002")
    assert resident_id_error(number, TODAY) == E.BIRTH_DATE
    assert validate_resident_ids([number], TODAY) == [E.BIRTH_DATE]
    # ...but the same number is fine once that day has come, in the same process: the date
    # table is not frozen at the day the process started.
    assert resident_id_error(number, today=tomorrow) is None
    assert validate_resident_ids([number], tomorrow) == [None]
    far_future = with_check("11010521500101002")
    assert resident_id_error(far_future, date(2150, 1, 1)) is None
    assert resident_id_error(far_future, TODAY) == E.BIRTH_DATE


def test_error_text_never_contains_the_number() -> None:
    with pytest.raises(DocumentError) as raised:
        parse_resident_id("110105194912310021", TODAY)
    assert "110105194912310021" not in str(raised.value)
    assert "19491231" not in str(raised.value)


def test_bulk_path_agrees_with_single_path() -> None:
    numbers = [
        GB_EXAMPLE_FEMALE,
        GB_EXAMPLE_MALE,
        "110105194912310021",
        "11010519491231002x",
        "110105491231002",
        "",
        with_check("99010519491231002"),
    ]
    assert validate_resident_ids(numbers, TODAY) == [resident_id_error(n, TODAY) for n in numbers]


# --- properties ---------------------------------------------------------------------------


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    seed = draw(st.integers(min_value=0, max_value=2**32))
    return random_resident_id(random.Random(seed), abolished_share=0.3, today=TODAY)


@given(valid_numbers())
def test_every_generated_number_round_trips(number: str) -> None:
    parsed = parse_resident_id(number, TODAY)
    assert parsed.number == number
    assert f"{parsed.region_code}{parsed.birth_date:%Y%m%d}" == number[:14]
    assert (parsed.sex is Sex.MALE) == (int(number[16]) % 2 == 1)
    assert resident_id_error(number.lower(), TODAY) is None
    if number[6:8] == "19":  # representable as a legacy 15-digit number
        assert parse_resident_id(number[:6] + number[8:17], TODAY).number == number


@given(
    valid_numbers(),
    st.integers(min_value=0, max_value=17),
    st.sampled_from("0123456789X"),
)
def test_any_single_character_change_is_rejected(number: str, position: int, new: str) -> None:
    if number[position] == new or (position < 17 and new == "X"):
        return
    changed = number[:position] + new + number[position + 1 :]
    assert resident_id_error(changed, TODAY) is not None


@given(st.text(max_size=40))
def test_never_raises_on_arbitrary_input(text: str) -> None:
    error = resident_id_error(text, TODAY)
    assert error is None or isinstance(error, DocumentErrorCode)


@given(st.from_regex(r"[0-9]{17}", fullmatch=True))
def test_check_character_matches_stdnum(body: str) -> None:
    assert check_character(body) == ric.calc_check_digit(body + "0")


def test_the_birth_date_table_holds_every_calendar_day_of_its_span_and_no_other() -> None:
    """The table the hot path looks birth dates up in, built month by month: each day from
    the earliest birth year to its last date exactly once (1900 was no leap year, 2000 was)."""
    from realname.identity import resident_id

    resident_id._load_tables()
    day, every = date(resident_id.EARLIEST_BIRTH_YEAR, 1, 1), set()
    while day <= resident_id.LATEST_TABLE_DATE:
        every.add(day.strftime("%Y%m%d"))
        day += timedelta(days=1)
    assert every == resident_id._DATES
    assert "19000229" not in every and "20000229" in every
