"""Counts of active lines by age band, sex, province and enterprise, for planning, with
small-cell suppression (k >= 10 by default, complementary suppression so that no total gives
a withheld count away: `suppression.py`). Region names, not codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from realname.compliance.inspections.places import province_name
from realname.compliance.segments.errors import SegmentError, SegmentErrorCode
from realname.compliance.segments.repository import UNKNOWN, SegmentCount, SegmentRepository
from realname.compliance.segments.suppression import ALL, Published, suppress

DIMENSIONS = ("enterprise", "province", "age", "sex")
# (label, youngest age in the band), oldest band first.
AGE_BANDS = (
    ("65+", 65),
    ("55-64", 55),
    ("45-54", 45),
    ("35-44", 35),
    ("25-34", 25),
    ("18-24", 18),
    ("0-17", 0),
)
TOTAL = "total"


@dataclass(frozen=True)
class SegmentTable:
    by: tuple[str, ...]
    k: int
    published: Published

    def rows(self) -> list[dict[str, Any]]:
        """One row per cell and margin: each dimension's value ("total" for a margin), the
        count (None when withheld) and why it is withheld."""
        out: list[dict[str, Any]] = []
        for key, count in self.published.counts.items():
            row: dict[str, Any] = {
                name: (TOTAL if value == ALL else value)
                for name, value in zip(self.by, key, strict=True)
            }
            why = self.published.why.get(key)
            row["lines"] = count
            row["withheld"] = str(why) if why is not None else None
            out.append(row)
        return out


def age_band_limits(today: date) -> list[tuple[str, date]]:
    """(band, latest birth date in it) for `bands` of SegmentRepository.active_lines."""
    return [(label, _years_before(today, age)) for label, age in AGE_BANDS]


def segments(
    session: Session,
    today: date,
    *,
    by: Sequence[str] = DIMENSIONS,
    k: int = 10,
    province: str | None = None,
) -> SegmentTable:
    """`province`: a two-digit GB/T 2260 province code to confine the table to (a provincial
    administration sees its own province only)."""
    wanted = tuple(dict.fromkeys(by))
    unknown = [name for name in wanted if name not in DIMENSIONS]
    if unknown or not wanted:
        raise SegmentError(SegmentErrorCode.DIMENSION_INVALID)
    if k < 10:
        raise SegmentError(SegmentErrorCode.THRESHOLD_TOO_SMALL)
    counted = SegmentRepository(session).active_lines(
        age_band_limits(today), province_code=province
    )
    counts: dict[tuple[str, ...], int] = {}
    for row in counted:
        key = tuple(_value(row, name) for name in wanted)
        counts[key] = counts.get(key, 0) + row.lines
    values = [_values(name, {key[i] for key in counts}) for i, name in enumerate(wanted)]
    return SegmentTable(wanted, k, suppress(wanted, values, counts, k=k))


def _value(row: SegmentCount, dimension: str) -> str:
    if dimension == "enterprise":
        return f"{row.enterprise} ({row.kind})"
    if dimension == "province":
        return province_name(row.province_code)
    if dimension == "age":
        return row.age_band
    return row.sex


def _values(dimension: str, seen: set[str]) -> list[str]:
    """A dimension's values in display order: age bands youngest first, the rest sorted;
    `unknown` last."""
    if dimension == "age":
        order = [label for label, _ in reversed(AGE_BANDS)] + [UNKNOWN]
        return [label for label in order if label in seen]
    return sorted(seen - {UNKNOWN}) + ([UNKNOWN] if UNKNOWN in seen else [])


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)
