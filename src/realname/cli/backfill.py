"""`realname backfill …`: the back-fill campaign from a shell (and from cron: `realname
backfill run` is the daily job)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from realname.cli import options
from realname.cli.options import At, EnterpriseCode
from realname.cli.session import cli_unit
from realname.config import get_settings
from realname.identity.regions import lookup_region

if TYPE_CHECKING:
    from realname.backfill.service import CampaignProgress, CampaignSchedule

backfill_app = typer.Typer(help="The back-fill campaign of legacy prepaid lines.")
console = Console()

Milestones = Annotated[
    list[str] | None,
    typer.Option(
        "--milestone",
        help="A target DATE:SHARE, e.g. 2027-11-30:30% (repeat for each).",
        show_default=False,
    ),
]


def parse_milestones(values: list[str] | None) -> list[tuple[date, int]] | None:
    """`2027-11-30:30%` → (date(2027, 11, 30), 30); a malformed one ends the command."""
    if values is None:
        return None
    parsed = []
    for value in values:
        day, _, share = value.partition(":")
        try:
            parsed.append((date.fromisoformat(day), int(share.strip().removesuffix("%"))))
        except ValueError:
            console.print(
                f"[red]--milestone {value!r}[/]: expected DATE:SHARE, e.g. 2027-11-30:30%"
            )
            raise typer.Exit(2) from None
    return parsed


def _refused(error: Exception) -> typer.Exit:
    from realname.backfill.errors import BackfillError

    assert isinstance(error, BackfillError)
    detail = f" ({error.detail})" if error.detail else ""
    console.print(f"[red]REALNAME.{error.code}[/] {error.message}{detail}")
    return typer.Exit(1)


@backfill_app.command("start")
def start(
    enterprise: EnterpriseCode,
    starts_on: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="First reminders go out this day.")
    ],
    deadline: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Registered-by date: the first bar falls on it. Default: the policy's notice.",
        ),
    ] = None,
    milestone: Milestones = None,
) -> None:
    """Start an enterprise's campaign: reminders from --starts-on, the first bar on
    --deadline, the later steps the policy's gaps after it (see `backfill show`)."""
    from realname.backfill.errors import BackfillError
    from realname.registry.commands import Actor, Context

    settings = get_settings()
    targets = parse_milestones(milestone)
    with cli_unit(settings, write=True) as (process, session):
        ctx = Context(Actor("operator", "cli"), settings.clock().now())
        campaigns = process.services(session).campaigns
        enterprise_id = options.enterprise_id(session, enterprise)
        try:
            campaign = campaigns.create_campaign(
                ctx,
                enterprise_id,
                starts_on=starts_on.date(),
                deadline=deadline.date() if deadline else None,
                milestones=targets,
            )
        except BackfillError as error:
            raise _refused(error) from None
        console.print(
            f"campaign started for {enterprise}: {campaign.legacy_at_start:,} unregistered "
            f"legacy lines"
        )
        print_schedule(console, enterprise, campaigns.schedule(enterprise_id))


@backfill_app.command("amend")
def amend(
    enterprise: EnterpriseCode,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log and the campaign).")],
    deadline: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="The new registered-by date.")
    ] = None,
    milestone: Milestones = None,
) -> None:
    """Extend the deadline or replace the milestones. A date a subscriber was told never
    moves earlier; lines already told get an SMS with their new dates on the next run."""
    from realname.backfill.errors import BackfillError
    from realname.registry.commands import Actor, Context

    settings = get_settings()
    targets = parse_milestones(milestone)
    with cli_unit(settings, write=True) as (process, session):
        ctx = Context(Actor("operator", "cli"), settings.clock().now())
        campaigns = process.services(session).campaigns
        enterprise_id = options.enterprise_id(session, enterprise)
        try:
            campaign = campaigns.amend(
                ctx,
                enterprise_id,
                reason=reason,
                deadline=deadline.date() if deadline else None,
                milestones=targets,
            )
        except BackfillError as error:
            raise _refused(error) from None
        console.print(f"campaign of {enterprise} amended (version {campaign.version})")
        print_schedule(console, enterprise, campaigns.schedule(enterprise_id))


@backfill_app.command("show")
def show(enterprise: EnterpriseCode) -> None:
    """The campaign's schedule: each phase's date, the notice, milestones, amendments."""
    from realname.backfill.errors import BackfillError

    settings = get_settings()
    with cli_unit(settings, write=False) as (process, session):
        try:
            schedule = process.services(session).campaigns.schedule(
                options.enterprise_id(session, enterprise)
            )
        except BackfillError as error:
            raise _refused(error) from None
    print_schedule(console, enterprise, schedule)


