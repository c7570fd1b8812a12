"""Every identity document a registration may present, parsed into one shape.

Which documents a channel may accept is policy (`realname.policy`); this module only says
whether a number is well formed for its type and what it reveals (birth date, sex, region,
nationality). Genuineness is the identity authority's question, not ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from functools import cache

from realname.identity.errors import DocumentError, DocumentErrorCode
from realname.identity.regions import lookup_region, province_prefixes
from realname.identity.resident_id import (
    RESIDENCE_PERMIT_REGIONS,
    Sex,
    check_character,
    normalize_document_number,
    parse_resident_id,
)

_E = DocumentErrorCode


class DocumentType(StrEnum):
    RESIDENT_ID = "resident_id"  # 居民身份证 (18-digit; 15-digit upgraded)
    RESIDENCE_PERMIT = "residence_permit"  # 港澳台居民居住证 (810000/820000/830000)
    HOME_RETURN_PERMIT = "home_return_permit"  # 港澳居民来往内地通行证
    TAIWAN_PERMIT = "taiwan_permit"  # 台湾居民来往大陆通行证 (台胞证)
    PASSPORT = "passport"  # foreign passport, with ISO 3166 nationality
    PERMANENT_RESIDENCE = "permanent_residence"  # 外国人永久居留身份证
    ORGANISATION = "organisation"  # 统一社会信用代码 (GB 32100)
    MILITARY = "military"  # 军官证 / 士兵证 / 警官证 (format only)

    @property
    def label_zh(self) -> str:
        return _LABELS_ZH[self]


_LABELS_ZH = {
    DocumentType.RESIDENT_ID: "居民身份证",
    DocumentType.RESIDENCE_PERMIT: "港澳台居民居住证",
    DocumentType.HOME_RETURN_PERMIT: "港澳居民来往内地通行证",
    DocumentType.TAIWAN_PERMIT: "台湾居民来往大陆通行证",
    DocumentType.PASSPORT: "外国护照",
    DocumentType.PERMANENT_RESIDENCE: "外国人永久居留身份证",
    DocumentType.ORGANISATION: "统一社会信用代码",
    DocumentType.MILITARY: "军人身份证件",
}


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    type: DocumentType
    number: str  # normalised: what we store, index and compare
    birth_date: date | None = None
    sex: Sex | None = None
    region_code: str | None = None
    nationality: str | None = None  # ISO 3166-1 alpha-3
    expires_on: date | None = None

    @property
    def region_name(self) -> str | None:
        if self.region_code is None:
            return None
        region = lookup_region(self.region_code)
        return region.name if region else None


# --- nationality -------------------------------------------------------------------------

# ICAO 9303 codes that are not ISO 3166-1 alpha-3 but appear on real passports.
_ICAO_EXTRA = {"D": "DEU", "GBD": "GBR", "GBN": "GBR", "GBO": "GBR", "GBS": "GBR", "RKS": "XKX"}


@cache
def _countries() -> tuple[dict[str, str], dict[str, str]]:
    """(alpha-2 or alpha-3 -> alpha-3, numeric -> alpha-3) from pycountry's ISO 3166-1 data."""
    import pycountry  # imported here: its JSON load costs ~50 ms and most calls never need it

    by_code: dict[str, str] = dict(_ICAO_EXTRA)
    by_numeric: dict[str, str] = {}
    for country in pycountry.countries:
        by_code[country.alpha_2] = country.alpha_3
        by_code[country.alpha_3] = country.alpha_3
        by_numeric[country.numeric] = country.alpha_3
    by_code["XKX"] = "XKX"  # Kosovo: user-assigned, used by most issuers
    return by_code, by_numeric


def normalize_nationality(raw: str | None) -> str:
    """ISO 3166-1 alpha-3 for an alpha-2, alpha-3, numeric or ICAO code; DocumentError if none."""
    code = (raw or "").strip().upper()
    by_code, by_numeric = _countries()
    found = by_numeric.get(code.zfill(3)) if code.isdigit() else by_code.get(code)
    if found is None:
        raise DocumentError(_E.NATIONALITY)
    return found


