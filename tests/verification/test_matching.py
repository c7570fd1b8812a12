"""KYC Match rules, pure: what matches, what gets a score, and what never does."""

from __future__ import annotations

from datetime import date

import pytest

from realname.verification.matching import (
    SubjectRecord,
    compare_name,
    fold_latin,
    match_attributes,
    pinyin_spellings,
    split_han_name,
)
from realname.verification.service import ClientRateLimiter

RECORD = SubjectRecord(
    document_type="resident_id",
    document_number="11010519491231002X",
    name="欧阳娜娜",
    birth_date=date(1949, 12, 31),
    sex="female",
    nationality="CN",
    address="北京市朝阳区建国路 1 号",
)


@pytest.mark.parametrize(
    "claimed",
    ["欧阳娜娜", " 欧阳娜娜 ", "Ouyang Nana", "OUYANG NANA", "ou-yang na'na", "Nana Ouyang"],
)
def test_names_match_on_characters_or_pinyin(claimed: str) -> None:
    assert compare_name(claimed, RECORD.name) == ("true", None)


def test_every_reading_of_a_surname_is_accepted() -> None:
    assert "shantianfang" in pinyin_spellings("单田芳")  # 单 reads Shan as a surname
    assert compare_name("Shan Tianfang", "单田芳")[0] == "true"


def test_minority_names_fold_their_middle_dots() -> None:
    assert compare_name("阿依古丽・买买提", "阿依古丽·买买提")[0] == "true"
    assert split_han_name("阿依古丽·买买提") == ("买买提", "阿依古丽")


def test_a_wrong_name_is_false_with_a_score_below_100() -> None:
    result, score = compare_name("欧阳娜", RECORD.name)
    assert result == "false" and score is not None and 0 <= score <= 99
    latin, latin_score = compare_name("Ouyang Nina", RECORD.name)
    assert latin == "false" and latin_score is not None and latin_score > 80


def test_only_sent_attributes_come_back_and_documents_and_dates_are_never_scored() -> None:
    answer = match_attributes(
        RECORD,
        {
            "idDocument": "11010519491231002Y",
            "birthdate": "1949-12-30",
            "familyName": "欧阳",
            "givenName": "娜",
            "gender": "FEMALE",
            "nationality": "cn",
            "email": "a@example.com",
        },
    )
    assert answer == {
        "idDocumentMatch": "false",
        "birthdateMatch": "false",
        "familyNameMatch": "true",
        "givenNameMatch": "false",
        "givenNameMatchScore": answer["givenNameMatchScore"],
        "genderMatch": "true",
        "nationalityMatch": "true",
        "emailMatch": "not_available",
    }
    assert "idDocumentMatchScore" not in answer and "birthdateMatchScore" not in answer


def test_document_numbers_compare_after_normalisation() -> None:
    assert match_attributes(RECORD, {"idDocument": "110105 19491231 002x"}) == {
        "idDocumentMatch": "true"
    }
    # The same card's legacy 15-digit number (no century, no check character).
    assert match_attributes(RECORD, {"idDocument": "110105491231002"}) == {
        "idDocumentMatch": "true"
    }
    assert match_attributes(RECORD, {"idDocumentType": "national_id_card"}) == {
        "idDocumentTypeMatch": "true"
    }


def test_fold_latin_drops_accents_and_punctuation() -> None:
    assert fold_latin("Lǚ Wěi") == fold_latin("Lü Wei") == "lvwei"
    assert all(compare_name(s, "吕伟")[0] == "true" for s in ("Lü Wei", "LYU WEI", "Lv Wei"))
    assert fold_latin("José-María O'Neil") == "josemariaoneil"


def test_client_rate_limiter_admits_up_to_the_limit_then_says_how_long_to_wait() -> None:
    from datetime import UTC, datetime

    limiter = ClientRateLimiter(per_minute=3)
    at = datetime(2026, 11, 23, 10, 0, 50, tzinfo=UTC)
    assert [limiter.admit("bank", at) for _ in range(3)] == [None, None, None]
    wait = limiter.admit("bank", at)
    assert wait is not None and 1 <= wait <= 11
    assert limiter.admit("other-bank", at) is None
    assert limiter.admit("bank", datetime(2026, 11, 23, 10, 1, 1, tzinfo=UTC)) is None
