"""Segments over the registry (both engines): exact counts per segment from SQL, region
names not codes, and the published table withholds every small count."""

from __future__ import annotations

import pytest

from realname.compliance.segments.errors import SegmentError
from realname.compliance.segments.errors import SegmentErrorCode as E
from realname.compliance.segments.repository import SegmentRepository
from realname.compliance.segments.service import age_band_limits, segments
from tests.registry.conftest import NOW, World


def test_active_lines_are_counted_per_enterprise_band_and_sex(world: World) -> None:
    for _ in range(3):
        world.register(world.people[0])  # born 1960-05-17: 66 on NOW
    world.register(world.people[8])  # born 1984-05-17: 42
    world.session.flush()
    counted = SegmentRepository(world.session).active_lines(age_band_limits(NOW.date()))
    by_band: dict[str, int] = {}
    for row in counted:
        assert row.enterprise == "CMCC" and row.kind == "mno"
        assert row.sex in {"male", "female"}
        by_band[row.age_band] = by_band.get(row.age_band, 0) + row.lines
    assert by_band == {"65+": 3, "35-44": 1}


def test_the_published_table_names_provinces_and_withholds_small_counts(world: World) -> None:
    for person in world.people[:4]:
        world.register(person)
    world.session.flush()
    table = segments(world.session, NOW.date(), by=("province", "age"), k=10)
    rows = table.rows()
    assert rows, "a table even when everything is withheld"
    for row in rows:
        assert not str(row["province"]).isdigit()  # names, never GB/T 2260 codes
        if row["lines"] is not None:
            assert row["lines"] == 0  # 4 lines in all: nothing but zeros may be shown
    grand = [r for r in rows if r["province"] == "total" and r["age"] == "total"]
    assert grand == [{"province": "total", "age": "total", "lines": None, "withheld": "primary"}]


@pytest.mark.parametrize(
    ("by", "k", "code"),
    [(("planet",), 10, E.DIMENSION_INVALID), (("age",), 3, E.THRESHOLD_TOO_SMALL)],
)
def test_a_bad_request_is_refused(world: World, by: tuple[str, ...], k: int, code: E) -> None:
    with pytest.raises(SegmentError) as refused:
        segments(world.session, NOW.date(), by=by, k=k)
    assert refused.value.code is code
