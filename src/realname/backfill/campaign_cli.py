"""`realname backfill …` and `realname channels …`: the campaign and channel risk from a shell
(and from cron: `realname backfill run` is the daily job)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from realname.clock import clock_for
from realname.config import Settings, get_settings

if TYPE_CHECKING:
    from realname.backfill.service import CampaignProgress
    from realname.channels.service import AssessedChannel

backfill_app = typer.Typer(help="The back-fill campaign of legacy prepaid lines.")
channels_app = typer.Typer(help="Sales channels: the tree (add, list, move), stock and risk.")
console = Console()

EnterpriseCode = Annotated[str, typer.Option("--enterprise", help="The enterprise's code.")]
At = Annotated[
    datetime | None,
    typer.Option(help="Act as of this instant (UTC), e.g. to replay a missed day; default now."),
]


@contextmanager
def _sessions(settings: Settings, *, read_only: bool = False) -> Iterator[sessionmaker[Session]]:
    """Reports read without SQLite's write lock, so they never hold up the counters."""
    from realname.db.engine import create_engine_from_settings, create_session_factory, readonly

    engine = create_engine_from_settings(settings)
    try:
        yield create_session_factory(readonly(engine) if read_only else engine)
    finally:
        engine.dispose()


def _enterprise_id(session: Session, code: str) -> int:
    from realname.registry.repository import RegistryRepository

    enterprise = RegistryRepository(session).enterprise_by_code(code)
    if enterprise is None:
        console.print(f"[red]no enterprise with code {code!r}[/]")
        raise typer.Exit(1)
    return enterprise.id


def _instant(at: datetime | None) -> datetime:
    """--at replays a missed day; a future instant would bar and terminate lines early."""
    now = clock_for(get_settings().clock_start).now()
    if at is None:
        return now
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if at > now + timedelta(minutes=5):
        console.print("[red]--at is in the future[/]: the job acts on past and present days only")
        raise typer.Exit(2)
    return at


@backfill_app.command("start")
def start(
    enterprise: EnterpriseCode,
    starts_on: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="Day 0.")],
    deadline: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Registered-by date.")
    ] = None,
) -> None:
    """Start an enterprise's campaign: the policy's phases dated from --starts-on."""
    from realname.backfill.errors import BackfillError
    from realname.registry.commands import Actor, Context
    from realname.registry.wiring import services

    settings = get_settings()
    with _sessions(settings) as factory, factory() as session, session.begin():
        ctx = Context(Actor("operator", "cli"), clock_for(settings.clock_start).now())
        try:
            campaign = services(session, settings).campaigns.create_campaign(
                ctx,
                _enterprise_id(session, enterprise),
                starts_on=starts_on.date(),
                deadline=deadline.date() if deadline else None,
            )
        except BackfillError as error:
            console.print(f"[red]REALNAME.{error.code}[/] {error.message}")
            raise typer.Exit(1) from None
        phases = ", ".join(f"{p} {d}" for p, d in campaign.phase_dates.items())
        console.print(
            f"campaign started for {enterprise}: {campaign.legacy_at_start:,} unregistered "
            f"legacy lines; deadline {campaign.deadline}; phases {phases}"
        )


@backfill_app.command("run")
def run(
    at: At = None,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Lines per transaction.")] = 500,
) -> None:
    """Move every legacy line to the phase its date calls for, queue reminders, ask for and
    enforce re-verification. Idempotent; safe from cron and side by side."""
    from realname.backfill.jobs import run_backfill
    from realname.policy.loader import load_policy
    from realname.registry.wiring import services
    from realname.security.keys import keyring_from_settings

    settings = get_settings()
    instant = _instant(at)
    policy, keyring = load_policy(settings.policy), keyring_from_settings(settings)
    with _sessions(settings) as factory, console.status("back-fill") as status:
        report = run_backfill(
            factory,
            lambda s: services(s, settings, keyring, policy),
            instant,
            batch_size=batch,
            progress=lambda what, n: status.update(f"back-fill: {what}: {n:,} lines"),
        )
    table = Table(title=f"realname backfill run at {instant:%Y-%m-%d %H:%M} UTC")
    for column in ("enterprise", "phase", "lines swept", "moves", "reminders", "refunds"):
        table.add_column(column, justify="left" if column in ("phase", "moves") else "right")
    for c in report.campaigns:
        moves = ", ".join(f"{op} {n:,}" for op, n in sorted(c.moves.items())) or "-"
        table.add_row(
            str(c.enterprise_id),
            c.phase or "not started",
            f"{c.lines:,}",
            moves,
            f"{c.reminders:,}",
            f"{c.refunds:,}",
        )
    console.print(table)
    console.print(
        f"re-verification: {report.reverification_requested:,} asked (one identity, many "
        f"lines), {report.reverification_expired:,} suspended past their deadline; "
        f"{report.numbers_released:,} cooled numbers back in the pool; "
        f"{report.counters_purged:,} expired quota counters purged"
    )