def print_schedule(out: Console, enterprise: str, s: CampaignSchedule) -> None:
    table = Table(title=f"{enterprise} back-fill schedule")
    table.add_column("step")
    table.add_column("date")
    table.add_column("what an unregistered line gets")
    what = {
        "remind": "first reminder (SMS with every date below)",
        "bar_outgoing": "outgoing calls barred (the deadline)",
        "bar_both": "all service barred",
        "terminate": "number terminated, prepaid balance refundable",
    }
    for phase, day in s.phase_dates.items():
        table.add_row(str(phase), day.isoformat(), what[str(phase)])
        if phase == "remind" and s.final_notice_on:
            table.add_row("final notice", s.final_notice_on.isoformat(), "second reminder")
    out.print(table)
    out.print(
        f"deadline {s.deadline}; notice before any bar: {s.notice_days} days; "
        f"{s.lines_told:,} lines told their dates, {s.lines_on_later_dates:,} of them on later "
        f"dates of their own (first reminded too late for the campaign's)"
    )
    if s.milestones:
        out.print("milestones: " + ", ".join(f"{m.percent}% by {m.due_on}" for m in s.milestones))
    for a in s.amendments:
        out.print(
            f"amendment {a.version} at {a.amended_at:%Y-%m-%d %H:%M} by {a.actor}: deadline "
            f"{a.deadline_before} → {a.deadline_after}; {a.reason}"
        )


@backfill_app.command("run")
def run(
    at: At = None,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Lines per transaction.")] = 2000,
) -> None:
    """Move every legacy line to the phase its date calls for, queue reminders, ask for and
    enforce re-verification, then run the enforcement sweep (its proposals wait for a person).
    Idempotent; safe from cron and side by side."""
    from realname.jobs import run_backfill
    from realname.wiring import Process, enforcement_service

    instant = options.instant(at)
    with Process(get_settings()) as process, console.status("back-fill") as status:
        report = run_backfill(
            process.uow,
            process.services,
            instant,
            batch_size=batch,
            progress=lambda what, n: status.update(f"back-fill: {what}: {n:,} lines"),
            enforcement=lambda session: enforcement_service(process.services(session)),
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
        f"{report.counters_purged:,} expired quota counters purged; "
        f"{report.lookup_rows_purged:,} old 一证通查 rows purged"
    )
    console.print(
        f"enforcement sweep: {report.enforcement_proposed:,} new proposals wait for a decision "
        "(realname report enforcement, column proposed)"
    )


@backfill_app.command("progress")
def progress(enterprise: EnterpriseCode, at: At = None, rows: int = 10) -> None:
    """Registered share by region and channel, and the projected completion date."""
    from realname.backfill.errors import BackfillError

    settings = get_settings()
    with cli_unit(settings, write=False) as (process, session):
        try:
            report = process.services(session).campaigns.progress(
                options.enterprise_id(session, enterprise), options.instant(at)
            )
        except BackfillError as error:
            console.print(f"[red]REALNAME.{error.code}[/] {error.message}")
            raise typer.Exit(1) from None
    print_progress(console, enterprise, report, rows)


MUNICIPALITIES = frozenset({"11", "12", "31", "50"})  # their city is the province


def _place(code: str) -> str:
    """A region by its name, not its code, short enough for 80 columns: the city and district
    (武汉市江岸区), a municipality's district with it (北京市朝阳区); the code if unknown."""
    region = lookup_region(code)
    if region is None:
        return code
    province = lookup_region(code[:2] + "0000")
    if province and code[:2] not in MUNICIPALITIES and region.name.startswith(province.name):
        return region.name[len(province.name) :] or region.name
    return region.name


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
            if column == title:  # a region's name whole (6 characters, 12 columns)
                table.add_column(column, min_width=12 if title == "region" else None)
            else:  # the two "barred" headers wrap, so the table fits 80 columns
                narrow = 7 if column.startswith("barred") else None
                table.add_column(column, justify="right", max_width=narrow)
        for row in [*groups[:rows], overall]:
            table.add_row(
                _place(row.group) if title == "region" else row.group,
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
    for m in p.milestones:
        colour = "green" if m.status in ("met", "on track") else "red"
        projected = f", {m.projected:,} projected at this pace" if m.projected is not None else ""
        short = f", short by {m.short_by:,} lines" if m.short_by else ""
        out.print(
            f"milestone {m.milestone.percent}% by {m.milestone.due_on} ({m.target_lines:,} "
            f"lines): {m.registered:,} registered{projected}: [{colour}]{m.status}[/]{short}"
        )
