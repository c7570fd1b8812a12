"""The national figures, written once: the SQL text both engines run (DuckDB and Spark SQL
read the same statements: plain ANSI aggregates, CASE and IN, which both have) and the plain
Python that turns their counts into rates. Pure: no engine here.

Why SQL text rather than Ibis: the figures are a handful of GROUP BY statements that both
engines' SQL reads as written (a test runs the same text on both and compares every row), so
Ibis 12 would add ibis-framework, sqlglot and a translation layer between the figures and the
engines' plans without a statement we could not write portably. A figure that needs a
dialect function would change that (the activation instant's month did; the month figure
groups on the registration month, a plain DATE, instead).

Definitions (those of the registry's compliance figures, compliance/figures/service.py):
- lines: lines in service (active, restricted, suspended, legacy), not cancelled or cooling;
- real-name rate: of those, the share with a registered owner;
- active lines: lines in state `active`;
- complaints per 10,000 lines: complaints in the dataset over lines in service; for a month
  the denominator is every line in service (the dataset is a stock, not a monthly history).
  Only over the enterprises the complaints cover (`national_complaint_sources`): an
  enterprise whose complaints the export could not trace (it runs its own instance) has
  complaints unknown, not 0.0, and a province's rate is over its covered enterprises' lines;
- violation rate: violating outlets over outlets visited, with its Wilson 95 % interval
  (compliance/inspections/rates.py), computed from the engine's two counts;
- identities over the national cap: identities holding more lines (active, restricted,
  suspended, as the registry's caps count them) than the cap, across all enterprises.

A month is the month the line's current owner registered (`registered_month`, written as the
first of the month), as the compliance figures' month rows count the month's registrations:
the month rows are the registrations still in service, their active lines and the complaints
received that month; lines in service without an owner are the row "unregistered". Grouping
on a DATE column costs what grouping on an integer does on both engines (the activation
instant's month would convert every timestamp through the time-zone tables: 8x slower on
DuckDB over 10 M lines).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from realname.compliance.inspections.rates import Rate, wilson

IN_SERVICE = ("active", "restricted", "suspended", "legacy")
HELD = ("active", "restricted", "suspended")
ENTERPRISE_KINDS = ("mno", "mvno")


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


@dataclass(frozen=True)
class Breakdown:
    """One figure: the group's SQL expression in each dataset (None: that dataset has no such
    dimension, its measure is left out of the rows)."""

    name: str
    lines_key: str
    complaints_key: str | None
    inspections_key: str | None
    with_kind: bool = False  # enterprise rows carry the enterprise's kind


BREAKDOWNS = (
    Breakdown("enterprise", "enterprise", "enterprise", "enterprise", with_kind=True),
    Breakdown("province", "province", "province", "province"),
    Breakdown("channel_kind", "channel_kind", "channel_kind", "channel_kind"),
    Breakdown("month", "registered_month", "month", None),
)
BREAKDOWN_NAMES = tuple(b.name for b in BREAKDOWNS)
IDENTITIES = "identities"


def lines_sql(b: Breakdown) -> str:
    kind = "MAX(enterprise_kind) AS kind, " if b.with_kind else ""
    return (
        f"SELECT {b.lines_key} AS grp, {kind}COUNT(*) AS lines, "  # noqa: S608 (constant SQL)
        "SUM(CASE WHEN real_name THEN 1 ELSE 0 END) AS real_name, "
        "SUM(CASE WHEN state = 'active' THEN 1 ELSE 0 END) AS active "
        f"FROM national_lines WHERE state IN {_in(IN_SERVICE)} GROUP BY {b.lines_key}"
    )


def covered_lines_sql(b: Breakdown) -> str:
    """Lines in service per group of the enterprises the complaints cover: the complaint
    rates' denominator when some enterprise is not covered."""
    return (
        f"SELECT {b.lines_key} AS grp, COUNT(*) AS lines "  # noqa: S608 (constant SQL)
        f"FROM national_lines WHERE state IN {_in(IN_SERVICE)} "
        "AND enterprise IN (SELECT enterprise FROM national_complaint_sources) "
        f"GROUP BY {b.lines_key}"
    )


SOURCES_SQL = "SELECT DISTINCT enterprise FROM national_complaint_sources"


def covered_of_enterprises(lines: Rows, sources: set[str]) -> Rows:
    """The enterprise breakdown's covered lines, from its own line rows (no second scan); a
    covered enterprise with no line in service is there with 0 (known, no rate)."""
    held = {str(row[0]): row[2] for row in lines if row[0] is not None}
    return [(code, held.get(code, 0)) for code in sorted(sources)]


