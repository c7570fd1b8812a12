"""KYC Match, pure: compare what a relying party claims about a subscriber with the record.

Answers follow CAMARA KYC Match 0.4: each attribute sent gets `"true"`, `"false"` or
`"not_available"`; a similarity score (0–99, Jaro–Winkler) accompanies a `"false"` only for
free-text attributes (names, address) and never for document numbers, dates, gender or
nationality, so a document number or a birth date cannot be found digit by digit.

Names are compared after the identity package's normalisation. A Chinese name is compared on
its characters; a Latin spelling (pinyin, a passport's Latin name) against the record's
pinyin when the record is in Han characters, every reading of the surname accepted
(单 is Shan as a surname), case, accents, spaces, hyphens and middle dots ignored.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from itertools import product

from pypinyin import Style, lazy_pinyin, pinyin
from rapidfuzz.distance import JaroWinkler

from realname.identity.names import is_han, normalize_name
from realname.identity.resident_id import stored_document_number


class Match(StrEnum):
    TRUE = "true"
    FALSE = "false"
    NOT_AVAILABLE = "not_available"


# Two-character Han surnames, so a record's full name splits into family and given names.
_COMPOUND_SURNAMES_TEXT = """
欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离
独孤 南宫 西门 端木 百里 呼延 万俟 闻人 申屠 公羊 赫连 澹台 太史 拓跋 第五 东郭
司空 濮阳 淳于 单于 仲孙 鲜于 闾丘 亓官 司寇 子车 颛孙 壤驷 公良 漆雕 乐正 宰父
谷梁 段干 南门 羊舌 微生 梁丘 左丘 东门 公西
"""
COMPOUND_SURNAMES = frozenset(_COMPOUND_SURNAMES_TEXT.split())

# Our document types in CAMARA's idDocumentType vocabulary.
CAMARA_DOCUMENT_TYPES = {
    "resident_id": "national_id_card",
    "residence_permit": "residence_permit",
    "permanent_residence": "residence_permit",
    "passport": "passport",
    "home_return_permit": "other",
    "taiwan_permit": "other",
    "military": "other",
    "organisation": "other",
}


@dataclass(frozen=True)
class SubjectRecord:
    """What the registry knows of the line's owner, in clear, for the time of one answer."""

    document_type: str
    document_number: str
    name: str
    birth_date: date | None
    sex: str | None  # male | female
    nationality: str | None  # ISO 3166-1 alpha-2
    address: str | None


def fold_latin(text: str) -> str:
    """Lower case, no accents, no spaces, hyphens, apostrophes or dots: `Lǚ Wěi` -> `lvwei`."""
    text = unicodedata.normalize("NFKD", normalize_name(text)).replace("u\u0308", "v")
    text = text.replace("U\u0308", "V")
    kept = (c for c in text if not unicodedata.combining(c) and c.isalnum())
    return "".join(kept).casefold()


@lru_cache(maxsize=4096)
def pinyin_spellings(han_name: str) -> frozenset[str]:
    """Every folded pinyin spelling of a Han name: the surname's readings times the rest."""
    name = normalize_name(han_name).replace("·", "")
    if not name:
        return frozenset()
    split = 2 if name[:2] in COMPOUND_SURNAMES else 1
    surname_readings = [
        "".join(r) for r in product(*pinyin(name[:split], style=Style.NORMAL, heteronym=True))
    ]
    rest = "".join(lazy_pinyin(name[split:], style=Style.NORMAL))
    spellings = set()
    for surname in surname_readings:
        for whole in (surname + rest, rest + surname):  # given name first on many passports
            folded = fold_latin(whole)
            # ü is written v in input methods, yu on passports (吕 LYU) and u in plain text.
            spellings.update({folded, folded.replace("v", "yu"), folded.replace("v", "u")})
    return frozenset(spellings)


def split_han_name(name: str) -> tuple[str, str]:
    """(family, given) of a Han name; minority names with a middle dot keep their order."""
    name = normalize_name(name)
    if "·" in name:
        given, _, family = name.rpartition("·")
        return family, given
    split = 2 if name[:2] in COMPOUND_SURNAMES else 1
    return name[:split], name[split:]


def _score(claimed: str, recorded: str) -> int:
    """Jaro–Winkler similarity as 0–99: a perfect match is `"true"`, never a score of 100."""
    return min(99, round(JaroWinkler.similarity(claimed, recorded) * 100))


def compare_name(claimed: str, recorded: str | None) -> tuple[Match, int | None]:
    if not recorded or not claimed.strip():
        return Match.NOT_AVAILABLE, None
    claimed_n, recorded_n = normalize_name(claimed), normalize_name(recorded)
    if is_han(recorded_n) and is_han(claimed_n):
        a, b = claimed_n.replace("·", ""), recorded_n.replace("·", "")
        return (Match.TRUE, None) if a == b else (Match.FALSE, _score(a, b))
    folded = fold_latin(claimed_n)
    candidates = pinyin_spellings(recorded_n) if is_han(recorded_n) else {fold_latin(recorded_n)}
    if folded in candidates:
        return Match.TRUE, None
    return Match.FALSE, max((_score(folded, c) for c in candidates), default=0)


def compare_exact(claimed: str, recorded: str | None) -> Match:
    """Document numbers, codes, dates: equal or not, and no score."""
    if recorded is None:
        return Match.NOT_AVAILABLE
    return Match.TRUE if claimed == recorded else Match.FALSE


# Attributes with a score when false (free text); all others are exact and never scored.
SCORED = frozenset(
    {"name", "givenName", "familyName", "middleNames", "familyNameAtBirth", "address"}
)


def match_attributes(record: SubjectRecord, claims: Mapping[str, object]) -> dict[str, object]:
    """The KYC Match answer for the attributes sent (phoneNumber excluded by the caller)."""
    answer: dict[str, object] = {}
    han = is_han(normalize_name(record.name))
    family, given = split_han_name(record.name) if han else (None, None)
    for field, value in claims.items():
        if value is None:
            continue
        text = str(value)
        score: int | None = None
        if field == "idDocument":
            result = compare_exact(
                stored_document_number(text), stored_document_number(record.document_number)
            )
        elif field == "idDocumentType":
            result = compare_exact(text, CAMARA_DOCUMENT_TYPES.get(record.document_type))
        elif field == "name":
            result, score = compare_name(text, record.name)
        elif field == "familyName":
            result, score = compare_name(text, family)
        elif field == "givenName":
            result, score = compare_name(text, given)
        elif field == "birthdate":
            result = compare_exact(
                text, record.birth_date.isoformat() if record.birth_date else None
            )
        elif field == "gender":
            result = compare_exact(text, record.sex.upper() if record.sex else None)
        elif field == "nationality":
            result = compare_exact(text.upper(), record.nationality)
        elif field == "address":
            if record.address is None:
                result = Match.NOT_AVAILABLE
            else:
                claimed, recorded = fold_latin(text), fold_latin(record.address)
                result = Match.TRUE if claimed == recorded else Match.FALSE
                score = None if result is Match.TRUE else _score(claimed, recorded)
        else:  # attributes the registry does not hold (email, postal code, kana, ...)
            result = Match.NOT_AVAILABLE
        answer[f"{field}Match"] = str(result)
        if result is Match.FALSE and score is not None and field in SCORED:
            answer[f"{field}MatchScore"] = score
    return answer
