"""The import's validator on its own: no file, no database. Each reject reason, the shape of
the good rows, and the date and Luhn arithmetic against the standard library and stdnum."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import phonenumbers
import pyarrow as pa
import pytest
from phonenumbers import PhoneNumberType
from stdnum import luhn

from realname.backfill.importing.types import LINE_COLUMNS, STAGE_COLUMNS, Chunk
from realname.backfill.importing.validate import (
    RejectReason,
    SeenKeys,
    Validator,
    date_parts,
    days_from_civil,
    luhn_valid,
)
from realname.numbering.errors import NumberError
from realname.numbering.msisdn import parse_msisdn
from realname.policy.loader import load_policy

AT = datetime(2026, 1, 1, tzinfo=UTC)
BLOCK = ("8613800100000", "8613800199999")
CHANNELS = {"HALL": 7, "ONLINE": 9}
R = RejectReason


def iccid(n: int) -> str:
    body = f"898600{n:013d}"
    return body + luhn.calc_check_digit(body)


def validator(
    jurisdiction: str = "CN",
    blocks: list[tuple[str, str]] | None = None,
    *,
    copy_csv: bool = False,
) -> Validator:
    return Validator(
        jurisdiction=jurisdiction,
        blocks=[BLOCK] if blocks is None else blocks,
        channels=CHANNELS,
        at=AT,
        enterprise_id=3,
        import_id=5,
        copy_csv=copy_csv,
    )


def chunk(rows: list[dict[str, str | None]], malformed: Any = None) -> Chunk:
    """Rows as the readers hand them over: every field a string (or null), lines from 2."""
    names = ("msisdn", "iccid", "imsi", "activated_at", "balance", "home_region", "channel_code")
    table = pa.table({name: pa.array([r.get(name) for r in rows], pa.string()) for name in names})
    lines = np.arange(2, len(rows) + 2, dtype=np.int64)
    return Chunk(table, lines, 0, malformed=malformed or [])


def row(msisdn: str = "13800100001", **fields: str | None) -> dict[str, str | None]:
    return {"msisdn": msisdn, "activated_at": "2015-03-04"} | fields


def reasons(rejects: Any) -> dict[int, str]:
    return dict(
        zip(rejects.column("line").to_pylist(), rejects.column("reason").to_pylist(), strict=True)
    )


def test_good_rows_come_out_ready_to_load() -> None:
    prepared = validator().prepare(
        chunk(
            [
                row(
                    "13800100001",
                    iccid=iccid(1),
                    imsi="460001234567801",
                    balance="12.50",
                    home_region="110105",
                    channel_code="HALL",
                ),
                row("+86 138 0010 0002", activated_at="2016-01-02T03:04:05+08:00"),
            ]
        )
    )
    assert (prepared.rows_read, prepared.rows_rejected, prepared.rejects.num_rows) == (2, 0, 0)
    assert prepared.good.column_names == list(STAGE_COLUMNS)
    first, second = prepared.good.to_pylist()
    assert first == {
        "line_no": 2,
        "msisdn": "+8613800100001",
        "iccid": iccid(1),
        "imsi": "460001234567801",
        "channel_id": 7,
        "activated_at": datetime(2015, 3, 4),
        "home_region": "110105",
        "prepaid_balance_minor": 1250,
    }
    assert second["msisdn"] == "+8613800100002"
    assert second["activated_at"] == datetime(2016, 1, 1, 19, 4, 5)  # naive UTC
    assert second["channel_id"] is None and second["prepaid_balance_minor"] is None
    assert prepared.copy_csv is None


def test_the_copy_payload_has_the_line_columns_in_order() -> None:
    prepared = validator(copy_csv=True).prepare(chunk([row(channel_code="ONLINE")]))
    fields = prepared.copy_csv.to_pybytes().decode().strip().split(",")
    assert len(fields) == len(LINE_COLUMNS)
    by_name = dict(zip(LINE_COLUMNS, fields, strict=True))
    assert by_name["msisdn"] == "+8613800100001"
    assert (by_name["enterprise_id"], by_name["legacy_import_id"]) == ("3", "5")
    assert (by_name["state"], by_name["channel_id"], by_name["event_count"]) == ("legacy", "9", "0")
    assert by_name["state_changed_at"] == "2026-01-01 00:00:00"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (row("1234567"), R.NUMBER_INVALID),
        (row(None), R.NUMBER_INVALID),
        (row("13900100001"), R.NUMBER_NOT_ALLOCATED),
        (row(iccid=iccid(1)[:-1] + str((int(iccid(1)[-1]) + 1) % 10)), R.ICCID_INVALID),
        (row(iccid="12345"), R.ICCID_INVALID),
        (row(imsi="46000123"), R.IMSI_INVALID),
        (row(activated_at="2019-02-30"), R.ACTIVATED_AT_INVALID),
        (row(activated_at="2026-01-02"), R.ACTIVATED_AT_INVALID),  # after the import
        (row(activated_at=None), R.ACTIVATED_AT_INVALID),
        (row(balance="-5.00"), R.BALANCE_INVALID),
        (row(balance="1.234"), R.BALANCE_INVALID),
        (row(home_region="999999"), R.HOME_REGION_INVALID),
        (row(home_region="11010"), R.HOME_REGION_INVALID),
        (row(channel_code="NO-SUCH"), R.CHANNEL_UNKNOWN),
    ],
)
def test_each_bad_field_has_its_reason(fields: dict[str, str | None], reason: R) -> None:
    prepared = validator().prepare(chunk([row("13800100009"), fields]))
    assert reasons(prepared.rejects) == {3: str(reason)}
    assert prepared.rejected_by_reason == {str(reason): 1}
    assert prepared.good.column("line_no").to_pylist() == [2]
    message = prepared.rejects.column("message")[0].as_py()
    assert message and "1380010" not in message


def test_the_first_failed_check_is_the_reason() -> None:
    prepared = validator().prepare(chunk([row("1234567", imsi="1", balance="x")]))
    assert reasons(prepared.rejects) == {2: str(R.NUMBER_INVALID)}


def test_repeats_are_rejected_across_chunks_and_keys() -> None:
    check = validator()
    first = check.prepare(chunk([row("13800100001", iccid=iccid(1), imsi="460001234567801")]))
    again = check.prepare(
        chunk(
            [
                row("8613800100001"),  # the same number written another way
                row("13800100002", iccid=iccid(1)),
                row("13800100003", imsi="460001234567801"),
                row("13800100004"),
            ]
        )
    )
    assert first.rows_rejected == 0
    assert reasons(again.rejects) == dict.fromkeys((2, 3, 4), str(R.DUPLICATE_IN_FILE))
    assert again.good.column("msisdn").to_pylist() == ["+8613800100004"]


def test_malformed_rows_are_rejected_in_line_order() -> None:
    read = chunk([row(), row("1")], malformed=[(3, ["a", "b"])])
    read.lines = np.array([2, 4], dtype=np.int64)  # line 3 had too few fields
    prepared = validator().prepare(read)
    assert reasons(prepared.rejects) == {3: str(R.ROW_MALFORMED), 4: str(R.NUMBER_INVALID)}
    assert prepared.rows_read == 3 and prepared.rows_rejected == 2


def test_rows_the_database_refused_become_kit_in_use_rejects() -> None:
    prepared = validator().prepare(chunk([row("13800100001"), row("13800100002")]))
    refused = prepared.rejects_for(np.array([3], dtype=np.int64), R.KIT_IN_USE)
    assert reasons(refused) == {3: str(R.KIT_IN_USE)}
    assert refused.column("msisdn").to_pylist() == ["13800100002"]  # the field as written
    assert prepared.rejects_for(np.zeros(0, dtype=np.int64), R.KIT_IN_USE) is None


def test_no_blocks_means_no_number_is_allocated() -> None:
    prepared = validator(blocks=[]).prepare(chunk([row()]))
    assert reasons(prepared.rejects) == {2: str(R.NUMBER_NOT_ALLOCATED)}


# --- the vectorised checks agree with the scalar ones ---------------------------------------


@pytest.mark.parametrize("policy", ["china", "philippines", "nigeria", "india", "pakistan"])
def test_number_check_agrees_with_parse_msisdn(policy: str) -> None:
    region = load_policy(policy).jurisdiction
    cc = str(phonenumbers.country_code_for_region(region))
    rng = random.Random(policy)
    example = str(
        phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE).national_number
    )
    samples = []
    for _ in range(3000):
        # The example's first digits and random ones: many valid, many not, some too short.
        national = example[: rng.randint(1, 3)]
        national += "".join(rng.choice("0123456789") for _ in range(len(example) - len(national)))
        if rng.random() < 0.1:
            national = national[:-1]
        samples.append(
            rng.choice([national, f"+{cc}{national}", f"{cc}{national}", f"00{cc}{national}"])
        )
    samples += [f"+{cc} {example[:3]}-{example[3:]}", f"0{example}", "", "abc", f"+1{example}"]
    found = validator(region, blocks=[])._national(pa.array(samples, pa.string())).to_pylist()
    for raw, national in zip(samples, found, strict=True):
        try:
            expected: str | None = parse_msisdn(raw, region).e164
        except NumberError:
            expected = None
        if expected is not None and not expected.startswith(f"+{cc}"):
            expected = None  # a mobile number, but of another country: not this registry's
        got = f"+{cc}{national}" if national is not None else None
        assert got == expected, "a number the two checks disagree on (not shown: PII)"


DATES = [
    "2015-03-04",
    "2015-03-04T05:06:07",
    "2015-03-04 05:06:07",
    "2015-03-04T05:06",
    "2015-03-04T05:06:07.123456",
    "2015-03-04T05:06:07.1",
    "2015-03-04T05:06:07Z",
    "2015-03-04T05:06:07+08:00",
    "2015-03-04T05:06:07-0530",
    "2016-02-29",
    "2000-02-29",
    "1900-02-28",
    "2015-02-29",
    "1900-02-29",
    "2015-13-01",
    "2015-00-10",
    "2015-04-31",
    "2015-03-04T24:00:00",
    "2015-03-04T05:60:00",
    "2015-3-4",
    "20150304",
    "04/03/2015",
    "2015-03-04x",
    "",
]


def test_iso_dates_agree_with_fromisoformat() -> None:
    micros, valid = validator()._activated(pa.array(DATES), _chunk_stub())
    for i, raw in enumerate(DATES):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is not None and "-" not in raw[:8]:
            parsed = None  # fromisoformat takes basic forms; exports use extended ones
        assert bool(valid[i]) == (parsed is not None), raw
        if parsed is not None:
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            epoch = datetime(1970, 1, 1, tzinfo=UTC)
            assert int(micros[i]) == (parsed - epoch) // timedelta(microseconds=1), raw


def _chunk_stub() -> Any:
    return Chunk(pa.table({}), np.zeros(0, dtype=np.int64), 0)


def test_date_parts_cut_fast_forms_and_parse_the_rest() -> None:
    year, month, day, hour, minute, second, micro, offset, matched = date_parts(
        pa.array(["2019-03-04", "2019-03-04T05:06:07", "2019-03-04T05:06:07.25-05:30", "x", None])
    )
    assert matched.tolist() == [True, True, True, False, False]
    assert (year[:3].tolist(), month[:3].tolist(), day[:3].tolist()) == (
        [2019] * 3,
        [3] * 3,
        [4] * 3,
    )
    assert (hour[:3].tolist(), minute[:3].tolist(), second[:3].tolist()) == (
        [0, 5, 5],
        [0, 6, 6],
        [0, 7, 7],
    )
    assert (micro[2], offset[2]) == (250_000, -(5 * 3600 + 30 * 60))


def test_days_from_civil_agrees_with_date() -> None:
    days = [date(1970, 1, 1), date(1969, 12, 31), date(1900, 3, 1), date(2000, 2, 29)]
    rng = random.Random(5)
    days += [date(1900, 1, 1) + timedelta(days=rng.randrange(80_000)) for _ in range(2000)]
    got = days_from_civil(
        np.array([d.year for d in days], dtype=np.int64),
        np.array([d.month for d in days], dtype=np.int64),
        np.array([d.day for d in days], dtype=np.int64),
    )
    assert got.tolist() == [(d - date(1970, 1, 1)).days for d in days]


def test_luhn_valid_agrees_with_stdnum() -> None:
    rng = random.Random(3)
    values = ["".join(rng.choice("0123456789") for _ in range(20)) for _ in range(3000)]
    values += [f"{iccid(n):0>20}" for n in range(50)]  # 19 digits padded: sum unchanged
    digits = np.array([[int(c) for c in v] for v in values], dtype=np.int64)
    assert luhn_valid(digits).tolist() == [luhn.is_valid(v) for v in values]
    with pytest.raises(ValueError, match="even width"):
        luhn_valid(np.zeros((1, 19), dtype=np.int64))


def test_iccid_check_agrees_with_stdnum() -> None:
    rng = random.Random(3)
    values = [iccid(n) for n in range(50)]
    for length in (18, 19, 20, 21):
        values += ["".join(rng.choice("0123456789") for _ in range(length)) for _ in range(300)]
    prepared = validator().prepare(
        chunk([row(f"138001{n:05d}", iccid=value) for n, value in enumerate(values)])
    )
    rejected = reasons(prepared.rejects)
    assert set(rejected.values()) == {str(R.ICCID_INVALID)}
    for line, value in enumerate(values, start=2):
        assert (line not in rejected) == (len(value) in (19, 20) and luhn.is_valid(value)), line


def test_seen_keys_find_repeats_within_and_across_calls() -> None:
    seen = SeenKeys(np.int64)
    rng = np.random.default_rng(1)
    everything: set[int] = set()
    for _ in range(40):
        keys = rng.integers(0, 5000, 300)
        dup = seen.duplicates(keys)
        expected = []
        for key in keys.tolist():
            expected.append(key in everything)
            everything.add(key)
        assert dup.tolist() == expected
    assert len(seen.levels) <= 8
