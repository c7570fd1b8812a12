"""`realname demo`: a reproducible synthetic world (sim/), checked and summarised."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from realname.cli.check import print_integrity_report
from realname.config import get_settings

console = Console()


def demo(
    lines: Annotated[int, typer.Option(min=100, help="Lines in the synthetic world.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Same seed, same world.")] = 7,
    operations: Annotated[
        int | None, typer.Option(help="Operations streamed through the registry service.")
    ] = None,
    database_url: Annotated[
        str, typer.Option(help="Where to build it; the demo database is rebuilt each run.")
    ] = "sqlite:///./var/demo.db",
) -> None:
    """Build a reproducible synthetic world, run `realname check` on it, and summarise it."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy.orm import Session

    from realname.config import Settings
    from realname.db import migrate
    from realname.db.engine import readonly
    from realname.policy.loader import load_policy
    from realname.registry.check import run_integrity_check
    from realname.security.keys import keyring_from_settings
    from realname.sim.world import build_world, channel_count, lines_by_state_and_enterprise

    started = time.perf_counter()
    base = get_settings()
    overrides = {"database_url": database_url, "sms_file": "./var/demo-sms.jsonl"}
    settings = Settings(**(base.model_dump() | overrides))
    engine = _fresh_database(settings)
    policy = load_policy(settings.policy)
    keyring = keyring_from_settings(settings)
    now = settings.clock().now()
    operations = operations if operations is not None else min(3000, max(300, lines // 10))
    console.print(
        f"building a synthetic world: {lines:,} lines, {operations:,} operations, seed {seed}, "
        f"policy [bold]{policy.code}[/], database {migrate.current_revision(engine)} "
        f"at {_shown(database_url)}"
    )
    columns = (
        TextColumn("{task.description:<42}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, Any] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done)

        summary = build_world(
            engine,
            policy=policy,
            keyring=keyring,
            lines=lines,
            seed=seed,
            operations=operations,
            now=now,
            progress=report,
        )
    backfill_runs, largest = _demo_backfill(engine, settings, policy, keyring, now)
    built = time.perf_counter() - started
    with Session(readonly(engine)) as session:
        by_state = lines_by_state_and_enterprise(session)
        channels, clerks = channel_count(session)
        with console.status("realname check"):
            report_ = run_integrity_check(session, policy, keyring)
    engine.dispose()

    states = sorted({state for _, state in by_state})
    codes = sorted({code for code, _ in by_state})
    table = Table(title="lines by state and enterprise")
    table.add_column("enterprise")
    for state in states:
        table.add_column(state, justify="right")
    table.add_column("total", justify="right")
    for code in codes:
        row = [by_state.get((code, state), 0) for state in states]
        table.add_row(code, *(f"{n:,}" for n in row), f"{sum(row):,}")
    console.print(table)
    console.print(
        f"{summary.citizens:,} citizens known to the identity authority; "
        f"{channels} channels with {clerks} clerks"
    )
    outcomes = Table(title="operations streamed through the registry")
    outcomes.add_column("operation")
    outcomes.add_column("count", justify="right")
    for name, count in sorted(summary.outcomes.items(), key=lambda kv: -kv[1]):
        outcomes.add_row(name, f"{count:,}")
    console.print(outcomes)
    refusals = Table(title="refusals by reason")
    refusals.add_column("code")
    refusals.add_column("count", justify="right")
    for code, count in summary.refusals.most_common():
        refusals.add_row(f"REALNAME.{code}", f"{count:,}")
    console.print(refusals)
    _print_demo_backfill(engine, settings, policy, keyring, backfill_runs, largest, now)
    print_integrity_report(report_)
    console.print(
        f"world built in {built:.1f} s, checked in {time.perf_counter() - started - built:.1f} s; "
        f"check it again with REALNAME_DATABASE_URL={_shown(database_url)} realname check"
    )
    raise typer.Exit(0 if report_.ok else 1)


DEMO_CAMPAIGN_AGE_DAYS = 60  # started two months ago: outgoing bars begin today


def _demo_backfill(
    engine: Any, settings: Any, policy: Any, keyring: Any, now: Any
) -> tuple[list[tuple[Any, Any]], str]:
    """Every enterprise started its back-fill campaign two months ago with the policy's
    shortest deadline (today) and two milestones. The daily job ran that day (first
    reminders, each line told its dates) and runs today: lines reminded two months ago are
    barred as they were told; lines loaded since get their first reminder now, with later
    dates of their own."""
    from datetime import timedelta
    from pathlib import Path

    from sqlalchemy import func, select
    from sqlalchemy.orm import Session, sessionmaker

    from realname.backfill.jobs import RunReport, run_backfill, run_campaigns
    from realname.backfill.phases import Ladder
    from realname.messaging.gateways import FileGateway
    from realname.messaging.sender import build_sender
    from realname.registry.commands import Actor, Context
    from realname.registry.models import Enterprise, Line
    from realname.registry.wiring import services

    started = now - timedelta(days=DEMO_CAMPAIGN_AGE_DAYS)
    ctx = Context(Actor("operator", "demo"), started)
    with Session(engine) as session, session.begin():
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
        with console.status(f"back-fill run of {day:%Y-%m-%d}") as status:
            report = job(
                sessionmaker(engine, expire_on_commit=False),
                lambda s: services(s, settings, keyring, policy),
                day,
                batch_size=1000,
                progress=lambda what, n: status.update(f"back-fill run: {what}: {n:,} lines"),
            )
        runs.append((day, report if isinstance(report, RunReport) else RunReport(report)))
    with console.status("sending the reminders (file gateway)"):
        sms_file = Path(settings.sms_file)
        sms_file.unlink(missing_ok=True)
        with build_sender(settings, gateway=FileGateway(sms_file)) as sender:
            sent = sender.run(batch=500)
    console.print(f"{sent.sent:,} reminders sent through the file gateway to {sms_file}")
    with Session(engine) as session, session.begin():
        channels = services(session, settings, keyring, policy).channels
        for enterprise_id in enterprises:
            assessed = channels.assess(enterprise_id, now)
            today = Context(Actor("operator", "demo"), now)
            for channel in channels.suspend_over_threshold(today, enterprise_id, assessed):
                console.print(f"channel {channel.code} suspended: {channel.status_reason}")
    return runs, largest


def _print_demo_backfill(
    engine: Any, settings: Any, policy: Any, keyring: Any, runs: Any, largest: str, now: Any
) -> None:

    from sqlalchemy.orm import Session

    from realname.cli.backfill import print_progress, print_schedule
    from realname.cli.channels import print_risk
    from realname.db.engine import readonly
    from realname.registry.repository import RegistryRepository
    from realname.registry.wiring import services

    for day, report in runs:
        swept = sum(c.lines for c in report.campaigns)
        moves = sum(sum(c.moves.values()) for c in report.campaigns)
        reminders = sum(c.reminders for c in report.campaigns)
        console.print(
            f"back-fill run of {day:%Y-%m-%d}: {swept:,} legacy lines swept, {moves:,} barred, "
            f"{reminders:,} SMS queued in the outbox; re-verification "
            f"{report.reverification_requested:,} asked, {report.reverification_expired:,} "
            f"suspended past the deadline"
        )
    with Session(readonly(engine)) as session:
        enterprise = RegistryRepository(session).enterprise_by_code(largest)
        assert enterprise is not None
        build = services(session, settings, keyring, policy)
        print_schedule(console, largest, build.campaigns.schedule(enterprise.id))
        print_progress(console, largest, build.campaigns.progress(enterprise.id, now), rows=6)
        print_risk(console, largest, build.channels.assess(enterprise.id, now), limit=5)


def _shown(url: str) -> str:
    """A database URL fit to print: never its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _fresh_database(settings: Any) -> Any:
    """The demo's database, emptied and migrated: SQLite file deleted, others downgraded."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from realname.db import migrate
    from realname.db.engine import create_engine_from_settings

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
