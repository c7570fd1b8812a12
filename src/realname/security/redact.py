"""Find and mask identity and phone numbers inside free text (reasons, notes, complaints).

Staff type what they type: "customer 13800138000 says ID 110105… is not hers". The registry
masks such numbers before storing any free text, and `realname check` uses the same patterns
to prove nothing slipped through.
"""

from __future__ import annotations

import re

from realname.identity.names import mask_document_number
from realname.identity.resident_id import LATEST_TABLE_DATE, resident_id_error
from realname.numbering.msisdn import mask_msisdn

_DIGIT_RUN = re.compile(r"\d{11}")
# 18-character resident IDs (last may be X), with or without separators between groups.
_ID_LIKE = re.compile(r"(?<![\dA-Za-z])\d{6}[ -]?\d{8}[ -]?\d{3}[\dXx](?![\dA-Za-z])")
# Chinese mobile numbers, optionally with +86 / 86 / 0086, optionally grouped 3-4-4.
_PHONE_LIKE = re.compile(r"(?<!\d)(?:\+?86[ -]?|0086[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)")


def _compact(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


def contains_pii(text: str) -> bool:
    if not _DIGIT_RUN.search(_compact(text)):
        return False  # nearly every text: no run of 11 digits at all
    if _PHONE_LIKE.search(text):
        return True
    return any(
        resident_id_error(_compact(m.group()), LATEST_TABLE_DATE) is None
        for m in _ID_LIKE.finditer(text)
    )


def redact_pii(text: str) -> str:
    """The text with every resident ID and mobile number in it masked."""
    if not _DIGIT_RUN.search(_compact(text)):
        return text

    def mask_id(match: re.Match[str]) -> str:
        number = _compact(match.group())
        return (
            mask_document_number(number)
            if resident_id_error(number, LATEST_TABLE_DATE) is None
            else match.group()
        )

    text = _ID_LIKE.sub(mask_id, text)
    return _PHONE_LIKE.sub(lambda m: mask_msisdn(_e164(m.group())), text)


def _e164(found: str) -> str:
    digits = _compact(found).lstrip("+")
    if digits.startswith("0086"):
        digits = digits[2:]
    return "+" + (digits if digits.startswith("86") and len(digits) == 13 else "86" + digits)
