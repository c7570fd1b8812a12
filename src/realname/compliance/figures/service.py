"""The regulator's compliance figures: per enterprise (MNOs and MVNOs side by side), per
province, per channel kind and per month, over a period.

Stock figures (lines, the real-name rate, back-fill progress, cap breaches) are as the
registry stands; flows (registrations, refusals, re-verifications, complaints) are the
period's; inspection results are the rounds that started in the period. Read only: nothing
here writes but the audit entry of who read them (the entry point's).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from realname.compliance.figures.errors import FiguresError, FiguresErrorCode
from realname.compliance.figures.periods import Period
from realname.compliance.figures.repository import FiguresRepository
from realname.compliance.inspections.places import province_name
from realname.compliance.inspections.rates import Rate, wilson
from realname.compliance.inspections.repository import InspectionRepository
from realname.identity.regions import province_prefixes
from realname.policy.schema import CapScope, ChannelKind, Policy

# Complaints are the registry's `complain` events until the complaints domain's cases land
# (line_events' docstring): the report says which source it read.
COMPLAINTS_SOURCE = "line_event:complain"
EVENT_MEASURES = (
    "registrations",
    "reverify_asked",
    "reverify_answered",
    "reverify_suspended",
    "complaints",
)


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def per_10k(count: int, lines: int) -> float:
    """Per 10,000 lines in service (0 with no lines: nothing to complain about)."""
    return count * 10_000 / lines if lines else 0.0


@dataclass(frozen=True)
class EnterpriseFigures:
    enterprise: str
    name: str
    kind: str  # mno | mvno
    lines: int
    registered: int
    real_name_rate: float | None
    backfill_base: int
    backfilled: int
    backfill_terminated: int
    backfill_progress: float | None
    backfill_deadline: date | None
    # Milestones due by today whose share is above today's progress: missed for certain
    # (progress only grows), whatever it was on the day.
    backfill_milestones_missed: int
    refusals: dict[str, int]
    cap_breaches: int
    registrations: int
    reverify_asked: int
    reverify_answered: int
    reverify_suspended: int
    inspection: Rate
    complaints: int
    complaints_per_10k: float

    def as_json(self) -> dict[str, Any]:
        """The report's row: the fields `realname report compliance --format json` promises,
        then the rest."""
        return {
            "enterprise": self.enterprise,
            "name": self.name,
            "kind": self.kind,
            "lines": self.lines,
            "registered": self.registered,
            "real_name_rate": self.real_name_rate,
            "inspected": self.inspection.n,
            "violations": self.inspection.hits,
            "violation_rate": self.inspection.rate,
            "violation_rate_low": self.inspection.low,
            "violation_rate_high": self.inspection.high,
            "complaints": self.complaints,
            "complaints_per_10k": self.complaints_per_10k,
            "backfill_base": self.backfill_base,
            "backfilled": self.backfilled,
            "backfill_terminated": self.backfill_terminated,
            "backfill_progress": self.backfill_progress,
            "backfill_deadline": (
                self.backfill_deadline.isoformat() if self.backfill_deadline else None
            ),
            "backfill_milestones_missed": self.backfill_milestones_missed,
            "refused": sum(self.refusals.values()),
            "refusals": dict(sorted(self.refusals.items())),
            "cap_breaches": self.cap_breaches,
            "registrations": self.registrations,
            "reverify_asked": self.reverify_asked,
            "reverify_answered": self.reverify_answered,
            "reverify_suspended": self.reverify_suspended,
        }


@dataclass(frozen=True)
class GroupFigures:
    """A row of a breakdown (province, channel kind, month, enterprise kind)."""

    group: str
    lines: int | None = None
    registered: int | None = None
    real_name_rate: float | None = None
    refused: int = 0
    inspection: Rate = field(default_factory=lambda: wilson(0, 0))
    events: dict[str, int] = field(default_factory=dict)
    code: str | None = None  # a province row's GB/T 2260 code (`group` is its name)

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "code": self.code,
            "lines": self.lines,
            "registered": self.registered,
            "real_name_rate": self.real_name_rate,
            "refused": self.refused,
            "inspected": self.inspection.n,
            "violations": self.inspection.hits,
            "violation_rate": self.inspection.rate,
            "violation_rate_low": self.inspection.low,
            "violation_rate_high": self.inspection.high,
            **{name: self.events.get(name, 0) for name in EVENT_MEASURES},
        }


@dataclass(frozen=True)
class Figures:
    period: Period
    province: str | None
    enterprises: list[EnterpriseFigures]
    by_enterprise_kind: list[GroupFigures]
    by_province: list[GroupFigures]
    by_channel_kind: list[GroupFigures]
    by_month: list[GroupFigures]
    national_cap_breaches: int
    complaints_source: str = COMPLAINTS_SOURCE

    @property
    def cap_breaches(self) -> int:
        """Must be zero: the registry enforces the caps under row locks."""
        return sum(e.cap_breaches for e in self.enterprises) + self.national_cap_breaches


def checked_province(asked: str | None, confined_to: str | None) -> str | None:
    """The province to report on: a provincial administration's own (asking for another is
    refused), else the one asked for (validated), else the nation (None)."""
    if asked is not None and asked not in province_prefixes():
        raise FiguresError(FiguresErrorCode.PROVINCE_INVALID)
    if confined_to is not None:
        if asked not in (None, confined_to):
            raise FiguresError(FiguresErrorCode.OUTSIDE_PROVINCE)
        return confined_to
    return asked


class FiguresService:
    def __init__(self, session: Session, policy: Policy) -> None:
        self.repo = FiguresRepository(session)
        self.inspections = InspectionRepository(session)
        self.policy = policy

    def figures(self, period: Period, province: str | None, today: date) -> Figures:
        """The figures over `period` (flows) and as the registry stands `today` (stock)."""
        enterprises = self.repo.enterprises()
        campaigns = self.repo.campaigns()
        lines = self.repo.lines(province)
        backfill = self.repo.backfill(province)
        refusals = self.repo.refusals(period, province)
        breaches = self.repo.cap_breaches(self.policy.cap(CapScope.ENTERPRISE), province)
        events = self.repo.line_events(period, province)
        inspected = self.inspections.violations_by("enterprise", period.first, period.end, province)
        rows = []
        for ident, code, name, kind in enterprises:
            n, registered = lines.get(ident, (0, 0))
            left, done, ended = backfill.get(ident, (0, 0, 0))
            counts = events.get(ident, {})
            visited, violating = inspected.get(ident, (0, 0))
            complaints = counts.get("complaints", 0)
            progress = share(done, left + done + ended)
            deadline, milestones = campaigns.get(ident, (None, []))
            rows.append(
                EnterpriseFigures(
                    enterprise=code,
                    name=name,
                    kind=kind,
                    lines=n,
                    registered=registered,
                    real_name_rate=share(registered, n),
                    backfill_base=left + done + ended,
                    backfilled=done,
                    backfill_terminated=ended,
                    backfill_progress=progress,
                    backfill_deadline=deadline,
                    backfill_milestones_missed=sum(
                        1
                        for due_on, percent in milestones
                        if due_on <= today
                        and (progress if progress is not None else 1) * 100 < percent
                    ),
                    refusals={c: k for (e, c), k in refusals.items() if e == ident},
                    cap_breaches=breaches.get(ident, 0),
                    registrations=counts.get("registrations", 0),
                    reverify_asked=counts.get("reverify_asked", 0),
                    reverify_answered=counts.get("reverify_answered", 0),
                    reverify_suspended=counts.get("reverify_suspended", 0),
                    inspection=wilson(violating, visited),
                    complaints=complaints,
                    complaints_per_10k=per_10k(complaints, n),
                )
            )
        return Figures(
            period=period,
            province=province,
            enterprises=rows,
            by_enterprise_kind=_by_enterprise_kind(rows),
            by_province=self._by_province(period, province),
            by_channel_kind=self._by_channel_kind(period, province),
            by_month=self._by_month(period, province),
            national_cap_breaches=self.repo.national_cap_breaches(
                self.policy.cap(CapScope.NATIONAL)
            ),
        )

    def _by_province(self, period: Period, province: str | None) -> list[GroupFigures]:
        lines = self.repo.lines(province, by="province")
        inspected = self.inspections.violations_by("province", period.first, period.end, province)
        rows = []
        for code in sorted(set(lines) | set(inspected), key=lambda c: c or ""):
            n, registered = lines.get(code, (0, 0))
            visited, violating = inspected.get(code, (0, 0))
            rows.append(
                GroupFigures(
                    group=province_name(code),
                    code=code or None,
                    lines=n,
                    registered=registered,
                    real_name_rate=share(registered, n),
                    inspection=wilson(violating, visited),
                )
            )
        return rows

    def _by_channel_kind(self, period: Period, province: str | None) -> list[GroupFigures]:
        refusals = _summed(self.repo.refusals(period, province, by="kind"))
        events = self.repo.line_events(period, province, by="kind")
        inspected = self.inspections.violations_by("kind", period.first, period.end, province)
        rows = []
        for kind in ChannelKind:
            visited, violating = inspected.get(str(kind), (0, 0))
            rows.append(
                GroupFigures(
                    group=str(kind),
                    refused=refusals.get(str(kind), 0),
                    inspection=wilson(violating, visited),
                    events=events.get(str(kind), {}),
                )
            )
        return rows

    def _by_month(self, period: Period, province: str | None) -> list[GroupFigures]:
        refusals = _summed(self.repo.refusals(period, province, by="month"))
        events = self.repo.line_events(period, province, by="month")
        visits = self.repo.visits_by_month(period, province)
        return [
            GroupFigures(
                group=label,
                refused=refusals.get(label, 0),
                inspection=wilson(visits.get(label, (0, 0))[1], visits.get(label, (0, 0))[0]),
                events=events.get(label, {}),
            )
            for label, _, _ in period.months()
        ]


def _summed(counts: dict[tuple[Any, str], int]) -> dict[Any, int]:
    out: dict[Any, int] = defaultdict(int)
    for (group, _), n in counts.items():
        out[group] += n
    return out


def _by_enterprise_kind(rows: list[EnterpriseFigures]) -> list[GroupFigures]:
    """MNOs and MVNOs side by side: each kind's totals, its violation rate pooled over its
    enterprises' visits."""
    out = []
    for kind in ("mno", "mvno"):
        members = [r for r in rows if r.kind == kind]
        n = sum(r.lines for r in members)
        registered = sum(r.registered for r in members)
        out.append(
            GroupFigures(
                group=kind,
                lines=n,
                registered=registered,
                real_name_rate=share(registered, n),
                refused=sum(sum(r.refusals.values()) for r in members),
                inspection=wilson(
                    sum(r.inspection.hits for r in members), sum(r.inspection.n for r in members)
                ),
                events={
                    "registrations": sum(r.registrations for r in members),
                    "reverify_asked": sum(r.reverify_asked for r in members),
                    "reverify_answered": sum(r.reverify_answered for r in members),
                    "reverify_suspended": sum(r.reverify_suspended for r in members),
                    "complaints": sum(r.complaints for r in members),
                },
            )
        )
    return out
