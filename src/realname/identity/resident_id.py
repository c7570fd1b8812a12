"""PRC citizen identity numbers (GB 11643-1999) and the residence permits that share the form.

This is the hottest validator in the system: every registration, every legacy import row and
every verification request goes through it, so the common case (18 ASCII digits) avoids
exceptions, regular expressions and date parsing. Birth dates and region codes are checked
against precomputed sets; the ISO 7064 MOD 11-2 check uses the identity
``sum(a_i * 2**(17-i)) ≡ 2 * int(body, 13) (mod 11)``, which runs in C.
"""

from __future__ import annotations

import calendar
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from realname.identity.errors import DocumentError, DocumentErrorCode
from realname.identity.regions import Region, lookup_region, region_table

_CHECK_CHARS = "0123456789X"
EARLIEST_BIRTH_YEAR = 1850
RESIDENCE_PERMIT_REGIONS = {
    "810000": "Hong Kong",
    "820000": "Macao",
    "830000": "Taiwan",
}
# Anything a clerk, a scanner or a spreadsheet puts between the characters of a number.
_SEPARATORS = str.maketrans("", "", " \t\r\n-_.·/\\\u00a0\u3000")

_E = DocumentErrorCode


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A validated 18-digit number and what it says about its holder."""

    number: str
    region_code: str
    birth_date: date
    sex: Sex
    upgraded_from_15: bool = False

    @property
    def region(self) -> Region | None:
        return lookup_region(self.region_code)

    @property
    def is_residence_permit(self) -> bool:
        """HK/Macao/Taiwan residents' residence permits use 810000/820000/830000."""
        return self.region_code in RESIDENCE_PERMIT_REGIONS


def check_character(body: str) -> str:
    """The 18th character for a 17-digit body (ISO 7064 MOD 11-2)."""
    return _CHECK_CHARS[(1 - 2 * int(body, 13)) % 11]


def upgrade_15_to_18(number15: str) -> str:
    """Legacy 15-digit numbers (1984-1999) omit the century and the check character."""
    body = number15[:6] + "19" + number15[6:]
    return body + check_character(body)


def normalize_document_number(raw: str) -> str:
    """Full-width forms folded to ASCII (NFKC), separators dropped, letters upper-cased."""
    return unicodedata.normalize("NFKC", raw).translate(_SEPARATORS).upper()


def stored_document_number(number: str) -> str:
    """As the registry stores it: NFKC, no separators, upper case, and a legacy 15-digit
    resident ID upgraded to its 18-character form (the same card, printed before 1999). What
    a number typed by a person is compared in (KYC Match, the national 一证通查 index)."""
    folded = "".join(c for c in normalize_document_number(number) if c.isalnum())
    return upgrade_15_to_18(folded) if len(folded) == 15 and folded.isdigit() else folded


# Lookup sets built on first use by _load_tables(): ~7,400 region codes and every calendar
# date from 1850 to LATEST_TABLE_DATE as YYYYMMDD. Module globals, not attributes, because the
# hot path reads them per call. The table does not depend on today: "not in the future" is a
# separate comparison against the caller's `today`, so a long-running process stays right.
LATEST_TABLE_DATE = date(2199, 12, 31)
_REGIONS: frozenset[str] = frozenset()
_DATES: frozenset[str] = frozenset()


def _load_tables() -> None:
    # Month by month, by concatenation: a strftime per day took 0.4 s, paid by every process's
    # first registration (py-spy: 13 % of a server worker's first 12 s under load); 0.08 s.
    global _REGIONS, _DATES
    days = [f"{day:02d}" for day in range(1, 32)]
    dates: list[str] = []
    for year in range(EARLIEST_BIRTH_YEAR, LATEST_TABLE_DATE.year + 1):
        for month in range(1, 13):
            prefix = f"{year:04d}{month:02d}"
            dates.extend([prefix + day for day in days[: calendar.monthrange(year, month)[1]]])
    _DATES = frozenset(dates)
    _REGIONS = frozenset(region_table())


_today_cache: tuple[date, str] = (date.min, "")


def date_key(today: date) -> str:
    """`today` as YYYYMMDD, the form birth dates are compared in (cached: callers pass the same
    day for millions of rows)."""
    global _today_cache
    cached_day, key = _today_cache
    if cached_day != today:
        key = f"{today.year:04d}{today.month:02d}{today.day:02d}"
        _today_cache = (today, key)
    return key


def _canonical(raw: str) -> str | DocumentErrorCode:
    """The 18-character form of `raw`, or why there is none (before any checksum test)."""
    number = normalize_document_number(raw)
    if not number.isascii():
        return _E.FORMAT
    length = len(number)
    if length == 18:
        return number
    if length == 15:
        return upgrade_15_to_18(number) if number.isdigit() else _E.FORMAT
    return _E.EMPTY if length == 0 else _E.LENGTH


def resident_id_error(raw: str, today: date) -> DocumentErrorCode | None:
    """Why `raw` is not a valid resident identity number, or None if it is. Never raises.

    `today` bounds the birth date: nobody registers before they are born."""
    if not _REGIONS:
        _load_tables()
    if len(raw) == 18 and raw.isdigit() and raw.isascii():
        number = raw
    else:
        canonical = _canonical(raw)
        if isinstance(canonical, DocumentErrorCode):
            return canonical
        number = canonical
    body = number[:17]
    if not body.isdigit():
        return _E.FORMAT
    last = number[17]
    if last != _CHECK_CHARS[(1 - 2 * int(body, 13)) % 11]:
        return _E.CHECKSUM if last in _CHECK_CHARS else _E.FORMAT
    born = body[6:14]
    if born not in _DATES or born > date_key(today):
        return _E.BIRTH_DATE
    if body[:6] not in _REGIONS:
        return _E.REGION
    return None


def validate_resident_ids(numbers: Sequence[str], today: date) -> list[DocumentErrorCode | None]:
    """Bulk form for imports: one result per input, in order, None where valid.

    Vectorised with NumPy (see `realname.identity.bulk`); verdicts equal `resident_id_error`.
    """
    from realname.identity.bulk import validate_column

    return validate_column(numbers, today)


def parse_resident_id(raw: str, today: date) -> ResidentId:
    """Validate and decode; raises DocumentError with a stable code."""
    error = resident_id_error(raw, today)
    if error is not None:
        raise DocumentError(error)
    canonical = _canonical(raw)
    assert isinstance(canonical, str)
    return ResidentId(
        number=canonical,
        region_code=canonical[:6],
        birth_date=date(int(canonical[6:10]), int(canonical[10:12]), int(canonical[12:14])),
        sex=Sex.MALE if int(canonical[16]) % 2 else Sex.FEMALE,
        upgraded_from_15=len(normalize_document_number(raw)) == 15,
    )
