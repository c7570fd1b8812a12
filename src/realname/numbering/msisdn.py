"""MSISDN parsing on Google's libphonenumber metadata (the `phonenumbers` port).

Everything is stored and compared in E.164 (`+8613800138000`). The carrier reported is the one
the number *range* was allocated to; after number portability the serving operator can differ,
which is why lines record their enterprise explicitly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, carrier

from realname.numbering.errors import NumberError, NumberErrorCode

DEFAULT_REGION = "CN"
# Digits and the punctuation people write numbers with; no letters (extensions, vanity).
_DIALLABLE = re.compile(r"\+?[0-9 ()\-.\u00a0]{3,30}", re.ASCII)
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


@dataclass(frozen=True, slots=True, order=True)
class Msisdn:
    e164: str

    @property
    def country_code(self) -> int:
        return int(phonenumbers.parse(self.e164).country_code or 0)

    @property
    def national_number(self) -> str:
        return str(phonenumbers.parse(self.e164).national_number)

    @property
    def digits(self) -> str:
        """E.164 without the plus: what number blocks compare."""
        return self.e164[1:]

    def __str__(self) -> str:
        return self.e164


def parse_msisdn(
    raw: str, default_region: str = DEFAULT_REGION, *, mobile_only: bool = True
) -> Msisdn:
    """`13800138000`, `+86 138 0013 8000`, `8613800138000`, `008613800138000` -> +8613800138000."""
    text = raw.strip()
    if not text:
        raise NumberError(NumberErrorCode.EMPTY)
    if not _DIALLABLE.fullmatch(text):
        raise NumberError(NumberErrorCode.FORMAT)  # letters, extensions, other scripts
    try:
        number = phonenumbers.parse(text, default_region.upper())
    except phonenumbers.NumberParseException:
        raise NumberError(NumberErrorCode.FORMAT) from None
    if not phonenumbers.is_valid_number(number):
        raise NumberError(NumberErrorCode.INVALID)
    if mobile_only and phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise NumberError(NumberErrorCode.NOT_MOBILE)
    return Msisdn(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def carrier_of(msisdn: Msisdn | str, language: str = "en") -> str | None:
    """The operator the number's range was allocated to (`China Mobile` / `中国移动`)."""
    e164 = msisdn.e164 if isinstance(msisdn, Msisdn) else parse_msisdn(msisdn).e164
    lang = "zh" if language.lower().startswith("zh") else "en"
    name = carrier.name_for_number(phonenumbers.parse(e164), lang)
    return name or None


def mask_msisdn(e164: str) -> str:
    """+8613800138000 -> +86138****8000: enough to recognise, not enough to call."""
    text = str(e164)
    if len(text) < 8:
        return "*" * len(text)
    return text[:-8] + "****" + text[-4:]
