from __future__ import annotations

import pytest

from realname.numbering import NumberError, NumberErrorCode, carrier_of, mask_msisdn, parse_msisdn


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "+86 138 0013 8000",
        "8613800138000",
        "008613800138000",
        "138-0013-8000",
        "+86 (138) 0013 8000",
        " 13800138000 ",
    ],
)
def test_accepted_forms_normalise_to_e164(typed: str) -> None:
    assert parse_msisdn(typed).e164 == "+8613800138000"


def test_parts() -> None:
    msisdn = parse_msisdn("13800138000")
    assert msisdn.country_code == 86
    assert msisdn.national_number == "13800138000"
    assert msisdn.digits == "8613800138000"
    assert str(msisdn) == "+8613800138000"


@pytest.mark.parametrize(
    ("number", "english", "chinese"),
    [
        ("13800138000", "China Mobile", "中国移动"),
        ("18912345678", "China Telecom", "中国电信"),
        ("18612345678", "China Unicom", "中国联通"),
        ("19212345678", "China Broadnet", "中国广电"),
    ],
)
def test_carrier_of_the_number_range(number: str, english: str, chinese: str) -> None:
    assert carrier_of(number) == english
    assert carrier_of(parse_msisdn(number), "zh-CN") == chinese


def test_foreign_numbers_are_accepted_with_plus() -> None:
    assert parse_msisdn("+63 917 123 4567").e164 == "+639171234567"
    assert parse_msisdn("09171234567", "PH").e164 == "+639171234567"


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("", NumberErrorCode.EMPTY),
        ("   ", NumberErrorCode.EMPTY),
        ("hello", NumberErrorCode.FORMAT),
        ("1380013800", NumberErrorCode.INVALID),  # 10 digits
        ("10012345678", NumberErrorCode.INVALID),
        ("010-12345678", NumberErrorCode.NOT_MOBILE),  # a Beijing landline
        ("+86 138 0013 8000 ext. 99", NumberErrorCode.FORMAT),  # extensions are not lines
        ("138 0013 8000 abc", NumberErrorCode.FORMAT),
        ("１３８００１３８０００", NumberErrorCode.FORMAT),  # full-width: type it again
    ],
)
def test_refusals(number: str, code: NumberErrorCode) -> None:
    with pytest.raises(NumberError) as raised:
        parse_msisdn(number)
    assert raised.value.code == code
    if number.strip():
        assert number.strip() not in str(raised.value)


def test_landline_allowed_when_asked() -> None:
    assert parse_msisdn("010-12345678", mobile_only=False).e164 == "+861012345678"


def test_mask() -> None:
    assert mask_msisdn("+8613800138000") == "+86138****8000"
    assert mask_msisdn("12345") == "*****"


def test_region_is_case_insensitive() -> None:
    assert parse_msisdn("13800138000", "cn").e164 == "+8613800138000"
