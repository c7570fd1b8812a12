"""`realname backfill run`: the daily job. Safe from cron, safe twice, safe side by side.

Each campaign is swept batch by batch, each batch its own transaction with the campaign row
locked (runners take turns; a killed runner loses one uncommitted batch, which the next run
does again). Then the re-verification rules that are states rather than events are swept,
and overdue re-verifications are suspended: the 24-hour deadline is enforced here too.
Housekeeping last: numbers whose cooling is over go back to the pool, and relying parties'
expired quota counters are purged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from realname.backfill.repository import BackfillRepository
from realname.backfill.service import CampaignService
from realname.db.uow import UnitOfWork
from realname.registry.commands import Actor, Context
from realname.registry.jobs import expire_reverifications, release_cooled
from realname.registry.reverification import MANY_LINES, ReverificationTriggers
from realname.registry.service import RegistryService
from realname.verification.repository import VerificationRepository


class JobServices(Protocol):
    """What the daily job needs of one unit of work's services (`realname.wiring.Services`
    has them; the job does not import the composition root that sits above it)."""

    @property
    def registry(self) -> RegistryService: ...
    @property
    def campaigns(self) -> CampaignService: ...
    @property
    def reverification(self) -> ReverificationTriggers: ...


ServicesFactory = Callable[[Session], JobServices]
Progress = Callable[[str, int], None]


@dataclass
class CampaignRun:
    enterprise_id: int
    phase: str | None
    lines: int = 0
    moves: Counter[str] = field(default_factory=Counter)
    reminders: int = 0
    refunds: int = 0


@dataclass
class RunReport:
    campaigns: list[CampaignRun] = field(default_factory=list)
    reverification_requested: int = 0
    reverification_expired: int = 0
    numbers_released: int = 0  # cooled down, back in the pool
    counters_purged: int = 0  # expired relying-party quota counters


def run_backfill(
    uow: UnitOfWork,
    services: ServicesFactory,
    at: datetime,
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> RunReport:
    report = RunReport()
    report.campaigns = run_campaigns(uow, services, at, batch_size=batch_size, progress=progress)
    # One line per transaction: an ask writes an audit entry, and holding thousands of line
    # and audit-chain locks in one transaction would stall the counters for the whole sweep.
    asking = Context(Actor("system", "reverification"), at)
    with uow.transaction(readonly=True) as session:
        candidates = services(session).reverification.many_lines_candidates()
    for msisdn in candidates:
        with uow.transaction() as session:
            asked = services(session).reverification.ask_number(asking, msisdn, MANY_LINES)
        report.reverification_requested += asked
    registry = lambda s: services(s).registry  # noqa: E731
    report.reverification_expired = expire_reverifications(uow, registry, at)
    report.numbers_released = release_cooled(uow, registry, at)
    with uow.transaction() as session:
        report.counters_purged = VerificationRepository(session).purge_expired_counters(at)
    return report


def run_campaigns(
    uow: UnitOfWork,
    services: ServicesFactory,
    at: datetime,
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> list[CampaignRun]:
    """The campaigns' part of the daily job: each campaign's lines, batch by batch."""
    ctx = Context(Actor("system", "backfill"), at)
    runs: list[CampaignRun] = []
    with uow.transaction(readonly=True) as session:
        campaigns = [(c.id, c.enterprise_id) for c in BackfillRepository(session).campaigns()]
    for campaign_id, enterprise_id in campaigns:
        run = CampaignRun(enterprise_id, None)
        runs.append(run)
        while True:
            with uow.transaction() as session:
                result = services(session).campaigns.sweep(ctx, campaign_id, batch_size)
            run.phase = str(result.phase) if result.phase else None
            run.lines += result.lines
            run.moves.update(result.moves)
            run.reminders += result.reminders
            run.refunds += result.refunds
            if progress:
                progress(f"enterprise {enterprise_id}: {run.phase or 'not started'}", run.lines)
            if result.done:
                break
    return runs
