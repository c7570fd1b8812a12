"""`realname report …`: the regulator's reports, as Markdown, CSV, JSON or an xlsx workbook
(the CSV's rows; written to `--output FILE` or a redirected stdout, never to a terminal).

Read-only, national unless `--province` narrows it: the operator's CLI reads as the ministry
does (a provincial administration reads its province over /v1/regulator/figures).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from realname.cli.options import EnterpriseCode
from realname.cli.session import cli_unit
from realname.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from realname.compliance.figures.periods import Period
    from realname.wiring import Process

report_app = typer.Typer(
    help="The regulator's reports (compliance, inspections, segments, enforcement, "
    "complaints, settlement, national), as md, csv, json or xlsx.",
    no_args_is_help=True,
)
err = Console(stderr=True)


class Format(StrEnum):
    MD = "md"
    CSV = "csv"
    JSON = "json"
    XLSX = "xlsx"


FormatOption = Annotated[
    Format, typer.Option("--format", help="md, csv, json or xlsx (xlsx needs --output).")
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", help="Write the report to FILE instead of standard output."),
]
Table = tuple[list[str], list[dict[str, Any]]]


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _refuse_xlsx_to_terminal(fmt: Format, output: Path | None) -> None:
    """Before any work: a workbook is binary, and a terminal shows it as garbage."""
    if fmt is Format.XLSX and output is None and _stdout_is_terminal():
        err.print(
            "[red]--format xlsx:[/red] a workbook cannot be shown on a terminal; "
            "name a file with --output FILE (or redirect standard output)"
        )
        raise typer.Exit(2)


def _emit(
    fmt: Format,
    output: Path | None,
    text: Callable[[], str],
    table: Callable[[], Table],
    sheet: str,
) -> None:
    """The report in its format, to --output or standard output."""
    from realname.compliance.figures.render import xlsx_bytes

    data = xlsx_bytes(*table(), sheet) if fmt is Format.XLSX else text().encode("utf-8")
    if output is None:
        if fmt is Format.XLSX:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            typer.echo(data.decode("utf-8"), nl=False)
        return
    try:
        output.write_bytes(data)
    except OSError as error:
        err.print(f"[red]--output:[/red] cannot write {output}: {error.strerror}")
        raise typer.Exit(2) from None


PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period", help="A month (2016-07) or a range (2016-07..2016-12); default: 12 months."
    ),
]
ProvinceOption = Annotated[
    str | None, typer.Option("--province", help="Two-digit GB/T 2260 province, e.g. 44.")
]


def _audited(
    process: Process,
    session: Session,
    figure: str,
    province: str | None = None,
    **detail: str | None,
) -> None:
    """The read goes on the audit trail, as the API's figure reads do (who: the operator at
    the command line)."""
    from realname.compliance.reads import audit_figure_read
    from realname.registry.commands import Actor, Context

    ctx = Context(Actor("operator", "cli"), process.clock.now())
    audit_figure_read(session, process.keyring, ctx, figure, province, **detail)


def _period_and_province(
    period: str | None, province: str | None, today: date
) -> tuple[Period, str | None]:
    """The period and province asked for; a bad one ends the command (exit 2)."""
    from realname.compliance.figures.errors import FiguresError
    from realname.compliance.figures.periods import last_months, parse_period
    from realname.compliance.figures.service import checked_province

    try:
        chosen = last_months(today) if period is None else parse_period(period)
    except ValueError as error:
        err.print(f"[red]--period:[/red] {error} (e.g. 2016-07 or 2016-07..2016-12)")
        raise typer.Exit(2) from None
    try:
        return chosen, checked_province(province, None)
    except FiguresError as error:
        err.print(f"[red]--province:[/red] {error.message}")
        raise typer.Exit(2) from None


@report_app.command("compliance")
def report_compliance(
    fmt: FormatOption = Format.MD,
    period: PeriodOption = None,
    province: ProvinceOption = None,
    output: OutputOption = None,
) -> None:
    """Per enterprise, MNOs and MVNOs side by side: lines, real-name rate, back-fill progress,
    refusals, cap breaches, re-verifications, the inspections' violation rate with its Wilson
    95 % interval and complaints per 10,000 lines; then by kind, province, channel kind, month."""
    from realname.compliance.figures.render import compliance_table, compliance_text
    from realname.compliance.figures.service import FiguresService

    _refuse_xlsx_to_terminal(fmt, output)
    settings = get_settings()
    with cli_unit(settings, write=True) as (process, session):
        today = process.clock.now().date()
        chosen, where = _period_and_province(period, province, today)
        figures = FiguresService(session, process.policy).figures(chosen, where, today)
        _audited(process, session, "compliance", where, period=chosen.label)
    _emit(
        fmt,
        output,
        lambda: compliance_text(figures, str(fmt)),
        lambda: compliance_table(figures),
        "compliance",
    )


@report_app.command("inspections")
def report_inspections(
    fmt: FormatOption = Format.MD,
    period: PeriodOption = None,
    province: ProvinceOption = None,
    output: OutputOption = None,
) -> None:
    """The secret-inspection rounds that started in the period, side by side: each round's
    violation rate with its Wilson 95 % interval, per enterprise, channel kind and province.
    `--province` reads that province's outlets of every round."""
    from realname.compliance.figures.render import inspections_table, inspections_text
    from realname.compliance.inspections.evidence import EvidenceStore
    from realname.compliance.inspections.places import province_name
    from realname.compliance.inspections.service import Acting, InspectionService
    from realname.registry.commands import Actor, Context

    _refuse_xlsx_to_terminal(fmt, output)
    settings = get_settings()
    with cli_unit(settings, write=True) as (process, session):
        chosen, where = _period_and_province(period, province, process.clock.now().date())
        service = InspectionService(session, process.keyring, EvidenceStore(settings.evidence_dir))
        acting = Acting(Context(Actor("operator", "cli"), process.clock.now()))
        rounds = service.report(acting, chosen.first, chosen.end, where)
        _audited(process, session, "inspections", where, period=chosen.label)
        title = chosen.label + ("" if where is None else f", {province_name(where)}")
    _emit(
        fmt,
        output,
        lambda: inspections_text(rounds, str(fmt), title),
        lambda: inspections_table(rounds),
        "inspections",
    )


