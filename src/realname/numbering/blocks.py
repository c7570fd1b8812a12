"""Number blocks: the contiguous MSISDN ranges a regulator allocates to an enterprise.

A block is an inclusive range of E.164 numbers of one length, usually written as a prefix
(`+861380013` = the 10,000 numbers +8613800130000…+8613800139999). Ranges are compared as
integers, so "does this block own this number" is two comparisons.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from realname.numbering.errors import NumberError, NumberErrorCode
from realname.numbering.msisdn import Msisdn


def _digits(value: str) -> str:
    text = value.strip().removeprefix("+").replace(" ", "").replace("-", "")
    if not text.isdigit() or not text.isascii():
        raise NumberError(NumberErrorCode.BLOCK, "digits only, optionally after +")
    return text


def mobile_number_length(country_code: int) -> int:
    """Total E.164 digits of a mobile number in that country (13 for +86)."""
    region = phonenumbers.region_code_for_country_code(country_code)
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if example is None:
        raise NumberError(NumberErrorCode.BLOCK, "unknown country code")
    return len(str(country_code)) + len(str(example.national_number))


@dataclass(frozen=True, slots=True, order=True)
class NumberBlock:
    first: str  # E.164 digits without +, inclusive
    last: str

    def __post_init__(self) -> None:
        ends = self.first + self.last
        if len(self.first) != len(self.last) or not (ends.isdigit() and ends.isascii()):
            raise NumberError(NumberErrorCode.BLOCK, "both ends must have the same digit count")
        if int(self.first) > int(self.last):
            raise NumberError(NumberErrorCode.BLOCK, "the first number is after the last")

    @classmethod
    def from_prefix(cls, prefix: str, number_length: int | None = None) -> NumberBlock:
        """`+861380013` -> every 13-digit number starting 861380013."""
        digits = _digits(prefix)
        if number_length is None:
            parsed_cc = _country_code_of(digits)
            number_length = mobile_number_length(parsed_cc)
        if len(digits) > number_length:
            raise NumberError(NumberErrorCode.BLOCK, "prefix longer than the numbers")
        pad = number_length - len(digits)
        return cls(digits + "0" * pad, digits + "9" * pad)

    @classmethod
    def from_range(cls, first: str, last: str) -> NumberBlock:
        return cls(_digits(first), _digits(last))

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    @property
    def prefix(self) -> str | None:
        """The prefix when the block is exactly one, else None."""
        common = 0
        while common < len(self.first) and self.first[common] == self.last[common]:
            common += 1
        rest = len(self.first) - common
        if common == 0:
            return None
        if self.first[common:] == "0" * rest and self.last[common:] == "9" * rest:
            return "+" + self.first[:common]
        return None

    def contains(self, msisdn: Msisdn | str) -> bool:
        digits = msisdn.digits if isinstance(msisdn, Msisdn) else _digits(msisdn)
        return len(digits) == len(self.first) and self.first <= digits <= self.last

    __contains__ = contains

    def overlaps(self, other: NumberBlock) -> bool:
        return (
            len(self.first) == len(other.first)
            and self.first <= other.last
            and other.first <= self.last
        )

    def __iter__(self) -> Iterator[Msisdn]:
        width = len(self.first)
        for value in range(int(self.first), int(self.last) + 1):
            yield Msisdn("+" + str(value).zfill(width))

    def __str__(self) -> str:
        return self.prefix or f"+{self.first}..+{self.last}"


def _country_code_of(digits: str) -> int:
    for length in (1, 2, 3):
        code = int(digits[:length])
        if phonenumbers.region_code_for_country_code(code) != "ZZ":
            return code
    raise NumberError(NumberErrorCode.BLOCK, "the prefix does not start with a country code")
