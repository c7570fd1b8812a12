"""Find and mask identity and phone numbers inside text, however they are spelled.

Staff type what they type: "customer 139.0000.0266 says ID 1101 0519 4912 3100 2X is not
hers", with full-width digits from a Chinese keyboard, no-break or zero-width spaces pasted
from a chat, or the number glued to a word. One normaliser (`normalise`) undoes all of that
before the patterns run; the redactor, `realname check` and the correlator filter all use it.

This is defence in depth, not the guarantee: names cannot be caught by any pattern, so free
text is sealed in the vault before it reaches an append-only record (security/audit.py).
"""

from __future__ import annotations

import re
import unicodedata

from realname.identity.names import mask_document_number
from realname.identity.resident_id import LATEST_TABLE_DATE, resident_id_error
from realname.numbering.msisdn import mask_msisdn

# Invisible characters people paste without knowing: zero-width space/joiners, word joiner,
# BOM, soft hyphen, Mongolian vowel separator.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)
# Separators between digit groups: spaces (NFKC has made no-break and ideographic spaces
# plain), hyphens and dashes of every kind, dots, middle dots, slashes, underscores, brackets.
_SEPARATORS = r"[\s\-\u2010-\u2015\u2212.\u00b7\u30fb/_()\[\]]{1,3}"
_BETWEEN_DIGITS = re.compile(rf"(?<=\d){_SEPARATORS}(?=[\d(\[])")
_OPENING = re.compile(r"[(\[](?=\d)")
_ANY_DIGIT = re.compile(r"\d")
_RUN_OF_ELEVEN = re.compile(r"\d{11}")

# After normalising: digit runs bounded by non-digits only (letters may touch them).
_ID18 = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_ID15 = re.compile(r"(?<!\d)\d{15}(?!\d)")
_PHONE = re.compile(r"(?<!\d)(?:\+?0{0,2}86)?1[3-9]\d{9}(?!\d)")


def normalise(text: str) -> str:
    """Digits in ASCII, invisible characters gone, separators inside a digit group removed:
    `１３９ 0000\u00a00266`, `(139) 0000-0266` and `139.0000.0266` all become `13900000266`."""
    if not _ANY_DIGIT.search(text):
        return text
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    text = _OPENING.sub("", text)
    return _BETWEEN_DIGITS.sub("", text)


def _might_hold(text: str) -> bool:
    """The cheap pre-filter: fewer than 11 digits in all cannot be an ID or a phone number."""
    return len(_ANY_DIGIT.findall(text)) >= 11


def _ids(text: str) -> list[re.Match[str]]:
    found = [
        m for m in _ID18.finditer(text) if resident_id_error(m.group(), LATEST_TABLE_DATE) is None
    ]
    found += [
        m for m in _ID15.finditer(text) if resident_id_error(m.group(), LATEST_TABLE_DATE) is None
    ]
    return found


def contains_pii(text: str) -> bool:
    """Whether `text` holds a resident ID (18- or 15-digit, valid) or a Chinese mobile number
    in any spelling the normaliser undoes."""
    if not _might_hold(text):
        return False  # nearly every text
    compact = normalise(text)
    if not _RUN_OF_ELEVEN.search(compact):
        return False
    return bool(_PHONE.search(compact)) or bool(_ids(compact))


_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def identifier_holds_pii(value: str) -> bool:
    """The strict test for identifiers a caller chooses (an `x-correlator`): every character
    that is not a letter or a digit is dropped first, so no punctuation (`tel:139:0000:0794`,
    `{139}{0000}{0794}`, `3206;2219;...`) can split a number past the test. Too strict for
    free text (lists of ids would read as numbers), right for a label that is refused."""
    if not _might_hold(value):
        return False
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value).translate(_INVISIBLE)
    compact = _NOT_ALPHANUMERIC.sub("", value)
    return bool(_PHONE.search(compact)) or bool(_ids(compact))


def redact_pii(text: str) -> str:
    """The text with every resident ID and mobile number masked. A text that holds one comes
    back normalised (digits ASCII, separators inside numbers gone); any other is unchanged."""
    if not contains_pii(text):
        return text
    compact = normalise(text)

    def mask_id(match: re.Match[str]) -> str:
        number = match.group()
        return (
            mask_document_number(number)
            if resident_id_error(number, LATEST_TABLE_DATE) is None
            else number
        )

    compact = _ID18.sub(mask_id, compact)
    compact = _ID15.sub(mask_id, compact)
    return _PHONE.sub(lambda m: mask_msisdn(_e164(m.group())), compact)


def _e164(found: str) -> str:
    digits = found.lstrip("+").lstrip("0")
    return "+" + (digits if digits.startswith("86") and len(digits) == 13 else "86" + digits)