@report_app.command("segments")
def report_segments(
    fmt: FormatOption = Format.MD,
    by: Annotated[
        str,
        typer.Option("--by", help="Dimensions, comma-separated: enterprise,province,age,sex."),
    ] = "enterprise,province,age,sex",
    k: Annotated[int, typer.Option("--k", help="Smallest count published (at least 10).")] = 10,
    province: ProvinceOption = None,
    output: OutputOption = None,
) -> None:
    """Active lines by enterprise, province (names), age band and sex, for planning, with every
    total: counts below k withheld, and a second count wherever a total would give one away."""
    from realname.compliance.segments.errors import SegmentError
    from realname.compliance.segments.render import segments_table, segments_text
    from realname.compliance.segments.service import segments

    _refuse_xlsx_to_terminal(fmt, output)
    settings = get_settings()
    with cli_unit(settings, write=True) as (process, session):
        today = process.clock.now().date()
        _, where = _period_and_province(None, province, today)
        try:
            table = segments(session, today, by=by.split(","), k=k, province=where)
        except SegmentError as error:
            err.print(f"[red]{error.message}[/red]")
            raise typer.Exit(2) from None
        _audited(process, session, "segments", where, by=by, k=str(k))
    _emit(
        fmt,
        output,
        lambda: segments_text(table, str(fmt)),
        lambda: segments_table(table),
        "segments",
    )


ENFORCEMENT_COLUMNS = [
    "enterprise",
    "kind",
    "licence",
    "actions",
    "open",
    "highest_open",
    "measures",
    "proposed",
    "notice",
    "interview",
    "rectification",
    "yellow_1",
    "yellow_2",
    "yellow_3",
    "red",
]
COMPLAINT_COLUMNS = [
    "enterprise",
    "channel",
    "total",
    "spam_sms",
    "fraud_call",
    "harassment_call",
    "not_mine",
    "other",
]


