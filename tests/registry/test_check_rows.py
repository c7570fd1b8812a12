"""`realname check`'s fast row path on SQLite reads timestamps and dates as stored text and
tags them itself (check_rows.py), skipping the type's parsing. Its tags must stay exactly the
MAC encoder's (security/audit.py), or every row MAC'd at write time would fail the check."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Column, Date, MetaData, Table
from sqlalchemy.dialects import sqlite

from realname.db.dialect import _utc_text
from realname.db.types import UtcDateTime
from realname.registry.check_rows import _converter
from realname.security.audit import _json_default

_TABLE = Table("probe", MetaData(), Column("at", UtcDateTime()), Column("on", Date()))


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2026, 11, 30, 12, 0, tzinfo=UTC),  # microsecond 0
        datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1999, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    ],
)
def test_a_stored_instant_is_tagged_as_the_mac_encoder_tags_it(instant: datetime) -> None:
    convert = _converter(_TABLE.c.at, sqlite.dialect())
    assert convert is not None
    assert convert(_utc_text(instant)) == _json_default(instant)


@pytest.mark.parametrize("day", [date(2026, 11, 30), date(1950, 2, 28)])
def test_a_stored_date_is_tagged_as_the_mac_encoder_tags_it(day: date) -> None:
    convert = _converter(_TABLE.c.on, sqlite.dialect())
    assert convert is not None
    assert convert(day.isoformat()) == _json_default(day)
