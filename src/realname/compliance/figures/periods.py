"""Reporting periods: whole months. Pure.

`2016-07` is July 2016; `2016-07..2016-12` the second half of 2016. Months bucket the trend
with a CASE over the months' bounds (`months`), the same SQL on SQLite and PostgreSQL, where a
month function would differ (`strftime` against `to_char`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

MAX_MONTHS = 120
_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Period:
    first: date  # the first day of the first month
    end: date  # the first day after the last month

    @property
    def since(self) -> datetime:
        return datetime(self.first.year, self.first.month, 1, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime(self.end.year, self.end.month, 1, tzinfo=UTC)

    def months(self) -> list[tuple[str, datetime, datetime]]:
        """(label, start, end) of each month."""
        out = []
        day = self.first
        while day < self.end:
            after = _next_month(day)
            out.append(
                (
                    f"{day.year:04d}-{day.month:02d}",
                    datetime(day.year, day.month, 1, tzinfo=UTC),
                    datetime(after.year, after.month, 1, tzinfo=UTC),
                )
            )
            day = after
        return out

    @property
    def label(self) -> str:
        labels = [m[0] for m in self.months()]
        return labels[0] if len(labels) == 1 else f"{labels[0]}..{labels[-1]}"


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _month(text: str) -> date:
    found = _MONTH.fullmatch(text.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1900:
        raise ValueError(f"not a month: {text!r}")
    return date(int(found.group(1)), int(found.group(2)), 1)


def parse_period(text: str) -> Period:
    """`YYYY-MM` or `YYYY-MM..YYYY-MM`; ValueError otherwise (or a range over MAX_MONTHS)."""
    first, _, last = text.partition("..")
    start = _month(first)
    stop = _month(last) if last else start
    if stop < start:
        raise ValueError("a period ends after it starts")
    period = Period(start, _next_month(stop))
    if len(period.months()) > MAX_MONTHS:
        raise ValueError(f"at most {MAX_MONTHS} months")
    return period


def last_months(today: date, count: int = 12) -> Period:
    """The `count` months ending with today's."""
    end = _next_month(date(today.year, today.month, 1))
    first = end
    for _ in range(count):
        first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    return Period(first, end)
