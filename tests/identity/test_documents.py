from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from realname.identity import DocumentError, DocumentErrorCode, DocumentType, Sex, parse_document
from realname.identity.documents import detect_type, normalize_nationality
from realname.identity.resident_id import check_character
from realname.sim.documents import random_residence_permit, random_uscc

# The day the tests validate on: fixed, so verdicts do not depend on the machine's date.
TODAY = date(2026, 11, 23)

E = DocumentErrorCode
T = DocumentType


def with_check(body17: str) -> str:
    return body17 + check_character(body17)


def refused(raw: str, doc_type: DocumentType | None = None, **kwargs: object) -> DocumentErrorCode:
    with pytest.raises(DocumentError) as raised:
        parse_document(raw, doc_type, **{"today": TODAY, **kwargs})  # type: ignore[arg-type]
    return raised.value.code


# --- detection


def test_detects_resident_ids_and_residence_permits() -> None:
    assert detect_type("11010519491231002X") is T.RESIDENT_ID
    assert detect_type("110105491231002") is T.RESIDENT_ID
    assert detect_type(with_check("81000019900101001")) is T.RESIDENCE_PERMIT
    assert detect_type("H12345678") is None
    assert refused("H12345678") == E.TYPE


def test_a_resident_id_shape_is_read_as_one_even_when_wrong() -> None:
    """17 digits and a wrong check letter, or a first digit no region has: the resident ID's
    own error, not "type not recognised"."""
    assert detect_type("11010519491231002Y") is T.RESIDENT_ID
    assert refused("11010519491231002Y") == E.FORMAT
    assert detect_type("990101199001010115") is T.RESIDENT_ID
    assert refused("990101199001010115") == E.REGION
    # 9 + a province code is also the 2023 permanent-residence card: only a type tells.
    assert detect_type(with_check("91115619900101001")) is None
    assert detect_type("91110000600012345K") is None  # ... and a unified credit code


def test_unknown_type_name_is_a_type_error() -> None:
    assert refused("11010519491231002X", "driving_licence") == E.TYPE  # type: ignore[arg-type]


# --- residence permits


@pytest.mark.parametrize(
    ("region", "place"), [("810000", "香港"), ("820000", "澳门"), ("830000", "台湾")]
)
def test_residence_permits_decode(region: str, place: str) -> None:
    parsed = parse_document(with_check(f"{region}19900101002"), today=TODAY)
    assert parsed.type is T.RESIDENCE_PERMIT
    assert parsed.birth_date == date(1990, 1, 1) and parsed.sex is Sex.FEMALE
    assert parsed.region_name is not None and place in parsed.region_name


def test_residence_permit_type_needs_a_permit_region() -> None:
    assert refused("11010519491231002X", T.RESIDENCE_PERMIT) == E.REGION
    assert refused(with_check("81000019900101002"), T.RESIDENT_ID) == E.REGION


def test_generated_permits_are_valid() -> None:
    rng = random.Random(1)
    for _ in range(200):
        assert (
            parse_document(random_residence_permit(rng, TODAY), today=TODAY).type
            is T.RESIDENCE_PERMIT
        )


# --- Home-Return and Taiwan permits


@pytest.mark.parametrize("number", ["H12345678", "M87654321", "h1234567801", " H 1234 5678 "])
def test_home_return_permit_valid(number: str) -> None:
    assert parse_document(number, T.HOME_RETURN_PERMIT, today=TODAY).number.startswith(("H", "M"))


@pytest.mark.parametrize(
    ("number", "code"),
    [("H1234567", E.LENGTH), ("X12345678", E.FORMAT), ("H1234567A", E.FORMAT), ("", E.EMPTY)],
)
def test_home_return_permit_refused(number: str, code: DocumentErrorCode) -> None:
    assert refused(number, T.HOME_RETURN_PERMIT) == code


@pytest.mark.parametrize("number", ["12345678", "1234567890", "1234567890(B)"])
def test_taiwan_permit_valid(number: str) -> None:
    assert parse_document(number, T.TAIWAN_PERMIT, today=TODAY).type is T.TAIWAN_PERMIT


