"""`realname demo`: prints what sim/demo.py builds and finds (a reproducible synthetic world,
two days of the back-fill campaign, `realname check`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from realname.cli.backfill import print_progress, print_schedule
from realname.cli.channels import print_risk
from realname.cli.check import print_integrity_report
from realname.config import get_settings
from realname.sim.resale import DEMO_LINES

if TYPE_CHECKING:
    from realname.sim.compliance import ComplianceDemo
    from realname.sim.demo import DemoReport
    from realname.sim.national import NationalDemo

console = Console()


def demo(
    lines: Annotated[
        int,
        typer.Option(
            min=100,
            help="Lines in the synthetic world; at 40,000 its resale sector is seed 002's "
            "at 1:1,000 (42 pilots, 20,590 lines).",
        ),
    ] = DEMO_LINES,
    seed: Annotated[int, typer.Option(help="Same seed, same world.")] = 7,
    operations: Annotated[
        int | None, typer.Option(help="Operations streamed through the registry service.")
    ] = None,
    database_url: Annotated[
        str, typer.Option(help="Where to build it; the demo database is rebuilt each run.")
    ] = "sqlite:///./var/demo.db",
    serve: Annotated[
        bool | None,
        typer.Option(
            "--serve/--no-serve",
            help="End by serving the world with the web pages at 127.0.0.1:8000 "
            "(default: when run from a terminal).",
        ),
    ] = None,
) -> None:
    """Build a reproducible synthetic world, run `realname check` on it, and summarise it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from realname.sim.demo import prepare_demo

    with prepare_demo(
        get_settings(), lines=lines, seed=seed, operations=operations, database_url=database_url
    ) as run:
        console.print(
            f"building a synthetic world: {run.lines:,} lines, {run.operations:,} operations, "
            f"seed {run.seed}, policy [bold]{run.policy.code}[/], database {run.revision} "
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

            def advance(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(phase, total=total)
                progress.update(tasks[phase], completed=done)

            world = run.build(advance)
        with console.status("back-fill") as status:
            report = run.finish(world, status.update)
    print_demo_report(report)
    console.print(
        f"world built in {report.built_seconds:.1f} s, checked in "
        f"{report.checked_seconds:.1f} s; check it again with "
        f"REALNAME_DATABASE_URL={_shown(database_url)} realname check"
    )
    if not report.integrity.ok:
        raise typer.Exit(1)
    if serve if serve is not None else sys.stdin.isatty() and sys.stdout.isatty():
        from realname.cli.web import serve_demo_world
        from realname.sim.demo import DEMO_SMS_FILE

        overrides = {"database_url": database_url, "sms_file": DEMO_SMS_FILE}
        serve_demo_world(get_settings().model_copy(update=overrides))


def print_demo_report(report: DemoReport) -> None:
    console.print(
        f"{report.reminders_sent:,} reminders sent through the file gateway to {report.sms_file}"
    )
    for code, reason in report.suspended:
        console.print(f"channel {code} suspended: {reason}")
    by_state = report.lines_by_state
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
    world = report.world
    console.print(
        f"{world.citizens:,} citizens known to the identity authority; "
        f"{report.channels} channels with {report.clerks} clerks"
    )
    outcomes = Table(title="operations streamed through the registry")
    outcomes.add_column("operation")
    outcomes.add_column("count", justify="right")
    for name, count in sorted(world.outcomes.items(), key=lambda kv: -kv[1]):
        outcomes.add_row(name, f"{count:,}")
    console.print(outcomes)
    refusals = Table(title="refusals by reason")
    refusals.add_column("code")
    refusals.add_column("count", justify="right")
    for code, count in world.refusals.most_common():
        refusals.add_row(f"REALNAME.{code}", f"{count:,}")
    console.print(refusals)
    for day, run in report.backfill_runs:
        swept = sum(c.lines for c in run.campaigns)
        moves = sum(sum(c.moves.values()) for c in run.campaigns)
        reminders = sum(c.reminders for c in run.campaigns)
        console.print(
            f"back-fill run of {day:%Y-%m-%d}: {swept:,} legacy lines swept, {moves:,} barred, "
            f"{reminders:,} SMS queued in the outbox; re-verification "
            f"{run.reverification_requested:,} asked, {run.reverification_expired:,} "
            f"suspended past the deadline"
        )
    largest = report.largest
    print_schedule(console, largest, report.schedule)
    print_progress(console, largest, report.progress, rows=6)
    print_risk(console, largest, report.risk, limit=5)
    print_compliance(report.compliance)
    print_national(report.national)
    print_integrity_report(report.integrity)


def print_compliance(demo: ComplianceDemo) -> None:
    refused = ", ".join(f"line {n}: {code}" for n, code in demo.refused_rows) or "none"
    console.print(
        f"complaint centre file: {demo.complaints} complaints taken ({refused} refused); "
        f"{demo.traced_to_earlier_owner} traced to the owner at the time, not today's"
    )
    outcomes = ", ".join(f"{name} {n}" for name, n in sorted(demo.outcomes.items()))
    console.print(f"  outcomes: {outcomes}")
    if demo.inspection_rates:
        before = demo.inspection_rounds[0] if len(demo.inspection_rounds) > 1 else "before"
        rates = Table(title=f"secret inspection {demo.inspection_round}: violation rates")
        for name in ("enterprise", "kind", "visited", "violating", "rate", "95 % interval"):
            rates.add_column(name, justify="right" if name in ("visited", "violating") else "left")
        rates.add_column(before, justify="right")
        for code, kind, visited, violating, rate, low, high in demo.inspection_rates:
            previous = demo.previous_rates.get(code)
            rates.add_row(
                code,
                kind,
                f"{visited}",
                f"{violating}",
                f"{rate:.1%}",
                f"{low:.1%}–{high:.1%}",
                "-" if previous is None else f"{previous:.1%}",
            )
        console.print(rates)
    table = Table(title=f"enforcement ladder: {demo.enterprise or 'nobody taken up'}")
    table.add_column("step")
    table.add_column("what followed")
    for step, what in demo.steps:
        table.add_row(step, what)
    console.print(table)
    if demo.refusal:
        console.print(f"  a sale at a shut outlet: refused REALNAME.{demo.refusal}")
    if demo.pending:
        console.print(f"  {len(demo.pending)} proposals wait for a decision:")
        for code, rung, rule, basis in demo.pending:
            console.print(f"    {code}: {rung} ({rule}: {basis})")


def print_national(demo: NationalDemo) -> None:
    from realname.cli.national import print_answer

    console.print(
        f"national platform: {len(demo.feeds)} enterprise feeds, {demo.batches} signed batches, "
        f"{demo.items:,} line records taken in {demo.seconds:.1f} s; feeds "
        + ", ".join(f"{f.enterprise} {f.status}" for f in demo.feeds)
    )
    table = Table(title="the national picture: lines in service and real-name rate")
    for name in ("enterprise", "kind", "lines", "real-name", "rate"):
        table.add_column(
            name, justify="right" if name in ("lines", "real-name", "rate") else "left"
        )
    for row in demo.picture:
        table.add_row(
            f"{row.code} {row.name}", row.kind, f"{row.in_service:,}", f"{row.real_name:,}",
            f"{row.rate:.1%}",
        )  # fmt: skip
    for kind, (lines, named) in sorted(demo.by_kind().items()):
        rate = named / lines if lines else 0.0
        table.add_row(f"all {kind.upper()}s", kind, f"{lines:,}", f"{named:,}", f"{rate:.1%}")
    console.print(table)
    if demo.answer is not None:
        console.print(
            f"一证通查 for a demo citizen with lines at {demo.citizen_enterprises} enterprises "
            "(code sent to one of their numbers, answered at once):"
        )
        print_answer(demo.answer)


def _shown(url: str) -> str:
    """A database URL fit to print: never its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