# --- per-type parsers --------------------------------------------------------------------


def _parse_resident(number: str, today: date) -> ParsedDocument:
    rid = parse_resident_id(number, today)
    kind = DocumentType.RESIDENCE_PERMIT if rid.is_residence_permit else DocumentType.RESIDENT_ID
    return ParsedDocument(kind, rid.number, rid.birth_date, rid.sex, rid.region_code)


def _parse_residence_permit(number: str, today: date) -> ParsedDocument:
    parsed = _parse_resident(number, today)
    if parsed.region_code not in RESIDENCE_PERMIT_REGIONS:
        raise DocumentError(_E.REGION, "a residence permit starts 810000, 820000 or 830000")
    return parsed


def _parse_resident_only(number: str, today: date) -> ParsedDocument:
    parsed = _parse_resident(number, today)
    if parsed.type is not DocumentType.RESIDENT_ID:
        raise DocumentError(_E.REGION, "810000/820000/830000 numbers are residence permits")
    return parsed


# Patterns use [0-9], not \d: \d also matches Arabic-Indic and other script digits.
_HOME_RETURN = re.compile(r"[HM][0-9]{8}(?:[0-9]{2})?")  # H/M + 8 digits (2013) or + 10 (booklet)
# 8 digits (2015 card); 10 digits with an optional issue letter, written "(B)" or "B".
_TAIWAN = re.compile(r"([0-9]{8})|([0-9]{10})(?:\(([A-Z])\)|([A-Z]))?")


def _parse_home_return(number: str, today: date) -> ParsedDocument:
    if len(number) not in (9, 11):
        raise DocumentError(_E.LENGTH, "H or M followed by 8 digits (older booklets: 10)")
    if not _HOME_RETURN.fullmatch(number):
        raise DocumentError(_E.FORMAT, "H (Hong Kong) or M (Macao) followed by digits")
    return ParsedDocument(DocumentType.HOME_RETURN_PERMIT, number)


def _parse_taiwan(number: str, today: date) -> ParsedDocument:
    match = _TAIWAN.fullmatch(number)
    if match is None:
        if len(number) not in (8, 10, 11, 13):
            raise DocumentError(_E.LENGTH, "8 digits (older permits: 10 digits)")
        raise DocumentError(_E.FORMAT, "digits only, older permits may end in one letter")
    eight, ten, letter_in_brackets, letter = match.groups()
    return ParsedDocument(
        DocumentType.TAIWAN_PERMIT, eight or ten + (letter_in_brackets or letter or "")
    )


_PASSPORT = re.compile(r"[A-Z0-9]{5,20}")


def _parse_passport(number: str, today: date, nationality: str | None) -> ParsedDocument:
    number = number.replace("<", "")
    if not 5 <= len(number) <= 20:
        raise DocumentError(_E.LENGTH, "a passport number has 5 to 20 letters and digits")
    if not _PASSPORT.fullmatch(number):
        raise DocumentError(_E.FORMAT, "a passport number has only letters and digits")
    return ParsedDocument(
        DocumentType.PASSPORT, number, nationality=normalize_nationality(nationality)
    )


_PR_OLD = re.compile(r"([A-Z]{3})([0-9]{2})([0-9]{6})([0-9]{4})")


