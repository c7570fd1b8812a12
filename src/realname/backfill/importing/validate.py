"""Validating a chunk: every check vectorised (pyarrow compute and numpy, never a Python loop
per row), and the good rows shaped for loading.

Pure: no file, no database, no SQLAlchemy. What it knows of the enterprise (its number
blocks and channel codes) and of the import (its id, its time) is handed in, so it can be
run and tested on its own; the date arithmetic and the Luhn check are plain functions.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from realname.backfill.importing.types import (
    LINE_COLUMNS,
    BoolArray,
    Chunk,
    IntArray,
    np_bool,
)
from realname.identity.regions import region_table
from realname.registry.lifecycle import LineState


class RejectReason(StrEnum):
    """Why a row was not loaded: stable codes, as written to the reject file."""

    ROW_MALFORMED = "row_malformed"
    NUMBER_INVALID = "number_invalid"
    NUMBER_NOT_ALLOCATED = "number_not_allocated"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    ICCID_INVALID = "iccid_invalid"
    IMSI_INVALID = "imsi_invalid"
    ACTIVATED_AT_INVALID = "activated_at_invalid"
    BALANCE_INVALID = "balance_invalid"
    HOME_REGION_INVALID = "home_region_invalid"
    CHANNEL_UNKNOWN = "channel_unknown"
    KIT_IN_USE = "kit_in_use"


R = RejectReason
REJECT_MESSAGES: dict[RejectReason, str] = {
    R.ROW_MALFORMED: "The row does not have as many fields as the header.",
    R.NUMBER_INVALID: "The number is missing or is not a mobile number of this jurisdiction.",
    R.NUMBER_NOT_ALLOCATED: "The number is not in any block allocated to this enterprise.",
    R.DUPLICATE_IN_FILE: "The number, ICCID or IMSI already appeared on an earlier row.",
    R.ICCID_INVALID: "The ICCID must have 19 or 20 digits and a valid Luhn check digit.",
    R.IMSI_INVALID: "The IMSI must have 15 digits.",
    R.ACTIVATED_AT_INVALID: (
        "The activation time is missing, not an ISO 8601 date or date-time, or in the future."
    ),
    R.BALANCE_INVALID: "The balance must be a non-negative amount with at most 2 decimals.",
    R.HOME_REGION_INVALID: "The home region must be a known 6-digit region code.",
    R.CHANNEL_UNKNOWN: "The enterprise has no channel with this code.",
    R.KIT_IN_USE: "The ICCID or IMSI already belongs to another line.",
}
# Index 0 means "no reason": codes are stored as int8 positions in this tuple.
_REASONS: tuple[RejectReason, ...] = tuple(RejectReason)
_CODE = {reason: i + 1 for i, reason in enumerate(_REASONS)}

_DATE_RX = (
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"\s*(?:(?P<z>[Zz])|(?P<zs>[+-])(?P<zh>\d{2})(?::?(?P<zm>\d{2}))?)?)?$"
)
_BALANCE_RX = r"^(?P<i>\d{1,13})(?:\.(?P<f>\d{1,2}))?$"
_SEPARATORS_RX = r"[\s\-().]"
_ZEROS20 = "0" * 20
_LUHN_DOUBLE = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)


def _np_int(array: Any) -> IntArray:
    """Digit strings (validated) as int64; null and "" become 0."""
    filled = pc.utf8_lpad(pc.fill_null(array, "0"), width=1, padding="0")
    return np.array(pc.cast(filled, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _clean(array: Any) -> Any:
    """Trimmed strings, "" as null."""
    trimmed = pc.utf8_trim_whitespace(array)
    empty = pc.equal(pc.binary_length(trimmed), 0)
    if not pc.any(empty).as_py():
        return trimmed
    return pc.if_else(empty, pa.scalar(None, pa.string()), trimmed)


def _digit_matrix(strings: Any, width: int) -> npt.NDArray[np.int64]:
    """Strings of exactly `width` ASCII digits (no nulls) as an (n, width) array of digits."""
    array = strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + n + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    start = int(offsets[0]) if n else 0
    if n and int(offsets[-1]) - start != n * width:
        raise AssertionError("digit strings of unequal width")
    return data[start : start + n * width].reshape(n, width).astype(np.int64) - 48


def luhn_valid(digits: IntArray) -> BoolArray:
    """Which rows of an (n, even width) digit matrix pass the Luhn check. Shorter numbers
    are left-padded with zeros to the width, which leaves their sum unchanged; with an even
    width the digits to double are the even columns."""
    if digits.shape[1] % 2:
        raise ValueError("the digit matrix must have an even width")
    doubled = _LUHN_DOUBLE[digits[:, 0::2]].sum(axis=1)
    return np.asarray((doubled + digits[:, 1::2].sum(axis=1)) % 10 == 0, dtype=bool)


class SeenKeys:
    """Keys seen earlier in the file, as a few sorted numpy arrays merged like a binary
    counter: memory is 8 bytes a key, each chunk costs O(n log N)."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype
        self.levels: list[npt.NDArray[Any]] = []

    def duplicates(self, keys: npt.NDArray[Any]) -> BoolArray:
        """Which keys repeat an earlier one (earlier in this array or in an earlier call)."""
        dup = np.ones(len(keys), dtype=bool)
        if not len(keys):
            return dup
        unique, first = np.unique(keys, return_index=True)
        dup[first] = False
        fresh = np.ones(len(unique), dtype=bool)
        for level in self.levels:
            at = np.minimum(np.searchsorted(level, unique), len(level) - 1)
            fresh &= level[at] != unique
        dup[first[~fresh]] = True
        new = unique[fresh]
        while self.levels and len(self.levels[-1]) <= len(new):
            new = np.sort(np.concatenate([self.levels.pop(), new]), kind="stable")
        if len(new):
            self.levels.append(new)
        return dup


