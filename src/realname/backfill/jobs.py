"""The back-fill campaigns' part of the daily job (`realname.jobs.run_backfill`).

Each campaign is swept batch by batch, each batch its own transaction with the campaign row
locked (runners take turns; a killed runner loses one uncommitted batch, which the next run
does again).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from realname.backfill.repository import BackfillRepository
from realname.backfill.service import SWEEP_BATCH, CampaignService
from realname.db.uow import UnitOfWork
from realname.registry.commands import Actor, Context
from realname.registry.reverification import ReverificationTriggers
from realname.registry.service import RegistryService


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


def run_campaigns(
    uow: UnitOfWork,
    services: ServicesFactory,
    at: datetime,
    *,
    batch_size: int = SWEEP_BATCH,
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
