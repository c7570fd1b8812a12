"""The compliance and inspections reports as Markdown, CSV or JSON text, or an xlsx workbook
holding the CSV's rows. Pure: rows in, text or bytes out (`realname report …` writes it).
Rates print as percentages with one decimal; an interval as its Wilson bounds; a region by
its name."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from realname.compliance.figures.service import Figures, GroupFigures
from realname.compliance.inspections.places import province_name
from realname.compliance.inspections.rates import Rate
from realname.compliance.inspections.service import RoundRates


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def interval(rate: Rate) -> str:
    if rate.low is None or rate.high is None:
        return "—"
    return f"{rate.low * 100:.1f}–{rate.high * 100:.1f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, numbers right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    numeric = [all(_numeric(row[i]) for row in cells) and bool(cells) for i in range(len(header))]
    rule = ["---:" if n else "---" for n in numeric]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    return (
        text.replace(",", "")
        .replace(".", "")
        .replace(" %", "")
        .replace("—", "")
        .replace("–", "")
        .isdigit()
        or text == "—"
    )


def compliance_rows(figures: Figures) -> list[dict[str, Any]]:
    """One object per enterprise (the JSON report)."""
    return [e.as_json() for e in figures.enterprises]


def _group_rows(groups: Sequence[GroupFigures], *, lines: bool) -> list[list[object]]:
    rows: list[list[object]] = []
    for g in groups:
        row: list[object] = [g.group]
        if lines:
            row += [f"{g.lines or 0:,}", pct(g.real_name_rate)]
        row += [
            g.events.get("registrations", 0),
            g.refused,
            g.events.get("reverify_asked", 0),
            g.events.get("reverify_answered", 0),
            g.events.get("reverify_suspended", 0),
            g.events.get("complaints", 0),
            g.inspection.n,
            g.inspection.hits,
            pct(g.inspection.rate),
            interval(g.inspection),
        ]
        rows.append(row)
    return rows


FLOW_HEADER = [
    "registered",
    "refused",
    "re-verif. asked",
    "answered",
    "suspended",
    "complaints",
    "inspected",
    "violating",
    "rate",
    "95 % CI",
]


def compliance_markdown(figures: Figures) -> str:
    where = "the nation" if figures.province is None else province_name(figures.province)
    out = [f"# Compliance figures, {figures.period.label}, {where}", ""]
    out.append(
        markdown_table(
            [
                "enterprise",
                "kind",
                "lines",
                "real-name",
                "back-fill",
                "refused",
                "cap breaches",
                "re-verif. asked/answered/suspended",
                "inspected",
                "violating",
                "rate",
                "95 % CI",
                "complaints /10k",
            ],
            [
                [
                    e.enterprise,
                    e.kind.upper(),
                    f"{e.lines:,}",
                    pct(e.real_name_rate),
                    pct(e.backfill_progress)
                    + (
                        f" ({e.backfill_milestones_missed} missed)"
                        if e.backfill_milestones_missed
                        else ""
                    ),
                    sum(e.refusals.values()),
                    e.cap_breaches,
                    f"{e.reverify_asked}/{e.reverify_answered}/{e.reverify_suspended}",
                    e.inspection.n,
                    e.inspection.hits,
                    pct(e.inspection.rate),
                    interval(e.inspection),
                    f"{e.complaints_per_10k:.1f}",
                ]
                for e in figures.enterprises
            ],
        )
    )
    out += ["", "## MNOs and MVNOs", ""]
    out.append(
        markdown_table(
            ["kind", "lines", "real-name", *FLOW_HEADER],
            _group_rows(figures.by_enterprise_kind, lines=True),
        )
    )
    out += ["", "## By province (the lines' home region)", ""]
    out.append(
        markdown_table(
            ["province", "lines", "real-name", "inspected", "violating", "rate", "95 % CI"],
            [
                [
                    g.group,
                    f"{g.lines or 0:,}",
                    pct(g.real_name_rate),
                    g.inspection.n,
                    g.inspection.hits,
                    pct(g.inspection.rate),
                    interval(g.inspection),
                ]
                for g in figures.by_province
            ],
        )
    )
    out += ["", "## By channel kind", ""]
    out.append(
        markdown_table(
            ["channel kind", *FLOW_HEADER], _group_rows(figures.by_channel_kind, lines=False)
        )
    )
    out += ["", "## By month", ""]
    out.append(markdown_table(["month", *FLOW_HEADER], _group_rows(figures.by_month, lines=False)))
    refusals: dict[str, int] = {}
    for e in figures.enterprises:
        for code, n in e.refusals.items():
            refusals[code] = refusals.get(code, 0) + n
    out += ["", "## Refused registrations by reason", ""]
    ranked = sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0]))
    out.append(markdown_table(["reason", "refused"], [[code, n] for code, n in ranked]))
    out += [
        "",
        f"Cap breaches (must be 0): {figures.cap_breaches}. "
        f"Complaints counted from: {figures.complaints_source}.",
    ]
    return "\n".join(out) + "\n"


# A report as a table: its header and its rows (what CSV and xlsx both write).
Tabular = tuple[list[str], list[dict[str, Any]]]


def compliance_table(figures: Figures) -> Tabular:
    rows = compliance_rows(figures)
    flat = [{**r, "refusals": json.dumps(r["refusals"], sort_keys=True)} for r in rows]
    return (list(flat[0]) if flat else ["enterprise"], flat)


def compliance_text(figures: Figures, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(compliance_rows(figures), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return csv_text(*compliance_table(figures))
    return compliance_markdown(figures)


def inspections_rows(rounds: Sequence[RoundRates]) -> list[dict[str, Any]]:
    rows = []
    for r in rounds:
        overall: list[tuple[str, str | None, Rate]] = [("all", None, r.overall)]
        for by, groups in [("round", overall), *r.groups.items()]:
            for group, kind, rate in groups:
                rows.append(
                    {
                        "round": r.code,
                        "starts_on": r.starts_on,
                        "ends_on": r.ends_on,
                        "by": by,
                        "group": group,
                        "kind": kind,
                        "inspected": rate.n,
                        "violations": rate.hits,
                        "violation_rate": rate.rate,
                        "violation_rate_low": rate.low,
                        "violation_rate_high": rate.high,
                    }
                )
    return rows


def inspections_markdown(rounds: Sequence[RoundRates], title: str) -> str:
    out = [f"# Secret inspections, {title}", ""]
    out.append(
        markdown_table(
            ["round", "dates", "inspected", "violating", "rate", "95 % CI"],
            [
                [
                    r.code,
                    f"{r.starts_on} – {r.ends_on}",
                    r.overall.n,
                    r.overall.hits,
                    pct(r.overall.rate),
                    interval(r.overall),
                ]
                for r in rounds
            ],
        )
    )
    labels = {"enterprise": "enterprise", "kind": "channel kind", "province": "province"}
    for r in rounds:
        out += ["", f"## {r.code}: {r.name}"]
        for by, groups in r.groups.items():
            out += ["", f"### By {labels[by]}", ""]
            head = [labels[by], *(["kind"] if by == "enterprise" else [])]
            out.append(
                markdown_table(
                    [*head, "inspected", "violating", "rate", "95 % CI"],
                    [
                        [
                            group,
                            *([(kind or "").upper()] if by == "enterprise" else []),
                            rate.n,
                            rate.hits,
                            pct(rate.rate),
                            interval(rate),
                        ]
                        for group, kind, rate in groups
                    ],
                )
            )
    return "\n".join(out) + "\n"


def inspections_table(rounds: Sequence[RoundRates]) -> Tabular:
    rows = inspections_rows(rounds)
    return (list(rows[0]) if rows else ["round"], rows)


def inspections_text(rounds: Sequence[RoundRates], fmt: str, title: str) -> str:
    if fmt == "json":
        return json.dumps(inspections_rows(rounds), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return csv_text(*inspections_table(rounds))
    return inspections_markdown(rounds, title)


def rows_text(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """Plain report rows as JSON (every key), CSV or a Markdown table (`columns`, in order),
    written as the other reports are."""
    if fmt == "json":
        return json.dumps(list(rows), ensure_ascii=False, indent=2, default=str) + "\n"
    if fmt == "csv":
        return csv_text(list(columns), rows)
    shown = [["" if row.get(c) is None else row[c] for c in columns] for row in rows]
    return markdown_table(columns, shown) + "\n"


# What a spreadsheet reads as the start of a formula (or, tab and CR, a cell break that
# exposes one): `=HYPERLINK(...)` in an enterprise's name must stay text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with `'` (OWASP's
    CSV-injection advice): shown as typed, never evaluated. Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: list[str], rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else spreadsheet_safe(v) for k, v in row.items()})
    return buffer.getvalue()


def xlsx_bytes(header: list[str], rows: Sequence[dict[str, Any]], sheet: str) -> bytes:
    """The rows CSV writes, as one sheet of an xlsx workbook: the header, then a row per row
    (numbers and dates as Excel numbers and dates, a missing value as an empty cell). Text
    that a spreadsheet would run as a formula is a text cell with the quote-prefix style:
    it shows as typed (no leading `'` in the value, as the CSV needs) and stays text when
    someone edits it."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    page = book.create_sheet(title=sheet[:31])  # Excel's limit on a sheet's name
    page.append([_cell(page, name) for name in header])
    for row in rows:
        page.append([_cell(page, row.get(column)) for column in header])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(page: Any, value: object) -> object:
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, datetime) and value.tzinfo is not None:
        # Excel has no time zones (openpyxl refuses an aware datetime): UTC, as every
        # instant in RealName is kept
        return value.astimezone(UTC).replace(tzinfo=None)
    if value is None or isinstance(value, (int, float, date)):
        return value
    text = str(value)
    if not text.startswith(FORMULA_STARTS):
        return text
    # openpyxl reads "=…" as a formula: the cell is made text (type s) after the value is
    # set, and styled quotePrefix, Excel's own mark of "typed as text"
    cell = WriteOnlyCell(page, value=text)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell
