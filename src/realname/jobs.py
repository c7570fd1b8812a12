"""`realname backfill run`: the daily job. Safe from cron, safe twice, safe side by side.

An entry point, like the API and the CLI: it reaches several domains (the back-fill
campaigns, the registry's re-verification and numbering housekeeping, the relying parties'
quota counters), which must not reach each other. Each campaign is swept batch by batch,
each batch its own transaction with the campaign row locked (runners take turns; a killed
runner loses one uncommitted batch, which the next run does again). Then the
re-verification rules that are states rather than events are swept, and overdue
re-verifications are suspended: the 24-hour deadline is enforced here too. Housekeeping:
numbers whose cooling is over go back to the pool, relying parties' expired quota
counters are purged, and so are 一证通查's challenges and limit-lock rows older than its
longest window (a day), and the card readers' used and expired reads. Last, when the
caller hands it the ladder, the enforcement sweep: the standing escalation rules (violation
rates over the inspection rounds, overdue or failed rectification orders, complaint rates)
propose steps, which wait for a person at the regulator (`realname report enforcement`,
`GET /v1/regulator/enforcement/proposals`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from realname.backfill.jobs import CampaignRun, Progress, ServicesFactory, run_campaigns
from realname.backfill.service import SWEEP_BATCH
from realname.compliance.enforcement.service import EnforcementService
from realname.db.uow import UnitOfWork
from realname.national.lookup.service import purge_lookup_rows
from realname.registry.cardreads.repository import CardReadRepository
from realname.registry.commands import Actor, Context
from realname.registry.jobs import expire_reverifications, release_cooled
from realname.registry.reverification import MANY_LINES
from realname.verification.repository import VerificationRepository

REVERIFY_BATCH = 200  # "many lines" asks per transaction
EnforcementFactory = Callable[[Session], EnforcementService]


@dataclass
class RunReport:
    campaigns: list[CampaignRun] = field(default_factory=list)
    reverification_requested: int = 0
    reverification_expired: int = 0
    numbers_released: int = 0  # cooled down, back in the pool
    counters_purged: int = 0  # expired relying-party quota counters
    lookup_rows_purged: int = 0  # 一证通查's challenges and limit locks past every window
    card_reads_purged: int = 0  # the card readers' used and expired reads (sealed PII)
    enforcement_proposed: int = 0  # new proposals, waiting for a person


def run_backfill(
    uow: UnitOfWork,
    services: ServicesFactory,
    at: datetime,
    *,
    batch_size: int = SWEEP_BATCH,
    progress: Progress | None = None,
    enforcement: EnforcementFactory | None = None,
) -> RunReport:
    report = RunReport()
    report.campaigns = run_campaigns(uow, services, at, batch_size=batch_size, progress=progress)
    # A few hundred lines per transaction: an ask writes an audit entry, and holding
    # thousands of line and audit-chain locks in one transaction would stall the counters for
    # the whole sweep; one line per transaction paid a transaction's fixed cost (session,
    # services, BEGIN IMMEDIATE, commit) per line: 10,000 asks took 144 s on the demo.
    asking = Context(Actor("system", "reverification"), at)
    with uow.transaction(readonly=True) as session:
        candidates = services(session).reverification.many_lines_candidates()
    for start in range(0, len(candidates), REVERIFY_BATCH):
        chunk = candidates[start : start + REVERIFY_BATCH]
        with uow.transaction() as session:
            asked = services(session).reverification.ask_numbers(asking, chunk, MANY_LINES)
        report.reverification_requested += asked
        if progress:
            progress("re-verification, many lines", start + len(chunk))
    registry = lambda s: services(s).registry  # noqa: E731
    report.reverification_expired = expire_reverifications(uow, registry, at)
    report.numbers_released = release_cooled(uow, registry, at)
    with uow.transaction() as session:
        report.counters_purged = VerificationRepository(session).purge_expired_counters(at)
    with uow.transaction() as session:
        report.lookup_rows_purged = sum(purge_lookup_rows(session, at))
    with uow.transaction() as session:
        report.card_reads_purged = CardReadRepository(session).purge(at)
    if enforcement is not None:
        report.enforcement_proposed = sweep_enforcement(uow, enforcement, at)
    return report


def sweep_enforcement(uow: UnitOfWork, enforcement: EnforcementFactory, at: datetime) -> int:
    """The enforcement ladder's standing rules, once, in one transaction: the new proposals
    (each fact is proposed once, so a second run the same day adds none). Nothing is decided
    here: a person accepts or dismisses each."""
    with uow.transaction() as session:
        made = enforcement(session).sweep(Context(Actor("system", "enforcement-sweep"), at))
        return len(made)
