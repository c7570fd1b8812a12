"""The segments table as Markdown, CSV or JSON (xlsx: `segments_table` through
`figures.render.xlsx_bytes`): a withheld count prints as "x" with why
(JSON and CSV: null / empty)."""

from __future__ import annotations

import json

from realname.compliance.figures.render import Tabular, csv_text, markdown_table
from realname.compliance.segments.service import SegmentTable


def segments_table(table: SegmentTable) -> Tabular:
    return ([*table.by, "lines", "withheld"], table.rows())


def segments_text(table: SegmentTable, fmt: str) -> str:
    rows = table.rows()
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    header = [*table.by, "lines", "withheld"]
    if fmt == "csv":
        return csv_text(header, rows)
    shown = [
        [*(row[name] for name in table.by), _count(row["lines"]), row["withheld"] or ""]
        for row in rows
    ]
    note = (
        f"\nCounts below {table.k} are withheld (primary), and so is a second count of any "
        "line whose total would give one away (complementary).\n"
    )
    return markdown_table(header, shown) + "\n" + note


def _count(value: int | None) -> str:
    return "x" if value is None else f"{value:,}"