@dataclass
class Prepared:
    """One chunk validated: the good rows ready to load, the rejects ready to write."""

    good: Any  # pa.Table with STAGE_COLUMNS
    good_fields: Any  # pa.Table: the original fields of the good rows, same order
    rejects: Any  # pa.Table: line, reason, message, original fields
    rows_read: int
    rows_rejected: int
    rejected_by_reason: Counter[str]
    done: int
    copy_csv: Any = None  # pa.Buffer: the good rows as CSV in LINE_COLUMNS order (PostgreSQL)

    def rejects_for(self, lines: IntArray, reason: RejectReason) -> Any:
        """Reject rows for good rows the database refused (identified by line number)."""
        if not len(lines):
            return None
        mask = np.isin(self.good.column("line_no").to_numpy(), lines)
        fields = self.good_fields.filter(pa.array(mask))
        return _reject_table(
            fields,
            np.asarray(self.good.column("line_no").to_numpy()[mask], dtype=np.int64),
            np.full(int(mask.sum()), _CODE[reason], dtype=np.int8),
        )


def _reject_table(fields: Any, lines: IntArray, codes: npt.NDArray[np.int8]) -> Any:
    names = pa.array([str(r) for r in _REASONS])
    messages = pa.array([REJECT_MESSAGES[r] for r in _REASONS])
    index = pa.array(codes.astype(np.int32) - 1)
    columns = [pa.array(lines, pa.int64()), pc.take(names, index), pc.take(messages, index)]
    return pa.Table.from_arrays(
        columns + list(fields.columns), names=["line", "reason", "message", *fields.column_names]
    )