def _parse_permanent_residence(number: str, today: date, nationality: str | None) -> ParsedDocument:
    """2004/2017 cards: 3-letter nationality + 12 digits; 2023 card: 18 digits starting 9.

    The 2023 number mirrors the resident ID (9, province of issue, ISO 3166 numeric
    nationality, birth date, sequence, MOD 11-2 check character).
    """
    if len(number) == 15:
        match = _PR_OLD.fullmatch(number)
        if match is None:
            raise DocumentError(_E.FORMAT, "3 letters of nationality followed by 12 digits")
        country, province, yymmdd, _serial = match.groups()
        if province not in province_prefixes():
            raise DocumentError(_E.REGION)
        born = _two_digit_year_date(yymmdd, today)
        return ParsedDocument(
            DocumentType.PERMANENT_RESIDENCE,
            number,
            birth_date=born,
            region_code=province + "0000",
            nationality=normalize_nationality(country),
        )
    if len(number) != 18:
        raise DocumentError(_E.LENGTH, "18 digits (cards before 2023: 15 characters)")
    if not number[:17].isdigit() or number[0] != "9":
        raise DocumentError(_E.FORMAT, "the 2023 card number is 17 digits starting 9 + check")
    if number[17] != check_character(number[:17]):
        raise DocumentError(_E.CHECKSUM)
    province, numeric = number[1:3], number[3:6]
    if province not in province_prefixes():
        raise DocumentError(_E.REGION)
    born = _full_date(number[6:14], today)
    return ParsedDocument(
        DocumentType.PERMANENT_RESIDENCE,
        number,
        birth_date=born,
        sex=Sex.MALE if int(number[16]) % 2 else Sex.FEMALE,
        region_code=province + "0000",
        nationality=normalize_nationality(numeric),
    )


def _full_date(yyyymmdd: str, today: date) -> date:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        raise DocumentError(_E.BIRTH_DATE) from None
    if born > today or born.year < 1850:
        raise DocumentError(_E.BIRTH_DATE)
    return born


def _two_digit_year_date(yymmdd: str, today: date) -> date:
    """The most recent century that gives a real date not in the future."""
    for century in (2000, 1900):
        try:
            born = date(century + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))
        except ValueError:
            continue
        if born <= today:
            return born
    raise DocumentError(_E.BIRTH_DATE)


# GB 32100-2015: 18 characters from a 31-symbol alphabet (no I, O, Z, S, V).
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
# GB 11714 organisation code (positions 9-17): 8 body characters and a MOD 11 check.
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
_ORG_VALUE = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_USCC_NATIONAL_REGION = "100000"  # registered by a national authority


