"""What the demo and `realname backfill progress` print for a region: its name, not its
code, short enough for an 80-column table."""

from __future__ import annotations

from realname.cli.backfill import _place


def test_a_region_prints_by_its_name() -> None:
    assert _place("420102") == "武汉市江岸区"  # the province left out
    assert _place("110105") == "北京市朝阳区"  # a municipality keeps its name
    assert _place("999999") == "999999"  # unknown: the code, not a blank
