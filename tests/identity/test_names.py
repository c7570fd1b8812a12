from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realname.identity import mask_document_number, mask_name, normalize_name
from realname.identity.names import NAME_DOT, is_han


@pytest.mark.parametrize(
    "variant",
    [
        "阿卜杜拉·买买提",  # U+00B7 middle dot
        "阿卜杜拉•买买提",  # U+2022 bullet
        "阿卜杜拉・买买提",  # U+30FB katakana middle dot
        "阿卜杜拉‧买买提",  # U+2027 hyphenation point
        "阿卜杜拉.买买提",  # full stop
        "阿卜杜拉．买买提",  # full-width full stop
        "阿卜杜拉･买买提",  # half-width katakana middle dot
        " 阿卜杜拉 · 买买提 ",
    ],
)
def test_middle_dot_variants_fold_to_one(variant: str) -> None:
    assert normalize_name(variant) == "阿卜杜拉·买买提"


def test_full_width_latin_becomes_half_width() -> None:
    assert normalize_name("ＪＯＨＮ　ＳＭＩＴＨ") == "JOHN SMITH"
    assert normalize_name("  张   三 ") == "张 三"


def test_masks() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳小明") == "欧***"
    assert mask_name("阿卜杜拉·买买提") == "阿***·***"
    assert mask_name("") == ""
    assert mask_document_number("11010519491231002X") == "110105********002X"
    assert mask_document_number("H12345678") == "H******78"
    assert mask_document_number("110105491231002") == "110105******002"
    assert mask_name("Li Wei") == "L* ***"
    assert mask_document_number("123") == "***"


def test_is_han() -> None:
    assert is_han("张三") and is_han("阿卜杜拉·买买提")
    assert not is_han("Zhang San") and not is_han("")


@given(st.text(max_size=30))
def test_normalisation_is_idempotent(raw: str) -> None:
    once = normalize_name(raw)
    assert normalize_name(once) == once
    assert not once.startswith((" ", NAME_DOT)) and not once.endswith((" ", NAME_DOT))


@given(st.text(min_size=2, max_size=30))
def test_mask_hides_all_but_the_first_character(raw: str) -> None:
    name = normalize_name(raw)
    masked = mask_name(raw)
    assert len(masked) == len(name)
    assert all(c in "*· " for c in masked[1:])