def complaints_sql(b: Breakdown) -> str | None:
    if b.complaints_key is None:
        return None
    return (
        f"SELECT {b.complaints_key} AS grp, COUNT(*) AS complaints "  # noqa: S608 (constant SQL)
        f"FROM national_complaints GROUP BY {b.complaints_key}"
    )


def inspections_sql(b: Breakdown) -> str | None:
    if b.inspections_key is None:
        return None
    kind = "MAX(enterprise_kind) AS kind, " if b.with_kind else ""
    return (
        f"SELECT {b.inspections_key} AS grp, {kind}COUNT(*) AS inspected, "  # noqa: S608 (constant SQL)
        "SUM(CASE WHEN violated THEN 1 ELSE 0 END) AS violations "
        f"FROM national_inspections GROUP BY {b.inspections_key}"
    )


def identities_sql(cap: int | None) -> str:
    """Per identity the lines it holds nationally; then how many identities, how many over the
    cap (0 is asked when there is no cap, and not reported) and the most one holds."""
    over = 0 if cap is None else int(cap)
    return (
        "SELECT COUNT(*) AS identities, "  # noqa: S608 (the cap is an int)
        f"SUM(CASE WHEN held > {over} THEN 1 ELSE 0 END) AS over_cap, "
        f"SUM(CASE WHEN held > {over} THEN held ELSE 0 END) AS lines_over_cap, "
        "MAX(held) AS most "
        "FROM (SELECT identity_key, COUNT(*) AS held FROM national_lines "
        f"WHERE identity_key IS NOT NULL AND state IN {_in(HELD)} "
        "GROUP BY identity_key) per_identity"
    )


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def per_10k(count: int, lines: int) -> float | None:
    return count * 10_000 / lines if lines else None


@dataclass(frozen=True)
class GroupFigures:
    """One row of a breakdown. `complaints` is None without a complaints dataset (or for a
    breakdown complaints do not have, or a group no covered enterprise has lines in);
    `complaint_lines` the lines its rate is over (fewer than `lines` where some enterprise's
    complaints are not covered); `inspection` likewise."""

    by: str
    group: str
    kind: str | None
    lines: int
    real_name: int
    active: int
    complaints: int | None
    complaints_per_10k: float | None
    inspection: Rate | None
    complaint_lines: int | None = None

    @property
    def real_name_rate(self) -> float | None:
        return share(self.real_name, self.lines)

    def as_json(self) -> dict[str, Any]:
        inspection = self.inspection
        return {
            "by": self.by,
            "group": self.group,
            "kind": self.kind,
            "lines": self.lines,
            "real_name": self.real_name,
            "real_name_rate": self.real_name_rate,
            "active": self.active,
            "complaints": self.complaints,
            "complaints_per_10k": self.complaints_per_10k,
            "complaint_lines": self.complaint_lines,
            "inspected": None if inspection is None else inspection.n,
            "violations": None if inspection is None else inspection.hits,
            "violation_rate": None if inspection is None else inspection.rate,
            "violation_rate_low": None if inspection is None else inspection.low,
            "violation_rate_high": None if inspection is None else inspection.high,
        }


@dataclass(frozen=True)
class IdentityFigures:
    """Owners nationally: identities holding lines, the cap (None: the policy has none), how
    many hold more than it and how many lines those hold, and the most lines one holds."""

    identities: int
    cap: int | None
    over_cap: int | None
    lines_over_cap: int | None
    most_lines: int

    def as_json(self) -> dict[str, Any]:
        return {
            "identities": self.identities,
            "national_cap": self.cap,
            "identities_over_cap": self.over_cap,
            "lines_over_cap": self.lines_over_cap,
            "most_lines_one_identity": self.most_lines,
        }


@dataclass(frozen=True)
class NationalFigures:
    engine: str
    lines_total: int  # lines in service, nationally
    breakdowns: dict[str, list[GroupFigures]]  # BREAKDOWN_NAMES and "enterprise_kind"
    identities: IdentityFigures
    seconds: dict[str, float]  # per figure, wall time, as measured by the service
    cpu_seconds: dict[str, float]  # per figure, the process's CPU time

    def as_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "lines": self.lines_total,
            **{name: [g.as_json() for g in rows] for name, rows in self.breakdowns.items()},
            "identities": self.identities.as_json(),
        }


Rows = list[tuple[Any, ...]]


def _label(value: Any, by: str = "") -> str:
    if value is None:
        return "unregistered" if by == "month" else "unknown"
    if isinstance(value, date):
        return value.strftime("%Y-%m")
    return str(value)


