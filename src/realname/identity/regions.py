"""GB/T 2260 administrative-division codes, every revision since 1980.

Resident identity numbers keep the region code they were issued with, so a code abolished in
2010 (北京市崇文区, 110103) is still a valid prefix today. The table is built by
`scripts/build_gb2260.py` from three open sources; see docs/data-sources.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    first_year: int
    last_year: int | None  # None while the code is still in force

    @property
    def abolished(self) -> bool:
        return self.last_year is not None


@cache
def region_table() -> dict[str, Region]:
    text = resources.files("realname.identity").joinpath("data/gb2260.tsv").read_text("utf-8")
    table: dict[str, Region] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, first, last, name = line.split("\t")
        table[code] = Region(code, name, int(first), int(last) if last else None)
    return table


def lookup_region(code: str) -> Region | None:
    return region_table().get(code)


@cache
def province_prefixes() -> frozenset[str]:
    """Two-digit province codes ever issued (11 Beijing … 65 Xinjiang, 71, 81, 82, 83)."""
    return frozenset(code[:2] for code in region_table())
