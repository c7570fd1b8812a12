"""The standing sweep reads the secret-inspection rounds recorded here: an enterprise whose
visited outlets violated above the policy's rate in two national rounds in a row gets one
proposal of the next rung, citing both rounds, once (both engines)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from realname.compliance.enforcement import ladder
from realname.compliance.inspections.outcomes import Outcome
from realname.compliance.inspections.service import InspectionService, VisitSpec
from realname.security.vault import KeyRing
from tests.compliance.conftest import enforcement_of, inspector, national, regulator
from tests.compliance.inspections.test_service import new_inspector, spec
from tests.registry.conftest import NOW, World


def _round(inspections: InspectionService, who: str, code: str, day: int, outcome: Outcome) -> None:
    """A national round over the MNO's outlets in Beijing and Guangdong (more than the rule's
    minimum of visits), starting `day` days before NOW, every outlet drawn visited with
    `outcome`."""
    row = inspections.create_round(
        national(),
        spec(
            code,
            1,
            enterprises=["CMCC"],
            provinces=["11", "44"],
            starts_on=NOW.date() - timedelta(days=day),
        ),
    )
    targets = inspections.plan(national(), row.id)
    inspections.assign(national(), row.id, who, None)
    for target in targets:
        visit = VisitSpec(
            target_id=target.id,
            visited_at=NOW,
            place_region="110105",
            outcome=outcome,
            evidence=[],
        )
        inspections.record_visit(inspector(who, NOW + timedelta(hours=3)), row.id, visit)


def test_two_rounds_above_the_rate_are_proposed_on_once(
    sector: World, inspections: InspectionService, db_session: Session, keyring: KeyRing
) -> None:
    who = new_inspector(db_session, keyring)
    enforcement = enforcement_of(sector)
    _round(inspections, who, "R-1", 9, Outcome.SOLD_WITHOUT_ID)
    assert enforcement.sweep(regulator(NOW + timedelta(hours=4))) == []  # one round is not two
    _round(inspections, who, "R-2", 8, Outcome.ID_NOT_CHECKED)
    made = enforcement.sweep(regulator(NOW + timedelta(hours=4)))
    assert [(p.enterprise_id, p.rule) for p in made] == [
        (sector.enterprise_id, ladder.VIOLATION_RATE)
    ]
    assert "R-1" in made[0].basis and "R-2" in made[0].basis
    assert enforcement.sweep(regulator(NOW + timedelta(hours=5))) == []  # the same fact, once


def test_compliant_rounds_propose_nothing(
    sector: World, inspections: InspectionService, db_session: Session, keyring: KeyRing
) -> None:
    who = new_inspector(db_session, keyring)
    _round(inspections, who, "R-1", 9, Outcome.COMPLIANT)
    _round(inspections, who, "R-2", 8, Outcome.REGISTRATION_REFUSED_CORRECTLY)
    assert enforcement_of(sector).sweep(regulator(NOW + timedelta(hours=4))) == []


class _SameSession:
    """A unit of work over the test's (rolled-back) session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @contextmanager
    def transaction(self, **_: object) -> Iterator[Session]:
        yield self.session


def test_the_daily_job_sweeps_and_the_report_shows_what_waits(
    sector: World, inspections: InspectionService, db_session: Session, keyring: KeyRing
) -> None:
    """`realname backfill run` (the daily job) ends with the enforcement sweep: it proposes,
    nothing is decided, and `realname report enforcement` shows the rung waiting."""
    from realname.jobs import sweep_enforcement

    who = new_inspector(db_session, keyring)
    _round(inspections, who, "R-1", 9, Outcome.SOLD_WITHOUT_ID)
    _round(inspections, who, "R-2", 8, Outcome.ID_NOT_CHECKED)
    enforcement = enforcement_of(sector)
    uow: Any = _SameSession(db_session)
    at = NOW + timedelta(hours=4)
    assert sweep_enforcement(uow, lambda _session: enforcement, at) == 1
    assert sweep_enforcement(uow, lambda _session: enforcement, at + timedelta(days=1)) == 0
    rows = {r["enterprise"]: r for r in enforcement.report()}
    assert rows["CMCC"]["proposed"] == "notice" and rows["CMCC"]["actions"] == 0
    assert all(r["proposed"] == "" for code, r in rows.items() if code != "CMCC")
