"""`realname bench …`: measured performance, always as ratios against a baseline in the
same process (docs/benchmarks.md). The benchmarks are imported only when one runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from realname.cli.imports import ChunkRows
from realname.cli.imports import Workers as ImportWorkers

if TYPE_CHECKING:
    from realname.bench.importing import ImportBenchResult
    from realname.bench.load import HttpBenchResult

bench_app = typer.Typer(help="Measured performance, as ratios against a baseline.")
console = Console()

# Options shared by the HTTP benchmarks.
Concurrency = Annotated[int, typer.Option(min=1, max=64, help="Concurrent clients.")]
Workers = Annotated[int, typer.Option(min=1, max=16, help="Uvicorn worker processes.")]
TimeLimit = Annotated[float, typer.Option(min=5, max=600, help="Seconds per run, at most.")]
AdminUrl = Annotated[
    str, typer.Option(help="PostgreSQL server on which a scratch database is created and dropped.")
]
SCRATCH_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@bench_app.command("import")
def bench_import(
    rows: Annotated[
        int, typer.Option(min=1000, max=50_000_000, help="Rows in the synthetic export.")
    ] = 1_000_000,
    admin_url: AdminUrl = SCRATCH_SERVER,
    chunk_rows: ChunkRows = None,
    workers: ImportWorkers = None,
    bad_share: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of bad rows mixed in.")
    ] = 0.03,
    seed: Annotated[int, typer.Option(help="Same seed, same file.")] = 7,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as one JSON object, last.")
    ] = False,
) -> None:
    """Legacy import on PostgreSQL vs a bare COPY of the same rows into a copy of `line`
    (same indexes; then same indexes and foreign keys); then the idempotent re-run."""
    from realname.backfill.importing.pipeline import DEFAULT_CHUNK_ROWS, DEFAULT_WORKERS
    from realname.bench.importing import run_import_bench
    from realname.db.scratch import scratch_postgres

    with (
        console.status("creating a scratch database") as status,
        scratch_postgres(admin_url, prefix="realname_bench_import") as url,
    ):
        result = run_import_bench(
            url,
            rows=rows,
            chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS,
            workers=workers or DEFAULT_WORKERS,
            bad_share=bad_share,
            seed=seed,
            progress=status.update,
        )
    print_import_bench(result)
    if as_json:
        typer.echo(result.figures().as_json())


def print_import_bench(result: ImportBenchResult) -> None:
    first, rerun = result.first, result.rerun
    table = Table(
        title=f"legacy import on PostgreSQL: {result.rows:,} rows "
        f"({result.file_bytes / 1e6:,.0f} MB CSV, {result.bad_rows:,} bad), "
        f"{result.workers} worker{'s' if result.workers != 1 else ''}"
    )
    for column in ("path", "rows", "seconds", "rows/s", "import / bare"):
        table.add_column(column, justify="left" if column == "path" else "right")
    table.add_row(
        "bare COPY into LIKE line INCLUDING ALL",
        f"{result.copy_rows:,}",
        f"{result.copy_plain_seconds:.1f}",
        f"{result.copy_plain_per_second:,.0f}",
        "",
    )
    table.add_row(
        "bare COPY, same indexes + foreign keys",
        f"{result.copy_rows:,}",
        f"{result.copy_seconds:.1f}",
        f"{result.copy_per_second:,.0f}",
        "",
    )
    table.add_row(
        "import legacy (read, validate, load)",
        f"{first.rows_read:,}",
        f"{first.seconds:.1f}",
        f"{first.rows_per_second:,.0f}",
        f"{result.ratio_plain:.2f}, {result.ratio:.2f} with FKs",
    )
    table.add_row(
        "import again (all present)",
        f"{rerun.rows_read:,}",
        f"{rerun.seconds:.1f}",
        f"{rerun.rows_per_second:,.0f}",
        "",
    )
    console.print(table)
    console.print(
        f"loaded {first.rows_loaded:,}, rejected {first.rows_rejected:,}; "
        f"re-run loaded {rerun.rows_loaded:,}, found {rerun.rows_present:,} present"
    )
    console.print(
        f"import / bare COPY = {result.ratio_plain:.2f} (target >= 0.5; "
        f"{result.ratio:.2f} against the copy with foreign keys); "
        f"import {first.rows_per_second:,.0f} rows/s (target >= 200,000)"
    )


@bench_app.command("id")
def bench_id(
    n: Annotated[
        int, typer.Option("--n", min=1000, help="How many numbers to validate.")
    ] = 200_000,
    rounds: Annotated[int, typer.Option(min=1, help="Alternating rounds; best counts.")] = 3,
    seed: Annotated[int, typer.Option()] = 2260,
) -> None:
    """Resident-ID validation: ours vs python-stdnum cn.ric.is_valid, same numbers, same process."""
    from realname.bench.identity import run_id_bench

    with console.status(f"validating {n:,} numbers x {rounds} rounds with each validator"):
        result = run_id_bench(n, rounds, seed)
    table = Table(
        title=f"resident ID validation, {n:,} numbers ({result.invalid_share:.1%} invalid)"
    )
    table.add_column("validator")
    table.add_column("numbers/s", justify="right")
    table.add_column("µs each", justify="right")
    table.add_column("vs stdnum", justify="right")
    for rate in (result.stdnum, result.ours, result.bulk):
        table.add_row(
            rate.name,
            f"{rate.per_second:,.0f}",
            f"{rate.microseconds_each:.2f}",
            f"{result.stdnum.seconds / rate.seconds:.1f}x",
        )
    console.print(table)
    console.print(
        f"per-number ratio {result.ratio:.1f}x (target >= 20x); bulk ratio {result.bulk_ratio:.1f}x"
    )
    console.print(
        f"verdicts differ on {result.disagreements:,} of {n:,} numbers: "
        f"{result.disagreement_example_reason}"
    )


Json = Annotated[
    bool, typer.Option("--json", help="Print the headline as one JSON object, the last line.")
]
ServiceRow = Annotated[
    bool,
    typer.Option(
        "--service-row/--no-service-row",
        help="Also run our service without HTTP, at the same concurrency (a table row).",
    ),
]


@bench_app.command("register")
def bench_register(
    registrations: Annotated[
        int, typer.Option(min=50, max=100_000, help="Registrations in each run (bounded).")
    ] = 2000,
    concurrency: Concurrency = 16,
    workers: Workers = 2,
    time_limit: TimeLimit = 120,
    admin_url: AdminUrl = SCRATCH_SERVER,
    service_row: ServiceRow = True,
    json_output: Json = False,
) -> None:
    """Register + activate over HTTP on PostgreSQL (server process, separate load process,
    loopback) vs the same writes as bare SQL (psycopg, same concurrency, same run):
    throughput, p50/p99, ratio."""
    from realname.bench.register import run_register_bench
    from realname.db.scratch import scratch_postgres

    with (
        console.status("creating a scratch database") as status,
        scratch_postgres(admin_url) as url,
    ):
        result = run_register_bench(
            url,
            registrations=registrations,
            concurrency=concurrency,
            workers=workers,
            time_limit=time_limit,
            service_row=service_row,
            progress=status.update,
        )
    _print_http_bench(
        result,
        f"register + activate on PostgreSQL: {registrations:,} per run, {concurrency} at once",
        "registrations/s",
        "HTTP / bare SQL = {ratio:.2f} (target >= 0.5); "
        "target >= 1,000/s and p99 < 50 ms on 2 cores",
        json_output,
    )


@bench_app.command("verify")
def bench_verify(
    requests: Annotated[
        int, typer.Option(min=50, max=100_000, help="KYC Match calls in each run (bounded).")
    ] = 3000,
    concurrency: Concurrency = 16,
    workers: Workers = 2,
    time_limit: TimeLimit = 120,
    admin_url: AdminUrl = SCRATCH_SERVER,
    service_row: ServiceRow = True,
    json_output: Json = False,
    redis_url: Annotated[
        str,
        typer.Option(
            help="Redis for the server's per-number quotas and mismatch budgets (as deployed "
            "at scale); an empty string keeps them in the database."
        ),
    ] = "redis://127.0.0.1:6379/0",
) -> None:
    """CAMARA KYC Match over HTTP on PostgreSQL (server process, separate load process) vs
    the same read as bare SQL (psycopg, same concurrency, same run; and the read with
    today's per-call writes): throughput, p50/p99, ratio to the bare read."""
    from realname.bench.verify import run_verify_bench
    from realname.db.scratch import scratch_postgres

    with (
        console.status("creating a scratch database") as status,
        scratch_postgres(admin_url) as url,
    ):
        result = run_verify_bench(
            url,
            requests=requests,
            concurrency=concurrency,
            workers=workers,
            time_limit=time_limit,
            service_row=service_row,
            redis_url=redis_url or None,
            progress=status.update,
        )
    _print_http_bench(
        result,
        f"KYC Match on PostgreSQL: {requests:,} calls per run, {concurrency} at once",
        "calls/s",
        "HTTP / bare read = {ratio:.2f} (target >= 0.4); "
        "target >= 3,000/s and p99 < 20 ms on 2 cores",
        json_output,
    )


def _print_http_bench(
    result: HttpBenchResult, title: str, unit: str, verdict: str, json_output: bool
) -> None:
    figures = result.figures()
    bare = result.bare_sql
    table = Table(title=title)
    for column in ("path", unit, "p50 ms", "p99 ms", "outcomes", "/ bare"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for run in (bare, *result.others):
        table.add_row(
            run.label,
            f"{run.rate_per_s:,.0f}",
            f"{run.latency_ms(0.50):.1f}",
            f"{run.latency_ms(0.99):.1f}",
            f"{run.n:,} ok" + (f", {run.errors:,} failed" if run.errors else ""),
            f"{run.rate_per_s / bare.rate_per_s:.2f}" if bare.rate_per_s else "",
        )
    table.add_row(
        f"HTTP, {result.workers} worker{'s' if result.workers != 1 else ''}",
        f"{figures.rate_per_s:,.0f}",
        f"{figures.p50_ms:.1f}",
        f"{figures.p99_ms:.1f}",
        ", ".join(f"{n:,} x {s or 'no answer'}" for s, n in result.statuses.items()),
        f"{figures.ratio_to_bare_sql:.2f}",
    )
    console.print(table)
    for run in (bare, *result.others):
        if run.first_error:
            console.print(f"{run.label}: first failure: {run.first_error}", markup=False)
    console.print(verdict.format(ratio=figures.ratio_to_bare_sql))
    if json_output:  # plain print: Rich would wrap the line
        typer.echo(figures.as_json())


@bench_app.command("backfill")
def bench_backfill(
    lines: Annotated[
        int, typer.Option(min=100, max=20_000_000, help="Legacy lines in each set.")
    ] = 50_000,
    batch: Annotated[
        int, typer.Option(min=10, max=100_000, help="Lines per sweep transaction.")
    ] = 2000,
    admin_url: AdminUrl = SCRATCH_SERVER,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as one JSON object, last.")
    ] = False,
) -> None:
    """The back-fill sweep (bar outgoing, batch by batch) on PostgreSQL vs bare SQL doing the
    same writes per batch on a second identical set of lines, in the same run."""
    from realname.bench.backfill import run_backfill_bench
    from realname.db.scratch import scratch_postgres

    with (
        console.status("creating a scratch database") as status,
        scratch_postgres(admin_url, prefix="realname_bench_backfill") as url,
    ):
        figures = run_backfill_bench(url, lines=lines, batch=batch, progress=status.update)
    table = Table(title=f"back-fill sweep on PostgreSQL: {lines:,} lines, batches of {batch:,}")
    for column in ("path", "lines/s", "p50 ms/batch", "p99 ms/batch"):
        table.add_column(column, justify="left" if column == "path" else "right")
    extra = figures.extra
    table.add_row(
        "bare SQL (psycopg, same writes)",
        f"{figures.bare_sql_rate_per_s:,.0f}",
        f"{extra['bare_sql_p50_ms']:.1f}",
        f"{extra['bare_sql_p99_ms']:.1f}",
    )
    table.add_row(
        "CampaignService.sweep",
        f"{figures.rate_per_s:,.0f}",
        f"{figures.p50_ms:.1f}",
        f"{figures.p99_ms:.1f}",
    )
    console.print(table)
    console.print(
        f"sweep / bare SQL = {figures.ratio_to_bare_sql:.2f}; target >= 20,000 lines/s; "
        f"first reminders {extra['remind_rate_per_s']:,.0f} lines/s; "
        f"{figures.errors:,} lines not barred"
    )
    if as_json:
        typer.echo(figures.as_json())


@bench_app.command("national")
def bench_national(
    lines: Annotated[
        int, typer.Option(min=1000, max=2_000_000_000, help="Lines of feed data to generate.")
    ] = 1_000_000,
    engine: Annotated[
        str, typer.Option(help="duckdb (embedded, default) or spark (local mode).")
    ] = "duckdb",
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            file_okay=False,
            help="Where to write the Parquet dataset (kept, and reused by a later run of the "
            "same size and seed); default: a temporary directory, removed after. A directory "
            "holding a dataset this bench did not write is refused, never overwritten.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same dataset.")] = 7,
    spark_memory: Annotated[str, typer.Option(help="Spark driver memory.")] = "4g",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as one JSON object, last.")
    ] = False,
) -> None:
    """Generate N lines of national feed data (Parquet, the analytics' schema), compute the
    national figures on DuckDB or Spark, print lines/s and each figure's seconds. Target:
    100 M lines' figures in under 60 s on DuckDB (docs/benchmarks.md, "National figures")."""
    from realname.bench.national import BenchDirectoryError, run_national_bench
    from realname.national.analytics.engines import ENGINES
    from realname.national.analytics.errors import NationalAnalyticsError

    if engine not in ENGINES:
        console.print(f"[red]--engine:[/red] one of {', '.join(ENGINES)}")
        raise typer.Exit(2)
    try:
        with console.status("generating") as status:
            result = run_national_bench(
                lines,
                engine=engine,
                directory=directory,
                seed=seed,
                spark_memory=spark_memory,
                progress=status.update,
            )
    except NationalAnalyticsError as error:
        console.print(f"[red]{error.wire_code}:[/red] {error.message} {error.detail or ''}")
        raise typer.Exit(2) from None
    except BenchDirectoryError as error:
        console.print(f"[red]--dir:[/red] {error}")
        raise typer.Exit(2) from None
    figures = result.as_dict()
    table = Table(
        title=f"national figures on {engine}: {lines:,} lines "
        f"({result.dataset_bytes / 1e6:,.0f} MB Parquet, {figures['bytes_per_line']} B/line)"
    )
    for column in ("figure", "seconds", "lines/s", "CPU s"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for name, seconds in result.figures.seconds.items():
        table.add_row(
            name,
            f"{seconds:.2f}",
            f"{lines / seconds:,.0f}" if seconds else "",
            f"{result.figures.cpu_seconds[name]:.2f}",
        )
    table.add_row(
        "all figures",
        f"{result.seconds:.2f}",
        f"{result.rows_per_s:,.0f}",
        f"{result.cpu_seconds:.2f}",
    )
    console.print(table)
    generated = (
        "reused the dataset"
        if result.generate_seconds is None
        else f"generated in {result.generate_seconds:.1f} s"
    )
    console.print(
        f"{generated}; {engine} started in {result.engine_start_seconds:.1f} s; "
        f"CPU {result.cpu_seconds:.1f} s in this process and Spark's JVM; load average "
        f"{result.load_before:.2f} before, {result.load_after:.2f} after "
        f"({figures['cpus']} CPUs); target for 100 M lines on DuckDB: under 60 s"
    )
    if as_json:  # plain print: Rich would wrap the line
        typer.echo(result.as_json())