@report_app.command("enforcement")
def enforcement_report(fmt: FormatOption = Format.MD, output: OutputOption = None) -> None:
    """Per enterprise: actions by rung, how many are open, the highest open rung, the
    measures in force (no new blocks, no settlement), the licence, and the rungs the
    enforcement sweep proposed that wait for a decision."""
    from realname.compliance.figures.render import rows_text
    from realname.wiring import enforcement_service

    _refuse_xlsx_to_terminal(fmt, output)
    with cli_unit(get_settings(), write=True) as (process, session):
        rows = enforcement_service(process.services(session)).report()
        _audited(process, session, "enforcement")
    _emit(
        fmt,
        output,
        lambda: rows_text(rows, ENFORCEMENT_COLUMNS, str(fmt)),
        lambda: (ENFORCEMENT_COLUMNS, rows),
        "enforcement",
    )


@report_app.command("complaints")
def complaints_report(
    fmt: FormatOption = Format.MD,
    since: Annotated[
        datetime | None, typer.Option(help="Received at or after (UTC); default all.")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Received before (UTC).")] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="Received in a month (2016-07) or a range (2016-07..2016-12), instead of "
            "--since/--until; default: all.",
        ),
    ] = None,
    province: ProvinceOption = None,
    output: OutputOption = None,
) -> None:
    """Traced complaints per enterprise and the channel that sold the line, by category;
    of one province's channels with --province."""
    from datetime import UTC

    from realname.compliance.figures.render import rows_text
    from realname.wiring import complaint_service

    _refuse_xlsx_to_terminal(fmt, output)
    if period is not None and (since is not None or until is not None):
        err.print("[red]--period:[/red] give either --period or --since/--until, not both")
        raise typer.Exit(2)
    since = since.replace(tzinfo=since.tzinfo or UTC) if since else None
    until = until.replace(tzinfo=until.tzinfo or UTC) if until else None
    with cli_unit(get_settings(), write=True) as (process, session):
        chosen, province = _period_and_province(period, province, process.clock.now().date())
        if period is not None:
            since, until = chosen.since, chosen.until
        rows = complaint_service(process.services(session)).report(since, until, province=province)
        _audited(
            process,
            session,
            "complaint_counts",
            since=since.isoformat() if since else None,
            until=until.isoformat() if until else None,
            province=province,
        )
    _emit(
        fmt,
        output,
        lambda: rows_text(rows, COMPLAINT_COLUMNS, str(fmt)),
        lambda: (COMPLAINT_COLUMNS, rows),
        "complaints",
    )


SETTLEMENT_COLUMNS = ["month", "channel", "kind", "registered", "backfilled", "total"]


@report_app.command("settlement")
def settlement_report(
    enterprise: EnterpriseCode,
    fmt: FormatOption = Format.MD,
    period: PeriodOption = None,
    output: OutputOption = None,
) -> None:
    """The monthly channel-commission statement of one enterprise: lines registered and
    back-filled at each channel, month by month. Refused (REALNAME.SETTLEMENT_SUSPENDED)
    while a yellow III card suspends its settlement; lifting the card restores every month."""
    from dataclasses import asdict

    from realname.compliance.figures.render import rows_text
    from realname.errors import CodedError
    from realname.registry.repository import RegistryRepository
    from realname.wiring import settlement_service

    _refuse_xlsx_to_terminal(fmt, output)
    with cli_unit(get_settings(), write=True) as (process, session):
        chosen, _ = _period_and_province(period, None, process.clock.now().date())
        found = RegistryRepository(session).enterprise_by_code(enterprise)
        if found is None:
            err.print(f"[red]no enterprise with code {enterprise!r}[/red]")
            raise typer.Exit(1)
        try:
            lines = settlement_service(process.services(session)).statement(found, chosen)
        except CodedError as refused:
            err.print(f"[red]REALNAME.{refused.code}[/red] {refused.message}")
            raise typer.Exit(1) from None
        _audited(process, session, "settlement", enterprise=found.code, period=chosen.label)
    rows = [asdict(line) for line in lines]
    _emit(
        fmt,
        output,
        lambda: rows_text(rows, SETTLEMENT_COLUMNS, str(fmt)),
        lambda: (SETTLEMENT_COLUMNS, rows),
        "settlement",
    )