class Validator:
    def __init__(
        self,
        *,
        jurisdiction: str,
        blocks: list[tuple[str, str]],
        channels: dict[str, int],
        at: datetime,
        enterprise_id: int,
        import_id: int,
        copy_csv: bool,
    ) -> None:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(jurisdiction.upper())
        if metadata is None or metadata.mobile is None:
            raise ValueError(f"no phone-number metadata for {jurisdiction}")
        cc = str(metadata.country_code)
        trunk = f"|{re.escape(metadata.national_prefix)}" if metadata.national_prefix else ""
        # +86…, 0086… (the country's own international prefix: 009 in Nigeria), 86…, 0…
        dial_out = metadata.international_prefix or "00"
        self.number_rx = (
            rf"^(?:\+{cc}|(?:{dial_out}){cc}|{cc}{trunk})?"
            rf"(?P<nn>{metadata.mobile.national_number_pattern})$"
        )
        self.cc = cc
        lengths = set(metadata.mobile.possible_length or ())
        self.national_length = lengths.pop() if len(lengths) == 1 else None
        ordered = sorted((int(first), int(last)) for first, last in blocks)
        self.block_first = np.array([f for f, _ in ordered], dtype=np.int64)
        self.block_last = np.array([last for _, last in ordered], dtype=np.int64)
        self.channel_codes = pa.array(list(channels), pa.string())
        self.channel_ids = np.array(list(channels.values()) or [0], dtype=np.int64)
        self.regions = (
            pa.array(sorted(region_table()), pa.string()) if jurisdiction.upper() == "CN" else None
        )
        self.at = at
        self.at_us = int((at - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
        self.enterprise_id = enterprise_id
        self.import_id = import_id
        self.copy_csv = copy_csv
        self.seen = {
            "msisdn": SeenKeys(np.int64),
            "iccid": SeenKeys(np.uint64),
            "imsi": SeenKeys(np.int64),
        }

    def prepare(self, chunk: Chunk) -> Prepared:
        fields = chunk.fields
        n = fields.num_rows
        reason = np.zeros(n, dtype=np.int8)

        def column(name: str) -> Any:
            if name in fields.column_names:
                return _clean(fields.column(name).combine_chunks())
            return pa.nulls(n, pa.string())

        def flag(bad: BoolArray, why: RejectReason) -> None:
            reason[(reason == 0) & bad] = _CODE[why]

        # The number: a mobile number of the jurisdiction, in one of the enterprise's blocks.
        national = self._national(column("msisdn"))
        number_ok = np_bool(pc.is_valid(national))
        flag(~number_ok, R.NUMBER_INVALID)
        keys = _np_int(pc.binary_join_element_wise(self.cc, national, ""))
        if len(self.block_first):
            at = np.searchsorted(self.block_first, keys, side="right") - 1
            inside = (at >= 0) & (keys <= self.block_last[np.maximum(at, 0)])
        else:
            inside = np.zeros(n, dtype=bool)
        flag(number_ok & ~inside, R.NUMBER_NOT_ALLOCATED)
        self._duplicates("msisdn", keys, number_ok & inside, reason)

        # ICCID: 19 or 20 digits, Luhn; IMSI: 15 digits.
        iccid = column("iccid")
        iccid_given = np_bool(pc.is_valid(iccid))
        iccid_ok = np_bool(pc.match_substring_regex(iccid, r"^\d{19,20}$"))
        iccid_keys = np.zeros(n, dtype=np.uint64)
        if iccid_ok.any():
            padded = pc.utf8_lpad(
                pc.if_else(pa.array(iccid_ok), iccid, _ZEROS20), width=20, padding="0"
            )
            digits = _digit_matrix(padded, 20)
            iccid_ok &= luhn_valid(digits)
            powers = 10 ** np.arange(18, -1, -1, dtype=np.uint64)
            iccid_keys = digits[:, :19].astype(np.uint64) @ powers
            short = np_bool(pc.equal(pc.utf8_length(iccid), 19))
            iccid_keys[short] += np.uint64(10**19)
        flag(iccid_given & ~iccid_ok, R.ICCID_INVALID)
        self._duplicates("iccid", iccid_keys, iccid_ok, reason)

        imsi = column("imsi")
        imsi_given = np_bool(pc.is_valid(imsi))
        imsi_ok = np_bool(pc.match_substring_regex(imsi, r"^\d{15}$"))
        flag(imsi_given & ~imsi_ok, R.IMSI_INVALID)
        imsi_keys = _np_int(pc.if_else(pa.array(imsi_ok), imsi, "0"))
        self._duplicates("imsi", imsi_keys, imsi_ok, reason)

        # Activation: ISO 8601, UTC unless an offset says otherwise, not after the import.
        activated_us, activated_ok = self._activated(column("activated_at"), chunk)
        flag(~activated_ok, R.ACTIVATED_AT_INVALID)

        balance_minor, balance_given, balance_ok = self._balance(column("balance"), chunk)
        flag(balance_given & ~balance_ok, R.BALANCE_INVALID)

        region = column("home_region")
        region_given = np_bool(pc.is_valid(region))
        region_ok = np_bool(pc.match_substring_regex(region, r"^\d{6}$"))
        if self.regions is not None:
            region_ok &= np_bool(pc.is_in(region, value_set=self.regions))
        flag(region_given & ~region_ok, R.HOME_REGION_INVALID)

        channel = column("channel_code")
        channel_given = np_bool(pc.is_valid(channel))
        found = pc.index_in(channel, value_set=self.channel_codes)
        channel_ok = np_bool(pc.is_valid(found))
        flag(channel_given & ~channel_ok, R.CHANNEL_UNKNOWN)
        channel_index = np.asarray(
            pc.fill_null(found, 0).to_numpy(zero_copy_only=False), dtype=np.int64
        )

        good = reason == 0
        mask = pa.array(good)
        e164 = pc.binary_join_element_wise(f"+{self.cc}", national, "")
        good_table = pa.table(
            {
                "line_no": pa.array(chunk.lines[good], pa.int64()),
                "msisdn": e164.filter(mask),
                "iccid": iccid.filter(mask),
                "imsi": imsi.filter(mask),
                "channel_id": pa.array(
                    self.channel_ids[channel_index[good]],
                    pa.int64(),
                    mask=~channel_given[good],
                ),
                "activated_at": pa.array(
                    activated_us[good].astype("datetime64[us]"), pa.timestamp("us")
                ),
                "home_region": region.filter(mask),
                "prepaid_balance_minor": pa.array(
                    balance_minor[good], pa.int64(), mask=~balance_given[good]
                ),
            }
        )
        bad = ~good
        rejects = _reject_table(fields.filter(pa.array(bad)), chunk.lines[bad], reason[bad])
        if chunk.malformed:
            rejects = pa.concat_tables([rejects, self._malformed(chunk, fields.column_names)])
            rejects = rejects.sort_by("line")
        by_reason: Counter[str] = Counter()
        codes, counts = np.unique(reason[bad], return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
            by_reason[str(_REASONS[code - 1])] += count
        if chunk.malformed:
            by_reason[str(R.ROW_MALFORMED)] += len(chunk.malformed)
        prepared = Prepared(
            good=good_table,
            good_fields=fields.filter(mask),
            rejects=rejects,
            rows_read=n + len(chunk.malformed),
            rows_rejected=int(bad.sum()) + len(chunk.malformed),
            rejected_by_reason=by_reason,
            done=chunk.done,
        )
        if self.copy_csv:
            prepared.copy_csv = self.line_csv(good_table)
        return prepared

    def _national(self, raw: Any) -> Any:
        """The national significant number of each valid mobile number, else null."""
        plain = pc.utf8_is_digit(pc.utf8_ltrim(raw, characters="+"))
        if not pc.all(pc.or_(plain, pc.is_null(raw))).as_py():  # spaces, dashes, brackets
            raw = pc.replace_substring_regex(raw, _SEPARATORS_RX, "")
        if self.national_length is None:
            return pc.struct_field(pc.extract_regex(raw, self.number_rx), "nn")
        # One length (most countries): a DFA match, then the last digits are the number.
        valid = pc.match_substring_regex(raw, self.number_rx)
        national = pc.utf8_slice_codeunits(raw, -self.national_length)
        return pc.if_else(valid, national, pa.scalar(None, pa.string()))

    def _duplicates(
        self, name: str, keys: npt.NDArray[Any], valid: BoolArray, reason: npt.NDArray[np.int8]
    ) -> None:
        where = np.flatnonzero(valid)
        dup = self.seen[name].duplicates(keys[where])
        hit = np.zeros(len(reason), dtype=bool)
        hit[where[dup]] = True
        reason[(reason == 0) & hit] = _CODE[R.DUPLICATE_IN_FILE]

    def _activated(self, strings: Any, chunk: Chunk) -> tuple[IntArray, BoolArray]:
        typed = chunk.typed.get("activated_at")
        if typed is not None:
            if pa.types.is_timestamp(typed.type) and typed.type.tz is not None:
                typed = pc.cast(typed, pa.timestamp("us", tz="UTC"), safe=False)
            else:  # a date, or a timestamp without zone: UTC
                typed = pc.cast(typed, pa.timestamp("us"), safe=False)
            valid = np_bool(pc.is_valid(typed))
            micros = np.asarray(
                pc.fill_null(pc.cast(typed, pa.int64()), 0).to_numpy(zero_copy_only=False),
                dtype=np.int64,
            )
            return micros, valid & (micros <= self.at_us)
        year, month, day, hour, minute, second, micro, offset, matched = date_parts(strings)
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
        last_day = month_days[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
        valid = (
            matched
            & (year >= 1900)
            & (month >= 1)
            & (month <= 12)
            & (day >= 1)
            & (day <= last_day)
            & (hour < 24)
            & (minute < 60)
            & (second < 60)
            & (np.abs(offset) <= 14 * 3600)
        )
        days = days_from_civil(year, np.clip(month, 1, 12), day)
        seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
        micros = np.where(valid, seconds * 1_000_000 + micro, 0)
        return micros, valid & (micros <= self.at_us)

    def _balance(self, strings: Any, chunk: Chunk) -> tuple[IntArray, BoolArray, BoolArray]:
        typed = chunk.typed.get("balance")
        if typed is not None:
            given = np_bool(pc.is_valid(typed))
            values = np.asarray(
                pc.fill_null(pc.cast(typed, pa.float64()), 0).to_numpy(zero_copy_only=False),
                dtype=np.float64,
            )
            cents = np.round(values * 100)
            ok = given & (values >= 0) & (np.abs(values * 100 - cents) < 1e-6) & (cents < 1e15)
            return np.where(ok, cents, 0).astype(np.int64), given, ok
        given = np_bool(pc.is_valid(strings))
        parts = pc.extract_regex(strings, _BALANCE_RX)
        ok = np_bool(pc.is_valid(parts))
        yuan = _np_int(pc.struct_field(parts, "i"))
        fen = _np_int(
            pc.utf8_rpad(pc.fill_null(pc.struct_field(parts, "f"), ""), width=2, padding="0")
        )
        return np.where(ok, yuan * 100 + fen, 0), given, ok

    def _malformed(self, chunk: Chunk, names: list[str]) -> Any:
        width = len(names)
        rows = [(record + [""] * width)[:width] for _, record in chunk.malformed]
        fields = pa.table(
            {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(names)}
        )
        lines = np.array([line for line, _ in chunk.malformed], dtype=np.int64)
        codes = np.full(len(rows), _CODE[R.ROW_MALFORMED], dtype=np.int8)
        return _reject_table(fields, lines, codes)

    def line_csv(self, good: Any) -> Any:
        """The good rows as COPY CSV in LINE_COLUMNS order (timestamps naive UTC)."""
        n = good.num_rows

        def constant(value: object) -> Any:  # as text: written once, copied n times
            return pa.repeat(pa.scalar(str(value)), n)

        table = pa.Table.from_arrays(
            [
                good.column("msisdn"),
                good.column("iccid"),
                good.column("imsi"),
                constant(self.enterprise_id),
                constant(LineState.LEGACY),
                good.column("channel_id"),
                good.column("activated_at"),
                constant(self.at.replace(tzinfo=None).isoformat(" ")),
                constant(0),
                good.column("home_region"),
                good.column("prepaid_balance_minor"),
                constant(self.import_id),
            ],
            names=list(LINE_COLUMNS),
        )
        return csv_bytes(table)


def csv_bytes(table: Any) -> Any:
    out = pa.BufferOutputStream()
    # Every value is digits, a timestamp or a fixed word: nothing needs quoting.
    pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return out.getvalue()


_FAST_DATE_RX = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2})?$"


def date_parts(strings: Any) -> tuple[npt.NDArray[Any], ...]:
    """(year, month, day, hour, minute, second, microsecond, UTC offset in seconds, matched)
    of ISO 8601 strings, unchecked. `2019-03-04` and `2019-03-04T05:06:07` (the forms
    exports use) are cut at fixed places; the rest (fractions, offsets) go through RE2."""
    n = len(strings)
    fast = np_bool(pc.match_substring_regex(strings, _FAST_DATE_RX))

    shaped = pc.if_else(pa.array(fast), strings, "0000-00-00 00:00:00")

    def cut(start: int, stop: int) -> IntArray:
        return _np_int(pc.utf8_slice_codeunits(shaped, start, stop))

    year, month, day = cut(0, 4), cut(5, 7), cut(8, 10)
    hour, minute, second = cut(11, 13), cut(14, 16), cut(17, 19)
    micro, offset = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    matched = fast.copy()
    slow = np.flatnonzero(~fast & np_bool(pc.is_valid(strings)))
    if len(slow):
        parts = pc.extract_regex(pc.take(strings, pa.array(slow)), _DATE_RX)

        def part(name: str) -> IntArray:
            return _np_int(pc.struct_field(parts, name))

        year[slow], month[slow], day[slow] = part("y"), part("mo"), part("d")
        hour[slow], minute[slow], second[slow] = part("h"), part("mi"), part("s")
        fraction = pc.utf8_rpad(pc.fill_null(pc.struct_field(parts, "f"), ""), width=6, padding="0")
        micro[slow] = _np_int(pc.utf8_slice_codeunits(fraction, 0, 6))
        sign = np.where(np_bool(pc.equal(pc.struct_field(parts, "zs"), "-")), -1, 1)
        tz_hour, tz_minute = part("zh"), part("zm")
        offset[slow] = sign * (tz_hour * 3600 + tz_minute * 60)
        matched[slow] = np_bool(pc.is_valid(parts)) & (tz_minute < 60)
    return year, month, day, hour, minute, second, micro, offset, matched


def days_from_civil(year: IntArray, month: IntArray, day: IntArray) -> IntArray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray(era * 146097 + doe - 719468, dtype=np.int64)
