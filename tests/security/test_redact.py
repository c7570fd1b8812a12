from __future__ import annotations

import pytest

from realname.security.redact import contains_pii, redact_pii


@pytest.mark.parametrize(
    "text",
    [
        "customer 13800138000 complained",
        "call +86 138 0013 8000 back",
        "8613800138000",
        "ID 11010519491231002X is not hers",
        "ID 110105-19491231-002x",
    ],
)
def test_numbers_in_free_text_are_found_and_masked(text: str) -> None:
    assert contains_pii(text)
    masked = redact_pii(text)
    assert not contains_pii(masked)
    assert "*" in masked


@pytest.mark.parametrize(
    "text",
    ["fraud complaint", "order 12345", "ICCID 89860012345678901234", "110105194912310021 typo"],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert not contains_pii(text)
    assert redact_pii(text) == text


# Issue 11 part 5: spellings that used to slip through, each caught after normalising.
ID_SPELLINGS = [
    "ID 1101 0519 4912 3100 2X",  # 4-4-4-4-2 groups
    "ID 110105.19491231.002X",  # dots
    "ID 110105\u00a019491231\u00a0002X",  # no-break spaces
    "ID 1101\u200b0519\u200b4912\u200b3100\u200b2X",  # zero-width spaces
    "ID 110105491231002 (old card)",  # the 15-digit form
    "ID11010519491231002Xplease",  # glued to letters
    "证件号１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
    "case-320622196108013026-tel",  # inside a correlator-like token
]
PHONE_SPELLINGS = [
    "call 139 000 00266",  # 3-3-5
    "call (139) 0000-0266",
    "call 139.0000.0266",
    "call １３９０００００２６６",  # full-width digits
    "tel13900000266ok",  # glued to letters
    "+86\u00a0139\u00a00000\u00a00266",
    "0086-139-0000-0266",
]


@pytest.mark.parametrize("text", ID_SPELLINGS + PHONE_SPELLINGS)
def test_every_spelling_is_found_and_masked(text: str) -> None:
    assert contains_pii(text)
    masked = redact_pii(text)
    assert not contains_pii(masked)
    assert "*" in masked


@pytest.mark.parametrize(
    "text",
    [
        "b4333c46-49c0-4f62-80d7-f0ef930f1c46",
        "2026-11-23T09:30:00.123456+00:00",
        "ICCID 8986 0012 3456 7890 1234",
        "order 12345, 67890",
    ],
)
def test_normalising_does_not_invent_numbers(text: str) -> None:
    assert not contains_pii(text)