@pytest.mark.parametrize(("number", "code"), [("1234567", E.LENGTH), ("1234567A", E.FORMAT)])
def test_taiwan_permit_refused(number: str, code: DocumentErrorCode) -> None:
    assert refused(number, T.TAIWAN_PERMIT) == code


# --- passports and nationality


@pytest.mark.parametrize(
    ("nationality", "alpha3"),
    [("US", "USA"), ("usa", "USA"), ("840", "USA"), ("D", "DEU"), ("GBR", "GBR"), ("KOR", "KOR")],
)
def test_passport_nationality_is_iso_3166_alpha3(nationality: str, alpha3: str) -> None:
    parsed = parse_document("c01x00t47", T.PASSPORT, nationality=nationality, today=TODAY)
    assert parsed.number == "C01X00T47"
    assert parsed.nationality == alpha3


@pytest.mark.parametrize(
    ("number", "nationality", "code"),
    [
        ("C01X00T47", None, E.NATIONALITY),
        ("C01X00T47", "ZZ", E.NATIONALITY),
        ("C01X00T47", "Narnia", E.NATIONALITY),
        ("C01", "USA", E.LENGTH),
        ("C01X00T4$", "USA", E.FORMAT),
    ],
)
def test_passport_refused(number: str, nationality: str | None, code: DocumentErrorCode) -> None:
    assert refused(number, T.PASSPORT, nationality=nationality) == code


def test_passport_expiry() -> None:
    today = date(2026, 11, 23)
    ok = parse_document("E12345678", T.PASSPORT, nationality="CN", expires_on=today, today=today)
    assert ok.expires_on == today
    yesterday = today - timedelta(days=1)
    assert (
        refused("E12345678", T.PASSPORT, nationality="CN", expires_on=yesterday, today=today)
        == E.EXPIRED
    )


# --- foreigner's permanent residence ID


def test_permanent_residence_2023_form() -> None:
    number = with_check("93184019850615001")  # 9, issued in Shanghai (31), USA (840)
    parsed = parse_document(number, T.PERMANENT_RESIDENCE, today=TODAY)
    assert parsed.nationality == "USA"
    assert parsed.birth_date == date(1985, 6, 15) and parsed.sex is Sex.MALE
    assert parsed.region_code == "310000"


def test_permanent_residence_old_form() -> None:
    parsed = parse_document("USA310506150012", T.PERMANENT_RESIDENCE, today=TODAY)
    assert parsed.nationality == "USA"
    assert parsed.birth_date == date(2005, 6, 15)
    old = parse_document("usa318506150012", T.PERMANENT_RESIDENCE, today=TODAY)
    assert old.birth_date == date(1985, 6, 15)


@pytest.mark.parametrize(
    ("number", "code"),
    [
        (with_check("93184019850615001")[:-1] + "0", E.CHECKSUM),
        (with_check("13184019850615001"), E.FORMAT),  # the 2023 form starts with 9
        (with_check("99984019850615001"), E.REGION),
        (with_check("93199919850615001"), E.NATIONALITY),  # 999 is no ISO 3166 country
        (with_check("93184019851315001"), E.BIRTH_DATE),
        ("USA3105061500", E.LENGTH),
        ("US1310506150012", E.FORMAT),
        ("ZZZ310506150012", E.NATIONALITY),
        ("USA990506150012", E.REGION),
        ("USA311399150012", E.BIRTH_DATE),
    ],
)
def test_permanent_residence_refused(number: str, code: DocumentErrorCode) -> None:
    assert refused(number, T.PERMANENT_RESIDENCE) == code


def test_permanent_residence_nationality_must_agree_when_given() -> None:
    number = with_check("93184019850615001")
    assert (
        parse_document(number, T.PERMANENT_RESIDENCE, nationality="US", today=TODAY).nationality
        == "USA"
    )
    assert refused(number, T.PERMANENT_RESIDENCE, nationality="FR") == E.NATIONALITY


# --- organisations (unified social credit code)


def test_published_uscc_is_valid() -> None:
    # Example from python-stdnum's own tests (a real registration).
    parsed = parse_document("91110000600037341L", T.ORGANISATION, today=TODAY)
    assert parsed.region_code == "110000"


