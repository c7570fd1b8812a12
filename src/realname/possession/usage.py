"""The usage feed an operator sends for proof of possession: one CSV row a line (its last
use, its last top-up, numbers it called), read and checked here without a database.

A bad row's error names the column, never the value: the values are phone numbers.
`PossessionService.import_usage` stores what passes, as keyed hashes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from realname.numbering.errors import NumberError
from realname.numbering.msisdn import parse_msisdn

MAX_CALLED_NUMBERS = 10
USAGE_COLUMNS = ("msisdn", "last_used_at", "last_topup_at", "last_topup_minor", "called_numbers")
_HOUR = timedelta(hours=1)  # a feed's clock may run a little ahead of ours


@dataclass(frozen=True)
class UsageRow:
    msisdn: str
    last_used_at: datetime | None
    last_topup_at: datetime | None
    last_topup_minor: int | None
    called: tuple[str, ...]


def _instant(text: str, column: str, at: datetime) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise ValueError(f"{column}: give a time zone, e.g. 2026-05-01T08:00:00+08:00")
        value = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable UTC
        raise ValueError(f"{column}: out of range") from None
    except ValueError as error:
        if str(error).startswith(column):
            raise
        raise ValueError(f"{column}: not an ISO 8601 instant") from None
    if value > at + _HOUR:
        raise ValueError(f"{column}: in the future")
    return value


def parse_usage_row(row: dict[str, str], at: datetime) -> UsageRow:
    """One CSV row; ValueError names the column, never the value (it may be a number)."""
    try:
        msisdn = parse_msisdn((row.get("msisdn") or "").strip()).e164
    except NumberError:
        raise ValueError("msisdn: not a valid mobile number") from None
    last_used = _instant((row.get("last_used_at") or "").strip(), "last_used_at", at)
    last_topup = _instant((row.get("last_topup_at") or "").strip(), "last_topup_at", at)
    minor_text = (row.get("last_topup_minor") or "").strip()
    minor = None
    if minor_text:
        if not minor_text.isdigit() or not 0 < int(minor_text) <= 10**9:
            raise ValueError("last_topup_minor: a positive whole number of minor units (fen)")
        minor = int(minor_text)
    called: list[str] = []
    for raw in (row.get("called_numbers") or "").replace(";", " ").split():
        try:
            called.append(parse_msisdn(raw).e164)
        except NumberError:
            raise ValueError(
                "called_numbers: each must be a full mobile number (no short codes)"
            ) from None
    if len(called) > MAX_CALLED_NUMBERS:
        raise ValueError(f"called_numbers: at most {MAX_CALLED_NUMBERS}")
    return UsageRow(msisdn, last_used, last_topup, minor, tuple(dict.fromkeys(called)))


def read_usage_csv(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a usage CSV with a header naming USAGE_COLUMNS (msisdn needed)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if "msisdn" not in header:
        raise ValueError("line 1: the header must name msisdn (" + ", ".join(USAGE_COLUMNS) + ")")
    unknown = sorted(set(header) - set(USAGE_COLUMNS))
    if unknown:
        raise ValueError("line 1: unknown columns: " + ", ".join(unknown))
    reader.fieldnames = header
    try:
        for row in reader:
            yield reader.line_num, {k: (v or "") for k, v in row.items() if isinstance(k, str)}
    except csv.Error as error:  # a field over the csv module's limit, a NUL byte
        # line_num counts the lines read before the one that failed
        raise ValueError(f"line {reader.line_num + 1}: not readable as CSV ({error})") from None