@backfill_app.command("progress")
def progress(enterprise: EnterpriseCode, at: At = None, rows: int = 10) -> None:
    """Registered share by region and channel, and the projected completion date."""
    from realname.backfill.errors import BackfillError
    from realname.registry.wiring import services

    settings = get_settings()
    with _sessions(settings, read_only=True) as factory, factory() as session:
        try:
            report = services(session, settings).campaigns.progress(
                _enterprise_id(session, enterprise), _instant(at)
            )
        except BackfillError as error:
            console.print(f"[red]REALNAME.{error.code}[/] {error.message}")
            raise typer.Exit(1) from None
    print_progress(console, enterprise, report, rows)


def print_progress(out: Console, enterprise: str, p: CampaignProgress, rows: int = 10) -> None:
    overall = p.overall
    for title, groups in (("region", p.by_region), ("channel", p.by_channel)):
        table = Table(title=f"{enterprise} back-fill by {title} (least registered first)")
        for column in (
            title,
            "lines",
            "registered",
            "share",
            "barred out",
            "barred both",
            "terminated",
        ):
            table.add_column(column, justify="left" if column == title else "right")
        for row in [*groups[:rows], overall]:
            table.add_row(
                row.group,
                f"{row.total:,}",
                f"{row.registered:,}",
                f"{row.share_registered:.1%}",
                f"{row.barred_outgoing:,}",
                f"{row.barred_both:,}",
                f"{row.terminated:,}",
            )
        out.print(table)
    when = p.projected_completion.isoformat() if p.projected_completion else "never at this pace"
    verdict = "[green]on track[/]" if p.on_track else "[red]behind[/]"
    out.print(
        f"phase {p.phase or 'not started'}; {overall.unregistered:,} lines left; "
        f"{p.rate_per_day:,.1f} registrations a day over the last week; projected completion "
        f"{when}, deadline {p.deadline}: {verdict}; {p.refunds_due:,} prepaid refunds due "
        f"({p.refunds_due_minor / 100:,.2f})"
    )


@channels_app.command("risk")
def risk(
    enterprise: EnterpriseCode,
    at: At = None,
    limit: Annotated[int, typer.Option(min=1)] = 10,
    suspend: Annotated[
        bool, typer.Option(help="Suspend every channel over the policy's threshold.")
    ] = False,
) -> None:
    """The riskiest channels with the evidence; optionally suspend those over the threshold."""
    from realname.registry.commands import Actor, Context
    from realname.registry.wiring import services

    settings = get_settings()
    instant = _instant(at)
    with (
        _sessions(settings, read_only=not suspend) as factory,
        factory() as session,
        session.begin(),
    ):
        channels = services(session, settings).channels
        enterprise_id = _enterprise_id(session, enterprise)
        assessed = channels.assess(enterprise_id, instant)
        print_risk(console, enterprise, assessed, limit)
        if suspend:
            ctx = Context(Actor("operator", "cli"), instant)
            for channel in channels.suspend_over_threshold(ctx, enterprise_id, assessed):
                console.print(f"suspended {channel.code}: {channel.status_reason}")


def print_risk(out: Console, enterprise: str, assessed: list[AssessedChannel], limit: int) -> None:
    table = Table(title=f"{enterprise}: riskiest channels")
    for column in ("channel", "kind", "status", "registrations", "score", "signals tripped"):
        table.add_column(
            column, justify="right" if column in ("registrations", "score") else "left"
        )
    for item in assessed[:limit]:
        tripped = [s.name for s in item.risk.signals if s.tripped]
        score = f"[red]{item.risk.score}[/]" if item.over_threshold else str(item.risk.score)
        table.add_row(
            item.channel.code,
            item.channel.kind,
            item.channel.status,
            f"{item.risk.registrations:,}",
            score,
            ", ".join(tripped) or "-",
        )
    out.print(table)
    for item in assessed[:limit]:
        for signal in item.risk.signals:
            if signal.tripped and signal.evidence:
                out.print(f"  {item.channel.code} {signal.name}: {signal.evidence[0]}")