class EngineChoice(StrEnum):
    DUCKDB = "duckdb"
    SPARK = "spark"


_MEMORY = re.compile(r"[0-9]+(\.[0-9]+)?\s*([KMGT]i?)?B", re.IGNORECASE)


def _memory_limit(value: str | None) -> str | None:
    """An amount DuckDB reads (500MB, 8GB, 1.5GiB), or a usage error (exit 2), not a traceback
    from the engine."""
    if value is not None and not _MEMORY.fullmatch(value.strip()):
        raise typer.BadParameter("an amount of memory such as 500MB, 8GB or 1.5GiB")
    return value


@report_app.command("national")
def national_report(
    source: Annotated[
        Path,
        typer.Option(
            "--from",
            help="The national dataset: a directory with national_lines (Parquet), optionally "
            "national_complaints and national_inspections (`realname national export --to`).",
        ),
    ],
    engine: Annotated[
        EngineChoice, typer.Option(help="duckdb (embedded, default) or spark (local mode).")
    ] = EngineChoice.DUCKDB,
    fmt: FormatOption = Format.MD,
    output: OutputOption = None,
    national_cap: Annotated[
        int | None,
        typer.Option(min=1, help="Lines one identity may hold nationally; default: the policy's."),
    ] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            help="DuckDB's memory limit, e.g. 8GB (default: 80 % of the machine's memory).",
            callback=_memory_limit,
        ),
    ] = None,
) -> None:
    """National figures over every enterprise's lines: per enterprise (MNOs and MVNOs side by
    side), province, channel kind and month: lines, real-name rate, active lines, complaints
    per 10,000 lines and the inspections' violation rate with its Wilson 95 % interval (when
    those datasets are there); and the identities over the national cap. A bad directory or
    schema is a message and exit 2. CSV holds the breakdowns' rows."""
    from realname.national.analytics.errors import NationalAnalyticsError
    from realname.national.analytics.render import CSV_COLUMNS, group_json, national_text
    from realname.national.analytics.service import figures_of_directory

    _refuse_xlsx_to_terminal(fmt, output)
    if memory_limit is not None and engine is EngineChoice.SPARK:
        raise typer.BadParameter(
            "is DuckDB's; Spark's memory is set by its own configuration",
            param_hint="--memory-limit",
        )

    if national_cap is None:
        from realname.policy.loader import load_policy
        from realname.policy.schema import CapScope

        national_cap = load_policy(get_settings().policy).cap(CapScope.NATIONAL)
    if engine is EngineChoice.SPARK:
        # before the first figure's line: a new Spark session takes seconds to start
        err.print("  Spark: getting a session (a new one takes 5-10 s to start)")
    try:
        figures = figures_of_directory(
            source,
            str(engine),
            national_cap,
            memory_limit,
            # On stderr, so a report sent to stdout or a file stays the report alone.
            progress=lambda name, rows, seconds: err.print(
                f"  {name}: {rows:,} {'row' if rows == 1 else 'rows'} in {seconds:.1f} s"
            ),
        )
    except NationalAnalyticsError as error:
        err.print(
            f"[red]{error.wire_code}:[/red] {error.message} {error.detail or ''}", markup=True
        )
        raise typer.Exit(2) from None
    _emit(
        fmt,
        output,
        lambda: national_text(figures, str(fmt)),
        lambda: (
            CSV_COLUMNS,
            [group_json(g) for rows in figures.breakdowns.values() for g in rows],
        ),
        "national",
    )