@given(st.integers(min_value=0, max_value=2**32))
def test_generated_uscc_agree_with_stdnum(seed: int) -> None:
    code = random_uscc(random.Random(seed), TODAY)
    assert parse_document(code, T.ORGANISATION, today=TODAY).number == code
    assert stdnum_uscc.is_valid(code)


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("91110000600037341", E.LENGTH),
        ("91110000600037341I", E.FORMAT),  # I is never used
        ("9111000060003734IL", E.FORMAT),
        ("91110000600037341M", E.CHECKSUM),
    ],
)
def test_uscc_refused(number: str, code: DocumentErrorCode) -> None:
    assert refused(number, T.ORGANISATION) == code


def test_uscc_organisation_code_check_is_enforced() -> None:
    from realname.identity.documents import uscc_check_character

    body = "9111000060003734" + "0"  # organisation code check should be 1, not 0
    assert refused(body + uscc_check_character(body), T.ORGANISATION) == E.CHECKSUM


def test_uscc_region_must_exist() -> None:
    from realname.identity.documents import organisation_code_check, uscc_check_character

    body = "91999999" + "60003734" + organisation_code_check("60003734")
    assert refused(body + uscc_check_character(body), T.ORGANISATION) == E.REGION


# --- military


@pytest.mark.parametrize("number", ["南字第1234567号", "士字第12345678号", " 海字第123456号 "])
def test_military_id_format(number: str) -> None:
    assert parse_document(number, T.MILITARY, today=TODAY).number == number.strip()


@pytest.mark.parametrize(
    ("number", "code"),
    [("南字1234567号", E.FORMAT), ("南字第12号", E.LENGTH), ("A字第1234567号", E.FORMAT)],
)
def test_military_id_refused(number: str, code: DocumentErrorCode) -> None:
    assert refused(number, T.MILITARY) == code


# --- every code has words for a clerk


@pytest.mark.parametrize("code", list(DocumentErrorCode))
def test_every_error_code_has_english_and_chinese_text(code: DocumentErrorCode) -> None:
    from realname.identity.errors import message_for

    assert message_for(code, "en") and message_for(code, "zh-CN")
    assert message_for(code, "en") != message_for(code, "zh")


def test_nationality_helper() -> None:
    assert normalize_nationality(" cn ") == "CHN"
    with pytest.raises(DocumentError):
        normalize_nationality("")


# --- robustness: nothing but DocumentError, never the number in the text ----------------


@pytest.mark.parametrize(
    ("number", "doc_type"),
    [
        ("9" + "፩" * 17, T.PERMANENT_RESIDENCE),  # Ethiopic digits: isdigit() but not ours
        ("H١٢٣٤٥٦٧٨", T.HOME_RETURN_PERMIT),  # Arabic-Indic digits
        ("١٢٣٤٥٦٧٨", T.TAIWAN_PERMIT),
        ("USA11٨٠٠١٠١1234", T.PERMANENT_RESIDENCE),
        ("911840١٩٨٠٠١٠١0013", T.PERMANENT_RESIDENCE),
        ("南字第١٢٣٤٥٦٧号", T.MILITARY),
        ("12(3456)78", T.TAIWAN_PERMIT),
    ],
)
def test_other_scripts_digits_and_stray_brackets_are_refused(
    number: str, doc_type: DocumentType
) -> None:
    with pytest.raises(DocumentError) as raised:
        parse_document(number, doc_type, today=TODAY)
    assert number not in str(raised.value)


def test_military_numbers_are_normalised_like_the_others() -> None:
    assert (
        parse_document("南字第１２３４５６７号", T.MILITARY, today=TODAY).number
        == "南字第1234567号"
    )


def test_nationality_is_ignored_for_documents_without_one() -> None:
    assert parse_document("11010519491231002X", nationality="ZZ", today=TODAY).nationality is None


@given(st.text(max_size=30), st.sampled_from(list(DocumentType)), st.sampled_from(["US", None]))
def test_any_input_gives_a_document_or_a_document_error(
    text: str, doc_type: DocumentType, nationality: str | None
) -> None:
    message = ""
    try:
        parsed = parse_document(text, doc_type, nationality=nationality, today=TODAY)
    except DocumentError as error:
        message = str(error)
    else:
        assert parsed.type in (doc_type, T.RESIDENCE_PERMIT, T.RESIDENT_ID)
    if len(text.strip()) >= 6:
        assert text.strip() not in message