def _order(name: str) -> Callable[[GroupFigures], Any]:
    if name == "enterprise":  # MNOs first, as the compliance figures print them
        return lambda g: (g.kind != "mno", g.kind or "", g.group)
    return lambda g: (g.group in ("unknown", "unregistered"), g.group)


def assemble(
    b: Breakdown,
    lines: Rows,
    complaints: Rows | None,
    inspections: Rows | None,
    total: int,
    covered: Rows | None = None,
) -> list[GroupFigures]:
    """The rows of a breakdown from the engines' counts (any order; keys matched as labels).
    `covered`: lines per group of the enterprises the complaints cover, when not all are
    (None: all are); `total` then is the covered lines in service (the month denominator)."""
    stock: dict[str, tuple[str | None, int, int, int]] = {}
    for row in lines:
        key, rest = _label(row[0], b.name), row[1:]
        kind = str(rest[0]) if b.with_kind and rest[0] is not None else None
        n, registered, active = (int(v or 0) for v in (rest[1:] if b.with_kind else rest))
        stock[key] = (kind, n, registered, active)
    complained = {_label(k): int(n) for k, n in complaints} if complaints is not None else None
    visited: dict[str, tuple[str | None, int, int]] | None = None
    if inspections is not None:
        visited = {}
        for row in inspections:
            key, rest = _label(row[0]), row[1:]
            kind = str(rest[0]) if b.with_kind and rest[0] is not None else None
            n, hits = (int(v or 0) for v in (rest[1:] if b.with_kind else rest))
            visited[key] = (kind, n, hits)
    within = None if covered is None else {_label(k, b.name): int(n or 0) for k, n in covered}
    keys = set(stock) | set(complained or {}) | set(visited or {})
    out = []
    for key in keys:
        kind, n, registered, active = stock.get(key, (None, 0, 0, 0))
        count = None if complained is None else complained.get(key, 0)
        over = n if within is None else within.get(key, 0)
        if b.name == "month":
            over = total
        if within is not None and b.name != "month" and key not in within and not count:
            count = None  # no enterprise of the group is covered: unknown, not zero
        inspection = None
        if visited is not None:
            seen_kind, seen, hits = visited.get(key, (None, 0, 0))
            kind = kind or seen_kind
            inspection = wilson(hits, seen)
        out.append(
            GroupFigures(
                by=b.name,
                group=key,
                kind=kind if b.with_kind else None,
                lines=n,
                real_name=registered,
                active=active,
                complaints=count,
                complaints_per_10k=None if count is None else per_10k(count, over),
                inspection=inspection,
                complaint_lines=None if count is None else over,
            )
        )
    return sorted(out, key=_order(b.name))


def by_enterprise_kind(enterprises: Iterable[GroupFigures]) -> list[GroupFigures]:
    """MNOs and MVNOs side by side: the enterprise rows summed by kind (every measure is a
    count, so the sums are exact; the interval is recomputed from the summed counts)."""
    rows = list(enterprises)
    out = []
    for kind in sorted(
        {r.kind or "unknown" for r in rows}, key=lambda k: (k not in ENTERPRISE_KINDS, k)
    ):
        mine = [r for r in rows if (r.kind or "unknown") == kind]
        n = sum(r.lines for r in mine)
        counted = [r for r in mine if r.complaints is not None]
        complaints = sum(r.complaints or 0 for r in counted) if counted else None
        complaint_lines = sum(r.complaint_lines or 0 for r in counted) if counted else None
        inspection = None
        if all(r.inspection is not None for r in mine):
            inspection = wilson(
                sum(r.inspection.hits for r in mine if r.inspection),
                sum(r.inspection.n for r in mine if r.inspection),
            )
        out.append(
            GroupFigures(
                by="enterprise_kind",
                group=kind,
                kind=None,
                lines=n,
                real_name=sum(r.real_name for r in mine),
                active=sum(r.active for r in mine),
                complaints=complaints,
                complaints_per_10k=(
                    None if complaints is None else per_10k(complaints, complaint_lines or 0)
                ),
                inspection=inspection,
                complaint_lines=complaint_lines,
            )
        )
    return out


def identity_figures(row: Sequence[Any], cap: int | None) -> IdentityFigures:
    identities, over, lines_over, most = (int(v or 0) for v in row)
    return IdentityFigures(
        identities=identities,
        cap=cap,
        over_cap=None if cap is None else over,
        lines_over_cap=None if cap is None else lines_over,
        most_lines=most,
    )
