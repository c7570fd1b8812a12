from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from realname.bench.identity import generate_numbers
from realname.identity import resident_id_error, validate_resident_ids
from realname.identity.resident_id import check_character

# The day the tests validate on: fixed, so verdicts do not depend on the machine's date.
TODAY = date(2026, 11, 23)


def with_check(body17: str) -> str:
    return body17 + check_character(body17)


def test_column_verdicts_equal_single_verdicts_on_a_realistic_mix() -> None:
    numbers = generate_numbers(20_000, seed=11, invalid_share=0.3)
    numbers += ["11010519491231002x", "１１０１０５１９４９１２３１００２Ｘ", "110105491231002", ""]
    assert validate_resident_ids(numbers, TODAY) == [resident_id_error(n, TODAY) for n in numbers]


def test_every_error_kind_survives_the_vectorised_path() -> None:
    numbers = [
        "11010519491231002X",  # valid
        "11010519491231002Y",  # format (last character)
        "1101051949123A002X",  # format (body)
        "110105194912310021",  # checksum
        with_check("11010519490230002"),  # 30 February
        with_check("99010519491231002"),  # no such region
        "110105 1949123100X",  # a space: normalises to 17 characters
    ]
    expected = [None, "format", "format", "checksum", "birth_date", "region", "length"]
    assert validate_resident_ids(numbers, TODAY) == expected
    assert [resident_id_error(n, TODAY) for n in numbers] == expected


def test_empty_column() -> None:
    assert validate_resident_ids([], TODAY) == []


@settings(deadline=None)  # the first call builds the lookup tables
@given(
    st.lists(
        st.text(alphabet="0123456789Xx .-\u3000１２ｘ٣", min_size=14, max_size=20), max_size=50
    )
)
def test_agrees_on_arbitrary_digit_strings(numbers: list[str]) -> None:
    assert validate_resident_ids(numbers, TODAY) == [resident_id_error(n, TODAY) for n in numbers]
