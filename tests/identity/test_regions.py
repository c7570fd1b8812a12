from __future__ import annotations

from realname.identity.regions import lookup_region, province_prefixes, region_table

PROVINCES = {
    "11",
    "12",
    "13",
    "14",
    "15",
    "21",
    "22",
    "23",
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "41",
    "42",
    "43",
    "44",
    "45",
    "46",
    "50",
    "51",
    "52",
    "53",
    "54",
    "61",
    "62",
    "63",
    "64",
    "65",
    "71",
    "81",
    "82",
    "83",
}


def test_every_province_is_present() -> None:
    assert province_prefixes() >= PROVINCES


def test_table_holds_current_and_abolished_codes() -> None:
    table = region_table()
    assert len(table) > 7000
    abolished = [r for r in table.values() if r.abolished]
    assert len(abolished) > 3000  # most of the history is codes no longer in force


def test_known_history() -> None:
    chongwen = lookup_region("110103")
    assert chongwen is not None and chongwen.abolished and chongwen.last_year == 2010
    chaoyang = lookup_region("110105")
    assert chaoyang is not None and not chaoyang.abolished and chaoyang.name == "北京市朝阳区"
    # 2019: 胡杨河市, one of the newest codes
    huyanghe = lookup_region("659010")
    assert huyanghe is not None and huyanghe.first_year >= 2019
    assert lookup_region("990000") is None
