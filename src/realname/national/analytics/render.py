"""The national figures as Markdown, CSV or JSON text, written as the compliance reports are
(compliance/figures/render.py: percentages with one decimal, Wilson bounds, region names).
Pure: figures in, text out."""

from __future__ import annotations

import json
from typing import Any

from realname.compliance.figures.render import csv_text, interval, markdown_table, pct
from realname.compliance.inspections.places import province_name
from realname.national.analytics.figures import GroupFigures, NationalFigures

TITLES = {
    "enterprise": "Enterprises, MNOs and MVNOs side by side",
    "enterprise_kind": "MNOs and MVNOs",
    "province": "By province (the selling channel's)",
    "channel_kind": "By channel kind",
    "month": "By month of the current owner's registration",
}
CSV_COLUMNS = [
    "by",
    "group",
    "name",
    "kind",
    "lines",
    "real_name",
    "real_name_rate",
    "active",
    "complaints",
    "complaints_per_10k",
    "complaint_lines",
    "inspected",
    "violations",
    "violation_rate",
    "violation_rate_low",
    "violation_rate_high",
]


def _name(g: GroupFigures) -> str:
    return province_name(g.group) if g.by == "province" and g.group != "unknown" else g.group


def group_json(g: GroupFigures) -> dict[str, Any]:
    row = g.as_json()
    return {"by": row.pop("by"), "group": row.pop("group"), "name": _name(g), **row}


def national_json(figures: NationalFigures) -> dict[str, Any]:
    out = figures.as_json()
    for by, rows in figures.breakdowns.items():
        out[by] = [group_json(g) for g in rows]
    return out


def _row(g: GroupFigures, with_kind: bool) -> list[object]:
    inspection = g.inspection
    return [
        _name(g),
        *([(g.kind or "").upper()] if with_kind else []),
        f"{g.lines:,}",
        pct(g.real_name_rate),
        f"{g.active:,}",
        "—" if g.complaints_per_10k is None else f"{g.complaints_per_10k:.1f}",
        "—" if inspection is None else inspection.n,
        "—" if inspection is None else inspection.hits,
        "—" if inspection is None else pct(inspection.rate),
        "—" if inspection is None else interval(inspection),
    ]


def national_markdown(figures: NationalFigures) -> str:
    out = [
        f"# National figures ({figures.engine})",
        "",
        f"{figures.lines_total:,} lines in service nationally.",
    ]
    header = [
        "lines",
        "real-name",
        "active",
        "complaints /10k",
        "inspected",
        "violating",
        "rate",
        "95 % CI",
    ]
    for by, rows in figures.breakdowns.items():
        with_kind = by == "enterprise"
        first = ["enterprise", "kind"] if with_kind else [by.replace("_", " ")]
        out += ["", f"## {TITLES[by]}", ""]
        out.append(markdown_table([*first, *header], [_row(g, with_kind) for g in rows]))
    who = figures.identities
    out += ["", "## Identities", ""]
    cap = (
        "no national cap in the policy"
        if who.cap is None
        else f"{who.over_cap:,} hold more than the national cap of {who.cap} "
        f"({who.lines_over_cap:,} lines; must be 0 where the cap is enforced)"
    )
    out.append(
        f"{who.identities:,} identities hold lines; {cap}; the most one holds: {who.most_lines:,}."
    )
    return "\n".join(out) + "\n"


def national_text(figures: NationalFigures, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(national_json(figures), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":  # the breakdowns' rows; the identities figure is one line, in md and json
        rows = [group_json(g) for rows in figures.breakdowns.values() for g in rows]
        return csv_text(CSV_COLUMNS, rows)
    return national_markdown(figures)
