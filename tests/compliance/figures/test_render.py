"""The figures' CSV and XLSX keep a formula someone typed as text (CSV injection)."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from realname.compliance.figures.render import csv_text, spreadsheet_safe, xlsx_bytes

EVIL = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"]


def test_a_cell_that_starts_a_formula_is_quoted_and_others_are_left_alone() -> None:
    assert [spreadsheet_safe(v) for v in EVIL] == ["'" + v for v in EVIL]
    assert spreadsheet_safe("中国移动") == "中国移动" and spreadsheet_safe(-0.5) == -0.5
    text = csv_text(["name", "rate"], [{"name": v, "rate": -0.5} for v in EVIL])
    rows = list(csv.reader(io.StringIO(text.replace("\r", "<CR>"), newline="")))[1:]
    assert [row[0].replace("<CR>", "\r") for row in rows] == ["'" + v for v in EVIL], text
    assert "-0.5" in text  # a number is not text to quote


def test_the_workbook_holds_them_as_text_shown_as_typed() -> None:
    """Text cells styled quotePrefix (what Excel does for a value typed with a leading `'`):
    the cell's value is the original text, not `'` + text, and it is never a formula."""
    typed = EVIL[:-1]  # (the workbook keeps a CR as a line feed)
    rows = [{"name": v, "n": 3} for v in [*typed, "中国移动"]]
    book = load_workbook(io.BytesIO(xlsx_bytes(["name", "n"], rows, "x")))
    cells = [row[0] for row in book.active.iter_rows(min_row=2)]
    assert [c.value for c in cells] == [*typed, "中国移动"]
    assert {c.data_type for c in cells} == {"s"}
    assert [c.quotePrefix for c in cells] == [True] * len(typed) + [False]
    numbers = [row[1] for row in book.active.iter_rows(min_row=2)]
    assert {(c.value, c.data_type) for c in numbers} == {(3, "n")}
