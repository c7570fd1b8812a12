"""`realname demo` without the printing: a fresh database, the synthetic world (world.py), two
days of the back-fill campaign, the riskiest channels suspended, and `realname check`.

The CLI prints what `Demo.finish` returns (`DemoReport`); nothing here writes to the
terminal, so the demo can be run and asserted on from a test or a notebook too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from realname.backfill.jobs import run_campaigns
from realname.backfill.phases import Ladder
from realname.backfill.service import CampaignProgress, CampaignSchedule
from realname.channels.service import AssessedChannel
from realname.config import Settings
from realname.db import migrate
from realname.db.engine import create_engine_from_settings, readonly
from realname.db.uow import UnitOfWork
from realname.jobs import RunReport, run_backfill
from realname.messaging.gateways import FileGateway
from realname.policy.loader import load_policy
from realname.policy.schema import Policy
from realname.registry.check import IntegrityReport, run_integrity_check
from realname.registry.commands import Actor, Context
from realname.registry.models import Channel, Clerk, Enterprise, Line
from realname.registry.repository import RegistryRepository
from realname.security.keys import keyring_from_settings
from realname.security.vault import KeyRing
from realname.sim.compliance import ComplianceDemo, run_compliance
from realname.sim.national import NationalDemo, run_national
from realname.sim.state import Progress, WorldSummary, unit_of
from realname.sim.world import build_world
from realname.wiring import build_sender, services

DEMO_SMS_FILE = "./var/demo-sms.jsonl"
DEMO_CAMPAIGN_AGE_DAYS = 60  # started two months ago: outgoing bars begin today
# `realname check` runs its row checks (MACs, sealed PII, text columns) in two processes
# beside the rest: the world is committed, and the machine the demo targets has two cores.
CHECK_WORKERS = 2

Status = Callable[[str], None]


@dataclass(frozen=True)
class DemoReport:
    """Everything the demo prints after the world is built, in the order it prints it."""

    world: WorldSummary
    reminders_sent: int
    sms_file: Path
    suspended: list[tuple[str, str | None]]  # (channel code, reason), today's suspensions
    lines_by_state: dict[tuple[str, str], int]  # (enterprise code, state) -> lines
    channels: int
    clerks: int
    backfill_runs: list[tuple[datetime, RunReport]]
    largest: str  # the enterprise with most lines, whose campaign is shown
    schedule: CampaignSchedule
    progress: CampaignProgress
    risk: list[AssessedChannel]
    integrity: IntegrityReport
    compliance: ComplianceDemo
    national: NationalDemo
    built_seconds: float
    checked_seconds: float


@dataclass
class Demo:
    """One run of the demo on its own (rebuilt) database."""

    settings: Settings
    engine: Engine
    policy: Policy
    keyring: KeyRing
    now: datetime
    lines: int
    seed: int
    operations: int
    revision: str | None
    started: float

    def build(self, progress: Progress | None = None) -> WorldSummary:
        return build_world(
            self.engine,
            policy=self.policy,
            keyring=self.keyring,
            lines=self.lines,
            seed=self.seed,
            operations=self.operations,
            now=self.now,
            progress=progress,
        )

    def finish(self, world: WorldSummary, status: Status | None = None) -> DemoReport:
        """The back-fill days, the suspensions and the check, after `build`."""
        say = status or (lambda _text: None)
        runs, largest, sent, suspended = self._backfill(say)
        say("complaints and the enforcement ladder")
        compliance = run_compliance(
            self.engine, self.settings, self.keyring, self.policy, self.now, self.seed
        )
        say("the national platform: every enterprise's feed, 一证通查")
        national = run_national(self.engine, self.settings, self.keyring, self.policy, self.now)
        built = time.perf_counter() - self.started
        with Session(readonly(self.engine)) as session:
            by_state = lines_by_state_and_enterprise(session)
            channels, clerks = channel_count(session)
            say("realname check")
            integrity = run_integrity_check(
                session, self.policy, self.keyring, workers=CHECK_WORKERS
            )
            enterprise = RegistryRepository(session).enterprise_by_code(largest)
            assert enterprise is not None
            build = services(session, self.settings, self.keyring, self.policy)
            schedule = build.campaigns.schedule(enterprise.id)
            progress = build.campaigns.progress(enterprise.id, self.now)
            risk = build.channels.assess(enterprise.id, self.now)
        return DemoReport(
            world=world,
            reminders_sent=sent,
            sms_file=Path(self.settings.sms_file),
            suspended=suspended,
            lines_by_state=by_state,
            channels=channels,
            clerks=clerks,
            backfill_runs=runs,
            largest=largest,
            schedule=schedule,
            progress=progress,
            risk=risk,
            integrity=integrity,
            compliance=compliance,
            national=national,
            built_seconds=built,
            checked_seconds=time.perf_counter() - self.started - built,
        )

    def _backfill(
        self, say: Status
    ) -> tuple[list[tuple[datetime, RunReport]], str, int, list[tuple[str, str | None]]]:
        """Every enterprise started its back-fill campaign two months ago with the policy's
        shortest deadline (today) and two milestones. The daily job ran that day (first
        reminders, each line told its dates) and runs today: lines reminded two months ago are
        barred as they were told; lines loaded since get their first reminder now, with later
        dates of their own."""
        settings, policy, keyring, now = self.settings, self.policy, self.keyring, self.now
        started = now - timedelta(days=DEMO_CAMPAIGN_AGE_DAYS)
        ctx = Context(Actor("operator", "demo"), started)
        with unit_of(self.engine).transaction() as session:
            build = services(session, settings, keyring, policy)
            enterprises = session.scalars(select(Enterprise.id).order_by(Enterprise.id)).all()
            deadline = Ladder.of(policy.backfill_steps).minimum_deadline(started.date())
            targets = [(started.date() + timedelta(days=30), 5), (deadline, 10)]
            for enterprise_id in enterprises:
                build.campaigns.create_campaign(
                    ctx, enterprise_id, starts_on=started.date(), milestones=targets
                )
            largest = session.execute(
                select(Enterprise.code)
                .join(Line, Line.enterprise_id == Enterprise.id)
                .group_by(Enterprise.code)
                .order_by(func.count().desc())
                .limit(1)
            ).scalar_one()
        runs = []
        for day in (started, now):
            # Two months ago only the campaigns ran (the world's later history is already in);
            # today the whole daily job.
            job = run_campaigns if day is started else run_backfill
            say(f"back-fill run of {day:%Y-%m-%d}")
            report = job(
                UnitOfWork(sessionmaker(self.engine, expire_on_commit=False)),
                lambda s: services(s, settings, keyring, policy),
                day,
                batch_size=1000,
                progress=lambda what, n: say(f"back-fill run: {what}: {n:,} lines"),
            )
            runs.append((day, report if isinstance(report, RunReport) else RunReport(report)))
        say("sending the reminders (file gateway)")
        sms_file = Path(settings.sms_file)
        sms_file.unlink(missing_ok=True)
        with build_sender(settings, gateway=FileGateway(sms_file)) as sender:
            sent = sender.run(batch=500)
        suspended = []
        with unit_of(self.engine).transaction() as session:
            channels = services(session, settings, keyring, policy).channels
            for enterprise_id in enterprises:
                assessed = channels.assess(enterprise_id, now)
                today = Context(Actor("operator", "demo"), now)
                for channel in channels.suspend_over_threshold(today, enterprise_id, assessed):
                    suspended.append((channel.code, channel.status_reason))
        return runs, largest, sent.sent, suspended


@contextmanager
def prepare_demo(
    base: Settings, *, lines: int, seed: int, operations: int | None, database_url: str
) -> Iterator[Demo]:
    """The demo's settings (its own database and SMS file) and its database, emptied and
    migrated; the engine is disposed when the block ends."""
    started = time.perf_counter()
    overrides = {"database_url": database_url, "sms_file": DEMO_SMS_FILE}
    settings = Settings(**(base.model_dump() | overrides))
    engine = _fresh_database(settings)
    try:
        yield Demo(
            settings=settings,
            engine=engine,
            policy=load_policy(settings.policy),
            keyring=keyring_from_settings(settings),
            now=settings.clock().now(),
            lines=lines,
            seed=seed,
            operations=operations if operations is not None else min(2000, max(300, lines // 20)),
            revision=migrate.current_revision(engine),
            started=started,
        )
    finally:
        engine.dispose()


def _fresh_database(settings: Settings) -> Engine:
    """The demo's database, emptied and migrated: SQLite file deleted, others downgraded."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
        engine = create_engine_from_settings(settings)
    else:
        engine = create_engine_from_settings(settings)
        migrate.downgrade(engine, "base")
    migrate.upgrade(engine)
    return engine


def lines_by_state_and_enterprise(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(Enterprise.code, Line.state, func.count())
        .join(Enterprise, Enterprise.id == Line.enterprise_id)
        .group_by(Enterprise.code, Line.state)
    )
    return {(code, state): int(n) for code, state, n in rows}


def channel_count(session: Session) -> tuple[int, int]:
    channels = session.scalar(select(func.count()).select_from(Channel)) or 0
    clerks = session.scalar(select(func.count()).select_from(Clerk)) or 0
    return int(channels), int(clerks)
