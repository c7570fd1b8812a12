"""The registry's active subscriber lines counted by segment, for planning (issue 15 §5).

One GROUP BY over `line` joined with its owner's `identity`: the age band is computed in SQL
from the birth date against cut-off dates the caller derives from its own "today" (portable:
date comparisons work alike on SQLite and PostgreSQL), the province is the first two digits
of the identity's GB/T 2260 region code (named by the service, not here). Nothing personal
leaves the database: only counts per segment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Case, and_, case, func, literal, select
from sqlalchemy.orm import Session

from realname.registry.lifecycle import LineState
from realname.registry.models import Enterprise, Identity, Line

UNKNOWN = "unknown"


@dataclass(frozen=True)
class SegmentCount:
    enterprise: str
    kind: str
    province_code: str | None
    age_band: str
    sex: str
    lines: int


class SegmentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def active_lines(
        self, bands: Sequence[tuple[str, date]], *, province_code: str | None = None
    ) -> list[SegmentCount]:
        """`bands`: (label, latest birth date in the band), youngest band last, oldest first
        excluded: e.g. [("65+", today-65y), ("55-64", today-55y), …, ("0-17", date.max)].
        A line without a known birth date counts as `unknown`."""
        band = _band(bands)
        province = func.substr(Identity.region_code, 1, 2)
        sex = func.coalesce(Identity.sex, literal(UNKNOWN))
        statement = (
            select(Enterprise.code, Enterprise.kind, province, band, sex, func.count())
            .select_from(Line)
            .join(Identity, Identity.id == Line.owner_identity_id)
            .join(Enterprise, Enterprise.id == Line.enterprise_id)
            .where(Line.state == str(LineState.ACTIVE))
            .group_by(Enterprise.code, Enterprise.kind, province, band, sex)
        )
        if province_code is not None:
            statement = statement.where(and_(province == province_code))
        return [
            SegmentCount(str(code), str(kind), prov, str(age), str(s), int(n))
            for code, kind, prov, age, s, n in self.session.execute(statement)
        ]


def _band(bands: Sequence[tuple[str, date]]) -> Case[str]:
    whens = [(Identity.birth_date <= latest, literal(label)) for label, latest in bands]
    return case(*whens, else_=literal(UNKNOWN))
