"""`realname import legacy FILE` and the `realname bench import` command function.

Wired in by `realname.cli`: `app.add_typer(import_app, name="import")` and
`bench_app.command("import")(bench_import)`. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from realname.config import get_settings

if TYPE_CHECKING:
    from realname.backfill.importing.pipeline import ImportReport
    from realname.bench.importing import ImportBenchResult

import_app = typer.Typer(help="Load data from other systems.", no_args_is_help=True)
console = Console()

SCRATCH_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class FileFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


ChunkRows = Annotated[
    int | None,
    typer.Option(
        min=1000, max=5_000_000, help="Rows per chunk, one transaction each (default 100,000)."
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        min=1, max=16, help="PostgreSQL connections loading chunks side by side (default 2)."
    ),
]


@import_app.command("legacy")
def import_legacy_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV with a header row, or Parquet: msisdn, activated_at, and optionally "
            "iccid, imsi, balance (yuan), home_region, channel_code.",
        ),
    ],
    enterprise: Annotated[str, typer.Option("--enterprise", help="The enterprise's code.")],
    reject_file: Annotated[
        Path | None,
        typer.Option(
            "--reject-file",
            dir_okay=False,
            help="Where rejected rows go (default FILE.rejects.csv).",
        ),
    ] = None,
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", help="csv or parquet (default: by the extension)."),
    ] = None,
    chunk_rows: ChunkRows = None,
    workers: Workers = None,
) -> None:
    """Load an enterprise's legacy (anonymous prepaid) lines in bulk, as state `legacy`.

    Bad rows go to the reject file with their line number and reason; the good rows land.
    Running the same file again loads only what is missing and changes nothing else."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from realname.backfill.errors import BackfillError
    from realname.backfill.importing.pipeline import (
        DEFAULT_CHUNK_ROWS,
        DEFAULT_WORKERS,
        ImportProgress,
        import_legacy,
    )
    from realname.db.engine import create_engine_from_settings, create_session_factory
    from realname.policy.loader import load_policy
    from realname.security.keys import keyring_from_settings

    settings = get_settings()
    engine = create_engine_from_settings(settings)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(f"importing {file.name}", total=None, rows=0)

            def advance(p: ImportProgress) -> None:
                bar.update(task, total=p.total, completed=p.done, rows=p.rows_read)

            report = import_legacy(
                create_session_factory(engine),
                keyring=keyring_from_settings(settings),
                enterprise=enterprise,
                path=file,
                reject_path=reject_file,
                at=settings.clock().now(),
                actor="operator:cli",
                file_format=file_format.value if file_format else None,
                jurisdiction=load_policy(settings.policy).jurisdiction,
                chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS,
                workers=workers or DEFAULT_WORKERS,
                progress=advance,
            )
    except BackfillError as error:
        console.print(f"[red]{error.message}[/]" + (f" ({error.detail})" if error.detail else ""))
        raise typer.Exit(1) from None
    except ValueError as error:  # the reject file is the input file
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    print_import_report(report)


def print_import_report(report: ImportReport) -> None:
    table = Table(title=f"legacy import #{report.import_id} for {report.enterprise_code}")
    table.add_column("rows")
    table.add_column("count", justify="right")
    table.add_row("read", f"{report.rows_read:,}")
    table.add_row("loaded", f"[green]{report.rows_loaded:,}[/]")
    table.add_row("already present", f"{report.rows_present:,}")
    rejected = f"{report.rows_rejected:,}"
    table.add_row("rejected", f"[yellow]{rejected}[/]" if report.rows_rejected else rejected)
    for reason, count in report.rejected_by_reason.most_common():
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("rows/s", f"{report.rows_per_second:,.0f}")
    console.print(table)
    console.print(f"{report.seconds:.1f} s; source SHA-256 {report.source_sha256}")
    if report.rows_rejected:
        console.print(f"rejected rows (line, reason, fields): {report.reject_path}")
    else:
        console.print("no rows rejected; no reject file written")
    if report.previous_import_id is not None:
        console.print(
            f"this file was imported before (import #{report.previous_import_id}): "
            "rows already present were left as they were"
        )


def bench_import(
    rows: Annotated[
        int, typer.Option(min=1000, max=50_000_000, help="Rows in the synthetic export.")
    ] = 1_000_000,
    admin_url: Annotated[
        str,
        typer.Option(help="PostgreSQL server on which a scratch database is created and dropped."),
    ] = SCRATCH_SERVER,
    chunk_rows: ChunkRows = None,
    workers: Workers = None,
    bad_share: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of bad rows mixed in.")
    ] = 0.03,
    seed: Annotated[int, typer.Option(help="Same seed, same file.")] = 7,
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