def uscc_check_character(body17: str) -> str:
    total = sum(_USCC_VALUE[c] * w for c, w in zip(body17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def organisation_code_check(body8: str) -> str:
    remainder = 11 - sum(_ORG_VALUE[c] * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def _parse_organisation(number: str, today: date) -> ParsedDocument:
    if len(number) != 18:
        raise DocumentError(_E.LENGTH, "a unified social credit code has 18 characters")
    if any(c not in _USCC_VALUE for c in number) or not number[2:8].isdigit():
        raise DocumentError(_E.FORMAT, "letters I, O, Z, S and V are never used")
    if number[17] != uscc_check_character(number[:17]):
        raise DocumentError(_E.CHECKSUM)
    organisation = number[8:17]
    if organisation[8] != organisation_code_check(organisation[:8]):
        raise DocumentError(_E.CHECKSUM, "the organisation code (characters 9-17) does not check")
    if number[2:8] != _USCC_NATIONAL_REGION and lookup_region(number[2:8]) is None:
        raise DocumentError(_E.REGION)
    return ParsedDocument(DocumentType.ORGANISATION, number, region_code=number[2:8])


# 南字第1234567号, 士字第..., 武字第...: one or two characters of issuing branch, 字第, digits, 号.
_MILITARY = re.compile(r"[\u4e00-\u9fff]{1,4}字第[0-9]{6,10}号")


def _parse_military(number: str, today: date) -> ParsedDocument:
    if not 9 <= len(number) <= 16:
        raise DocumentError(_E.LENGTH, "e.g. 南字第1234567号")
    if not _MILITARY.fullmatch(number):
        raise DocumentError(_E.FORMAT, "branch, 字第, the digits, 号 — e.g. 南字第1234567号")
    return ParsedDocument(DocumentType.MILITARY, number)


# --- entry points ------------------------------------------------------------------------


def detect_type(raw: str) -> DocumentType | None:
    """Only the forms a number alone identifies: the 18/15-digit PRC numbers and permits.

    What has a resident ID's shape is read as one, so a mistyped number gets the resident
    ID's own error (`region`, `format`, `length`, `checksum`) rather than "type not
    recognised": 17 digits and a wrong check letter (`…002Y`), or a first digit no region
    has (`99…`). A 9 followed by a province code stays undecided: that is also the 2023
    permanent-residence card (and a credit code), which only the caller's type can tell."""
    number = normalize_document_number(raw)
    if not number.isascii():
        return None
    if len(number) == 18 and number[:17].isdigit() and number[17].isalnum():
        if number.startswith("9") and number[1:3] in province_prefixes():
            return None
        if number[:6] in RESIDENCE_PERMIT_REGIONS:
            return DocumentType.RESIDENCE_PERMIT
        return DocumentType.RESIDENT_ID
    digits = number.removesuffix("X")
    if not digits.isdigit() or number.startswith("9"):
        return None
    if number[:6] in RESIDENCE_PERMIT_REGIONS:
        return DocumentType.RESIDENCE_PERMIT
    # A run of digits of about the right length is a resident ID typed with a digit too many
    # or too few: say so ("length") rather than "unknown type".
    return DocumentType.RESIDENT_ID if 12 <= len(number) <= 21 else None


def parse_document(
    raw: str,
    doc_type: DocumentType | str | None = None,
    *,
    nationality: str | None = None,
    expires_on: date | None = None,
    today: date,
) -> ParsedDocument:
    """Validate `raw` as `doc_type` (detected when None) and decode it.

    Raises DocumentError with a stable code. `expires_on`, when the document shows one, is
    checked against `today`; the number itself never carries an expiry.
    """
    number = normalize_document_number(raw)
    if not number:
        raise DocumentError(_E.EMPTY)
    if not number.isascii() and doc_type != DocumentType.MILITARY:
        # NFKC folds full-width forms; anything still outside ASCII (other scripts' digits,
        # symbols) is not part of any document number we accept.
        raise DocumentError(_E.FORMAT)
    if doc_type is None:
        doc_type = detect_type(number)
        if doc_type is None:
            raise DocumentError(_E.TYPE)
    try:
        kind = DocumentType(doc_type)
    except ValueError:
        raise DocumentError(_E.TYPE) from None
    match kind:
        case DocumentType.RESIDENT_ID:
            parsed = _parse_resident_only(number, today)
        case DocumentType.RESIDENCE_PERMIT:
            parsed = _parse_residence_permit(number, today)
        case DocumentType.HOME_RETURN_PERMIT:
            parsed = _parse_home_return(number, today)
        case DocumentType.TAIWAN_PERMIT:
            parsed = _parse_taiwan(number, today)
        case DocumentType.PASSPORT:
            parsed = _parse_passport(number, today, nationality)
        case DocumentType.PERMANENT_RESIDENCE:
            parsed = _parse_permanent_residence(number, today, nationality)
        case DocumentType.ORGANISATION:
            parsed = _parse_organisation(number, today)
        case DocumentType.MILITARY:
            parsed = _parse_military(number, today)
    if expires_on is not None:
        if expires_on < today:
            raise DocumentError(_E.EXPIRED)
        parsed = replace(parsed, expires_on=expires_on)
    # A nationality given for a document that carries its own must agree with it; for
    # documents without one (resident IDs, permits) it is not ours to judge.
    if (
        nationality is not None
        and parsed.nationality is not None
        and parsed.nationality != normalize_nationality(nationality)
    ):
        raise DocumentError(_E.NATIONALITY, "the nationality does not match the document")
    return parsed
