from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realname.numbering import NumberBlock, NumberError, parse_msisdn


def test_prefix_block_covers_exactly_its_numbers() -> None:
    block = NumberBlock.from_prefix("+861380013")
    assert block.size == 10_000
    assert block.first == "8613800130000" and block.last == "8613800139999"
    assert block.contains("+8613800138000")
    assert parse_msisdn("13800138000") in block
    assert not block.contains("+8613800140000")
    assert not block.contains("+86138001300000")  # longer number, same digits
    assert block.prefix == "+861380013"
    assert str(block) == "+861380013"


def test_range_block() -> None:
    block = NumberBlock.from_range("+8617000000000", "+8617000004999")
    assert block.size == 5000
    assert block.prefix is None
    assert "+8617000004999" in block and "+8617000005000" not in block
    numbers = list(NumberBlock.from_range("+8617000000000", "+8617000000002"))
    assert [n.e164 for n in numbers] == ["+8617000000000", "+8617000000001", "+8617000000002"]


def test_overlaps() -> None:
    a = NumberBlock.from_prefix("+861380013")
    b = NumberBlock.from_range("+8613800139990", "+8613800140010")
    c = NumberBlock.from_prefix("+861380014")
    assert a.overlaps(b) and b.overlaps(c) and not a.overlaps(c)


@pytest.mark.parametrize(
    ("first", "last"),
    [("+8613800139999", "+8613800130000"), ("+861380013", "+8613800139999"), ("+86abc", "+86abd")],
)
def test_bad_ranges_are_refused(first: str, last: str) -> None:
    with pytest.raises(NumberError):
        NumberBlock.from_range(first, last)


def test_prefix_longer_than_numbers_is_refused() -> None:
    with pytest.raises(NumberError):
        NumberBlock.from_prefix("+86138001300001")


@given(
    st.integers(min_value=0, max_value=10**9 - 1),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**9 - 1),
)
def test_contains_is_integer_range_membership(start: int, width: int, probe: int) -> None:
    end = min(start + width, 10**9 - 1)
    block = NumberBlock.from_range(f"+8613{start:09d}", f"+8613{end:09d}")
    assert block.contains(f"+8613{probe:09d}") == (start <= probe <= end)


@pytest.mark.parametrize(("first", "last"), [("²", "3"), ("١٢", "١٣"), ("12", "1a")])
def test_only_ascii_digits_make_a_block(first: str, last: str) -> None:
    with pytest.raises(NumberError) as raised:
        NumberBlock(first, last)
    assert first not in str(raised.value)


def test_a_block_without_common_prefix_has_no_prefix() -> None:
    assert NumberBlock("0000", "9999").prefix is None
    assert str(NumberBlock("0000", "9999")) == "+0000..+9999"
